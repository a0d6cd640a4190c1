"""Dialects: detection, conversion to every dialect and back, what a target cannot express, ids."""

import json

import orjson
import pytest

import batchkit
from batchkit.batchfile import read_id_map
from batchkit.convert import convert_file, convert_request
from batchkit.errors import UsageError, ValidationFailed
from batchkit.formats import DIALECTS, detect
from batchkit.providers import PROVIDERS, get_provider

CHAT = "/v1/chat/completions"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def line(custom_id, **body):
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": {"model": "gpt-4o", **body}}


# Every feature that every target can express: system prompts, images (data URL and https URL), tools,
# tool calls and results, max tokens, stop, temperature, top_p.
ROUND_TRIP = [
    line(
        "row-1",
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ],
        max_completion_tokens=16,
        temperature=0.3,
        top_p=0.9,
        stop=["\n\nEND"],  # a blank one Anthropic refuses
    ),
    line(
        "row-2",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these pictures?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ],
        max_completion_tokens=200,
    ),
    line(
        "row-3",
        messages=[
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "24C, clear"},
            {"role": "assistant", "content": "Paris 18C, Rome 24C."},
            {"role": "user", "content": "And Oslo?"},
        ],
        tools=TOOLS,
        tool_choice="auto",
        max_completion_tokens=64,
    ),
    line(
        "row-4",
        messages=[{"role": "user", "content": "Pick a tool."}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "weather"}},
        max_completion_tokens=64,
    ),
]


def write(path, lines):
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def without_url_images(request):
    """The request with its images by URL left out (Bedrock's Anthropic body takes base64 images only)."""
    body = json.loads(json.dumps(request["body"]))
    for message in body["messages"]:
        if isinstance(message["content"], list):
            message["content"] = [
                p
                for p in message["content"]
                if not p.get("image_url", {}).get("url", "").startswith("https:")
            ]
    return {**request, "body": body}


def with_max_tokens(request):
    """The request as it comes back from a Mistral line: its `max_tokens` is a field OpenAI's body has too."""
    body = dict(request["body"])
    if "max_completion_tokens" in body:
        body["max_tokens"] = body.pop("max_completion_tokens")
    return {**request, "body": body}


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_chat_file_converts_to_every_dialect_and_back_unchanged(dialect, tmp_path):
    expected = [without_url_images(x) for x in ROUND_TRIP] if dialect == "bedrock" else ROUND_TRIP
    source = write(tmp_path / "chat.jsonl", expected)
    there = convert_file(source, tmp_path / "there.jsonl", dialect)
    assert there.skipped == 0 and there.validation.valid and there.id_map is None
    converted = read(tmp_path / "there.jsonl")
    assert {detect(x).name for x in converted} == {dialect}
    back = convert_file(tmp_path / "there.jsonl", tmp_path / "back.jsonl", "openai", model="gpt-4o")
    assert back.skipped == 0 and back.validation.valid
    # custom-body lines are written for Mistral, the dialect's own provider, whose body says max_tokens
    returned = [with_max_tokens(x) for x in expected] if dialect == "custom-body" else expected
    assert read(tmp_path / "back.jsonl") == returned


def test_anthropic_shapes(tmp_path):
    out = convert_request(ROUND_TRIP[2], to="anthropic").line
    params = out["params"]
    assert out["custom_id"] == "row-3"
    assert params["system"] == "Use the tools."
    assert params["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
    assistant = params["messages"][1]
    assert assistant["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "weather",
        "input": {"city": "Paris"},
    }
    results = params["messages"][2]
    assert results["role"] == "user" and [b["tool_use_id"] for b in results["content"]] == [
        "call_1",
        "call_2",
    ]
    image = convert_request(ROUND_TRIP[1], to="anthropic").line["params"]["messages"][0]["content"]
    assert image[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgoAAAANSUhEUg==",
    }
    assert image[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}


def test_gemini_shapes():
    request = convert_request(ROUND_TRIP[2], to="gemini").line["request"]
    assert request["systemInstruction"] == {"parts": [{"text": "Use the tools."}]}
    assert request["contents"][1]["role"] == "model"
    assert request["contents"][1]["parts"][0] == {
        "functionCall": {"id": "call_1", "name": "weather", "args": {"city": "Paris"}}
    }
    answer = request["contents"][2]["parts"][1]["functionResponse"]
    assert answer == {"id": "call_2", "name": "weather", "response": {"content": "24C, clear"}}
    assert request["tools"] == [{"functionDeclarations": [TOOLS[0]["function"]]}]
    assert request["generationConfig"] == {"maxOutputTokens": 64}
    image = convert_request(ROUND_TRIP[1], to="gemini").line["request"]["contents"][0]["parts"]
    assert image[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}}
    assert image[2] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}


def test_json_schema_response_format_becomes_response_schema_and_back():
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    source = line(
        "j",
        messages=[{"role": "user", "content": "JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "response", "schema": schema}},
    )
    config = convert_request(source, to="gemini").line["request"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseSchema": schema}
    there = convert_request(source, to="gemini").line
    assert convert_request(there, to="openai", model="gpt-4o").line == source
    claude = convert_request(source, to="anthropic", max_tokens=5).line
    assert claude["params"]["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert (
        convert_request(claude, to="openai").line["body"]["response_format"]
        == source["body"]["response_format"]
    )
    findings = convert_request(source, to="bedrock", max_tokens=5).findings
    assert [(f.code, f.path) for f in findings] == [("unsupported-field", "/body/response_format")]


def test_vertex_keeps_the_id_in_the_request_labels():
    out = convert_request(ROUND_TRIP[0], to="vertex").line
    assert set(out) == {"request"} and out["request"]["labels"] == {"custom_id": "row-1"}


def test_what_the_messages_api_refuses_in_a_conversation_is_an_error_on_anthropic_and_bedrock_bodies():
    def said(messages, dialect="anthropic"):
        params = {"max_tokens": 5, "messages": messages}
        if dialect == "anthropic":
            obj = {"custom_id": "a", "params": {"model": "claude-sonnet-4-5", **params}}
        else:
            obj = {"recordId": "a", "modelInput": {"anthropic_version": "bedrock-2023-05-31", **params}}
        return [(f.code, f.path) for f in batchkit.validate_request(obj, dialect) if f.is_error]

    use = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
    hi = {"role": "user", "content": "hi"}
    assert said([hi, use, result]) == [] and said([hi, use]) == []  # a final tool_use waits for its result
    assert said([hi, {"role": "assistant", "content": ""}]) == []  # a final assistant message: a prefill
    assert said([{"role": "user", "content": []}]) == [("empty-content", "/params/messages/0/content")]
    assert said([hi, {"role": "assistant", "content": ""}, hi]) == [
        ("empty-content", "/params/messages/1/content")
    ]
    assert said([result]) == [("tool-call-mismatch", "/params/messages/0/content/0/tool_use_id")]
    assert said([hi, use, hi]) == [("tool-call-mismatch", "/params/messages/1/content/0/id")]
    assert said([hi, use, hi], "bedrock") == [("tool-call-mismatch", "/modelInput/messages/1/content/0/id")]


def test_bedrock_writes_an_anthropic_body_without_the_model():
    out = convert_request(ROUND_TRIP[0], to="bedrock").line
    assert out["recordId"] == "row-1"
    assert out["modelInput"]["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in out["modelInput"]


def test_bedrock_names_the_model_id_it_needs_for_a_model_it_writes_no_body_for():
    """A model named as Anthropic names it is no Bedrock model id: the refusal says which ids it takes."""
    converted = convert_request(ROUND_TRIP[0], to="bedrock", model="claude-3-5-haiku-latest")
    (finding,) = [f for f in converted.findings if f.is_error]
    assert "no chat body for claude-3-5-haiku-latest" in finding.message
    assert "Bedrock model ids (such as anthropic.claude-3-5-haiku-20241022-v1:0)" in finding.message
    named = convert_request(ROUND_TRIP[0], to="bedrock", model="anthropic.claude-3-5-haiku-20241022-v1:0")
    assert not [f for f in named.findings if f.is_error] and named.line["modelInput"]["anthropic_version"]


# ---- what a target cannot express ---------------------------------------------------------------------------

LOSSY = [
    line(
        "l-1",
        messages=[{"role": "user", "content": "hi"}],
        max_completion_tokens=8,
        logit_bias={"50256": -100},
    ),
    line("l-2", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=8, n=3, temperature=1.5),
    line(
        "l-3",
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}],
            }
        ],
        max_completion_tokens=8,
    ),
    line("l-4", messages=[{"role": "user", "content": "hi", "name": "ann"}], max_completion_tokens=8),
    line("l-5", messages=[{"role": "user", "content": "every target takes this"}], max_completion_tokens=8),
]
CANNOT = {
    "anthropic": [
        ("unsupported-field", 1, "/body/logit_bias"),
        ("unsupported-value", 2, "/body/n"),
        ("unsupported-value", 2, "/body/temperature"),
        ("unsupported-field", 3, "/body/messages/0/content/0/image_url/detail"),
        ("unsupported-field", 4, "/body/messages/0/name"),
    ],
    "gemini": [
        ("unsupported-field", 1, "/body/logit_bias"),
        ("unsupported-field", 3, "/body/messages/0/content/0/image_url/detail"),
        ("unsupported-field", 4, "/body/messages/0/name"),
    ],
}
# Bedrock's Anthropic body takes images as base64 data only (AWS's Anthropic Claude Messages request page)
CANNOT["bedrock"] = [*CANNOT["anthropic"][:3], ("unsupported-field", 3, "/body/messages/0/content/0/image_url"),
                     *CANNOT["anthropic"][3:]]  # fmt: skip
CANNOT["vertex"] = CANNOT["gemini"]


@pytest.mark.parametrize("dialect", sorted(CANNOT))
def test_what_a_target_cannot_express_is_a_finding_and_the_line_is_not_written(dialect, tmp_path):
    source = write(tmp_path / "lossy.jsonl", LOSSY)
    result = convert_file(source, tmp_path / "out.jsonl", dialect)
    assert [(f.code, f.line, f.path) for f in result.conversion.findings] == CANNOT[dialect]
    failed = {line for _, line, _ in CANNOT[dialect]}
    assert result.skipped == len(failed) and result.written == 5 - len(failed)
    assert not result.conversion.valid


@pytest.mark.parametrize("dialect", sorted(CANNOT))
def test_drop_unsupported_writes_the_line_and_lists_every_dropped_field(dialect, tmp_path):
    source = write(tmp_path / "lossy.jsonl", LOSSY)
    if dialect == "bedrock":  # its only part dropped, line 3's message would be empty: the API refuses that
        with pytest.raises(ValidationFailed) as refused:
            convert_file(source, tmp_path / "out.jsonl", dialect, drop_unsupported=True)
        assert [(f.code, f.line, f.path) for f in refused.value.report.findings if f.is_error] == [
            ("empty-content", 3, "/modelInput/messages/0/content")
        ]
        return
    result = convert_file(source, tmp_path / "out.jsonl", dialect, drop_unsupported=True)
    assert result.skipped == 0 and result.written == 5
    assert sorted(result.dropped) == [(line, path) for _, line, path in CANNOT[dialect]]
    assert {f.code for f in result.conversion.findings} == {"dropped-field"}
    assert result.conversion.valid and result.validation.valid


def test_anthropic_needs_max_tokens_from_the_request_or_the_default():
    bare = line("m", messages=[{"role": "user", "content": "hi"}])
    missing = convert_request(bare, to="anthropic")
    assert missing.line is None
    assert [(f.code, f.path) for f in missing.findings] == [
        ("missing-max-tokens", "/body/max_completion_tokens")
    ]
    assert convert_request(bare, to="anthropic", max_tokens=99).line["params"]["max_tokens"] == 99
    legacy = line("m", messages=[{"role": "user", "content": "hi"}], max_tokens=7)
    assert convert_request(legacy, to="anthropic", max_tokens=99).line["params"]["max_tokens"] == 7


def test_a_line_in_no_dialect_is_a_finding():
    result = convert_request({"prompt": "hi"}, to="anthropic", line=4)
    assert result.line is None and [(f.code, f.line) for f in result.findings] == [("unknown-dialect", 4)]


def test_model_is_required_going_to_openai_and_replaced_by_the_option():
    gemini = convert_request(ROUND_TRIP[0], to="gemini").line
    no_model = convert_request(gemini, to="openai")
    assert no_model.line is None and [f.path for f in no_model.findings] == ["/body/model"]
    assert (
        convert_request(ROUND_TRIP[0], to="anthropic", model="claude-x").line["params"]["model"] == "claude-x"
    )


def test_a_responses_request_converts_as_the_chat_request_it_stands_for():
    responses = {
        "custom_id": "r",
        "method": "POST",
        "url": "/v1/responses",
        "body": {
            "model": "gpt-4o",
            "instructions": "Be brief.",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look"},
                        {"type": "input_image", "image_url": "https://x/a.png"},
                    ],
                },
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "3C"},
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "max_output_tokens": 50,
        },
    }
    params = convert_request(responses, to="anthropic").line["params"]
    assert params["system"] == "Be brief." and params["max_tokens"] == 50
    assert params["messages"][1]["content"][0]["input"] == {"city": "Oslo"}
    assert params["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "c1",
        "content": "3C",
    }
    # a Responses function tool is strict unless it says false; Anthropic's ToolParam carries strict
    assert params["tools"] == [{"name": "weather", "input_schema": {"type": "object"}, "strict": True}]


# ---- ids, limits, providers ---------------------------------------------------------------------------------


def test_ids_outside_the_target_rule_are_mapped_and_the_map_written_beside(tmp_path):
    lines = [
        line("ok_1", messages=[{"role": "user", "content": "a"}]),
        line("has.dot", messages=[{"role": "user", "content": "b"}]),
    ]
    result = convert_file(
        write(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl", "anthropic", max_tokens=5
    )
    assert [x["custom_id"] for x in read(tmp_path / "out.jsonl")] == ["ok_1", "line-2"]
    assert result.id_map == tmp_path / "out.ids.jsonl"
    assert read_id_map(result.id_map) == {"line-2": "has.dot"}


def test_output_is_sharded_under_the_provider_limits(tmp_path):
    lines = [
        line(f"r{i}", messages=[{"role": "user", "content": "x"}], max_completion_tokens=4) for i in range(5)
    ]
    row = get_provider("gemini").with_limits(max_requests=2)
    result = convert_file(write(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl", "gemini", provider=row)
    assert [p.name for p in result.paths] == ["out-00001.jsonl", "out-00002.jsonl", "out-00003.jsonl"]
    assert [len(read(p)) for p in result.paths] == [2, 2, 1]


def test_a_provider_that_takes_another_dialect_is_a_usage_error(tmp_path):
    source = write(tmp_path / "in.jsonl", ROUND_TRIP[:1])
    with pytest.raises(UsageError, match="anthropic takes anthropic lines, not gemini"):
        convert_file(source, tmp_path / "out.jsonl", "gemini", provider="anthropic")
    result = convert_file(source, tmp_path / "out.jsonl", provider="anthropic")  # the provider's own dialect
    assert detect(read(tmp_path / "out.jsonl")[0]).name == "anthropic" and result.written == 1


def test_provider_rows_name_their_dialect():
    expected = {
        "anthropic": "anthropic",
        "gemini": "gemini",
        "vertex": "vertex",
        "bedrock": "bedrock",
        "mistral": "custom-body",
        "together": "custom-body",
        "fireworks": "custom-body",
        "groq": "openai",
        "doubleword": "openai",
        "openai": "openai",
        "generic": None,
    }
    assert {name: PROVIDERS[name].dialect for name in expected} == expected
    assert all(p.dialect is None or p.dialect in DIALECTS for p in PROVIDERS.values())
    assert PROVIDERS["together"].max_requests == 50_000 and PROVIDERS["mistral"].max_requests == 1_000_000


def test_public_api_exports():
    assert batchkit.convert_request is convert_request and batchkit.convert_file is convert_file


def test_split_shards_lines_of_another_dialect_and_checks_them_as_that_dialect(tmp_path):
    from batchkit.batchfile import split_file

    lines = [convert_request(x, to="anthropic").line for x in ROUND_TRIP]
    source = write(tmp_path / "claude.jsonl", lines)
    result = split_file(source, tmp_path / "part.jsonl", "anthropic", max_requests=3)
    assert [len(read(p)) for p in result.paths] == [3, 1] and result.report.valid
    broken = write(tmp_path / "broken.jsonl", [{**lines[0], "params": {"model": "m"}}])
    with pytest.raises(batchkit.ValidationFailed) as failed:
        split_file(broken, tmp_path / "out.jsonl", "anthropic", max_requests=1)
    assert [f.path for f in failed.value.report.findings] == ["/params/max_tokens"]


def test_a_strict_json_schema_becomes_gemini_response_schema_or_findings():
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "note": {"type": ["string", "null"]}},
        "required": ["answer", "note"],
        "additionalProperties": False,
    }
    source = line(
        "j",
        messages=[{"role": "user", "content": "JSON"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": True},
        },
    )
    # Gemini's Schema has additionalProperties (google-genai `Schema.additional_properties`): carried as it is
    converted = convert_request(source, to="gemini")
    assert converted.findings == []
    gemini_schema = converted.line["request"]["generationConfig"]["responseSchema"]
    assert gemini_schema["properties"]["note"] == {"type": "string", "nullable": True}
    assert gemini_schema["additionalProperties"] is False
    assert gemini_schema["propertyOrdering"] == ["answer", "note"]  # as the SDK's converter orders them
    back = convert_request(converted.line, to="openai", model="gpt-4o").line["body"]["response_format"]
    assert back["json_schema"]["schema"] == schema
    # a truthy one the SDK refuses on the Gemini API and keeps on Vertex
    schema["additionalProperties"] = {"type": "string"}
    refused = convert_request(source, to="gemini")
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-value", "/body/response_format/json_schema/schema/additionalProperties")
    ]
    vertex = convert_request(source, to="vertex").line["request"]["generationConfig"]["responseSchema"]
    assert vertex["additionalProperties"] == {"type": "string"}


def test_embeddings_pass_between_openai_and_custom_body_lines_only():
    embedding = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "m", "input": "hi"},
    }
    there = convert_request(embedding, to="custom-body").line
    assert there == {"custom_id": "e", "body": {"model": "m", "input": "hi"}}
    assert convert_request(there, to="openai").line == embedding
    refused = convert_request(embedding, to="gemini")
    assert refused.line is None and [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/body")
    ]


def test_a_bedrock_converse_record_converts_and_a_raw_prompt_does_not():
    record = {"recordId": "r", "modelInput": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}
    result = convert_request(record, to="openai", model="m")
    assert result.line["body"] == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    llama = {"recordId": "r", "modelInput": {"prompt": "<|begin_of_text|>hi", "max_gen_len": 5}}
    refused = convert_request(llama, to="openai", model="m")
    assert refused.line is None and [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/modelInput")
    ]
    assert "own template" in refused.findings[0].message


def test_detection_names_each_dialect_by_its_fields():
    assert (
        detect({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}).name
        == "openai"
    )
    assert detect({"custom_id": "a", "params": {}}).name == "anthropic"
    assert detect({"key": "a", "request": {}}).name == "gemini"
    assert detect({"request": {}}).name == "vertex"
    assert detect({"recordId": "a", "modelInput": {}}).name == "bedrock"
    assert detect({"custom_id": "a", "body": {}}).name == "custom-body"
    assert detect({"prompt": "x"}) is None and detect([1]) is None


PDF = "data:application/pdf;base64,JVBERi0xLjQK"


@pytest.mark.parametrize("dialect", ["anthropic", "gemini", "vertex"])
def test_a_pdf_file_part_converts_to_a_document_or_inline_data_and_back(dialect):
    file = (
        {"file_data": PDF}
        if dialect in ("gemini", "vertex")
        else {"file_data": PDF, "filename": "report.pdf"}
    )
    source = line(
        "pdf",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Summarise"}, {"type": "file", "file": file}],
            }
        ],
        max_completion_tokens=50,
    )
    there = convert_request(source, to=dialect)
    assert there.findings == [] and there.line is not None
    assert convert_request(there.line, to="openai", model="gpt-4o").line == source


def test_bedrock_takes_no_document_in_an_invoke_model_body():
    # AWS's "API restrictions": documents are not supported in InvokeModel request bodies
    pdf = {"type": "file", "file": {"file_data": PDF, "filename": "report.pdf"}}
    source = line("pdf", messages=[{"role": "user", "content": [{"type": "text", "text": "Summarise"}, pdf]}],
                  max_completion_tokens=50)  # fmt: skip
    refused = convert_request(source, to="bedrock")
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/body/messages/0/content/1")
    ]
    assert "API restrictions" in refused.findings[0].message


def test_what_cannot_name_a_file_reports_the_file_name_and_a_file_id():
    named = line(
        "pdf",
        messages=[
            {"role": "user", "content": [{"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}}]}
        ],
    )
    assert [f.path for f in convert_request(named, to="gemini").findings] == [
        "/body/messages/0/content/0/file/filename"
    ]
    by_id = line(
        "f", messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]
    )
    paths = [f.path for f in convert_request(by_id, to="anthropic", max_tokens=5).findings]
    assert paths == ["/body/messages/0/content/0/file/file_id"]
