"""Reading result lines of every shape into ResultRecords."""

import io
from pathlib import Path

import orjson
import pytest

from batchkit.results import BATCH_ERROR, EXPIRED, HTTP_ERROR, OK, normalise, read_results

DATA = Path(__file__).parent / "data" / "results"


def by_id(paths, findings=None):
    emit = None if findings is None else (lambda file, f: findings.append((file, f)))
    return {r.custom_id: r for r in read_results(paths, emit)}


def test_openai_output_and_error_files():
    records = by_id([DATA / "openai" / "output.jsonl", DATA / "openai" / "errors.jsonl"])
    assert sorted(records) == ["q-1", "q-2", "q-3", "q-4", "q-5", "q-6", "q-8"]
    hello = records["q-1"]
    assert (hello.status, hello.status_code, hello.content) == (OK, 200, "Hello! How can I help you today?")
    assert (hello.prompt_tokens, hello.completion_tokens, hello.total_tokens) == (10, 9, 19)
    assert hello.model == "gpt-4o-mini-2024-07-18" and hello.created == 1711652795
    assert hello.file.endswith("output.jsonl") and hello.line == 3
    tool = records["q-2"]
    assert tool.content is None and tool.finish_reason == "tool_calls"
    assert orjson.loads(tool.tool_calls)[0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert records["q-3"].contents == ("Blue.", "Red.")


def test_a_4xx_body_with_a_null_top_level_error_is_a_failure():
    record = by_id([DATA / "openai" / "errors.jsonl"])["q-4"]
    assert record.status == HTTP_ERROR and record.status_code == 400
    assert record.error_code == "context_length_exceeded"
    assert record.error_message.startswith("This model's maximum context length is 128000 tokens")
    assert record.content is None


def test_expired_lines():
    record = by_id([DATA / "openai" / "errors.jsonl"])["q-5"]
    assert (record.status, record.status_code, record.error_code) == (EXPIRED, None, "batch_expired")


def test_vllm_one_file_with_integer_codes_and_string_errors():
    records = by_id([DATA / "vllm" / "results.jsonl"])
    assert [records[k].status for k in ("v-1", "v-2", "v-3", "v-4", "v-5")] == [
        OK,
        HTTP_ERROR,
        HTTP_ERROR,
        OK,
        HTTP_ERROR,
    ]
    nested = records["v-2"]  # {"error": {"message", "type", "param", "code": 404}}
    assert (nested.status_code, nested.error_code) == (404, "NotFoundError")
    assert nested.error_message == "The model `no-such-model` does not exist."
    plain = records["v-3"]  # error is a plain string, body null
    assert (plain.status_code, plain.error_code, plain.error_message) == (
        400,
        "400",
        "Request must not be sent in stream mode",
    )
    flat = records["v-5"]  # the older flat ErrorResponse
    assert (flat.error_code, flat.error_message) == (
        "BadRequestError",
        "temperature must be in [0, 2], got 9.0.",
    )


def test_kluster_string_timestamps_become_integers():
    records = by_id([DATA / "seed" / "output.jsonl"])
    assert records["request-1"].created == 1733832777
    assert records["request-3"].created == 1733832781
    assert records["request-1"].content == "The capital of Argentina is Buenos Aires."


def test_embeddings():
    records = by_id([DATA / "embeddings" / "output.jsonl", DATA / "embeddings" / "errors.jsonl"])
    assert records["e-1"].embedding == [0.5, 0.0, -0.25]
    assert records["e-1"].contents == () and records["e-1"].prompt_tokens == 1
    assert records["e-3"].status == HTTP_ERROR and records["e-3"].error_code == "invalid_request_error"


def test_malformed_lines_are_findings_with_file_and_line_and_reading_goes_on():
    findings = []
    records = list(
        read_results(
            [DATA / "problems" / "output-1.jsonl", DATA / "problems" / "output-2.jsonl"],
            findings_sink(findings),
        )
    )
    assert len(records) == 7  # 10 lines: one not JSON, one without custom_id, one blank
    where = [(Path(file).name, f.line, f.code) for file, f in findings]
    assert where == [
        ("output-1.jsonl", 3, "invalid-json"),
        ("output-1.jsonl", 5, "missing-field"),
        ("output-2.jsonl", 2, "blank-line"),
    ]
    assert findings[1][1].path == "/custom_id"


def findings_sink(findings):
    return lambda file, finding: findings.append((file, finding))


def test_batch_error_without_a_response():
    record = normalise(
        {"custom_id": "a", "response": None, "error": {"code": "request_timeout", "message": "slow"}}
    )
    assert (record.status, record.error_code, record.error_message) == (
        BATCH_ERROR,
        "request_timeout",
        "slow",
    )


@pytest.mark.parametrize(
    "line, code, path",
    [
        ({"custom_id": 7, "response": None, "error": {"code": "x"}}, "wrong-type", "/custom_id"),
        ({"custom_id": "a", "response": None, "error": None}, "missing-field", "/response"),
        ({"custom_id": "a", "response": "yes", "error": None}, "wrong-type", "/response"),
    ],
)
def test_lines_that_are_not_results(line, code, path):
    findings = []
    assert normalise(line, 4, "r.jsonl", findings.append) is None
    assert [(f.code, f.line, f.path) for f in findings] == [(code, 4, path)]


@pytest.mark.parametrize(
    "choices, path, said, status",
    [
        ("x", "/response/body/choices", "choices is a string, not a list; no answer read", BATCH_ERROR),
        (
            {"0": {}},
            "/response/body/choices",
            "choices is an object, not a list; no answer read",
            BATCH_ERROR,
        ),
        ([None], "/response/body/choices/0", "a choice is null, not an object", OK),
        (
            [{"message": {"content": "a"}}, 5],
            "/response/body/choices/1",
            "a choice is a number, not an object",
            OK,
        ),
    ],
)
def test_a_success_whose_choices_hold_no_answer_says_so(choices, path, said, status):
    """A finding says where the answer should have been: a row with no answer is never silent. A 200
    whose choices are no list answered nothing (as a body with no answer field, below); one whose list
    holds something else beside its choices is the upstream's success."""
    findings = []
    line = {"custom_id": "a", "response": {"status_code": 200, "body": {"choices": choices}}, "error": None}
    record = normalise(line, 3, "r.jsonl", findings.append)
    assert record.status == status
    assert [(f.code, f.line, f.path, f.message) for f in findings] == [("wrong-type", 3, path, said)]


@pytest.mark.parametrize(
    "body, status",
    [
        ({}, BATCH_ERROR),
        ({"id": "chatcmpl-1", "object": "chat.completion", "usage": {"prompt_tokens": 3}}, BATCH_ERROR),
        ({"text": 5}, BATCH_ERROR),
        ({"choices": []}, BATCH_ERROR),  # beside an error an upstream sent with its 200
        ({"error": {"message": "model overloaded"}, "choices": []}, BATCH_ERROR),
        ({"object": "list", "data": []}, BATCH_ERROR),
        ({"output": []}, BATCH_ERROR),
        (
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}]},
            OK,
        ),  # an empty answer is one
        ({"object": "list", "data": [{"embedding": [0.5]}]}, OK),
        ({"text": "hello"}, OK),
        ({"text": ""}, OK),
        ({"results": [{"flagged": False}]}, OK),
        ({"id": "video_1", "object": "video", "status": "completed"}, OK),  # the job is the answer
    ],
)
def test_a_success_that_answers_nothing_is_a_failure_retry_sends_again(body, status):
    # as a prompt Gemini blocked: no answer came, so the row is no "ok" and `retry` picks it up
    line = {"custom_id": "a", "response": {"status_code": 200, "body": body}, "error": None}
    record = normalise(line)
    assert record.status == status
    if status == BATCH_ERROR:
        assert record.error_code == "no_answer" and "HTTP 200" in record.error_message
        assert record.status_code == 200 and record.prompt_tokens == body.get("usage", {}).get(
            "prompt_tokens"
        )


def test_success_is_the_status_code_not_the_absence_of_error():
    ok = normalise(
        {
            "custom_id": "a",
            "response": {"status_code": 201, "body": {"choices": [{"index": 0}]}},
            "error": None,
        }
    )
    assert ok.status == OK
    rejected = normalise(
        {
            "custom_id": "a",
            "response": {
                "status_code": 429,
                "body": {
                    "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
                },
            },
            "error": None,
        }
    )
    assert (rejected.status, rejected.error_code) == (HTTP_ERROR, "rate_limit_exceeded")
    # a 5xx with a top-level error and no body
    failed = normalise(
        {
            "custom_id": "a",
            "response": {"status_code": 500, "body": None},
            "error": {"code": "server_error", "message": "boom"},
        }
    )
    assert (failed.status, failed.error_code, failed.error_message) == (HTTP_ERROR, "server_error", "boom")


def test_completions_responses_and_content_parts():
    completion = normalise(
        {
            "custom_id": "c",
            "response": {
                "status_code": 200,
                "body": {
                    "choices": [
                        {"index": 1, "text": "second", "finish_reason": "length"},
                        {"index": 0, "text": "first", "finish_reason": "stop"},
                    ]
                },
            },
        }
    )
    assert completion.contents == ("first", "second") and completion.finish_reason == "stop"
    response = normalise(
        {
            "custom_id": "r",
            "response": {
                "status_code": 200,
                "body": {
                    "created_at": "1741476542",
                    "status": "completed",
                    "model": "gpt-4.1",
                    "output": [
                        {
                            "type": "message",
                            "content": [
                                {"type": "output_text", "text": "Hi"},
                                {"type": "output_text", "text": " there"},
                            ],
                        },
                        {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c1"},
                    ],
                    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
                },
            },
        }
    )
    assert (response.content, response.created, response.prompt_tokens, response.completion_tokens) == (
        "Hi there",
        1741476542,
        3,
        2,
    )
    assert orjson.loads(response.tool_calls)[0]["name"] == "f"
    parts = normalise(
        {
            "custom_id": "p",
            "response": {
                "status_code": 200,
                "body": {
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                            },
                        }
                    ]
                },
            },
        }
    )
    assert parts.content == "ab"


def test_an_empty_result_file_is_a_warning_and_a_stream_can_be_read():
    findings = []
    assert list(read_results(io.BytesIO(b""), findings_sink(findings))) == []
    assert [(f.code, f.severity) for _, f in findings] == [("empty-file", "warning")]
    line = (DATA / "seed" / "output.jsonl").read_bytes()
    assert [r.custom_id for r in read_results(io.BytesIO(line))] == ["request-3", "request-1", "request-2"]


def test_golden_result_lines_match_the_output_line_schema():
    from batchkit.schemas import OUTPUT, validator

    check = validator(OUTPUT)
    lines = [
        (path, number, orjson.loads(raw))
        for path in sorted(DATA.glob("*/*.jsonl"))
        if "input" not in path.name
        and "tasks" not in path.name
        and path.parent.name
        not in {"anthropic", "gemini", "vertex", "bedrock", "custom-body"}  # other shapes
        for number, raw in enumerate(path.read_bytes().splitlines(), 1)
        if raw.strip().startswith(b"{")
    ]
    invalid = [(path.name, number) for path, number, obj in lines if not check.is_valid(obj)]
    assert len(lines) > 25 and invalid == [("output-1.jsonl", 5)]  # the line without a custom_id
