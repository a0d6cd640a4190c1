"""What no schema can say: uniqueness across lines, one model or endpoint per file, provider endpoints
and id rules, tool-call pairing, and advice. Everything provider-specific is read from the Provider row."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from .. import schemas
from ..findings import Finding, pointer
from ..formats import OPENAI, SYNONYMS, Dialect, Request
from ..providers import Provider, id_rule
from .explain import did_you_mean, explain, field_name
from .strict import check_schema_validity, check_structured_output

Emit = Callable[[Finding], None]

# Sampling and decoding fields that open-weight servers (vLLM, kluster.ai, llama.cpp …) accept beyond the
# OpenAI body: still reported, since OpenAI rejects them, but never with a misleading "did you mean".
EXTENSION_FIELDS = frozenset(
    "top_k min_p typical_p repetition_penalty length_penalty min_tokens ignore_eos skip_special_tokens "
    "spaces_between_special_tokens best_of use_beam_search early_stopping stop_token_ids "
    "include_stop_str_in_output guided_json guided_regex guided_choice guided_grammar chat_template "
    "chat_template_kwargs add_generation_prompt truncate_prompt_tokens".split()
)
VLLM_SCHEMAS = "vllm-"  # the bodies of vLLM's own endpoints: what they do not declare, vLLM ignores too


@dataclass(frozen=True)
class BodyRule:
    """A rule on a request body that no schema states: it can fire only when the body has every one of
    `fields`, so the fast path sends exactly such lines to the reference path (see fastpath.body_type)."""

    code: str
    fields: tuple[str, ...]
    applies: Callable[[dict], bool] = lambda b: True
    message: Callable[[dict], str] = lambda b: ""
    check: Callable | None = None  # (line, body, emit, provider): reports its own findings and paths
    # The check's verdict on a body holding only this one field is never more lenient than on the whole
    # body: the fast path then decides a line by the field's value, checked once per distinct value.
    by_value: bool = False

    @property
    def path(self) -> str:
        return f"/body/{self.fields[0]}"


# The body rules. Together with the schemas (their `dependentSchemas`), this is the one place that
# decides which lines leave the fast path.
BODY_RULES = (
    BodyRule(
        "streaming-unsupported",
        ("stream",),
        lambda b: b["stream"] is True,
        lambda b: "batch requests cannot stream; remove `stream` or set it to false",
    ),
    BodyRule(
        "stream-options-without-stream",
        ("stream_options",),
        lambda b: b["stream_options"] is not None and b.get("stream") is not True,
        lambda b: (
            "`stream_options` is only allowed with `stream: true`, and batch requests cannot stream; "
            "remove `stream_options`"
        ),
    ),
    BodyRule(
        "conflicting-max-tokens",
        ("max_tokens", "max_completion_tokens"),
        lambda b: True,
        lambda b: "both `max_tokens` and `max_completion_tokens` are set; keep `max_completion_tokens`",
    ),
    BodyRule(
        "out-of-range",
        ("best_of",),
        lambda b: _int(b["best_of"]) and _int(b.get("n")) and b["best_of"] < b["n"],
        lambda b: (
            f"`best_of` ({b['best_of']}) must be at least `n` ({b['n']}): best_of candidates are "
            "made and the best n returned"
        ),
    ),
)


# vLLM's audio requests take their stream options as flat fields, allowed only with `stream: true`
# (TranscriptionRequest.validate_transcription_request), and a batch request cannot stream.
BODY_RULES += tuple(
    BodyRule(
        "stream-options-without-stream",
        (name,),
        lambda b, name=name: bool(b[name]) and b.get("stream") is not True,
        lambda b, name=name: (
            f"`{name}` is only allowed with `stream: true`, and batch requests cannot stream; remove `{name}`"
        ),
    )
    for name in ("stream_include_usage", "stream_continuous_usage_stats")
)


def _structured_output(number, body, emit, provider, field):
    check_structured_output(number, body, emit, field, provider.structured_outputs)


# Structured outputs: strict schemas (and JSON mode) are checked against the provider's subset.
BODY_RULES += tuple(
    BodyRule(
        "structured-output",
        (name,),
        check=partial(_structured_output, field=name),
        by_value=True,  # JSON mode without the messages is a finding: such a line takes the reference path
    )
    for name in ("response_format", "text", "tools")
)
# Every JSON Schema a body carries must be one (a Gemini-style `"type": "OBJECT"` is not).
BODY_RULES += tuple(
    BodyRule(
        "invalid-json-schema",
        (name,),
        check=lambda number, body, emit, provider, field=name: check_schema_validity(
            number, body, emit, field
        ),
        by_value=True,
    )
    for name in ("response_format", "text", "tools")
)

# Message roles whose lines need a rule (tool-call pairing).
RULE_ROLES = frozenset({"tool"})


def _int(value) -> bool:
    return type(value) is int


def duplicate(number: int, custom_id: str, first: int, dialect: Dialect = OPENAI) -> Finding:
    """A repeated id, named as the line's format names it (custom_id, key, recordId …)."""
    name = dialect.id_name
    message = (
        f"{name} {custom_id!r} is already used on line {first}; every request needs its own id "
        "(`batchkit fix --dedupe-ids` renames repeats)"
    )
    return Finding("duplicate-custom-id", message, number, dialect.id_pointer, related_lines=(first,))


class ExactIds:
    """custom_id → the line that first used it. Reports repeats at once; memory grows with the ids."""

    def __init__(self, dialect: Dialect = OPENAI):
        self.dialect = dialect
        self.first_line: dict[str, int] = {}

    def add(self, custom_id: str, number: int, emit: Emit) -> None:
        first = self.first_line.setdefault(custom_id, number)
        if first != number:
            emit(duplicate(number, custom_id, first, self.dialect))


SORT_FROM = 500_000  # ids from which sorting their hashes beats a set of them


class HashedIds:
    """Only a 64-bit hash per custom_id, appended to an array: 8 bytes an id, and no lookups per line.

    `repeated()` sorts the hashes once to find those seen twice; `duplicates` is then an exact second
    pass over the (line, custom_id) pairs of just those lines, so a hash collision never becomes a report.
    `hash_of` is Python's `hash` (the same in forked workers); parts checked on other machines (Dask)
    give one that every process computes alike, so their hashes can be joined.
    """

    def __init__(self, dialect: Dialect = OPENAI, hash_of: Callable[[str], int] = hash):
        self.dialect = dialect
        self.hash_of = hash_of
        self.hashes = array("q")

    def add(self, custom_id: str, number: int, emit: Emit) -> None:
        self.hashes.append(self.hash_of(custom_id))

    def extend(self, hashes: array) -> None:
        """Joins the ids of a later byte range of the same file."""
        self.hashes.extend(hashes)

    def repeated(self) -> set[int]:
        """The hashes seen more than once."""
        hashes = self.hashes
        if len(hashes) < SORT_FROM:
            # A set built in C settles the usual case (no repeats) faster than loading numpy would.
            if len(set(hashes)) == len(hashes):
                return set()
            return {h for h, n in Counter(hashes).items() if n > 1}
        import numpy as np  # sorting 8-byte integers is what numpy is for

        ordered = np.sort(np.frombuffer(hashes, dtype=np.int64))
        return set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())

    def duplicates(self, pairs: Iterable[tuple[int, str]]) -> Iterator[Finding]:
        """The repeats among `pairs`, (line, custom_id) in line order: every line, or only those whose
        hash repeats (what the exact pass reads)."""
        repeated = self.repeated()
        if not repeated:
            return
        first_line: dict[str, int] = {}
        hash_of = self.hash_of
        for number, custom_id in pairs:
            if hash_of(custom_id) in repeated:
                first = first_line.setdefault(custom_id, number)
                if first != number:
                    yield duplicate(number, custom_id, first, self.dialect)


class LineRules:
    """Checks each request line in order; keeps the little state that spans lines.

    `first_model` and `first_endpoint` are (value, line) of the file's first request, given when a
    later byte range of a file is checked on its own. The id rule is the provider's, else the format's own.
    """

    def __init__(
        self,
        provider: Provider,
        ids: ExactIds | HashedIds | None = None,
        first_model: tuple[str, int] | None = None,
        first_endpoint: tuple[str, int] | None = None,
        dialect: Dialect = OPENAI,
        job_model: str | None = None,
    ):
        self.provider = provider
        self.dialect = dialect
        self.job_model = job_model  # the model a line that names none goes to (Bedrock)
        self.id_rule = provider.custom_id_pattern or dialect.id_pattern
        self.id_match = id_rule(self.id_rule).match if self.id_rule else None
        self.allowed = frozenset(provider.endpoints) if provider.endpoints is not None else None
        self.ids = ids if ids is not None else ExactIds(dialect)
        self.first_model = first_model
        self.first_endpoint = first_endpoint
        self.bodies = schemas.body_schemas()

    def check(self, number: int, obj: dict, request: Request, emit: Emit) -> None:
        """Every rule, for a line of any shape, read as `request`."""
        fields = self.dialect.line_fields
        if fields is not None and (len(obj) > len(fields) or not obj.keys() <= fields):
            for key in obj.keys() - fields:
                hint = did_you_mean(key, fields)
                message = f"unknown field `{field_name(key)}` on the request line; it is ignored{hint}"
                emit(Finding("unknown-field", message, number, pointer((key,))))
        self.check_id_url_model(number, request.id, request.endpoint, request.model, emit)
        checked = self.dialect.checked_body(request)
        if checked is not None and checked[1]:
            self._body(number, *checked, emit)
        for finding in self.dialect.body_findings(request, self.job_model):
            emit(finding)
        own = self.provider.body_schema(self.dialect.name, request.endpoint)
        if own is not None:
            self._own_body(number, own, request.body, emit)

    def _own_body(self, number: int, schema: str, body: dict, emit: Emit) -> None:
        """The body under the provider's own body schema. A field it does not name is an error where the
        schema is closed (the provider refuses it: Mistral's 422 extra_forbidden), else a warning."""
        at = (self.dialect.body_field,)
        closed = schemas.load(schema).get("additionalProperties", True) is False
        for finding in explain(schemas.validator(schema).iter_errors(body), number, at):
            if not (closed and finding.code == "unknown-field"):  # said per field below
                emit(finding)
        known, title = schemas.known_properties(schema), schemas.load(schema)["title"]
        for key in sorted(body.keys() - known):
            hint = (
                f"; it is `{SYNONYMS[key]}` there (`batchkit convert` renames it)"
                if SYNONYMS.get(key) in known
                else ""
            )
            if closed:
                message = f"`{field_name(key)}` is not a {title} field: {self.provider.name} refuses it{hint}"
                emit(Finding("unsupported-field", message, number, pointer((*at, key))))
            else:
                message = f"`{field_name(key)}` is not a {title} field{hint or did_you_mean(key, known)}"
                emit(Finding("unknown-field", message, number, pointer((*at, key))))

    def check_id_url_model(
        self, number: int, custom_id: str | None, url: str | None, model: str | None, emit: Emit
    ) -> None:
        """The rules on a line's custom_id, url and model: unique ids, the provider's id pattern and
        endpoints, one model or endpoint per file. They span lines and read only these three fields."""
        if custom_id is not None:
            self.ids.add(custom_id, number, emit)
            if self.id_match is not None and not self.id_match(custom_id):
                name, where = self.dialect.id_name, self.dialect.id_pointer
                message = (
                    f"{name} {custom_id[:80]!r} is not accepted by {self.provider.name}: it must match "
                    f"{self.id_rule}; `batchkit convert` maps ids to it"
                )
                emit(Finding("invalid-custom-id", message, number, where))
        if url is not None:
            if self.allowed is not None and url not in self.allowed:
                self._unsupported(number, url, emit)
            if self.provider.one_endpoint:
                if self.first_endpoint is None:
                    self.first_endpoint = (url, number)
                elif url != self.first_endpoint[0]:
                    self._mixed("endpoint", "/url", number, url, self.first_endpoint, emit)
        if model is not None and self.provider.one_model:
            if self.first_model is None:
                self.first_model = (model, number)
            elif model != self.first_model[0]:
                self._mixed("model", "/body/model", number, model, self.first_model, emit)

    def _unsupported(self, number, url, emit):
        endpoints = self.provider.endpoints
        suggestion = next((e for e in endpoints if e.endswith(url) or url.endswith(e)), None)
        hint = f"; did you mean {suggestion}?" if suggestion else f"; use one of: {', '.join(endpoints)}"
        message = f"{self.provider.name} does not accept url {url!r}{hint}"
        emit(Finding("unsupported-endpoint", message, number, "/url"))

    def _mixed(self, what, path, number, value, first, emit):
        first_value, first_line = first
        message = (
            f"{what} {value!r} differs from {first_value!r} on line {first_line}; "
            f"{self.provider.name} needs one {what} per file (split it by {what})"
        )
        emit(Finding(f"mixed-{what}", message, number, path, related_lines=(first_line,)))

    def _body(self, number, url, body, emit):
        schema = self.bodies.get(url)
        if schema is not None:
            known = schemas.known_properties(schema)
            if not body.keys() <= known:
                for key in sorted(body.keys() - known):
                    emit(
                        Finding(
                            "unknown-field",
                            unknown_body_field(key, schema, known),
                            number,
                            pointer(("body", key)),
                        )
                    )
        for field, least in self.provider.body_minimums:  # the fast path sends such lines here
            value = body.get(field)
            own = _schema_minimum(schema, field)  # below the schema's own bound, the schema reports it
            if _int(value) and value < least and (own is None or value >= own):
                message = f"`{field}` is {value}; {self.provider.name} takes at least {least}"
                emit(Finding("out-of-range", message, number, f"/body/{field}"))
        for rule in BODY_RULES:
            if not all(f in body for f in rule.fields):
                continue
            if rule.check is not None:
                rule.check(number, body, emit, self.provider)
            elif rule.applies(body):
                emit(Finding(rule.code, rule.message(body), number, rule.path))
        messages = body.get("messages")
        if type(messages) is list:
            self._messages(number, messages, emit)

    def _messages(self, number, messages, emit):
        call_ids: set = set()
        shared: dict[str, str] = {}  # a call id an assistant message gives twice → where its second is
        for i, message in enumerate(messages):
            if type(message) is not dict:
                continue
            role, content = message.get("role"), message.get("content")
            answered = message.get("tool_call_id")
            if role == "assistant":
                calls = message.get("tool_calls")  # (of any type here: the schema's findings say so)
                if type(calls) is list:
                    shared.update(_shared_ids(i, calls))
                    call_ids.update(
                        c.get("id") for c in calls if type(c) is dict and type(c.get("id")) is str
                    )
            elif role == "tool" and type(answered) is str and answered not in call_ids:
                text = (
                    f"tool message answers tool_call_id {answered!r}, which no earlier "
                    "assistant message's `tool_calls` has; add the assistant turn with that call or fix the id"
                )
                emit(Finding("tool-call-mismatch", text, number, f"/body/messages/{i}/tool_call_id"))
            elif role == "tool" and type(answered) is str and answered in shared:
                # (a line with a tool message takes the reference path: the fast path needs no such check)
                text = f"tool message answers tool_call_id {answered!r}, which two tool calls share: give each its own id"
                emit(Finding("tool-call-mismatch", text, number, shared.pop(answered)))
            if content in ("", []) and not (role == "assistant" and message.get("tool_calls")):
                text = f"message {i} ({role}) has empty content"
                emit(Finding("empty-content", text, number, f"/body/messages/{i}/content"))


def _shared_ids(i: int, calls: list) -> dict[str, str]:
    """The ids an assistant message's tool calls give more than once, each with its second call's path."""
    first: dict[str, int] = {}
    shared = {}
    for j, call in enumerate(calls):
        call_id = call.get("id") if type(call) is dict else None
        if type(call_id) is str and first.setdefault(call_id, j) != j:
            shared.setdefault(call_id, f"/body/messages/{i}/tool_calls/{j}/id")
    return shared


def _schema_minimum(schema: str | None, field: str):
    node = schemas.load(schema).get("properties", {}).get(field, {}) if schema is not None else {}
    return node.get("minimum")


def unknown_body_field(key: str, schema: str, known) -> str:
    if key in EXTENSION_FIELDS and not schema.startswith(VLLM_SCHEMAS):
        return (
            f"`{field_name(key)}` is not an OpenAI {schema} field; open-weight servers (vLLM, kluster.ai) accept it, "
            "others may reject it"
        )
    return (
        f"`{field_name(key)}` is not a known {schema} field; it is passed through as is (fine only for servers that "
        f"accept it){did_you_mean(key, known)}"
    )
