"""Structured outputs: the strict-mode subset of JSON Schema, checked at the JSON Pointer inside the request
line, and the repairs that need no guessing."""

from __future__ import annotations

import pytest

from batchkit.findings import CODES
from batchkit.validate.strict import (
    OPENAI_STRICT,
    check_strict_schema,
    check_structured_output,
    fix_strict_schemas,
    strict_schema,
)

GOOD = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "entity": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            ]
        },
    },
    "required": ["sentiment", "score", "tags", "entity"],
    "additionalProperties": False,
}


def findings(schema) -> list[tuple[str, str, str]]:
    out = []
    check_strict_schema(schema, 7, ("body", "response_format", "json_schema", "schema"), out.append)
    assert all(f.line == 7 and f.code in CODES for f in out)
    return [(f.code, f.path, f.severity) for f in out]


def chat(response_format=None, **body) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "Rate this review."}],
            **({"response_format": response_format} if response_format else {}), **body}  # fmt: skip


def test_a_schema_inside_the_subset_has_no_findings():
    assert findings(GOOD) == []


def test_each_object_needs_additional_properties_false_and_every_property_required():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "object", "properties": {"c": {"type": "integer"}}},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    base = "/body/response_format/json_schema/schema"
    assert findings(schema) == [
        ("strict-schema-required", f"{base}/required", "error"),
        ("strict-schema-additional-properties", f"{base}/properties/b/additionalProperties", "error"),
        ("strict-schema-required", f"{base}/properties/b/required", "error"),
    ]


def test_the_root_must_be_an_object_not_any_of():
    assert findings({"anyOf": [{"type": "string"}, {"type": "number"}]})[0][0] == "strict-schema-root"
    assert findings({"type": "array", "items": {"type": "string"}})[0][0] == "strict-schema-root"
    assert findings([1, 2]) == [("strict-schema-root", "/body/response_format/json_schema/schema", "error")]


def test_unsupported_keywords_are_errors_and_undocumented_ones_warnings():
    schema = {
        **GOOD,
        "properties": {**GOOD["properties"], "n": {"allOf": [{"type": "integer"}], "minLength": 2}},
    }
    schema["required"] = [*GOOD["required"], "n"]
    base = "/body/response_format/json_schema/schema/properties/n"
    assert findings(schema) == [
        ("strict-schema-keyword", f"{base}/allOf", "error"),
        ("strict-schema-keyword", f"{base}/minLength", "warning"),
    ]


def test_limits_nesting_properties_and_enums():
    deep = inner = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    for _ in range(OPENAI_STRICT.max_depth):
        child = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
        inner["properties"]["x"], inner["required"] = child, ["x"]
        inner = child
    ((code, path, _),) = findings(deep)
    assert code == "strict-schema-limit" and path.endswith("/properties/x" * OPENAI_STRICT.max_depth)

    many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5001)},
            "additionalProperties": False}  # fmt: skip
    many["required"] = list(many["properties"])
    assert [c for c, _p, _s in findings(many)] == ["strict-schema-limit"]

    enum = {"type": "object", "properties": {"e": {"type": "string", "enum": [f"value-{i:04d}-" + "x" * 60 for i in range(300)]}},
            "required": ["e"], "additionalProperties": False}  # fmt: skip
    assert findings(enum) == [
        ("strict-schema-limit", "/body/response_format/json_schema/schema/properties/e/enum", "error")
    ]


def test_where_strict_schemas_are_found_in_chat_and_responses_bodies():
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    out = []
    body = chat({"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": loose}},
                tools=[{"type": "function", "function": {"name": "f", "strict": True, "parameters": loose}},
                       {"type": "function", "function": {"name": "g", "parameters": loose}}])  # fmt: skip
    check_structured_output(3, body, out.append)
    assert {f.path.rsplit("/", 1)[0] for f in out} == {
        "/body/response_format/json_schema/schema",
        "/body/tools/0/function/parameters",
    }
    out = []
    responses = {"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "name": "r", "strict": True, "schema": loose}},
                 "tools": [{"type": "function", "name": "f", "strict": True, "parameters": loose}]}  # fmt: skip
    check_structured_output(3, responses, out.append)
    assert {f.path.rsplit("/", 1)[0] for f in out} == {"/body/text/format/schema", "/body/tools/0/parameters"}
    # a schema without strict: true is a hint, not compiled: nothing to check
    out = []
    check_structured_output(
        3, chat({"type": "json_schema", "json_schema": {"name": "r", "schema": loose}}), out.append
    )
    assert out == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [("Rate this review.", ["json-mode-without-json"]), ("Answer in JSON: rate it.", []),
     ([{"type": "text", "text": "reply as json"}], [])],
)  # fmt: skip
def test_json_mode_needs_the_word_json_in_the_messages(content, expected):
    out = []
    body = chat({"type": "json_object"})
    body["messages"][0]["content"] = content
    check_structured_output(1, body, out.append)
    assert [f.code for f in out] == expected


def test_repairs_make_a_schema_strict_without_changing_what_else_it_says():
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^x"}, "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "integer"}}}}},
        "required": ["b"],
        "$defs": {"d": {"type": "object", "properties": {"e": {"type": "string"}}}},
    }  # fmt: skip
    fixed = strict_schema(loose)
    assert findings(fixed) == []
    assert fixed["required"] == ["b", "a"] and fixed["properties"]["a"] == {"type": "string", "pattern": "^x"}
    assert fixed["properties"]["b"]["items"]["additionalProperties"] is False
    assert fixed["$defs"]["d"]["required"] == ["e"]
    assert "additionalProperties" not in loose  # the input is not changed

    body = chat({"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": loose}})
    assert fix_strict_schemas(body) == ["/body/response_format/json_schema/schema"]
    assert body["response_format"]["json_schema"]["schema"] == fixed
    assert fix_strict_schemas(body) == []
