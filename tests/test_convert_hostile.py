"""Lines a tester wrote to break `convert` and `validate`: what one dialect says that the intermediate chat
body used to lose (parallel calls of one function, error results, non-text tool results, files that are not
images, thinking), and what the providers refuse that validation used to pass."""

import json

import pytest
from submitsupport import invoke

from batchkit.convert import convert_request
from batchkit.validate import validate_file

WEATHER = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}


def write(tmp_path, *lines, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(obj) + "\n" for obj in lines))
    return path


def read_lines(path) -> list[dict]:
    return [json.loads(text) for text in path.read_text().splitlines()]


def codes(report) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.path) for f in report.findings]


# ---- 1. parallel calls of one Gemini function keep their pairing


def parallel_weather() -> dict:
    calls = [{"functionCall": {"name": "get_weather", "args": {"city": c}}} for c in ("Paris", "Rome")]
    answers = [{"functionResponse": {"name": "get_weather", "response": {"temp": t}}} for t in (20, 30)]
    return {"key": "q1", "request": {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                     {"role": "model", "parts": calls}, {"role": "user", "parts": answers}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER}]}],
        "generationConfig": {"maxOutputTokens": 200}}}  # fmt: skip


@pytest.mark.parametrize(
    ("to", "options"),
    [
        ("anthropic", ["--model", "claude-sonnet-4-5"]),
        ("openai", ["--model", "gpt-4o", "--provider", "openai"]),
    ],
)
def test_parallel_calls_of_one_gemini_function_get_their_own_ids(tmp_path, to, options):
    out = tmp_path / "out.jsonl"
    result = invoke("convert", write(tmp_path, parallel_weather()), "-o", out, "--to", to, *options)
    assert result.returncode == 0, result.stderr
    (converted,) = read_lines(out)
    if to == "anthropic":
        calls = converted["params"]["messages"][1]["content"]
        answers = converted["params"]["messages"][2]["content"]
        pairs = {c["id"]: c["input"]["city"] for c in calls}
        answered = {a["tool_use_id"]: json.loads(a["content"])["temp"] for a in answers}
    else:
        messages = converted["body"]["messages"]
        pairs = {c["id"]: json.loads(c["function"]["arguments"])["city"] for c in messages[1]["tool_calls"]}
        answered = {m["tool_call_id"]: json.loads(m["content"])["temp"] for m in messages[2:]}
    assert len(pairs) == 2  # two ids, not one
    assert {pairs[i]: answered[i] for i in pairs} == {"Paris": 20, "Rome": 30}


def test_responses_of_two_functions_find_their_calls_by_name_whatever_their_order():
    calls = [{"functionCall": {"name": n, "args": {}}} for n in ("get_time", "get_weather", "get_time")]
    answers = [{"functionResponse": {"name": n, "response": {"n": i}}}
               for i, n in enumerate(("get_weather", "get_time", "get_time"))]  # fmt: skip
    source = {"key": "k", "request": {"contents": [
        {"role": "user", "parts": [{"text": "?"}]}, {"role": "model", "parts": calls},
        {"role": "user", "parts": answers}]}}  # fmt: skip
    messages = convert_request(source, to="openai", model="gpt-4o").line["body"]["messages"]
    ids = [c["id"] for c in messages[1]["tool_calls"]]
    assert len(set(ids)) == 3
    assert [m["tool_call_id"] for m in messages[2:]] == [ids[1], ids[0], ids[2]]


def test_validate_refuses_one_id_on_two_tool_uses_of_a_message(tmp_path):
    uses = [{"type": "tool_use", "id": "t1", "name": "f", "input": {}} for _ in range(2)]
    results = [{"type": "tool_result", "tool_use_id": "t1", "content": c} for c in "ab"]
    params = {"model": "claude-sonnet-4-5", "max_tokens": 100, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
              "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": uses},
                           {"role": "user", "content": results}]}  # fmt: skip
    path = write(tmp_path, {"custom_id": "d", "params": params})
    assert codes(validate_file(path, "anthropic")) == [
        ("error", "tool-call-mismatch", "/params/messages/1/content/1/id"),
        ("error", "tool-call-mismatch", "/params/messages/2/content/1/tool_use_id"),
    ]
    bedrock = {"anthropic_version": "bedrock-2023-05-31", **{k: v for k, v in params.items() if k != "model"}}
    result = invoke("validate", write(tmp_path, {"recordId": "d", "modelInput": bedrock}, name="b.jsonl"),
                    "--provider", "bedrock")  # fmt: skip
    assert (
        result.returncode == 1
        and "error[tool-call-mismatch] /modelInput/messages/1/content/1/id" in result.stdout
    )


# ---- 2. a Converse toolResult keeps its json content and its failure


def converse_error_result(**config) -> dict:
    result = {"toolUseId": "t1", "status": "error",
              "content": [{"json": {"error": "city service down", "retry_after": 30}}]}  # fmt: skip
    return {"recordId": "r1", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": "Weather in Paris?"}]},
                     {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}]},
                     {"role": "user", "content": [{"toolResult": result}]}],
        "inferenceConfig": {"maxTokens": 200, **config},
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}}}  # fmt: skip


ERROR_TEXT = '{"error":"city service down","retry_after":30}'


def test_a_converse_error_result_keeps_its_json_and_its_error_flag():
    claude = convert_request(converse_error_result(), to="anthropic", model="claude-sonnet-4-5")
    assert claude.findings == []
    (result,) = claude.line["params"]["messages"][2]["content"]
    assert result == {"type": "tool_result", "tool_use_id": "t1", "content": ERROR_TEXT, "is_error": True}
    gemini = convert_request(converse_error_result(), to="gemini").line["request"]
    assert gemini["contents"][2]["parts"][0]["functionResponse"]["response"] == {"error": ERROR_TEXT}
    nova = convert_request(converse_error_result(), to="bedrock", model="amazon.nova-lite-v1:0").line
    (block,) = nova["modelInput"]["messages"][2]["content"]
    assert block == {"toolResult": {"toolUseId": "t1", "content": [{"text": ERROR_TEXT}], "status": "error"}}


@pytest.mark.parametrize("endpoint", [None, "/v1/responses"])
def test_a_tool_failure_openai_cannot_mark_is_refused_or_dropped(endpoint):
    options = {"to": "openai", "model": "gpt-4o", "endpoint": endpoint}
    refused = convert_request(converse_error_result(), **options)
    assert refused.line is None
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/modelInput/messages/2/is_error")
    ]
    dropped = convert_request(converse_error_result(), drop_unsupported=True, **options)
    assert dropped.dropped == ["/modelInput/messages/2/is_error"]
    body = dropped.line["body"]
    result = body["messages"][2]["content"] if endpoint is None else body["input"][2]["output"]
    assert result == ERROR_TEXT and "is_error" not in json.dumps(body)


def test_an_anthropic_error_result_stays_an_error_on_bedrock():
    params = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}]}]}  # fmt: skip
    converted = convert_request({"custom_id": "a", "params": params}, to="bedrock")
    assert converted.findings == []
    assert converted.line["modelInput"]["messages"][2]["content"][0]["is_error"] is True


def test_unknown_converse_inference_settings_are_named(tmp_path):
    path = write(tmp_path, converse_error_result(temprature=0.1))
    result = invoke("validate", path, "--provider", "bedrock")
    assert "warning[unknown-field] /modelInput/inferenceConfig/temprature" in result.stdout
    assert "did you mean `temperature`?" in result.stdout
    refused = convert_request(
        converse_error_result(temprature=0.1), to="anthropic", model="claude-sonnet-4-5"
    )
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/modelInput/inferenceConfig/temprature")
    ]


# ---- 3. what a tool result holds besides text is reported where the target takes text only

SCREENSHOT = {"custom_id": "a5", "params": {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
    {"role": "user", "content": "screenshot?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
        {"type": "text", "text": "here"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}],
    "tools": [{"name": "shot", "input_schema": {"type": "object"}}]}}  # fmt: skip


@pytest.mark.parametrize(("to", "options"), [("gemini", {}), ("bedrock", {"model": "amazon.nova-lite-v1:0"})])
def test_an_image_in_a_tool_result_is_not_dropped_unsaid(to, options):
    refused = convert_request(SCREENSHOT, to=to, **options)
    assert refused.line is None
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/params/messages/2/content/1")
    ]
    dropped = convert_request(SCREENSHOT, to=to, drop_unsupported=True, **options)
    assert dropped.dropped == ["/params/messages/2/content/1"]
    assert "here" in json.dumps(dropped.line) and "iVBORw0KGgo=" not in json.dumps(dropped.line)


def test_an_image_in_a_tool_result_is_carried_to_responses_and_back():
    converted = convert_request(SCREENSHOT, to="openai", endpoint="/v1/responses")
    assert converted.findings == []
    output = converted.line["body"]["input"][2]["output"]
    assert output == [{"type": "input_text", "text": "here"},
                      {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]  # fmt: skip
    back = convert_request(converted.line, to="anthropic")
    assert back.findings == []
    assert back.line["params"]["messages"] == SCREENSHOT["params"]["messages"]


# ---- 4. Gemini files are images only when they are images; thinking is not visible text


def gemini_user(*parts) -> dict:
    return {"key": "k", "request": {"contents": [{"role": "user", "parts": [{"text": "Describe"}, *parts]}]}}


def test_a_gemini_file_by_uri_that_is_no_image_is_not_sent_as_one():
    pdf = {
        "fileData": {
            "mimeType": "application/pdf",
            "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
        }
    }
    video = {
        "fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/clip.mp4"},
        "videoMetadata": {"startOffset": "10s"},
    }
    image = {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}}  # fmt: skip
    refused = convert_request(gemini_user(pdf, video, image), to="openai", model="gpt-4o")
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-field", "/request/contents/0/parts/1/fileData"),
        ("unsupported-field", "/request/contents/0/parts/2/videoMetadata"),
        ("unsupported-field", "/request/contents/0/parts/2/fileData"),
    ]
    dropped = convert_request(
        gemini_user(pdf, video, image), to="openai", model="gpt-4o", drop_unsupported=True
    )
    assert dropped.line["body"]["messages"][0]["content"] == [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "gs://b/a.png"}},
    ]


def test_inline_gemini_files_become_files_with_their_names_and_documents_only_as_pdf():
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0=", "displayName": "contract.pdf"}}
    vertex = {"request": {"contents": gemini_user(pdf)["request"]["contents"], "labels": {"custom_id": "v1"}}}
    chat = convert_request(vertex, to="openai", model="gpt-4o")
    assert chat.findings == []
    assert chat.line["body"]["messages"][0]["content"][1] == {
        "type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "contract.pdf"}}  # fmt: skip
    claude = convert_request(vertex, to="anthropic", model="claude-sonnet-4-5", max_tokens=100)
    assert claude.line["params"]["messages"][0]["content"][1] == {
        "type": "document", "title": "contract.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}  # fmt: skip
    clip = {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}
    refused = convert_request(gemini_user(clip), to="anthropic", model="claude-sonnet-4-5", max_tokens=100)
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-value", "/request/messages/0/content/1/file")
    ]


def test_a_thought_part_is_left_out_not_shown_as_the_answer():
    source = {"key": "thought", "request": {"contents": [
        {"role": "user", "parts": [{"text": "2+2?"}]},
        {"role": "model", "parts": [{"text": "Let me think: 2+2=4.", "thought": True},
                                    {"text": "4", "thoughtSignature": "c2lnbmF0dXJl"}]},
        {"role": "user", "parts": [{"text": "and 3+3?"}]}]}}  # fmt: skip
    converted = convert_request(source, to="openai", model="gpt-4o")
    assert converted.line["body"]["messages"][1] == {"role": "assistant", "content": "4"}
    assert [(f.code, f.path) for f in converted.findings] == [
        ("dropped-field", "/request/contents/1/parts/0"),
        ("dropped-field", "/request/contents/1/parts/1/thoughtSignature"),
    ]


# ---- 5. a blank stop sequence, which the Messages API refuses


def test_validate_refuses_a_blank_stop_sequence_for_claude(tmp_path):
    params = {
        "max_tokens": 100,
        "stop_sequences": ["\n", "", "END"],
        "messages": [{"role": "user", "content": "x"}],
    }
    claude = write(tmp_path, {"custom_id": "s", "params": {"model": "claude-sonnet-4-5", **params}})
    assert codes(validate_file(claude, "anthropic")) == [
        ("error", "invalid-value", "/params/stop_sequences/0"),
        ("error", "invalid-value", "/params/stop_sequences/1"),
    ]
    record = {"recordId": "s", "modelInput": {"anthropic_version": "bedrock-2023-05-31", **params}}
    result = invoke("validate", write(tmp_path, record, name="b.jsonl"), "--provider", "bedrock")
    assert result.returncode == 1 and "error[invalid-value] /modelInput/stop_sequences/0" in result.stdout


@pytest.mark.parametrize("to", ["anthropic", "bedrock"])
def test_convert_reports_a_blank_stop_and_drops_it_when_asked(to):
    source = {"custom_id": "st", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "claude-sonnet-4-5", "max_tokens": 100, "stop": ["\n", "", "END"],
                       "messages": [{"role": "user", "content": "One line please"}]}}  # fmt: skip
    refused = convert_request(source, to=to)
    assert refused.line is None
    assert [(f.code, f.path) for f in refused.findings] == [
        ("unsupported-value", "/body/stop/0"),
        ("unsupported-value", "/body/stop/1"),
    ]
    dropped = convert_request(source, to=to, drop_unsupported=True)
    body = dropped.line["params" if to == "anthropic" else "modelInput"]
    assert body["stop_sequences"] == ["END"] and dropped.dropped == ["/body/stop/0", "/body/stop/1"]
    only_newline = convert_request(
        {**source, "body": {**source["body"], "stop": "\n"}}, to=to, drop_unsupported=True
    )
    assert "stop_sequences" not in only_newline.line["params" if to == "anthropic" else "modelInput"]


# ---- 6. what the Gemini and Anthropic APIs refuse that the line schemas let pass


def test_unknown_gemini_fields_are_warnings_that_name_the_field_meant(tmp_path):
    request = {"contents": [{"role": "user", "parts": [{"txt": "a"}, {"text": "b", "thoughtSignature": "c2ln"}]}],
               "generationConfig": {"maxTokens": 5, "temprature": 0.2, "max_output_tokens": 5},
               "sytemInstruction": {"parts": [{"text": "be brief"}]}}  # fmt: skip
    for provider, line in (("gemini", {"key": "k", "request": request}),
                           ("vertex", {"request": {**request, "labels": {"custom_id": "k"}}})):  # fmt: skip
        report = validate_file(write(tmp_path, line, name=f"{provider}.jsonl"), provider)
        hints = {
            (f.severity, f.code, f.path, f.message.rsplit("did you mean ", 1)[-1]) for f in report.findings
        }
        assert hints == {
            ("warning", "unknown-field", "/request/sytemInstruction", "`systemInstruction`?"),
            ("warning", "unknown-field", "/request/generationConfig/maxTokens", "`maxOutputTokens`?"),
            ("warning", "unknown-field", "/request/generationConfig/temprature", "`temperature`?"),
            ("warning", "unknown-field", "/request/contents/0/parts/0/txt", "`text`?"),
        }


def claude_line(custom_id, **params) -> dict:
    return {"custom_id": custom_id, "params": {"model": "claude-sonnet-4-5", "max_tokens": 2000,
                                          "messages": [{"role": "user", "content": "x"}], **params}}  # fmt: skip


def test_anthropic_requests_the_api_refuses_are_named(tmp_path):
    path = write(tmp_path, claude_line("a", temprature=0.5), claude_line("b", speed="fast", diagnostics=None),
                 claude_line("c", thinking={"type": "enabled", "budget_tokens": 500}),
                 claude_line("d", thinking={"type": "enabled", "budget_tokens": 2000}),
                 claude_line("e", thinking={"type": "enabled", "budget_tokens": 1024}),
                 claude_line("f", tools=[{"name": "now", "input_schema": {"type": "string"}}]))  # fmt: skip
    report = validate_file(path, "anthropic")
    assert [(f.line, *c) for f, c in zip(report.findings, codes(report), strict=True)] == [
        (1, "warning", "unknown-field", "/params/temprature"),
        (3, "error", "out-of-range", "/params/thinking/budget_tokens"),
        (4, "error", "out-of-range", "/params/thinking/budget_tokens"),
        (6, "error", "invalid-value", "/params/tools/0/input_schema/type"),
    ]
    assert "did you mean `temperature`?" in report.findings[0].message
    assert "less than max_tokens" in report.findings[2].message


# ---- 7. nullable beside anyOf


def test_a_nullable_any_of_keeps_null_both_ways(tmp_path):
    schema = {"type": "OBJECT", "properties": {"note": {"nullable": True, "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}},
              "required": ["note"]}  # fmt: skip
    source = {"key": "s1", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
              "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema}}}  # fmt: skip
    chat = convert_request(source, to="openai", model="gpt-4o").line
    note = chat["body"]["response_format"]["json_schema"]["schema"]["properties"]["note"]
    assert note == {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    back = convert_request(chat, to="gemini").line["request"]["generationConfig"]["responseSchema"]
    assert back["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "integer"}],
        "nullable": True,
    }


def test_a_gemini_content_that_is_no_object_is_a_finding_not_an_exception(tmp_path):
    path = tmp_path / "odd.jsonl"
    for odd in (True, 1, "text", None, [1]):
        path.write_text(
            json.dumps({"key": "k", "request": {"contents": [odd], "systemInstruction": odd}}) + "\n"
        )
        report = validate_file(path, "gemini")
        assert not report.valid and report.findings


def test_a_gemini_function_name_of_another_type_is_no_exception_where_a_line_is_read_leniently(tmp_path):
    turns = [{"role": "user", "parts": [{"text": "x"}]},
             {"role": "model", "parts": [{"functionCall": {"name": ["a"], "args": {}}}]},
             {"role": "user", "parts": [{"functionResponse": {"name": {"x": 1}, "response": {}}}]}]  # fmt: skip
    line = {"key": "q", "request": {"contents": turns}}
    converted = convert_request(line, "openai", source="gemini", model="m")  # invalid: its findings
    assert converted.findings and all(f.code == "wrong-type" for f in converted.findings)
    counted = invoke("estimate", write(tmp_path, line), "--provider", "gemini", "--model", "gemini-2.5-flash")
    assert counted.returncode == 0 and "Traceback" not in counted.stderr, counted.stderr  # read as it is


def test_a_search_result_block_takes_its_source_as_text_and_an_image_as_an_object(tmp_path):
    search = {"type": "search_result", "source": "https://x.example", "title": "t",
              "content": [{"type": "text", "text": "c"}], "citations": {"enabled": True}}  # fmt: skip
    image = {"type": "image", "source": "https://x.example/a.png"}
    lines = [{"custom_id": name, "params": {"model": "claude-sonnet-4-5", "max_tokens": 20,
                                            "messages": [{"role": "user", "content": [block]}]}}
             for name, block in (("search", search), ("image", image))]  # fmt: skip
    report = validate_file(write(tmp_path, *lines), "anthropic")
    assert [(f.line, f.path) for f in report.findings if f.is_error] == [
        (2, "/params/messages/0/content/0/source")
    ]
