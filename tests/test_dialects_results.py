"""Every provider's result lines become the same rows: fixtures written from each provider's documented
result shape, holding the same three answers (text, a tool call, a rejected request)."""

import json
from pathlib import Path

import pytest

import batchkit
from batchkit.results import STATUSES, normalise, read_results

DATA = Path(__file__).resolve().parent / "data" / "results"
INPUT = DATA / "dialect-input.jsonl"
REFERENCE = [DATA / "dialect-openai.jsonl"]
PROVIDERS = {
    "anthropic": [DATA / "anthropic" / "results.jsonl"],
    "gemini": [DATA / "gemini" / "results.jsonl"],
    "vertex": [DATA / "vertex" / "results.jsonl"],
    "bedrock": [DATA / "bedrock" / "results.jsonl"],
    "bedrock-converse": [DATA / "bedrock" / "converse.jsonl"],
    "mistral": [DATA / "custom-body" / "mistral.jsonl"],
    "together": [DATA / "custom-body" / "together.jsonl", DATA / "custom-body" / "together-errors.jsonl"],
}
# What an answer is; how each provider names an error (code, HTTP status) differs and is left out.
SAME = (
    "status",
    "content",
    "tool_calls",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_message",
)


def rows(paths):
    found = []
    records = list(read_results(paths, emit=lambda file, finding: found.append(finding)))
    assert found == []
    return {r.custom_id: tuple(getattr(r, field) for field in SAME) for r in records}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_result_dialect_reads_into_the_same_records(provider):
    assert rows(PROVIDERS[provider]) == rows(REFERENCE)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_result_dialect_merges_into_the_same_rows(provider):
    columns = [
        "custom_id",
        "status",
        "content",
        "tool_calls",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
    ]
    merged = batchkit.merge(INPUT, PROVIDERS[provider])[columns]
    reference = batchkit.merge(INPUT, REFERENCE)[columns]
    assert merged.to_dict("records") == reference.to_dict("records")
    assert list(merged["status"]) == ["ok", "ok", "http_error"]


def test_anthropic_expired_canceled_and_errored():
    records = {r.custom_id: r for r in read_results(DATA / "anthropic" / "expired-canceled.jsonl")}
    assert (records["q-1"].status, records["q-1"].error_code) == ("expired", "batch_expired")
    assert (records["q-2"].status, records["q-2"].error_code) == ("canceled", "batch_canceled")
    assert (records["q-3"].status, records["q-3"].status_code, records["q-3"].error_code) == (
        "http_error",
        529,
        "overloaded_error",
    )
    assert "canceled" in STATUSES


def test_gemini_error_keeps_the_http_status_and_the_rpc_status():
    record = normalise(
        {"key": "k", "error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}
    )
    assert (record.custom_id, record.status, record.status_code, record.error_code) == (
        "k",
        "http_error",
        429,
        "RESOURCE_EXHAUSTED",
    )


def test_a_result_line_with_neither_answer_nor_error_is_a_finding():
    findings = []
    assert normalise({"recordId": "r", "modelInput": {}}, 3, "f", findings.append) is None
    assert [(f.code, f.line, f.path) for f in findings] == [("missing-field", 3, "/response")]
    findings = []
    assert (
        normalise({"request": {"contents": []}, "status": "", "response": None}, 4, "f", findings.append)
        is None
    )
    assert [(f.code, f.line) for f in findings] == [("missing-field", 4)]


def test_gemini_thought_parts_are_not_the_answer():
    line = {
        "key": "k",
        "response": {
            "candidates": [
                {
                    "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "42"}]},
                    "finishReason": "MAX_TOKENS",
                }
            ]
        },
    }
    record = normalise(line)
    assert (record.content, record.finish_reason) == ("42", "length")


def test_merge_and_retry_on_the_command_line_read_anthropic_results(tmp_path):
    from click.testing import CliRunner

    from batchkit.cli import cli

    merged = tmp_path / "merged.csv"
    results = DATA / "anthropic" / "results.jsonl"
    result = CliRunner().invoke(
        cli, ["merge", str(INPUT), "--results", str(results), "-o", str(merged), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["counts"]["ok"] == 2 and summary["counts"]["http_error"] == 1
    retry = tmp_path / "retry.jsonl"
    result = CliRunner().invoke(cli, ["retry", str(INPUT), "--results", str(results), "-o", str(retry)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["custom_id"] for x in retry.read_text().splitlines()] == ["q-3"]


def test_bedrock_records_without_a_record_id_join_to_the_results_that_echo_their_input(tmp_path):
    inputs = [{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
               "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(3)]  # fmt: skip
    batch = tmp_path / "norec.jsonl"
    batch.write_text("".join(json.dumps({"modelInput": body}) + "\n" for body in inputs))
    answered = [{"modelInput": inputs[i], "modelOutput": {"type": "message", "role": "assistant", "model": "c",
                 "content": [{"type": "text", "text": f"a{i}"}], "stop_reason": "end_turn",
                 "usage": {"input_tokens": 3, "output_tokens": 1}}} for i in (2, 0)]  # fmt: skip
    failed = {"modelInput": inputs[1], "error": {"errorCode": 400, "errorMessage": "refused"}}
    results = tmp_path / "norec.jsonl.out"
    results.write_text("".join(json.dumps(line) + "\n" for line in [*answered, failed]))
    merged = batchkit.merge_results(batch, results)
    assert list(merged.frame["content"].fillna("-")) == ["a0", "-", "a2"]
    assert list(merged.frame["status"]) == ["ok", "http_error", "ok"] and not merged.report.orphans
    again = batchkit.retry(batch, results, tmp_path / "again.jsonl")
    assert (
        again.requests == 1 and json.loads((tmp_path / "again.jsonl").read_text())["modelInput"] == inputs[1]
    )
