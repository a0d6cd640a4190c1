"""The common result line read fast: an answer that succeeded, in OpenAI's shape (also kluster.ai's and
vLLM's), decoded by msgspec straight into the few fields a merge keeps.

`normalise` reads a result line of any shape, from the dict orjson makes of the whole line and a lookup
a field. Here a typed decoder reads the line once into a struct of the members a merged row needs.
Every member of the shape is declared and unknown ones refused, so every value on the line is read
(a number orjson refuses, such as 1e400, fails here too), and the types are strict: a line that is
anything else — a failure, another provider's shape, a lenient value (a timestamp string, a whole
float), a count out of range, content parts, several choices, a member not declared — gives None, and
takes `normalise`, whose findings and leniency stay the one rule. For the lines it reads, `record`
gives the very `ResultRecord` that `normalise` gives (tests check both on every fixture).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec
import orjson

from ..lines import too_deep
from .read import CACHED, INT_MAX, INT_MIN, MAX_TOKENS, OK, ResultRecord, _cached_from

Int64 = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
Tokens = Annotated[int, msgspec.Meta(ge=0, lt=MAX_TOKENS)]  # what `read._bounded` keeps
Success = Annotated[int, msgspec.Meta(ge=200, le=299)]
NULL = msgspec.Raw(b"null")


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    """A member not declared is refused (see the module)."""


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
    tool_calls: msgspec.Raw = NULL  # read by orjson, as `normalise` reads it (see `record`)
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


_decode = msgspec.json.Decoder(_Line).decode


def record(raw: bytes, line: int, file: str) -> ResultRecord | None:
    """The record of a result line of the common shape (see the module), or None: read it with
    `normalise`."""
    try:
        parsed = _decode(raw)
    except (msgspec.DecodeError, RecursionError):  # not this shape, not JSON, too deep: `normalise`'s
        return None
    body = parsed.response.body
    choices = body.choices
    if len(choices) > 1:
        return None  # choices in `index` order: `normalise`'s
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
    if choices:
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
    return record
