"""Batch result lines of every shape, read into one record type.

Shapes understood (see the output/error line facts):

- OpenAI / kluster.ai: successes in an output file, failures in an error file, any order. A request the
  endpoint rejected has ``response.status_code`` >= 400 and ``response.body.error`` while the top-level
  ``error`` may be null, so success is decided by the status code, never by the absence of ``error``.
- Expired requests: ``response: null`` and ``error.code == "batch_expired"``.
- vLLM ``run_batch``: one file; failures carry ``response.body: null`` and ``error`` either as an object
  (``{"error": {message, type, param, code: <int HTTP status>}}``, or the older flat form) or as a string.
  Its score and rerank answers become the content as JSON (the score of each pair in input order, a
  number for one pair); transcriptions and translations, their text.
- kluster.ai timestamps that arrive as strings (``"created": "1733832777"``).

Each line becomes a `ResultRecord` holding only the columns a merge needs; the response body itself is
dropped as soon as it is read, so memory follows the extracted columns, not the bodies. Lines that are
not result lines become `Finding`s (with the file they came from) and reading goes on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, BinaryIO

import msgspec
import orjson

from ..findings import WARNING, Finding
from ..formats import result_line
from ..ledger import line_hash
from ..lenient import as_int, timestamp
from ..lines import (
    MAX_DEPTH,
    BytesRead,
    LineReader,
    is_compressed,
    iter_lines,
    open_binary,
    source_name,
    too_deep,
)

OK = "ok"
HTTP_ERROR = "http_error"
BATCH_ERROR = "batch_error"
EXPIRED = "expired"
CANCELED = "canceled"
MISSING = "missing"
STATUSES = (OK, HTTP_ERROR, BATCH_ERROR, EXPIRED, CANCELED, MISSING)
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens")
MAX_TOKENS = 2**32  # per request: far past any context, and sums of millions of rows stay within 64 bits
MAX_SCORES = 1_000_000  # an index past this is not a document's place (the array would be absurd)
EXPIRED_CODE = "batch_expired"
CANCELED_CODE = "batch_canceled"
# A success whose body holds none of the fields an answer is in (choices, data, output, results, text),
# or none of its kind, answered nothing: a failure `retry` picks up, as a prompt Gemini blocked is. A
# video job's body is its answer.
NO_ANSWER_CODE = "no_answer"
NO_ANSWER = "the answer (HTTP {}) holds no choices, data, output, results or text: nothing was answered"
ANSWER_FIELDS = (("choices", list), ("data", list), ("output", list), ("results", list), ("text", str))
ANSWERED_BY_THE_BODY = ("video",)
# The member a result line answered from batchkit's answer cache carries: {"batch_id", "stored_at"}, the
# batch the answer first came from ("" for none: `batchkit run`) and when it was stored.
CACHED = "batchkit_cached"
# The member a result line `batchkit run` wrote carries: the `ledger.line_hash` (16 hex digits) of the
# request line it answers, so an answer to an earlier version of a line is never taken for this one.
ANSWERED = "batchkit_request"

# (result file, finding) — findings alone do not say which file they belong to.
FileEmit = Callable[[str, Finding], None]


@dataclass(slots=True)
class ResultRecord:
    """One result line, normalised. `contents` holds every choice's text (index order); `content` is
    the first. `tool_calls` is the first choice's tool calls as a JSON string. `created` is the
    response's Unix timestamp as an int (strings are converted), used to tell the newest result.
    Tokens as OpenAI counts them: `prompt_tokens` all of the prompt, `cached_tokens` (read from a cache)
    and `cache_write_tokens` (written to one) parts of it, where the provider reports them."""

    custom_id: str
    status: str
    status_code: int | None = None
    model: str | None = None
    contents: tuple[str | None, ...] = ()
    finish_reason: str | None = None
    tool_calls: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    embedding: list | None = None
    created: int | None = None
    file: str = ""
    line: int = 0
    offset: int = -1  # byte offset of the line in its file (-1 when the file is compressed or a stream)
    cached_from: str | None = None  # answered from the cache: the batch the answer came from ("" none)
    converted: bool = False  # read from another provider's result line (Anthropic, Gemini, …)
    answered: int | None = None  # the line hash of the request line it answers, when the line says (ANSWERED)
    later_reasons: tuple = ()  # the finish reasons of the choices after the first (n > 1)

    @property
    def content(self) -> str | None:
        return self.contents[0] if self.contents else None

    @property
    def ok(self) -> bool:
        return self.status == OK


def read_results(
    paths: str | os.PathLike | BinaryIO | Iterable[str | os.PathLike | BinaryIO],
    emit: FileEmit | None = None,
) -> Iterator[ResultRecord]:
    """Yield a `ResultRecord` for every result line of `paths` (one path, '-', or several: shards,
    output and error files together), file by file, in line order.

    Lines that are not result lines are reported through ``emit(file, finding)`` and skipped; pass a
    callback to receive them (``Finding.line`` is the 1-based line number in that file).
    """
    if isinstance(paths, (str, os.PathLike)) or hasattr(paths, "read"):
        paths = [paths]
    for path in paths:
        yield from read_result_file(path, emit)


def read_result_file(
    path: str | os.PathLike | BinaryIO, emit: FileEmit | None = None, progress: BytesRead | None = None
) -> Iterator[ResultRecord]:
    """The result lines of one file (see `read_results`); `progress` hears how much of it was read."""
    name = source_name(path)

    def report(finding: Finding) -> None:
        if emit is None:
            return
        if finding.code == "empty-file":
            # An empty error file is normal (every request succeeded): worth a note, not an error.
            finding = Finding("empty-file", "the file holds no result lines", None, severity=WARNING)
        emit(name, finding)

    reader, end = LineReader(report), 0
    with open_binary(path, progress) as stream:
        seekable = hasattr(stream, "fileno") and not is_compressed(stream)
        for number, next_start, raw in iter_lines(stream):
            start, end = end, next_start
            # past the first line (a byte-order mark, a file spread over lines: the reader's), most lines
            # are of the common shape: read once, straight into the record
            fast = reader.seen_content and not reader.spread and type(raw) is bytes
            record = common_record(raw, number, name) if fast else None
            if record is None:
                obj = reader.parse(number, raw)
                record = None if obj is None else normalise(obj, number, name, report)
                if record is None:
                    continue
            if seekable:
                record.offset = start
            yield record
    if not reader.seen_content:
        report(Finding("empty-file", "", None))


def normalise(obj: dict, line: int = 0, file: str = "", emit: Callable[[Finding], None] | None = None):
    """The `ResultRecord` for one parsed result line, or None (after a finding) when it is not one."""
    cached_from, answered = _cached_from(obj.get(CACHED)), answered_hash(obj.get(ANSWERED))
    shaped = result_line(obj)  # every provider's shape as OpenAI's output line
    converted, obj = shaped is not obj, shaped

    def bad(code: str, path: str, message: str) -> None:
        if emit is not None:
            emit(Finding(code, message, line, path))

    custom_id = obj.get("custom_id")
    if custom_id is None:
        bad(
            "missing-field", "/custom_id", "result line has no custom_id, so it cannot be joined to a request"
        )
        return None
    if type(custom_id) is not str:
        bad("wrong-type", "/custom_id", f"custom_id is {_kind(custom_id)}, not a string")
        return None
    record = _record(obj, custom_id, line, file, bad)
    if record is not None:
        _bounded(record, bad)
        record.cached_from = cached_from
        record.converted = converted
        record.answered = answered
    return record


def answered_hash(marker) -> int | None:
    """The request line hash an ANSWERED member holds (None when it holds none)."""
    if type(marker) is str and len(marker) == 16:
        try:
            return int(marker, 16)
        except ValueError:
            return None
    return None


def answered_mark(raw: bytes) -> str:
    """The ANSWERED member's value for a result to the request line `raw`."""
    return f"{line_hash(raw):016x}"


def _cached_from(marker) -> str | None:
    """The batch a cached answer came from ("" when none is named); None for a line not from the cache."""
    if type(marker) is not dict:
        return None
    batch_id = marker.get("batch_id")
    return batch_id if type(batch_id) is str else ""


def _record(obj: dict, custom_id: str, line: int, file: str, bad) -> ResultRecord | None:
    """The record of an OpenAI-shaped result line (also kluster.ai's and vLLM's), or None after a finding."""
    response = obj.get("response")
    error = obj.get("error")
    if response is not None and type(response) is not dict:
        bad("wrong-type", "/response", f"response is {_kind(response)}, not an object or null")
        return None
    if response is None and error is None:
        bad("missing-field", "/response", "result line has neither a response nor an error")
        return None

    record = ResultRecord(custom_id, BATCH_ERROR, file=file, line=line)
    body = None
    if response is not None:
        body = response.get("body")
        if type(body) is not dict:
            body = None
        status_code = as_int(response.get("status_code"))
        if status_code is None:
            # Servers that leave the code out: a body without an error is a success.
            status_code = 200 if body is not None and error is None and "error" not in body else None
        record.status_code = status_code
        record.status = OK if status_code is not None and 200 <= status_code < 300 else HTTP_ERROR
    if body is not None:
        _read_body(body, record, bad)
        if record.status == OK and answers_nothing(body):
            record.status, record.error_code = BATCH_ERROR, NO_ANSWER_CODE
            record.error_message = NO_ANSWER.format(record.status_code)
            return record
    if record.status != OK:
        body_error = body.get("error") if body is not None else None
        code, record.error_message = _error_fields(body_error, error, record.status_code)
        record.error_code = None if code is None else sys.intern(code)
        if response is None and record.error_code == EXPIRED_CODE:
            record.status = EXPIRED
        elif response is None and record.error_code == CANCELED_CODE:
            record.status = CANCELED
    return record


# where each integer field comes from, for the finding when it cannot be held
INT_PATHS = {
    "status_code": "/response/status_code",
    "created": "/response/body/created",
    "prompt_tokens": "/response/body/usage/prompt_tokens",
    "completion_tokens": "/response/body/usage/completion_tokens",
    "total_tokens": "/response/body/usage/total_tokens",
    "cached_tokens": "/response/body/usage/prompt_tokens_details/cached_tokens",
    "cache_write_tokens": "/response/body/usage/prompt_tokens_details/cache_write_tokens",
}
INT_MIN, INT_MAX = -(2**63) + 1, 2**63 - 1  # a 64-bit column; -2**63 marks "no value"


def _bounded(record: ResultRecord, bad) -> None:
    """Integers a 64-bit column cannot hold are a finding on the line and left empty (the status was
    decided already: an absurd status code is no success)."""
    for name, path in INT_PATHS.items():
        value = getattr(record, name)
        if value is None:
            continue
        if not INT_MIN <= value <= INT_MAX:
            shown = str(value) if value.bit_length() <= 128 else f"of {value.bit_length()} bits"
            bad("out-of-range", path, f"{name} {shown} is beyond a 64-bit integer; left empty")
            setattr(record, name, None)
        elif name in TOKEN_FIELDS and not 0 <= value < MAX_TOKENS:
            bad("out-of-range", path, f"{name} {value} is not a number of tokens; left empty")
            setattr(record, name, None)


def _read_body(body: dict, record: ResultRecord, bad) -> None:
    model = body.get("model")
    # values repeated on every line are kept once (sys.intern), not once per row
    record.model = sys.intern(model) if type(model) is str else None
    record.created = timestamp(body.get("created", body.get("created_at")))
    usage = body.get("usage")
    if type(usage) is dict:
        _read_usage(usage, record)
    choices = body.get("choices")
    if type(choices) is list:
        _read_choices(choices, record, bad)
        return
    if choices is not None:
        bad(
            "wrong-type", "/response/body/choices", f"choices is {_kind(choices)}, not a list; no answer read"
        )
    data = body.get("data")
    if type(data) is list:
        if not _read_scores(data, "score", record):
            vectors = [item.get("embedding") for item in _by_index(data) if type(item) is dict]
            if vectors and not _deep(vectors, "/response/body/data", bad):
                record.embedding = vectors[0] if len(vectors) == 1 else vectors
        return
    output = body.get("output")
    if type(output) is list:
        _read_response_output(body, output, record, bad)
        return
    _read_vllm_answer(body, record)


def answers_nothing(body: dict) -> bool:
    """Whether a success's body holds no answer (see NO_ANSWER_CODE)."""
    if body.get("object") in ANSWERED_BY_THE_BODY:
        return False
    return not any(
        type(value := body.get(name)) is kind and (kind is str or value) for name, kind in ANSWER_FIELDS
    )  # an empty list of choices is no answer ("choices": [] beside an error)


def _read_vllm_answer(body: dict, record: ResultRecord) -> None:
    """vLLM's rerank (`results` with relevance scores) and transcription or translation (`text`)."""
    results = body.get("results")
    if type(results) is list:
        _read_scores(results, "relevance_score", record)
    elif type(body.get("text")) is str:
        record.contents = (body["text"],)


def _read_scores(items: list, field: str, record: ResultRecord) -> bool:
    """A score or rerank answer's scores as its content: a number for one pair, else a JSON array in the
    order of the inputs (`index`), null where a rerank's `top_n` left a document out. False when the items
    hold no scores."""
    scores: dict[int, float] = {}
    for position, item in enumerate(items):
        if type(item) is dict and type(item.get(field)) in (int, float):
            index = item.get("index")
            scores[index if type(index) is int and 0 <= index < MAX_SCORES else position] = item[field]
    if not scores:
        return False
    ordered = [scores.get(i) for i in range(max(scores) + 1)]
    record.contents = (orjson.dumps(ordered[0] if len(ordered) == 1 else ordered).decode(),)
    return True


def _read_usage(usage: dict, record: ResultRecord) -> None:
    """Chat's `prompt_tokens_details`, or Responses' `input_tokens_details`."""
    record.prompt_tokens = as_int(usage.get("prompt_tokens", usage.get("input_tokens")))
    record.completion_tokens = as_int(usage.get("completion_tokens", usage.get("output_tokens")))
    record.total_tokens = as_int(usage.get("total_tokens"))
    details = usage.get("prompt_tokens_details", usage.get("input_tokens_details"))
    if type(details) is dict:
        record.cached_tokens = as_int(details.get("cached_tokens"))
        record.cache_write_tokens = as_int(details.get("cache_write_tokens"))


def _deep(value, path: str, bad) -> bool:
    """Whether a value the merged table keeps whole (as JSON) nests past MAX_DEPTH: hostile, so it is left
    empty, with a finding."""
    if not too_deep(value):
        return False
    bad("too-deep", path, f"nests arrays and objects more than {MAX_DEPTH} levels deep; left empty")
    return True


def _json_cell(value, path: str, bad) -> str | None:
    """A value kept as JSON text (tool calls, a content object), or None when it is too deep (see `_deep`)."""
    return None if _deep(value, path, bad) else orjson.dumps(value).decode()


def _read_choices(choices: list, record: ResultRecord, bad) -> None:
    contents = []
    for i, choice in enumerate(_by_index(choices)):
        if type(choice) is not dict:
            bad("wrong-type", f"/response/body/choices/{i}", f"a choice is {_kind(choice)}, not an object")
            contents.append(None)
            continue
        message = choice.get("message")
        where = f"/response/body/choices/{i}/message"
        if type(message) is dict:
            contents.append(_text(message.get("content"), where + "/content", bad))
            if i == 0:
                tool_calls = message.get("tool_calls")
                if tool_calls:
                    record.tool_calls = _json_cell(tool_calls, where + "/tool_calls", bad)
        else:
            # legacy /v1/completions
            contents.append(_text(choice.get("text"), f"/response/body/choices/{i}/text", bad))
        reason = choice.get("finish_reason")
        if i == 0:
            record.finish_reason = sys.intern(reason) if type(reason) is str else None
        else:
            record.later_reasons += (reason if type(reason) is str else None,)
    record.contents = tuple(contents)


def _read_response_output(body: dict, output: list, record: ResultRecord, bad) -> None:
    """/v1/responses: the text of every output message, and function calls as tool calls."""
    parts, calls = [], []
    for item in output:
        if type(item) is not dict:
            continue
        if item.get("type") == "message" and type(item.get("content")) is list:
            parts.extend(p["text"] for p in item["content"] if type(p) is dict and type(p.get("text")) is str)
        elif item.get("type") == "function_call":
            calls.append(item)
    record.contents = ("".join(parts),) if parts else ()
    if calls:
        record.tool_calls = _json_cell(calls, "/response/body/output", bad)
    details = body.get("incomplete_details")
    reason = details.get("reason") if type(details) is dict else body.get("status")
    record.finish_reason = reason if type(reason) is str else None


def _error_fields(body_error, top_error, status_code: int | None) -> tuple[str | None, str | None]:
    """(code, message) from wherever this shape keeps them: the response body's `error`, the line's
    `error` object (flat, or wrapping another `error` as vLLM does), or a plain string."""
    code = message = None
    for source in (body_error, top_error):
        if type(source) is str:
            message = message or source
            continue
        if type(source) is not dict:
            continue
        source = _innermost(source)
        raw_code = source.get("code")
        if code is None and type(raw_code) is str and raw_code:
            code = raw_code
        if code is None and type(source.get("type")) is str and source["type"]:
            # An integer code is vLLM's HTTP status, already in status_code: the error type says more.
            code = source["type"]
        if message is None and type(source.get("message")) is str:
            message = source["message"]
    if code is None and status_code is not None and not 200 <= status_code < 300:
        code = str(status_code)
    return code, message


def _innermost(error: dict) -> dict:
    """The error object inside its wrappings: `{"error": {…}}` (vLLM), and a `message` that is itself an
    error body (Azure: `{"code": null, "message": {"error": {"code": "BadRequest", "message": …}}}`)."""
    for _ in range(4):  # a few levels; hostile nesting is not followed further
        inner = error.get("error")
        message = error.get("message")
        if type(inner) is dict:
            error = inner
        elif type(message) is dict:
            error = message
        else:
            break
    return error


def _text(content, path: str, bad) -> str | None:
    if content is None or type(content) is str:
        return content
    if type(content) is list:
        # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if type(p) is dict and type(p.get("text")) is str)
    return _json_cell(content, path, bad)


def _by_index(items: list) -> list:
    """Items with an `index` field in index order (some servers do not write them sorted)."""
    if len(items) > 1 and all(type(i) is dict and type(i.get("index")) is int for i in items):
        return sorted(items, key=lambda i: i["index"])
    return items


def _kind(value) -> str:
    kinds = {list: "an array", dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


__all__ = [
    "ResultRecord",
    "read_results",
    "read_result_file",
    "normalise",
    "STATUSES",
    "OK",
    "HTTP_ERROR",
    "BATCH_ERROR",
    "EXPIRED",
    "MISSING",
    "ANSWERED",
    "CACHED",
]


# The common result line read fast ----------------------------------------------------------------------
#
# An answer that succeeded, in OpenAI's shape (also kluster.ai's and vLLM's), decoded by msgspec straight
# into the few fields a merge keeps.
#
# `normalise` reads a result line of any shape, from the dict orjson makes of the whole line and a lookup
# a field. Here a typed decoder reads the line once into a struct of the members a merged row needs.
# Every member of the shape is declared and unknown ones refused, so every value on the line is read
# (a number orjson refuses, such as 1e400, fails here too), and the types are strict: a line that is
# anything else — a failure, another provider's shape, a lenient value (a timestamp string, a whole
# float), a count out of range, content parts, several choices, a member not declared — gives None, and
# takes `normalise`, whose findings and leniency stay the one rule. For the lines it reads, `common_record`
# gives the very `ResultRecord` that `normalise` gives (tests check both on every fixture).

Int64 = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
Tokens = Annotated[int, msgspec.Meta(ge=0, lt=MAX_TOKENS)]  # what `read._bounded` keeps
Success = Annotated[int, msgspec.Meta(ge=200, le=299)]
NULL = msgspec.Raw(b"null")


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    """A member not declared is refused (see above)."""


class _Details(_Strict):
    cached_tokens: Tokens | None = None
    cache_write_tokens: Tokens | None = None
    audio_tokens: Any = None


class _Usage(_Strict):
    prompt_tokens: Tokens | None = None
    completion_tokens: Tokens | None = None
    total_tokens: Tokens | None = None
    prompt_tokens_details: _Details | None = None
    completion_tokens_details: Any = None


class _Message(_Strict):
    content: str | None = None
    tool_calls: msgspec.Raw = NULL  # read by orjson, as `normalise` reads it (see `common_record`)
    role: Any = None
    refusal: Any = None
    function_call: Any = None
    annotations: Any = None
    audio: Any = None
    reasoning_content: Any = None


class _Choice(_Strict):
    message: _Message
    finish_reason: str | None = None
    index: Any = None
    logprobs: Any = None
    stop_reason: Any = None


class _Body(_Strict):
    choices: list[_Choice]
    created: Int64 | None = None
    model: str | None = None
    usage: _Usage | None = None
    id: Any = None
    object: Any = None
    system_fingerprint: Any = None
    service_tier: Any = None
    prompt_logprobs: Any = None
    kv_transfer_params: Any = None


class _Response(_Strict):
    status_code: Success
    body: _Body
    request_id: Any = None


class _Line(_Strict):
    custom_id: str
    response: _Response
    id: Any = None
    error: Any = None  # a success is decided by its status code, whatever `error` holds
    cached: Any = msgspec.field(default=None, name=CACHED)
    answered: Any = msgspec.field(default=None, name=ANSWERED)


_decode = msgspec.json.Decoder(_Line).decode


def common_record(raw: bytes, line: int, file: str) -> ResultRecord | None:
    """The record of a result line of the common shape (see above), or None: read it with `normalise`."""
    try:
        parsed = _decode(raw)
    except (msgspec.DecodeError, RecursionError):  # not this shape, not JSON, too deep: `normalise`'s
        return None
    body = parsed.response.body
    choices = body.choices
    if len(choices) != 1:
        return None  # choices in `index` order, or none (no answer): `normalise`'s
    record = ResultRecord(parsed.custom_id, OK, parsed.response.status_code, file=file, line=line)
    if body.model is not None:
        record.model = sys.intern(body.model)
    record.created = body.created
    usage = body.usage
    if usage is not None:
        record.prompt_tokens = usage.prompt_tokens
        record.completion_tokens = usage.completion_tokens
        record.total_tokens = usage.total_tokens
        details = usage.prompt_tokens_details
        if details is not None:
            record.cached_tokens = details.cached_tokens
            record.cache_write_tokens = details.cache_write_tokens
    if choices:  # (always one)
        choice = choices[0]
        message = choice.message
        record.contents = (message.content,)
        try:  # (msgspec reads no number in a Raw: orjson refuses what it refuses on the whole line)
            calls = orjson.loads(memoryview(message.tool_calls))
        except orjson.JSONDecodeError:
            return None
        if calls:
            if too_deep(calls):
                return None  # a finding: `normalise`'s
            record.tool_calls = orjson.dumps(calls).decode()  # the JSON text `normalise` keeps
        if choice.finish_reason is not None:
            record.finish_reason = sys.intern(choice.finish_reason)
    if parsed.cached is not None:
        record.cached_from = _cached_from(parsed.cached)
    if parsed.answered is not None:
        record.answered = answered_hash(parsed.answered)
    return record
