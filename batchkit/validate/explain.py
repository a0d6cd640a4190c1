"""Turns python-jsonschema errors into findings that read like a person wrote them.

Where a schema offers alternatives (anyOf/oneOf), the failure is reported inside the alternative whose
`type` the value has, never as a cascade of every branch. Discriminated unions in batchkit's schemas
use if/then on a const (`role`, `type`), so their errors already come from the intended branch.
"""

from __future__ import annotations

import difflib
from collections import defaultdict

import orjson

from ..findings import Finding, pointer
from ..lines import json_type

KEYWORD_CODES = {
    "required": "missing-field",
    "type": "wrong-type",
    "minimum": "out-of-range",
    "maximum": "out-of-range",
    "exclusiveMinimum": "out-of-range",
    "exclusiveMaximum": "out-of-range",
    "enum": "invalid-value",
    "const": "invalid-value",
    "pattern": "invalid-value",
    "minItems": "invalid-length",
    "maxItems": "invalid-length",
    "minLength": "invalid-length",
    "maxLength": "invalid-length",
    "minProperties": "invalid-length",
    "maxProperties": "invalid-length",
    "additionalProperties": "unknown-field",
    "unevaluatedProperties": "unknown-field",
    "not": "unsupported-field",  # a field that must be absent (`{"not": {}}`); its description says why
}


def short(value, limit: int = 60) -> str:
    """A value as JSON, cut to `limit` characters (a value JSON cannot hold is named by its type)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # nested past orjson's limit, or an integer wider than 64 bits
        text = f"<{json_type(value)}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_name(name: str, limit: int = 80) -> str:
    """A field name from a file, cut to `limit` characters for a message (renderers escape it)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def label(parts) -> str:
    """How a message names a location: `temperature`, `messages[0].role`."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return f"`{out}`" if out else "the line"


def did_you_mean(name: str, candidates) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"; did you mean `{match[0]}`?" if match else ""


def explain(errors, line: int | None, prefix=()) -> list[Finding]:
    """Findings for the errors python-jsonschema reported on one instance (deduplicated, in order)."""
    findings: dict[tuple, Finding] = {}
    for error in errors:
        for f in _leaves(error, line, tuple(prefix)):
            findings.setdefault((f.code, f.path, f.message), f)
    return list(findings.values())


def _leaves(error, line, prefix):
    if error.validator in ("anyOf", "oneOf") and error.context:
        yield from _alternatives(error, line, prefix)
        return
    yield _finding(error, line, prefix)


def _alternatives(error, line, prefix):
    branches: dict[int, list] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    # A branch is meant for this value when the value has its type (no `type` error at the branch's root).
    meant = [
        errs
        for errs in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errs)
    ]
    if meant:
        for sub in min(meant, key=len):
            yield from _leaves(sub, line, prefix)
        return
    types = []
    for branch in error.validator_value:
        t = branch.get("type") if isinstance(branch, dict) else None
        types.extend(t if isinstance(t, list) else [t] if t else [])
    where = prefix + tuple(error.absolute_path)
    expected = _alternatives_text(list(dict.fromkeys(types))) or "one of the allowed shapes"
    yield Finding(
        "wrong-type",
        f"{label(where)} must be {expected}, not {_article(json_type(error.instance))} "
        f"({short(error.instance)})",
        line,
        pointer(where),
    )


def _finding(error, line, prefix) -> Finding:
    keyword = error.validator
    code = KEYWORD_CODES.get(keyword, "schema")
    where = prefix + tuple(error.absolute_path)
    value = error.instance
    name = label(where)
    if keyword == "required":
        missing = next((k for k in error.validator_value if k not in value), error.validator_value[0])
        where = where + (missing,)
        message = f"{label(where)} is required; add it"
    elif keyword == "type":
        expected = error.validator_value
        expected = _alternatives_text(expected if isinstance(expected, list) else [expected])
        message = f"{name} must be {expected}, not {_article(json_type(value))} ({short(value)})"
    elif code == "out-of-range":
        message = f"{name} must be {_bounds(error.schema)} (got {short(value)})"
    elif keyword == "enum" and len(error.validator_value) == 1:
        message = f"{name} must be {short(error.validator_value[0])}; got {short(value)}"
    elif keyword == "enum":
        allowed = ", ".join(short(v) for v in error.validator_value)
        hint = (
            did_you_mean(value, [v for v in error.validator_value if isinstance(v, str)])
            if isinstance(value, str)
            else ""
        )
        message = f"{name} must be one of {allowed}; got {short(value)}{hint}"
    elif keyword == "const":
        message = f"{name} must be {short(error.validator_value)}; got {short(value)}"
    elif "propertyNames" in error.absolute_schema_path:
        # the failing value is a key of the object at `where`
        rule = (
            f"keys must match {error.validator_value}"
            if keyword == "pattern"
            else _length_message(keyword, "a key", error.validator_value, value)
        )
        message = f"key {short(value)} of {name} is not allowed: {rule}"
        where = where + (value,)
    elif keyword == "pattern":
        message = f"{name} {short(value)} does not match the pattern {error.validator_value}"
    elif code == "invalid-length":
        message = _length_message(keyword, name, error.validator_value, value)
    elif keyword == "not":
        why = error.schema.get("description") if isinstance(error.schema, dict) else None
        message = f"{name} is not accepted here" + (f": {why.rstrip('.')}" if why else "") + "; remove it"
    elif code == "unknown-field":
        extras = [k for k in value if k not in error.schema.get("properties", {})]
        where = where + (extras[0],) if len(extras) == 1 else where
        message = f"unknown field(s) {', '.join(extras)} in {name}"
    else:
        message = f"{name}: {error.message}"
    return Finding(code, message + _needed_by(error, prefix), line, pointer(where))


def _needed_by(error, prefix) -> str:
    """For a rule a field's presence brings in (`dependentSchemas`): which field needs it."""
    schema_path = list(error.absolute_schema_path)
    if "dependentSchemas" not in schema_path:
        return ""
    trigger = schema_path[schema_path.index("dependentSchemas") + 1]
    # the dependent schema applies to the object that has the trigger field
    owner = prefix + tuple(error.absolute_path)
    if error.validator != "required":
        owner = owner[:-1]
    return f" ({label(owner + (trigger,))} needs it)"


def _article(noun: str) -> str:
    if noun == "null":
        return noun
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _alternatives_text(types: list[str]) -> str:
    """['string', 'array', 'null'] → 'a string, an array or null'."""
    words = [_article(t) for t in types]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _bounds(schema: dict) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"greater than {low}" if "exclusiveMinimum" in schema else f"at least {low}"
    return f"less than {high}" if "exclusiveMaximum" in schema else f"at most {high}"


def _length_message(keyword: str, name: str, bound: int, value) -> str:
    unit = {"Items": "item", "Length": "character", "Properties": "field"}[keyword[3:]]
    size = len(value) if hasattr(value, "__len__") else "?"
    if bound == 1 and keyword.startswith("min"):
        return f"{name} must not be empty"
    side = "at least" if keyword.startswith("min") else "at most"
    return f"{name} must have {side} {bound} {unit}{'s' if bound != 1 else ''} (has {size})"
