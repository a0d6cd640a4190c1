"""What `convert` writes is what each provider takes: fields the target has no place for are refused or,
under --drop-unsupported, really left out; what it has a place for is carried; values outside its rules
are named. (Every target against its SDK's own types: test_convert_sdk.py.)"""

import json
from pathlib import Path

import pytest

import batchkit
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


# ---- OpenAI Responses


def responses(source, **options):
    return convert_request(source, to="openai", endpoint="/v1/responses", **options)


def test_responses_max_output_tokens_is_at_least_16():
    refused = responses(line(messages=user("x"), max_tokens=10))
    assert [(f.code, f.path) for f in refused.findings] == [("unsupported-value", "/body/max_tokens")]
    assert "at least 16" in refused.findings[0].message
    assert (
        responses(line(messages=user("x"), max_completion_tokens=16)).line["body"]["max_output_tokens"] == 16
    )


def test_validate_holds_openai_responses_to_16_and_open_weight_servers_to_1(tmp_path):
    path = tmp_path / "r.jsonl"
    body = {"model": "gpt-4.1-mini", "input": "x", "max_output_tokens": 10}
    path.write_text(
        json.dumps({"custom_id": "r", "method": "POST", "url": "/v1/responses", "body": body}) + "\n"
    )
    assert validate_file(path, "openai").codes() == [("out-of-range", 1, "/body/max_output_tokens")]
    assert validate_file(path, "azure").codes() == [("out-of-range", 1, "/body/max_output_tokens")]
    assert validate_file(path, "local").codes() == []


def test_responses_function_tools_carry_strict_and_parameters():
    plain = {"type": "function", "function": {"name": "f", "description": "d"}}
    tools = responses(line(messages=user("x"), tools=[plain, STRICT_TOOL])).line["body"]["tools"]
    # required (nullable) in the spec and the SDK; a chat tool is not strict, a Responses one is by default
    assert tools[0] == {
        "type": "function",
        "name": "f",
        "description": "d",
        "parameters": None,
        "strict": False,
    }
    assert tools[1]["strict"] is True and tools[1]["parameters"] == STRICT_TOOL["function"]["parameters"]
    back = convert_request(responses(line(messages=user("x"), tools=[plain])).line, to="openai").line["body"]
    assert back["tools"] == [plain]


def test_a_system_prompt_of_several_parts_stays_a_system_message():
    system = {
        "role": "system",
        "content": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
    }
    body = responses(line(messages=[system, {"role": "user", "content": "Go"}])).line["body"]
    assert "instructions" not in body
    assert body["input"][0] == {"role": "system", "content": [{"type": "input_text", "text": "Rule one."},
                                                              {"type": "input_text", "text": "Rule two."}]}  # fmt: skip
    plain = responses(
        line(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Go"}])
    )
    assert plain.line["body"]["instructions"] == "Be brief."


def test_n_1_is_the_responses_default_and_other_counts_are_refused():
    assert responses(line(messages=user("x"), n=1)).findings == []
    assert "n" not in responses(line(messages=user("x"), n=1)).line["body"]
    assert [f.path for f in responses(line(messages=user("x"), n=2)).findings] == ["/body/n"]


def test_responses_images_carry_detail_and_files_become_input_files():
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
    body = responses(line(messages=user(image("https://x/a.png"), pdf))).line["body"]
    assert body["input"][0]["content"] == [
        {"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"},
    ]
    back = convert_request(
        {"custom_id": "c", "method": "POST", "url": "/v1/responses", "body": body}, to="openai"
    ).line
    assert back["body"]["messages"][0]["content"] == [image("https://x/a.png"), pdf]


# ---- Anthropic and Bedrock


def test_anthropic_carries_a_strict_tool_and_bedrock_refuses_it():
    source = line(messages=user("Look up 42"), tools=[STRICT_TOOL], max_completion_tokens=50)
    (tool,) = convert_request(source, to="anthropic").line["params"]["tools"]
    assert tool["strict"] is True  # the anthropic SDK's ToolParam.strict
    refused = convert_request(source, to="bedrock")
    assert [f.path for f in refused.findings] == ["/body/tools/0/function/strict"]
    dropped = convert_request(source, to="bedrock", drop_unsupported=True).line["modelInput"]["tools"][0]
    assert "strict" not in dropped


@pytest.mark.parametrize(
    ("model", "left_out"),
    [
        ("claude-opus-4-7", ["/body/temperature", "/body/top_k", "/body/top_p"]),
        ("claude-sonnet-5", ["/body/temperature", "/body/top_k", "/body/top_p"]),
        ("claude-mythos-5-1", ["/body/temperature", "/body/top_k", "/body/top_p"]),
        ("claude-sonnet-4-5-20250929", ["/body/top_p"]),
        ("claude-opus-4-6", ["/body/top_p"]),
        ("claude-3-5-haiku-latest", []),
    ],
)
def test_sampling_a_model_refuses_is_left_out_and_listed(model, left_out):
    source = line(messages=user("x"), max_completion_tokens=50, temperature=0.3, top_p=0.9, top_k=20)
    result = convert_request(source, to="anthropic", model=model)  # no --drop-unsupported needed
    assert result.line is not None
    assert sorted(result.dropped) == left_out
    assert all(f.code == "dropped-field" and not f.is_error for f in result.findings)
    assert {"temperature", "top_p", "top_k"} - set(result.line["params"]) == {
        p.rsplit("/", 1)[1] for p in left_out
    }


def test_a_default_temperature_is_kept_for_a_model_without_sampling():
    result = convert_request(line(messages=user("x"), max_completion_tokens=5, temperature=1), to="anthropic",
                             model="claude-opus-4-8")  # fmt: skip
    assert result.dropped == [] and result.line["params"]["temperature"] == 1


def test_bedrock_sampling_follows_the_job_model():
    source = line(messages=user("x"), max_completion_tokens=50, temperature=0.3)
    assert convert_request(source, to="bedrock").line["modelInput"]["temperature"] == 0.3
    opus = convert_request(source, to="bedrock", model="us.anthropic.claude-opus-4-7-v1:0")
    assert "temperature" not in opus.line["modelInput"] and opus.dropped == ["/body/temperature"]


@pytest.mark.parametrize("content", ["The answer is ", [{"type": "text", "text": "The answer is\n"}]])
@pytest.mark.parametrize("target", ["anthropic", "bedrock"])
def test_a_prefill_ending_in_whitespace_is_refused_or_trimmed(target, content):
    source = line(
        messages=[*user("Finish it"), {"role": "assistant", "content": content}], max_completion_tokens=5
    )
    refused = convert_request(source, to=target)
    assert [(f.code, f.path) for f in refused.findings] == [("unsupported-value", "/body/messages/1/content")]
    trimmed = convert_request(source, to=target, drop_unsupported=True)
    body = trimmed.line["params" if target == "anthropic" else "modelInput"]
    last = body["messages"][-1]["content"]
    assert (last if isinstance(last, str) else last[-1]["text"]) == "The answer is"
    assert trimmed.dropped == ["/body/messages/1/content"]


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"messages": user(image("https://x/a.png"))}, "/body/messages/0/content/0/image_url", "base64 data only"),
        ({"messages": user("x"), "user": "u-1"}, "/body/user", "metadata"),
        ({"messages": user("x"), "tools": [{"type": "function", "function": {"name": "f"}}],
          "parallel_tool_calls": False}, "/body/parallel_tool_calls", "disable_parallel_tool_use"),
    ],
)  # fmt: skip
def test_bedrock_refuses_what_aws_does_not_document_for_the_anthropic_body(body, path, words):
    source = line(**body, max_completion_tokens=5)
    refused = convert_request(source, to="bedrock")
    assert [f.path for f in refused.findings] == [path] and words in refused.findings[0].message
    dropped = convert_request(source, to="bedrock", drop_unsupported=True)
    assert dropped.dropped == [path]
    written = json.dumps(dropped.line)
    assert "metadata" not in written and "disable_parallel_tool_use" not in written and '"url"' not in written
    assert convert_request(source, to="anthropic").findings == []  # Anthropic's own API takes each


def test_validate_applies_the_model_family_rules(tmp_path):
    path = tmp_path / "b.jsonl"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "temperature": 0.2,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    path.write_text(json.dumps({"recordId": "r", "modelInput": body}) + "\n")
    assert validate_file(path, "bedrock").codes() == []  # no model: no family to hold it to
    held = validate_file(path, "bedrock", model="us.anthropic.claude-opus-4-7-v1:0")
    assert held.codes() == [("deprecated-parameter", 1, "/modelInput/temperature")]


# ---- Mistral, Together, Fireworks: each provider's own body rules (schemas/<provider>-chat.schema.json)


def custom_body_file(tmp_path, *bodies):
    path = tmp_path / "c.jsonl"
    path.write_text(
        "".join(json.dumps({"custom_id": f"c-{i}", "body": b}) + "\n" for i, b in enumerate(bodies, 1))
    )
    return path


def test_mistral_refuses_openai_names_its_request_does_not_have(tmp_path):
    body = {"messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "hi"}],
            "max_completion_tokens": 5, "seed": 3, "user": "u-1"}  # fmt: skip
    report = validate_file(custom_body_file(tmp_path, body), "mistral")
    assert report.codes() == [
        ("unsupported-field", 1, "/body/max_completion_tokens"),
        ("invalid-value", 1, "/body/messages/0/role"),
        ("unsupported-field", 1, "/body/seed"),
        ("unsupported-field", 1, "/body/user"),
    ]
    assert not report.valid
    seed = next(f for f in report.findings if f.path == "/body/seed")
    assert "random_seed" in seed.message and "refuses" in seed.message


def test_convert_to_mistral_renames_and_moves_roles(tmp_path):
    source = line(
        messages=[{"role": "developer", "content": "Be terse."}, *user("hi")], max_completion_tokens=5, seed=3
    )
    body = convert_request(source, to="custom-body", provider="mistral").line["body"]
    assert body == {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be terse."}, *user("hi")],
                    "max_tokens": 5, "random_seed": 3}  # fmt: skip
    refused = convert_request(line(messages=user("hi"), user="u-1"), to="custom-body", provider="mistral")
    assert [f.path for f in refused.findings] == ["/body/user"]
    back = convert_request({"custom_id": "c", "body": body}, to="openai").line["body"]
    assert back["seed"] == 3 and back["max_tokens"] == 5


def test_the_cli_converts_to_mistral_and_the_output_validates(tmp_path):
    from click.testing import CliRunner

    from batchkit.cli import cli

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(line(messages=[{"role": "developer", "content": "x"}, *user("hi")],
                                      max_completion_tokens=5, seed=1)) + "\n")  # fmt: skip
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["convert", str(source), "--to", "mistral", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert validate_file(out, "mistral").findings == []


def test_together_needs_the_model_on_every_line_and_a_stop_list(tmp_path):
    report = validate_file(custom_body_file(tmp_path, {"messages": user("hi")}), "together")
    assert report.codes() == [("missing-field", 1, "/body/model")]
    source = line(messages=user("hi"), stop="5", max_completion_tokens=5)
    body = convert_request(source, to="custom-body", provider="together").line["body"]
    assert body["stop"] == ["5"] and body["max_tokens"] == 5 and body["model"] == "gpt-4o"


def test_fireworks_keeps_what_its_request_has(tmp_path):
    source = line(
        messages=[{"role": "developer", "content": "x"}, *user("hi")], max_completion_tokens=5, user="u"
    )
    body = convert_request(source, to="custom-body", provider="fireworks").line["body"]
    assert body["messages"][0]["role"] == "system"
    assert body["max_completion_tokens"] == 5 and body["user"] == "u"
    assert (
        validate_file(
            custom_body_file(tmp_path, {"messages": user("hi"), "max_completion_tokens": 5}), "fireworks"
        ).findings
        == []
    )


# ---- Bedrock: modelInput is the model's own body


TITAN = {
    "recordId": "embed-1",
    "modelInput": {"inputText": "Hello world", "dimensions": 256},
}  # a LiteLLM file's record


def bedrock_file(tmp_path, *records):
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_titan_embeddings_record_validates_and_says_which_body_was_applied(tmp_path):
    report = validate_file(bedrock_file(tmp_path, TITAN), "bedrock")
    assert report.findings == []
    assert dict(report.summary.bodies) == {"Amazon Titan Text Embeddings, by the body's shape": 1}
    named = validate_file(bedrock_file(tmp_path, TITAN), "bedrock", model="amazon.titan-embed-text-v2:0")
    assert dict(named.summary.bodies) == {
        "Amazon Titan Text Embeddings, by the job's model amazon.titan-embed-text-v2:0": 1
    }


def test_the_job_model_chooses_the_body_it_is_checked_under(tmp_path):
    claude_body = {"recordId": "c", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                                                    "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip
    wrong = validate_file(
        bedrock_file(tmp_path, claude_body), "bedrock", model="amazon.titan-embed-text-v2:0"
    )
    assert ("missing-field", 1, "/modelInput/inputText") in wrong.codes()


def test_the_cli_names_the_body_in_text_and_json(tmp_path):
    from click.testing import CliRunner

    from batchkit.cli import cli

    path = bedrock_file(tmp_path, TITAN)
    text = CliRunner().invoke(cli, ["validate", str(path), "--model", "amazon.titan-embed-text-v2:0"])
    assert text.exit_code == 0 and "bodies: Amazon Titan Text Embeddings, by the job's model" in text.output
    data = json.loads(CliRunner().invoke(cli, ["validate", str(path), "--format", "json"]).output)
    assert data["summary"]["bodies"] == {"Amazon Titan Text Embeddings, by the body's shape": 1}


def test_a_titan_embeddings_record_converts_both_ways():
    there = convert_request(TITAN, to="openai", model="text-embedding-3-small").line
    assert there == {"custom_id": "embed-1", "method": "POST", "url": "/v1/embeddings",
                     "body": {"model": "text-embedding-3-small", "input": "Hello world", "dimensions": 256}}  # fmt: skip
    back = convert_request(there, to="bedrock", model="amazon.titan-embed-text-v2:0").line
    assert back == TITAN


def test_a_nova_model_gets_a_nova_body():
    source = line(messages=[{"role": "system", "content": "Be brief."}, *user("hi")], max_completion_tokens=20,
                  temperature=0.2, tools=[STRICT_TOOL | {"function": {"name": "f", "parameters": {"type": "object"}}}])  # fmt: skip
    body = convert_request(source, to="bedrock", model="amazon.nova-pro-v1:0").line["modelInput"]
    assert body == {
        "schemaVersion": "messages-v1",
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 20, "temperature": 0.2},
        "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
    }
    back = convert_request({"recordId": "n", "modelInput": body}, to="openai", model="gpt-4o").line["body"]
    assert back["messages"] == source["body"]["messages"] and back["max_completion_tokens"] == 20


def test_a_chat_request_for_a_model_whose_body_batchkit_does_not_write_is_refused():
    result = convert_request(
        line(messages=user("hi"), max_completion_tokens=5),
        to="bedrock",
        model="meta.llama3-1-70b-instruct-v1:0",
    )
    message = result.findings[0].message
    assert result.line is None and "Anthropic Claude Messages bodies for anthropic.claude-" in message
    assert "Amazon Nova bodies for amazon.nova-" in message and "meta.llama3-1-70b-instruct-v1:0" in message


# ---- Vertex lines without labels, and Vertex predictions

VERTEX = Path(__file__).resolve().parent / "data" / "results" / "vertex"


def test_vertex_lines_without_labels_convert_to_line_ids_with_an_id_map(tmp_path):
    out = tmp_path / "out.jsonl"
    result = convert_file(VERTEX / "unlabelled-input.jsonl", out, "openai", provider="openai", model="gpt-4o")
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["custom_id"] for x in written] == ["line-1", "line-2", "line-3"]
    assert written[0]["body"]["messages"] == [
        {"role": "user", "content": "Give me a recipe for banana bread."}
    ]
    ids = [json.loads(x) for x in result.id_map.read_text().splitlines()]
    assert ids[0] == {"custom_id": None, "id": "line-1"}


@pytest.mark.parametrize("name", ["unlabelled-input.jsonl", "multimodal-input.jsonl"])
def test_parts_given_as_one_object_are_valid_vertex_input(name):
    # Google's batch-generation sample writes `"parts": {"text": …}` and Vertex batch prediction runs it
    assert validate_file(VERTEX / name, "vertex").findings == []


def test_predictions_join_to_unlabelled_requests_by_the_request_each_echoes():
    result = batchkit.merge_results(
        VERTEX / "unlabelled-input.jsonl", VERTEX / "unlabelled-predictions.jsonl"
    )
    frame = result.frame
    assert list(frame["custom_id"]) == ["line-1", "line-2", "line-3"]
    assert list(frame["status"]) == ["ok"] * 3
    # out of order, the same request twice: each answer once, in turn
    assert list(frame["content"]) == ["Bananas, flour, eggs", "Cocoa, flour, eggs", "Ripe bananas, butter"]
    assert any("by the request each echoes" in note for note in result.report.notes)
    assert result.report.orphans == [] and result.report.duplicates == []


def test_a_prediction_that_echoes_its_request_with_the_file_s_other_fields_as_null_joins_it():
    # Vertex echoes a request with every field any line used, null where it had none, in either spelling
    result = batchkit.merge_results(
        VERTEX / "multimodal-input.jsonl", VERTEX / "multimodal-predictions.jsonl"
    )
    frame = result.frame
    assert list(frame["content"]) == ["A tablet, a keyboard, a mouse", "A watering can, gloves", "Nothing"]
    assert list(frame["prompt_tokens"]) == [264, 264, 520]
    assert result.report.orphans == []


def test_a_prediction_echoing_no_request_of_the_file_is_an_orphan(tmp_path):
    other = tmp_path / "predictions.jsonl"
    line = json.loads((VERTEX / "unlabelled-predictions.jsonl").read_text().splitlines()[0])
    line["request"]["contents"][0]["parts"]["text"] = "Give me a recipe for carrot cake."
    other.write_text(json.dumps(line) + "\n")
    result = batchkit.merge_results(VERTEX / "unlabelled-input.jsonl", other)
    assert list(result.frame["status"]) == ["missing"] * 3
    assert len(result.report.orphans) == 1


def test_results_of_the_converted_file_join_back_to_the_unlabelled_requests(tmp_path):
    answers = [{"custom_id": f"line-{i}", "response": {"status_code": 200, "body": {"choices": [
        {"index": 0, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}]}}, "error": None}
        for i in (1, 2, 3)]  # fmt: skip
    results = tmp_path / "out.output.jsonl"
    results.write_text("".join(json.dumps(a) + "\n" for a in answers))
    frame = batchkit.merge(VERTEX / "unlabelled-input.jsonl", results)
    assert list(frame["content"]) == ["answer 1", "answer 2", "answer 3"]
