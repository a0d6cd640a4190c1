"""Unknown fields in the parts of a request that its line schema leaves open (a Gemini generationConfig or
part, an Anthropic Messages request, a Converse inferenceConfig): each a warning that names the field the
author likely meant, as `validate` says of an unknown OpenAI body field. The fields known are the line
schema's own (data: schemas/), so the schema and this check cannot disagree."""

from __future__ import annotations

import difflib

from .. import schemas
from ..findings import Finding
from .chat import child

NAME_LIMIT = 80  # characters of a field name from the file a message quotes


def known_fields(schema: str, *where: str) -> frozenset[str]:
    """The property names of the object at `where` (keys from the document's root) in `schema`."""
    node = schemas.load(schema)
    for key in where:
        node = node[key]
    return frozenset(node["properties"])


def unknown_fields(obj, known: frozenset[str], at: str, line: int | None, what: str, spelling=str) -> list:
    """A warning for each key of `obj` (when it is an object) that `spelling(key)` is not in `known`."""
    if not isinstance(obj, dict):
        return []
    out = []
    for key in obj:
        if spelling(key) in known:
            continue
        name = key if len(key) <= NAME_LIMIT else key[: NAME_LIMIT - 1] + "…"
        match = difflib.get_close_matches(spelling(key), sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean `{match[0]}`?" if match else ""
        message = f"`{name}` is not a field of {what}; the API refuses fields it does not know{hint}"
        out.append(Finding("unknown-field", message, line, child(at, key)))
    return out
