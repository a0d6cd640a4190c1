"""What `convert` writes is what each provider takes: fields the target has no place for are refused or,
under --drop-unsupported, really left out; what it has a place for is carried; values outside its rules
are named. (Every target against its SDK's own types: test_convert_sdk.py.)"""

import json

import pytest

from batchkit.convert import convert_file, convert_request
from batchkit.validate import validate_file

CHAT = "/v1/chat/completions"
STRICT_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"id": {"type": "integer"}},
            "required": ["id"],
            "additionalProperties": False,
        },
    },
}


def line(custom_id="c", **body):
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": {"model": "gpt-4o", **body}}


def user(*parts):
    return [
        {
            "role": "user",
            "content": list(parts) if len(parts) > 1 or not isinstance(parts[0], str) else parts[0],
        }
    ]


def image(url):
    return {"type": "image_url", "image_url": {"url": url}}


# ---- Gemini and Vertex


@pytest.mark.parametrize("target", ["gemini", "vertex"])
def test_a_dropped_strict_flag_is_not_written_into_the_function_declaration(target):
    source = line(messages=user("Look up 42"), tools=[STRICT_TOOL])
    refused = convert_request(source, to=target)
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/body/tools/0/function/strict")
    ]
    dropped = convert_request(source, to=target, drop_unsupported=True)
    assert dropped.dropped == ["/body/tools/0/function/strict"]
    (declaration,) = dropped.line["request"]["tools"][0]["functionDeclarations"]
    assert "strict" not in declaration
    assert declaration["parameters"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("data:image/svg+xml;base64,PHN2Zy8+", "not image/svg+xml"),
        ("data:image/bmp;base64,Qk0=", "not image/bmp"),
        ("data:image/jpg;base64,/9j/", "not image/jpg"),
        ("https://example.com/a.gif", "not image/gif"),
        ("https://example.com/render/12345", "does not say which"),
    ],
)
def test_gemini_image_types_are_checked(url, expected):
    result = convert_request(line(messages=user({"type": "text", "text": "x"}, image(url))), to="gemini")
    assert result.line is None
    (finding,) = result.findings
    assert (finding.code, finding.path) == ("unsupported-value", "/body/messages/0/content/1/image_url")
    assert expected in finding.message and "image/png" in finding.message
    dropped = convert_request(line(messages=user({"type": "text", "text": "x"}, image(url))), to="gemini",
                              drop_unsupported=True)  # fmt: skip
    assert dropped.line["request"]["contents"][0]["parts"] == [{"text": "x"}]


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("https://example.com/photos/dog.JPG?size=large", {"fileData": {"mimeType": "image/jpeg",
                                                                        "fileUri": "https://example.com/photos/dog.JPG?size=large"}}),
        ("gs://bucket/scan.webp", {"fileData": {"mimeType": "image/webp", "fileUri": "gs://bucket/scan.webp"}}),
        ("data:image/png;base64,iVBO", {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}),
    ],
)  # fmt: skip
def test_gemini_images_of_known_types_are_written(url, part):
    result = convert_request(line(messages=user(image(url))), to="gemini")
    assert result.findings == [] and result.line["request"]["contents"][0]["parts"] == [part]


def test_validate_refuses_gemini_images_of_types_gemini_does_not_read(tmp_path):
    path = tmp_path / "g.jsonl"
    parts = [{"inlineData": {"mimeType": "image/svg+xml", "data": "PHN2Zy8+"}},
             {"fileData": {"mimeType": "image/jpg", "fileUri": "gs://b/x.jpg"}},
             {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
             {"inline_data": {"mime_type": "image/png", "data": "iVBO"}}]  # fmt: skip
    path.write_text(
        json.dumps({"key": "k", "request": {"contents": [{"role": "user", "parts": parts}]}}) + "\n"
    )
    report = validate_file(path, "gemini")
    assert report.codes() == [
        ("invalid-value", 1, "/request/contents/0/parts/0/inlineData/mimeType"),
        ("invalid-value", 1, "/request/contents/0/parts/1/fileData/mimeType"),
    ]


def test_a_file_name_is_carried_to_vertex_and_refused_by_gemini():
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
    source = line(messages=user(pdf, {"type": "text", "text": "Summarise"}))
    vertex = convert_request(source, to="vertex").line["request"]["contents"][0]["parts"][0]
    assert vertex == {"inlineData": {"mimeType": "application/pdf", "data": "JVBE", "displayName": "a.pdf"}}
    refused = convert_request(source, to="gemini")
    assert [f.path for f in refused.findings] == ["/body/messages/0/content/0/file/filename"]


GEMINI_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "name": {"type": "STRING"},
        "age": {"type": "INTEGER", "nullable": True},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
    },
    "required": ["name"],
    "propertyOrdering": ["name", "age", "tags"],
}


def test_a_gemini_response_schema_becomes_json_schema(tmp_path):
    source = {"key": "g", "request": {"contents": [{"role": "user", "parts": [{"text": "A person"}]}],
              "generationConfig": {"responseMimeType": "application/json", "responseSchema": GEMINI_SCHEMA},
              "tools": [{"functionDeclarations": [{"name": "f", "parameters": GEMINI_SCHEMA}]}]}}  # fmt: skip
    body = convert_request(source, to="openai", model="gpt-4o").line["body"]
    expected = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": ["integer", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name"],
    }
    assert body["response_format"]["json_schema"]["schema"] == expected
    assert body["tools"][0]["function"]["parameters"] == expected
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(source) + "\n")
    convert_file(path, tmp_path / "out.jsonl", "openai", provider="openai", model="gpt-4o")
    assert validate_file(tmp_path / "out.jsonl", "openai").findings == []


def test_validate_flags_a_json_schema_that_is_not_one(tmp_path):
    bad = line(messages=user("x"), response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": GEMINI_SCHEMA}},
               tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"maximum": "ten"}}}}}])  # fmt: skip
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    report = validate_file(path, "openai")
    found = {(f.code, f.path) for f in report.findings}
    assert found == {
        ("invalid-json-schema", "/body/response_format/json_schema/schema/type"),
        ("invalid-json-schema", "/body/response_format/json_schema/schema/properties/name/type"),
        ("invalid-json-schema", "/body/response_format/json_schema/schema/properties/age/type"),
        ("invalid-json-schema", "/body/response_format/json_schema/schema/properties/tags/type"),
        ("invalid-json-schema", "/body/response_format/json_schema/schema/properties/tags/items/type"),
        ("invalid-json-schema", "/body/tools/0/function/parameters/properties/n/maximum"),
    }
    assert "lower case" in next(f.message for f in report.findings if f.path.endswith("schema/type"))
