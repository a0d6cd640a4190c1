"""A JSON Schema (OpenAI's json_schema response format, a tool's parameters) as Gemini's `Schema`, an
OpenAPI 3.0 subset, and back.

To Gemini: `["T", "null"]` types become `nullable: true`; `additionalProperties` is carried (google-genai's
`Schema.additional_properties`; its converter refuses a truthy one on the Gemini API and keeps it on
Vertex); a response schema's objects get `propertyOrdering` in the order the properties are written, as
the SDK's own converter adds it (`_transformers.process_schema`); enum values must be strings (the SDK's
`Schema.enum: list[str]`). Keywords outside the subset (`$ref`, `const`, `oneOf` …) are what the target
cannot express.

Back to JSON Schema: types lower-case (Gemini writes `OBJECT`, `STRING`), `propertyOrdering` dropped (JSON
Schema has no such keyword), `nullable` folded into the type (or, beside `anyOf`, a null member of it)."""

from __future__ import annotations

from dataclasses import dataclass

from .chat import Context, child

KEYWORDS = frozenset(
    "type format title description nullable enum items properties required propertyOrdering anyOf "
    "minItems maxItems minProperties maxProperties minLength maxLength pattern minimum maximum example "
    "default additionalProperties".split()
)
SUBSCHEMAS = ("items", "additionalProperties")  # keywords whose value is one schema
NULL = {"type": "null"}


@dataclass(frozen=True)
class SchemaTarget:
    """Where a schema goes: its name in messages, whether a truthy `additionalProperties` is taken, and
    whether objects get `propertyOrdering` (response schemas do; function parameters are sent as they are)."""

    name: str
    open_objects: bool
    ordered: bool = False

    def response(self) -> SchemaTarget:
        return SchemaTarget(self.name, self.open_objects, ordered=True)


def to_gemini(schema, at: str, ctx: Context, target: SchemaTarget):
    """The Gemini schema for a JSON Schema (what cannot be said is reported, or left out)."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        path = child(at, key)
        if key not in KEYWORDS:
            ctx.unsupported(path, f"{target.name} has no `{key}`")
        elif key == "type" and isinstance(value, list):
            _type_list(value, out, path, ctx, target)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_gemini(sub, child(path, name), ctx, target) for name, sub in value.items()}
        elif key == "additionalProperties" and value not in (False, None) and not target.open_objects:
            message = f"{target.name} takes `additionalProperties` only when false (Vertex takes it)"
            ctx.unsupported(path, message, "unsupported-value")
        elif key in SUBSCHEMAS:
            out[key] = to_gemini(value, path, ctx, target)
        elif key == "anyOf" and isinstance(value, list):
            # a null member is Gemini's `nullable` (its Schema has no null type in anyOf)
            out[key] = [
                to_gemini(sub, child(path, i), ctx, target) for i, sub in enumerate(value) if sub != NULL
            ]
            if NULL in value:
                out["nullable"] = True
        elif key == "enum" and isinstance(value, list) and not all(isinstance(v, str) for v in value):
            ctx.unsupported(path, f"{target.name} takes enum values as strings only", "unsupported-value")
        else:
            out[key] = value
    properties = out.get("properties")
    if (
        target.ordered
        and isinstance(properties, dict)
        and len(properties) > 1
        and "propertyOrdering" not in out
    ):
        out["propertyOrdering"] = list(properties)
    return out


def _type_list(value: list, out: dict, path: str, ctx: Context, target: SchemaTarget) -> None:
    kinds = [k for k in value if k != "null"]
    if len(kinds) != 1:
        ctx.unsupported(path, f"{target.name} takes one type (and null), not {value}", "unsupported-value")
        return
    out["type"] = kinds[0]
    if "null" in value:
        out["nullable"] = True


def from_gemini(schema):
    """The JSON Schema for a Gemini schema: types lower-case, `nullable` back into the type,
    `propertyOrdering` left out."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("nullable", "propertyOrdering", "property_ordering"):
            continue
        if key == "type":
            kind = value.lower() if isinstance(value, str) else value
            out[key] = [kind, "null"] if schema.get("nullable") is True else kind
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: from_gemini(sub) for name, sub in value.items()}
        elif key in SUBSCHEMAS and isinstance(value, dict):
            out[key] = from_gemini(value)
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            out["anyOf"] = [from_gemini(sub) for sub in value]
            if schema.get("nullable") is True and "type" not in schema and NULL not in out["anyOf"]:
                out["anyOf"].append(NULL)  # nullable beside anyOf: null is one more alternative
        else:
            out[key] = value
    return out
