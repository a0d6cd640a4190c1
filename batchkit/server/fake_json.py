"""Schema-shaped answers for the echo backend: a request that asks for a `json_schema` response gets JSON
with a value for every required property, made deterministically from the prompt — strings from the
prompt's words, an enum value chosen by a hash, numbers and integers inside their bounds, booleans, arrays,
nested objects, `$ref`s followed, and a nullable value null now and then.

The JSON is written with a space after `,` and `:` so that counting words as tokens (as echo does) gives a
token count that grows with the answer, and cutting it at `max_tokens` words cuts the JSON.
"""

from __future__ import annotations

import hashlib
import json

MAX_DEPTH = 12  # deeper than this (a recursive $ref): null
NULL_ONE_IN = 5  # a nullable value is null for about one path in five


def requested_schema(body: dict) -> dict | None:
    """The JSON schema a chat (`response_format`) or Responses (`text.format`) body asks its answer to
    follow, or None."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else None
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def fake_json(schema: dict, prompt: str) -> str:
    """JSON text that follows `schema`, the same for the same prompt."""
    return json.dumps(_Maker(schema, prompt).value(schema, "", 0), ensure_ascii=False)


class _Maker:
    def __init__(self, root: dict, prompt: str):
        self.root = root
        self.prompt = prompt
        self.words = prompt.split() or ["echo"]

    def pick(self, path: str, n: int) -> int:
        """A number in [0, n) from the prompt and where in the answer it is asked for."""
        digest = hashlib.sha256(f"{path}\0{self.prompt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % max(n, 1)

    def value(self, schema, path: str, depth: int):
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][self.pick(path, len(schema["enum"]))]
        for keyword in ("anyOf", "oneOf"):
            if isinstance(schema.get(keyword), list) and schema[keyword]:
                branches = schema[keyword]
                return self.value(branches[self.pick(path + keyword, len(branches))], path, depth + 1)
        kind = self.kind(schema, path)
        make = getattr(self, f"make_{kind}", None)
        return make(schema, path, depth) if make is not None else None

    def resolve(self, schema: dict) -> dict:
        ref = schema.get("$ref")
        for _ in range(MAX_DEPTH):
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return schema
            node = self.root
            for part in ref[2:].split("/"):
                node = (
                    node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
                )
            if not isinstance(node, dict):
                return {}
            schema, ref = node, node.get("$ref")
        return schema

    def kind(self, schema: dict, path: str) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            if "null" in kind and (not kinds or self.pick(path + "?null", NULL_ONE_IN) == 0):
                return "null"
            kind = kinds[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return kind

    def make_null(self, schema, path, depth):
        return None

    def make_object(self, schema, path, depth):
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = schema.get("required")
        names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)
        return {name: self.value(properties[name], f"{path}/{name}", depth + 1) for name in names}

    def make_array(self, schema, path, depth):
        low = schema.get("minItems", 1) if isinstance(schema.get("minItems"), int) else 1
        high = schema.get("maxItems", low + 2) if isinstance(schema.get("maxItems"), int) else low + 2
        count = low + self.pick(path + "#", max(high - low + 1, 1))
        return [self.value(schema.get("items", {}), f"{path}/{i}", depth + 1) for i in range(count)]

    def make_string(self, schema, path, depth):
        start = self.pick(path, len(self.words))
        size = 1 + self.pick(path + "#", 6)
        return " ".join((self.words * 2)[start : start + size])

    def make_number(self, schema, path, depth):
        low, high = _bounds(schema, 0.0, 1.0)
        return round(low + (high - low) * self.pick(path, 1001) / 1000, 3)

    def make_integer(self, schema, path, depth):
        low, high = _bounds(schema, 0, 100)
        low, high = int(-(-low // 1)), int(high // 1)
        return low + self.pick(path, max(high - low + 1, 1))

    def make_boolean(self, schema, path, depth):
        return self.pick(path, 2) == 1


def _bounds(schema: dict, low, high):
    for key in ("minimum", "exclusiveMinimum"):
        if isinstance(schema.get(key), (int, float)) and not isinstance(schema.get(key), bool):
            low = schema[key] + (1 if key.startswith("exclusive") else 0)
    for key in ("maximum", "exclusiveMaximum"):
        if isinstance(schema.get(key), (int, float)) and not isinstance(schema.get(key), bool):
            high = schema[key] - (1 if key.startswith("exclusive") else 0)
    if high < low:
        high = low
    return low, high
