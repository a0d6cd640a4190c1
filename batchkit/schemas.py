"""The JSON Schemas in `schemas/`: loaded once, resolved offline, compiled once.

The schema files are the single source of truth for line formats. They ship inside the wheel as
`batchkit/schemas/`; in a source checkout they are read from the top-level `schemas/` folder.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import orjson

REQUEST = "batch-request"
OUTPUT = "batch-output"


def schema_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if (candidate / f"{REQUEST}.schema.json").is_file():
            return candidate
    raise FileNotFoundError("batchkit's schemas/ folder is missing from this installation")


@functools.cache
def load(name: str) -> dict:
    """The schema `name` (file `schemas/<name>.schema.json`) as a dict."""
    return orjson.loads((schema_dir() / f"{name}.schema.json").read_bytes())


def root(name: str) -> dict:
    """The schema to validate with for `name`: a document (`bedrock-request`), or one definition in it
    (`bedrock-request#/$defs/TitanEmbeddingsLine`), referred to by its `$id` so its own `$ref`s resolve."""
    document, _, fragment = name.partition("#")
    if not fragment:
        return {k: v for k, v in load(document).items() if k != "$schema"}
    return {"$ref": f"{load(document)['$id']}#{fragment}"}


@functools.cache
def all_schemas() -> dict[str, dict]:
    return {
        p.name.removesuffix(".schema.json"): load(p.name.removesuffix(".schema.json"))
        for p in sorted(schema_dir().glob("*.schema.json"))
    }


@functools.cache
def registry():
    """Every schema under its `$id`, so `$ref`s resolve without ever fetching anything."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    # Without their `$schema`, referenced documents are checked by the validator class that refers to
    # them (the ECMA-pattern one below), not by the stock class their `$schema` names.
    resources = [
        (s["$id"], DRAFT202012.create_resource({k: v for k, v in s.items() if k != "$schema"}))
        for s in all_schemas().values()
    ]
    return Registry().with_resources(resources).crawl()


@functools.cache
def validator(name: str = REQUEST):
    """The reference validator (python-jsonschema): explains failures with paths and keywords.

    Its `pattern` means what JSON Schema's (ECMA-262) does: `$` is the end of the string, never
    "before a final newline" as in Python's `re`."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    def pattern(checker, regex, instance, schema):
        if isinstance(instance, str) and not re.search(python_pattern(regex), instance):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    ecma = validators.extend(Draft202012Validator, {"pattern": pattern})
    return ecma(root(name), registry=registry())


@functools.cache
def python_pattern(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern for Python's `re`: each `$` outside a character class becomes
    `\\Z`, since Python's `$` also matches before a string's final newline."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return "".join(out)


@functools.cache
def body_schemas() -> dict[str, str]:
    """url → name of the body schema the request schema picks for it (read from its if/then list)."""
    by_id = {s["$id"]: name for name, s in all_schemas().items()}
    base = load(REQUEST)["$id"].rsplit("/", 1)[0] + "/"
    mapping = {}
    for branch in load(REQUEST).get("allOf", []):
        urls = branch["if"]["properties"]["url"]["enum"]
        ref = branch["then"]["properties"]["body"]["$ref"]
        for url in urls:
            mapping[url] = by_id[ref if "://" in ref else base + ref]
    return mapping


@functools.cache
def known_properties(name: str) -> frozenset[str]:
    """Top-level property names a schema declares (for unknown-field warnings)."""
    return frozenset(load(name).get("properties", {}))
