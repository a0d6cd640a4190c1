"""Result lines read right: cache and thinking tokens counted where providers report them, errors named with
their HTTP status whatever their shape, a blocked prompt a failure. Each case is a fixture under
tests/data/results/<provider>/ whose README names its source; the fixtures are checked against the
providers' own SDK types where there are some."""

import json
from pathlib import Path

import pytest

import batchkit
from batchkit.results import read_results

DATA = Path(__file__).resolve().parent / "data" / "results"


def records(path):
    found = []
    out = {r.custom_id: r for r in read_results(path, emit=lambda file, finding: found.append(finding))}
    assert found == []
    return out


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_anthropic_fixtures_are_the_sdk_s_result_shape():
    from anthropic.types.messages import MessageBatchIndividualResponse

    for line in lines(DATA / "anthropic" / "cache-and-timeout.jsonl"):
        MessageBatchIndividualResponse.model_validate(line)


def test_anthropic_cache_reads_and_writes_are_prompt_tokens_kept_apart():
    got = records(DATA / "anthropic" / "cache-and-timeout.jsonl")
    first, second = got["cache-1"], got["cache-2"]
    # input_tokens leaves the cache out: the prompt is all three
    assert (first.prompt_tokens, first.cached_tokens, first.cache_write_tokens) == (2400, 0, 2000)
    assert (second.prompt_tokens, second.cached_tokens, second.cache_write_tokens) == (2400, 2000, 0)
    assert (second.completion_tokens, second.total_tokens) == (60, 2460)


def test_anthropic_timeout_error_is_a_504():
    slow = records(DATA / "anthropic" / "cache-and-timeout.jsonl")["slow-3"]
    assert (slow.status, slow.status_code, slow.error_code) == ("http_error", 504, "timeout_error")


def test_merged_rows_and_report_keep_prompt_cached_and_cache_write_columns():
    result = batchkit.merge_results(
        DATA / "anthropic" / "cache-input.jsonl", DATA / "anthropic" / "cache-and-timeout.jsonl"
    )
    frame = result.frame.set_index("custom_id")
    assert list(frame.loc["cache-2", ["prompt_tokens", "cached_tokens", "cache_write_tokens"]]) == [
        2400,
        2000,
        0,
    ]
    assert list(frame.loc["cache-1", ["prompt_tokens", "cached_tokens", "cache_write_tokens"]]) == [
        2400,
        0,
        2000,
    ]
    tokens = result.report.to_dict()["tokens"]
    assert tokens == {"prompt": 4800, "completion": 110, "total": 4910, "cached": 2000, "cache_write": 2000}
    assert "4,800 in (2,000 cached, 2,000 written to the cache)" in result.report.to_text()


def test_gemini_fixtures_are_the_sdk_s_types():
    from google.genai import types

    for line in lines(DATA / "gemini" / "thinking-blocked-grpc.jsonl"):
        if "response" in line:
            types.GenerateContentResponse.model_validate(line["response"])
        else:
            types.JobError.model_validate(line["error"])


def test_gemini_thinking_tokens_are_completion_tokens_and_the_total_is_gemini_s():
    think = records(DATA / "gemini" / "thinking-blocked-grpc.jsonl")["think-1"]
    assert (think.prompt_tokens, think.completion_tokens, think.total_tokens) == (4, 122, 126)
    assert think.content == "4"


def test_gemini_cached_content_tokens_are_part_of_the_prompt():
    cached = records(DATA / "gemini" / "thinking-blocked-grpc.jsonl")["cached-4"]
    assert (cached.prompt_tokens, cached.cached_tokens, cached.total_tokens) == (1030, 1024, 1034)


def test_a_blocked_gemini_prompt_is_a_failure_with_its_reason_and_is_retried(tmp_path):
    blocked = records(DATA / "gemini" / "thinking-blocked-grpc.jsonl")["blocked-2"]
    assert (blocked.status, blocked.error_code) == ("http_error", "prompt_blocked")
    assert "SAFETY" in blocked.error_message
    out = tmp_path / "retry.jsonl"
    batchkit.retry(
        DATA / "gemini" / "thinking-input.jsonl", DATA / "gemini" / "thinking-blocked-grpc.jsonl", out
    )
    assert [json.loads(x)["key"] for x in out.read_text().splitlines()] == ["blocked-2", "internal-3"]


def test_a_grpc_code_becomes_its_http_status_and_keeps_its_name():
    internal = records(DATA / "gemini" / "thinking-blocked-grpc.jsonl")["internal-3"]
    assert (internal.status_code, internal.error_code, internal.error_message) == (
        500,
        "INTERNAL",
        "Internal error encountered.",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}, (400, "INVALID_ARGUMENT")),
        ({"code": 3, "message": "m"}, (400, "INVALID_ARGUMENT")),
        ({"code": 8, "message": "m"}, (429, "RESOURCE_EXHAUSTED")),
        ({"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}, (429, "RESOURCE_EXHAUSTED")),
    ],
)
def test_google_errors_in_either_shape(error, expected):
    (record,) = read_results_of([{"key": "k", "error": error}])
    assert (record.status_code, record.error_code) == expected


def read_results_of(objs):
    from batchkit.results import normalise

    return [normalise(obj) for obj in objs]


def test_vertex_failures_read_their_status_text():
    got = records(DATA / "vertex" / "errors-predictions.jsonl")
    assert got["v-1"].status == "ok"
    bad_role = got["v-2"]
    assert (bad_role.status, bad_role.status_code, bad_role.error_code) == (
        "http_error",
        400,
        "INVALID_ARGUMENT",
    )
    assert bad_role.error_message == "Please use a valid role: user, model."
    quota = got["v-3"]
    assert (quota.status_code, quota.error_message) == (
        429,
        "429 Too Many Requests: Resource exhausted. Please try again later.",
    )


def test_azure_nested_error_message_and_code_are_read():
    result = batchkit.merge_results(
        DATA / "azure" / "input.jsonl", [DATA / "azure" / "output.jsonl", DATA / "azure" / "errors.jsonl"]
    )
    row = result.frame.set_index("custom_id").loc["task-1"]
    assert (row["status"], row["status_code"], row["error_code"]) == ("http_error", 400, "BadRequest")
    assert row["error_message"] == "Value of max_tokens must be less than or equal to 4096."
    (entry,) = result.report.to_dict()["digest"]
    assert "Value of max_tokens" in json.dumps(entry)


def test_openai_cached_tokens_are_read_from_prompt_tokens_details():
    ok = records(DATA / "azure" / "output.jsonl")["task-0"]
    assert (ok.prompt_tokens, ok.cached_tokens, ok.cache_write_tokens) == (9, 0, None)


def test_bedrock_cache_reads_and_writes_are_prompt_tokens_kept_apart():
    result = batchkit.merge_results(
        DATA / "bedrock" / "cache-input.jsonl", DATA / "bedrock" / "cache-results.jsonl"
    )
    frame = result.frame.set_index("custom_id")
    columns = ["prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens", "total_tokens"]
    # an Anthropic body: Anthropic's usage, input_tokens without the cache
    assert list(frame.loc["claude-1", columns]) == [1512, 0, 1500, 30, 1542]
    assert list(frame.loc["claude-2", columns]) == [1512, 1500, 0, 40, 1552]
    # Nova: Converse's TokenUsage, inputTokens without the cache; the total as AWS gives it
    assert list(frame.loc["nova-3", columns]) == [1509, 1500, 0, 20, 1529]
