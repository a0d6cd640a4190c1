"""Structured outputs: what a provider's strict mode accepts of a JSON Schema, checked before upload.

OpenAI compiles a strict schema (`response_format` json_schema with `strict: true`, `text.format` in
Responses, a function tool with `strict: true`) into a grammar, and rejects with HTTP 400 — per request,
after the batch was paid for — a schema outside its subset. The subset and its limits are data
(`OPENAI_STRICT`, from OpenAI's Structured Outputs guide, "Supported schemas"); the checks walk the schema
once and report each problem at its JSON Pointer inside the request line.

`strict_schema()` repairs what needs no guessing: `additionalProperties: false` on every object and every
property listed in `required`.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..findings import Finding, pointer

Emit = Callable[[Finding], None]


@dataclass(frozen=True)
class StrictProfile:
    """One provider's strict-mode subset of JSON Schema."""

    name: str
    unsupported: frozenset[str]  # keywords the provider names as unsupported: an error
    supported: frozenset[str]  # every keyword it documents; anything else is a warning
    max_properties: int
    max_depth: int  # nested object levels
    max_text: int  # characters of property names, definition names, enum and const values
    max_enum_values: int
    large_enum: int  # an enum with more values than this …
    large_enum_text: int  # … may have at most this many characters of values


OPENAI_STRICT = StrictProfile(
    name="OpenAI strict mode",
    unsupported=frozenset({"allOf", "not", "dependentRequired", "dependentSchemas", "if", "then", "else"}),
    supported=frozenset(
        "type properties required additionalProperties items enum const anyOf $ref $defs definitions "
        "description title $schema $id $comment pattern format multipleOf maximum exclusiveMaximum "
        "minimum exclusiveMinimum minItems maxItems".split()
    ),
    max_properties=5000,
    max_depth=10,
    max_text=120_000,
    max_enum_values=1000,
    large_enum=250,
    large_enum_text=15_000,
)

PROFILES = {"openai": OPENAI_STRICT}  # Provider.structured_outputs → the subset its strict mode accepts

SCHEMA_CHILDREN = ("properties", "$defs", "definitions")  # keywords whose values map names to schemas


def _subschemas(node: dict, at: tuple) -> Iterator[tuple[object, tuple, bool]]:
    """(subschema, its path, whether it is one level deeper as an object) for each child schema."""
    for keyword in SCHEMA_CHILDREN:
        children = node.get(keyword)
        if type(children) is dict:
            for name, child in children.items():
                yield child, (*at, keyword, name), keyword == "properties"
    items = node.get("items")
    if type(items) is dict:
        yield items, (*at, "items"), False
    for keyword in ("anyOf", "allOf", "oneOf"):
        branches = node.get(keyword)
        if type(branches) is list:
            for i, branch in enumerate(branches):
                yield branch, (*at, keyword, i), False


def _is_object(node: dict) -> bool:
    kind = node.get("type")
    return kind == "object" or (type(kind) is list and "object" in kind) or "properties" in node


class _Walk:
    """One pass over a schema: per-node rules now, totals for the limits at the end."""

    def __init__(self, profile: StrictProfile, line: int | None, base: tuple, emit: Emit):
        self.profile, self.line, self.base, self.emit = profile, line, base, emit
        self.properties = self.text = self.enum_values = 0
        self.deepest: tuple[int, tuple] = (0, ())

    def error(self, code: str, at: tuple, message: str, severity: str = "") -> None:
        self.emit(Finding(code, message, self.line, pointer((*self.base, *at)), severity))

    def node(self, node, at: tuple, depth: int) -> None:
        if type(node) is not dict:
            return
        self.keywords(node, at)
        if _is_object(node):
            depth += 1
            self.deepest = max(self.deepest, (depth, at), key=lambda d: d[0])
            self.object(node, at)
        for keyword in SCHEMA_CHILDREN[1:]:
            if type(node.get(keyword)) is dict:
                self.text += sum(len(str(name)) for name in node[keyword])
        self.values(node, at)
        for child, where, _deeper in _subschemas(node, at):
            self.node(child, where, depth)

    def keywords(self, node: dict, at: tuple) -> None:
        p = self.profile
        for keyword in node:
            if keyword in p.unsupported:
                self.error("strict-schema-keyword", (*at, keyword),
                           f"`{keyword}` is not supported by {p.name}; rewrite the schema without it "
                           "(an `anyOf` of the alternatives usually works)")  # fmt: skip
            elif keyword not in p.supported:
                self.error("strict-schema-keyword", (*at, keyword),
                           f"`{keyword}` is not among the keywords {p.name} documents; the request may be "
                           "rejected (remove it, or describe the rule in `description`)", "warning")  # fmt: skip

    def object(self, node: dict, at: tuple) -> None:
        names = list(node.get("properties") or {}) if type(node.get("properties")) is dict else []
        self.properties += len(names)
        self.text += sum(len(str(name)) for name in names)
        if node.get("additionalProperties") is not False:
            self.error("strict-schema-additional-properties", (*at, "additionalProperties"),
                       f"{self.profile.name} needs `additionalProperties: false` on every object "
                       "(`batchkit fix --strict-schemas` adds it)")  # fmt: skip
        required = node.get("required") if type(node.get("required")) is list else []
        missing = [name for name in names if name not in required]
        if missing:
            listed = ", ".join(f"`{name}`" for name in missing[:5]) + (", …" if len(missing) > 5 else "")
            self.error("strict-schema-required", (*at, "required"),
                       f"{self.profile.name} needs every property in `required`; missing {listed} (make an "
                       "optional field nullable, e.g. type [\"string\", \"null\"]; `batchkit fix "
                       "--strict-schemas` fills `required`)")  # fmt: skip

    def values(self, node: dict, at: tuple) -> None:
        enum = node.get("enum")
        if type(enum) is list:
            self.enum_values += len(enum)
            size = sum(len(v) for v in enum if type(v) is str)
            self.text += size
            p = self.profile
            if len(enum) > p.large_enum and size > p.large_enum_text:
                self.error("strict-schema-limit", (*at, "enum"),
                           f"an enum of {len(enum):,} values may have at most {p.large_enum_text:,} "
                           f"characters of values in {p.name} (has {size:,})")  # fmt: skip
        if type(node.get("const")) is str:
            self.text += len(node["const"])

    def limits(self) -> None:
        p = self.profile
        checks = (
            (self.properties > p.max_properties, (),
             f"{self.properties:,} object properties; {p.name} allows at most {p.max_properties:,}"),
            (self.deepest[0] > p.max_depth, self.deepest[1],
             f"objects nested {self.deepest[0]} levels deep; {p.name} allows at most {p.max_depth}"),
            (self.text > p.max_text, (),
             f"{self.text:,} characters of property names, definition names, enum and const values; "
             f"{p.name} allows at most {p.max_text:,}"),
            (self.enum_values > p.max_enum_values, (),
             f"{self.enum_values:,} enum values; {p.name} allows at most {p.max_enum_values:,}"),
        )  # fmt: skip
        for over, at, message in checks:
            if over:
                self.error("strict-schema-limit", at, message)


def check_strict_schema(
    schema, line: int | None, base: tuple, emit: Emit, profile: StrictProfile = OPENAI_STRICT
) -> None:
    """Report through `emit` what `profile` rejects in `schema`, found at path `base` of a request line."""
    walk = _Walk(profile, line, base, emit)
    if type(schema) is not dict or not _is_object(schema) or "anyOf" in schema:
        walk.error("strict-schema-root", (),
                   f"the root of a schema for {profile.name} must be an object (`type: object`), not "
                   "`anyOf` or another type; wrap it in an object with one property")  # fmt: skip
        if type(schema) is not dict:
            return
    walk.node(schema, (), 0)
    walk.limits()


def strict_schemas(body: dict, field: str | None = None) -> Iterator[tuple[object, tuple]]:
    """(schema, its path under /body) of every strict schema in a chat or Responses body (only those under
    the top-level `field`, when given): `response_format`, `text.format`, strict function tools."""
    for spec, key, where in _schema_specs(body, field):
        if spec.get("strict") is True:
            yield spec[key], where


def user_schemas(body: dict, field: str | None = None) -> Iterator[tuple[object, tuple]]:
    """(schema, its path under /body) of every JSON Schema a chat or Responses body carries, strict or not."""
    for spec, key, where in _schema_specs(body, field):
        yield spec[key], where


def _schema_specs(body: dict, field: str | None) -> Iterator[tuple[dict, str, tuple]]:
    """(the object holding a schema, the schema's key in it, the schema's path under /body)."""
    if field in (None, "response_format"):
        response_format = body.get("response_format")
        if type(response_format) is dict and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            if type(spec) is dict and "schema" in spec:
                yield spec, "schema", ("response_format", "json_schema", "schema")
    if field in (None, "text"):
        text = body.get("text")
        fmt = text.get("format") if type(text) is dict else None
        if type(fmt) is dict and fmt.get("type") == "json_schema" and "schema" in fmt:
            yield fmt, "schema", ("text", "format", "schema")
    if field in (None, "tools"):
        tools = body.get("tools")
        for i, tool in enumerate(tools if type(tools) is list else ()):
            if type(tool) is not dict:
                continue
            spec = tool.get("function") if type(tool.get("function")) is dict else tool  # chat | Responses
            if "parameters" in spec:
                where = (
                    ("tools", i, "function", "parameters") if spec is not tool else ("tools", i, "parameters")
                )
                yield spec, "parameters", where


SCHEMA_ERRORS = 10  # findings per invalid schema: enough to fix it in one go, never a flood


def check_schema_validity(number: int | None, body: dict, emit: Emit, field: str | None = None) -> None:
    """Every JSON Schema a body carries (under `field` only, when given) checked against JSON Schema's own
    metaschema (Draft 2020-12): a schema in another dialect, such as Gemini's upper-case `"type":
    "OBJECT"`, is refused by the provider."""
    for schema, where in user_schemas(body, field):
        if schema is None and where[-1] == "parameters":
            continue  # a tool without parameters (Responses writes null)
        if type(schema) not in (dict, bool):
            continue  # the body schema reports a schema that is not an object
        try:
            errors = list(itertools.islice(_metaschema().iter_errors(schema), SCHEMA_ERRORS))
        except RecursionError:
            continue  # nested past what the metaschema check can follow: the line's own depth rule decides
        for error in errors:
            at = ("body", *where, *error.absolute_path)
            emit(Finding("invalid-json-schema", _schema_message(error), number, pointer(at)))


def _schema_message(error) -> str:
    value = error.instance
    kinds = ("array", "boolean", "integer", "null", "number", "object", "string")
    if (
        error.absolute_path
        and error.absolute_path[-1] == "type"
        and type(value) is str
        and value.lower() in kinds
    ):
        return (
            f'`type` {value!r} is not a JSON Schema type: JSON Schema writes types in lower case ("{value.lower()}"); '
            "an upper-case type is the OpenAPI subset Gemini uses (`batchkit convert` rewrites it)"
        )
    return f"not a valid JSON Schema: {error.message[:200]}"


@functools.cache
def _metaschema():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


def _mentions_json(value) -> bool:
    if type(value) is str:
        return "json" in value.lower()
    if type(value) is list:
        return any(_mentions_json(v) for v in value)
    if type(value) is dict:
        return any(_mentions_json(v) for k, v in value.items() if k in ("content", "text", "input"))
    return False


def check_structured_output(
    number: int | None, body: dict, emit: Emit, field: str | None = None, profile: str | None = "openai"
) -> None:
    """Every strict schema of a body (under `field` only, when given), and JSON mode's rule that the
    prompt says "JSON", as the provider whose strict mode is `profile` checks them (None: no such rules)."""
    if profile is None:
        return
    for schema, where in strict_schemas(body, field):
        check_strict_schema(schema, number, ("body", *where), emit, PROFILES[profile])
    response_format = body.get("response_format") if field in (None, "response_format") else None
    if type(response_format) is dict and response_format.get("type") == "json_object":
        if not _mentions_json(body.get("messages")):
            message = (
                '`response_format` json_object needs the word "JSON" in the messages (OpenAI rejects the '
                "request otherwise); say in the system or user message that the answer is JSON"
            )
            emit(Finding("json-mode-without-json", message, number, "/body/response_format/type"))


def strict_schema(schema):
    """A copy of `schema` with `additionalProperties: false` on every object and every property in
    `required` — the repairs strict mode needs that change no other rule of the schema."""
    fixed = copy.deepcopy(schema)
    _repair(fixed)
    return fixed


def _repair(node) -> None:
    if type(node) is not dict:
        return
    if _is_object(node):
        if "additionalProperties" not in node or node["additionalProperties"] is True:
            node["additionalProperties"] = False
        names = list(node["properties"]) if type(node.get("properties")) is dict else []
        required = node["required"] if type(node.get("required")) is list else []
        node["required"] = [*required, *(name for name in names if name not in required)]
    for child, _at, _deeper in _subschemas(node, ()):
        _repair(child)


def fix_strict_schemas(body: dict) -> list[str]:
    """Repair every strict schema of a body in place; the JSON Pointers of the schemas changed."""
    changed = []
    for schema, where in list(strict_schemas(body)):
        fixed = strict_schema(schema)
        if fixed != schema:
            parent = body
            for part in where[:-1]:
                parent = parent[part]
            parent[where[-1]] = fixed
            changed.append(pointer(("body", *where)))
    return changed


def strict_repairs(before, after, at: str = "") -> list[str]:
    """What `strict_schema` added to `before` to make `after`, object by object, at JSON Pointers relative
    to the schema: "/properties/x: additionalProperties: false added", "/: required now lists a, b"."""
    out: list[str] = []
    if type(before) is not dict or type(after) is not dict:
        return out
    if after.get("additionalProperties") is False and before.get("additionalProperties") is not False:
        out.append(f"{at or '/'}: additionalProperties: false added")
    had = before.get("required") if type(before.get("required")) is list else []
    added = [str(n) for n in after.get("required", ()) if n not in had]
    if added:
        out.append(f"{at or '/'}: required now lists {', '.join(added)}")
    for key, value in after.items():
        child = f"{at}{pointer((key,))}"
        if type(value) is dict:
            out.extend(strict_repairs(before.get(key), value, child))
        elif type(value) is list:
            old = before.get(key) if type(before.get(key)) is list else []
            for i, item in enumerate(value):
                out.extend(strict_repairs(old[i] if i < len(old) else None, item, f"{child}/{i}"))
    return out
