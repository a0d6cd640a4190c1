"""Structured answers: each answer parsed as JSON, its fields spread into columns, checked against the
schema its request asked for.

`request_schema(line)` finds what a request line asked for: a strict or plain `json_schema` response
format (chat `response_format`, Responses `text.format`, Anthropic `output_config.format`) or a forced tool
whose parameters are the schema (structured output the Anthropic way). `AnswerParser.row(schema, content,
tool_calls, finish_reason)` turns one answer into its extra columns: `answer.FIELD` for each top-level
field (nested objects spread down to `flatten` levels: `answer.a.b`; deeper values and arrays as JSON
text) and `parse_error` — not JSON, truncated at the token limit (naming the finish reason), or a schema
mismatch at a JSON Pointer inside the answer. One compiled validator per distinct schema.

Model answers are hostile: error texts are cut to `MAX_ERROR` characters and the answer is never quoted
whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import orjson

from ..formats import Request
from ..lines import MAX_DEPTH, loads_exact, too_deep

ANSWER = "answer"  # column prefix: answer.FIELD; a top-level value that is not an object is `answer`
PARSE_ERROR = "parse_error"
TRUNCATED = frozenset({"length", "max_tokens", "max_output_tokens", "MAX_TOKENS"})  # every dialect's name
MAX_ERROR = 200
NOT_JSON, TRUNCATED_KIND, MISMATCH, TOO_DEEP = "not JSON", "truncated", "schema mismatch", "too deep"
_UNPARSED = object()  # an answer that is no JSON at all (or nested too deep to read)


@dataclass(frozen=True)
class Expected:
    """What a request asked its answer to be: a JSON Schema (None: JSON of any shape), and the forced
    tool whose arguments carry the answer (None: the answer is the message text)."""

    schema: dict | None
    tool: str | None = None


def request_schema(request: Request) -> Expected | None:
    """What a request (an OpenAI body, or Anthropic's params) asked its answer to be; None when it asked
    for no JSON schema."""
    body = request.body
    for schema in (
        _dig(body, "response_format", "json_schema", "schema")
        if _dig(body, "response_format", "type") == "json_schema"
        else None,
        _dig(body, "text", "format", "schema")
        if _dig(body, "text", "format", "type") == "json_schema"
        else None,
        _dig(body, "output_config", "format", "schema"),
    ):
        if type(schema) is dict:
            return Expected(schema)
    return _forced_tool(body)


def _dig(node, *keys):
    for key in keys:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def _forced_tool(body: dict) -> Expected | None:
    """The schema of the one tool `tool_choice` forces (chat, Responses or Anthropic shape)."""
    choice = body.get("tool_choice")
    if type(choice) is not dict or choice.get("type") not in ("function", "tool"):
        return None
    name = _dig(choice, "function", "name") or choice.get("name")
    for tool in body.get("tools") if type(body.get("tools")) is list else ():
        if type(tool) is not dict:
            continue
        spec = tool.get("function") if type(tool.get("function")) is dict else tool
        if spec.get("name") == name:
            schema = spec.get("parameters", spec.get("input_schema"))
            return Expected(schema if type(schema) is dict else None, name)
    return None


class AnswerParser:
    """Parses answers row by row; keeps one compiled validator per distinct schema and counts the parse
    errors by kind (`counts`)."""

    def __init__(self, flatten: int = 1):
        self.flatten = flatten
        self.counts: Counter = Counter()
        self.parsed = 0
        self._validators: dict[bytes, _Validator | None] = {}

    def row(
        self,
        schema: dict | None,
        content: str | None,
        tool_calls: str | None,
        finish_reason: str | None,
        tool: str | None = None,
    ) -> dict[str, object]:
        """The extra columns of one answered row: `answer.FIELD` values and `parse_error` (None when the
        answer parsed and matched `schema`). `tool_calls` is the JSON text merge keeps; `tool` names the
        forced tool whose arguments are the answer."""
        value, problem = self._verdict(schema, content, tool_calls, finish_reason, tool)
        if problem is not None and value is _UNPARSED:
            return self._error(problem)
        columns = self._columns(value)
        if problem is not None:
            columns.update(self._error(problem))
            return columns
        self.parsed += 1
        columns[PARSE_ERROR] = None
        return columns

    def check(self, expected: Expected, content: str | None, tool_calls: str | None,
              finish_reason: str | None) -> tuple[str, str] | None:  # fmt: skip
        """Why an answer is not what `expected` asked for: (kind, message), the kind `NOT_JSON`,
        `TRUNCATED_KIND` or `MISMATCH`; None when it is. Counts nothing."""
        return self._verdict(expected.schema, content, tool_calls, finish_reason, expected.tool)[1]

    def _verdict(
        self, schema, content, tool_calls, finish_reason, tool
    ) -> tuple[object, tuple[str, str] | None]:
        """(the parsed answer or _UNPARSED, the problem with it or None)."""
        answer = _answer(content, tool_calls, tool)
        if answer is None:
            return _UNPARSED, _not_json(None, "", finish_reason)
        try:
            value = loads_exact(answer) if type(answer) is str else answer[0]
        except orjson.JSONDecodeError as e:
            return _UNPARSED, _not_json(e, answer, finish_reason)
        if too_deep(value, answer if type(answer) is str else None):
            message = f"the answer nests arrays and objects more than {MAX_DEPTH} levels deep; not read"
            return _UNPARSED, (TOO_DEEP, message)
        mismatch = self._mismatch(schema, value) if schema is not None else None
        if mismatch is not None and finish_reason in TRUNCATED:
            mismatch = (TRUNCATED_KIND, f"{_truncated(finish_reason)}; {mismatch[1]}")
        return value, mismatch

    def _error(self, error: tuple[str, str]) -> dict[str, object]:
        kind, message = error
        self.counts[kind] += 1
        return {PARSE_ERROR: _bounded(message)}

    def _columns(self, value) -> dict[str, object]:
        if type(value) is not dict:
            return {ANSWER: _cell(value)}
        pairs: list[tuple[str, object]] = []
        _spread(value, ANSWER, self.flatten, pairs)
        if len({name for name, _ in pairs}) < len(pairs):  # `"a.b"` beside `"a": {"b"}`: one name for two
            pairs = []
            _spread(value, ANSWER, 1, pairs)  # top-level fields, whose names never meet
        return dict(pairs)

    def validator(self, schema: dict) -> _Validator | None:
        """The compiled validator of `schema` (compiled once per distinct schema); None when the schema
        itself is not valid JSON Schema."""
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        if key not in self._validators:
            self._validators[key] = _Validator.compile(schema)
        return self._validators[key]

    def _mismatch(self, schema: dict, value) -> tuple[str, str] | None:
        validator = self.validator(schema)
        return validator.mismatch(value) if validator is not None else None


class _Validator:
    """One schema compiled twice: jsonschema-rs answers "valid?" fast for every row; jsonschema, only for
    the rows that fail, says where."""

    def __init__(self, fast, explaining):
        self.fast, self.explaining = fast, explaining

    @classmethod
    def compile(cls, schema: dict) -> _Validator | None:
        import jsonschema
        import jsonschema_rs

        kind = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            kind.check_schema(schema)
            fast = jsonschema_rs.validator_for(schema)
        except (jsonschema.SchemaError, ValueError):
            return None
        return cls(fast, kind(schema))

    def mismatch(self, value) -> tuple[str, str] | None:
        try:
            if self.fast.is_valid(value):
                return None
            errors = sorted(
                self.explaining.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
            )
        except (ValueError, RecursionError):
            return MISMATCH, "schema mismatch: the answer is nested too deeply to check against the schema"
        if not errors:
            return None
        first = errors[0]
        pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in first.absolute_path)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return MISMATCH, f"schema mismatch at {pointer or '/'}: {_bounded(first.message, 120)}{more}"


def _answer(content: str | None, tool_calls: str | None, tool: str | None) -> str | tuple | None:
    """What should be the JSON answer: the forced tool's arguments, else the message text (or, when there
    is none, the first tool call's arguments). A text to parse; arguments given as JSON values come as a
    1-tuple `(value,)`; None when there is no answer."""
    if tool is None and content is not None and content.strip():
        return content
    try:
        calls = orjson.loads(tool_calls) if tool_calls else []
    except orjson.JSONDecodeError:
        calls = []
    for call in calls if type(calls) is list else ():
        if type(call) is not dict:
            continue
        spec = call.get("function") if type(call.get("function")) is dict else call
        if tool is None or spec.get("name") == tool:
            arguments = spec.get("arguments")
            return arguments if type(arguments) is str else (arguments,)
    return content


def _truncated(reason: str) -> str:
    return f"truncated at the token limit (finish_reason {reason})"


def _not_json(error: orjson.JSONDecodeError | None, text: str, finish_reason: str | None) -> tuple[str, str]:
    if finish_reason in TRUNCATED:
        return TRUNCATED_KIND, f"{_truncated(finish_reason)}: the JSON ends after {len(text):,} characters"
    if error is None:
        return NOT_JSON, "not JSON: the answer is empty"
    return NOT_JSON, f"not JSON: {error.msg} at character {error.pos:,}"


def _spread(value: dict, prefix: str, depth: int, out: list) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if type(item) is dict and depth > 1:
            _spread(item, name, depth - 1, out)
        else:
            out.append((name, _cell(item)))


def _cell(value):
    """A value as a table cell: scalars as they are, objects and arrays as JSON text."""
    if type(value) in (dict, list):
        return orjson.dumps(value).decode()
    return value


def _bounded(text: str, limit: int = MAX_ERROR) -> str:
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
