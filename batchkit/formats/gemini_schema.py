"""A JSON Schema (OpenAI's json_schema response format) as Gemini's `responseSchema`, an OpenAPI 3.0
subset, and back. `["T", "null"]` types become `nullable: true`; keywords the subset lacks (such as
`additionalProperties`, `$ref`, `const`, `oneOf`) are what the target cannot express."""

from __future__ import annotations

from .chat import Context, child

KEYWORDS = frozenset(
    "type format title description nullable enum items properties required propertyOrdering anyOf "
    "minItems maxItems minProperties maxProperties minLength maxLength pattern minimum maximum example "
    "default".split()
)
TARGET = "Gemini's responseSchema"


def to_gemini(schema, at: str, ctx: Context):
    """The responseSchema for a JSON Schema (what cannot be said is reported, or left out)."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        path = child(at, key)
        if key not in KEYWORDS:
            ctx.unsupported(path, f"{TARGET} has no `{key}`")
        elif key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            if len(kinds) != 1:
                ctx.unsupported(path, f"{TARGET} takes one type (and null), not {value}", "unsupported-value")
                continue
            out["type"] = kinds[0]
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_gemini(sub, child(path, name), ctx) for name, sub in value.items()}
        elif key in ("items",):
            out[key] = to_gemini(value, path, ctx)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [to_gemini(sub, child(path, i), ctx) for i, sub in enumerate(value)]
        else:
            out[key] = value
    return out


def from_gemini(schema):
    """The JSON Schema for a responseSchema (`nullable` back into the type)."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "type" and schema.get("nullable") is True:
            out[key] = [value, "null"]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: from_gemini(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = from_gemini(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [from_gemini(sub) for sub in value]
        else:
            out[key] = value
    return out
