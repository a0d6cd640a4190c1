"""Dialects beyond validation and conversion of one file: OpenAI lines for a provider that takes another
dialect, merge and retry with inputs in any dialect (and an id map), canceled requests, Bedrock's
manifest, and Responses bodies written by `convert`."""

import io
import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from test_convert import chat, run, write

from batchkit import validate_file
from batchkit.cli import cli
from batchkit.providers import PROVIDERS

DATA = Path(__file__).resolve().parent / "data" / "results"


def jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


# ---- OpenAI lines for a provider that takes another dialect ------------------------------------------------

OTHER_ONLY = sorted(name for name, p in PROVIDERS.items() if p.dialects and "openai" not in p.dialects)


@pytest.mark.parametrize("provider", OTHER_ONLY)
def test_openai_lines_for_a_provider_of_another_dialect_are_a_wrong_dialect_finding(provider, tmp_path):
    # ids Anthropic's rule rejects, and a repeat: the repeat is still found, the id rule is convert's
    source = write(tmp_path / "in.jsonl", [chat("has space"), chat("has space"), chat("x" * 80)])
    report = validate_file(source, provider)
    assert report.provider == provider
    assert [c for c, _, _ in report.codes()] == ["wrong-dialect", "duplicate-custom-id"]
    message = report.findings[0].message
    assert "openai dialect" in message
    assert f"batchkit convert {source} -o OUT --provider {provider}" in message
    assert not report.valid


def test_openai_lines_stay_openai_lines_for_providers_that_take_them():
    data = orjson.dumps(chat("has space")) + b"\n"
    for provider in ("vertex", "together", "openai", "generic"):
        codes = [c for c, _, _ in validate_file(io.BytesIO(data), provider).codes()]
        assert "wrong-dialect" not in codes, provider


def test_validate_cli_names_the_dialect_and_the_convert_command(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a")])
    result = run("validate", source, "--provider", "anthropic")
    assert result.exit_code == 1
    assert "error[wrong-dialect]" in result.output
    assert "this file is in the openai dialect; anthropic takes anthropic lines" in result.output
    assert f"(`batchkit convert {source} -o OUT --provider anthropic`)" in result.output
    piped = CliRunner().invoke(cli, ["validate", "-", "--provider", "anthropic"], input=source.read_bytes())
    assert "(`batchkit convert FILE -o OUT --provider anthropic`)" in piped.output
    assert "invalid for provider anthropic" in result.output


def test_wrong_dialect_is_the_same_on_the_parallel_path(tmp_path, monkeypatch):
    import batchkit.validate.files as validator

    monkeypatch.setattr(validator, "PARALLEL_MIN_BYTES", 1)
    source = write(tmp_path / "in.jsonl", [chat(f"id {i}") for i in range(50)] + [chat("id 3")])
    one = validate_file(source, "anthropic", jobs=1).to_dict()
    many = validate_file(source, "anthropic", jobs=3).to_dict()
    assert one == many
    assert [f["code"] for f in one["findings"]] == ["wrong-dialect", "duplicate-custom-id"]


# ---- canceled requests are retried -------------------------------------------------------------------------


def test_retry_sends_canceled_requests_again_by_default(tmp_path):
    from batchkit.results import retry

    # q-1 expired, q-2 canceled, q-3 errored (see the fixture)
    done = retry(
        DATA / "dialect-input.jsonl", DATA / "anthropic" / "expired-canceled.jsonl", tmp_path / "r.jsonl"
    )
    assert done.selected["canceled"] == 1
    assert [x["custom_id"] for x in jsonl(tmp_path / "r.jsonl")] == ["q-1", "q-2", "q-3"]


def test_the_cli_retry_default_is_every_failed_status():
    from batchkit.cli.retry import retry as retry_command
    from batchkit.results import FAILED

    only = next(p for p in retry_command.params if p.name == "only")
    assert only.default.split(",") == list(FAILED)
    assert "canceled" in FAILED


def test_the_digest_hints_at_retry_for_canceled_requests():
    from batchkit.results import digest

    [entry] = digest([("q-2", "canceled", "batch_canceled", "the batch was canceled", None)])
    assert "batchkit retry" in entry.hint and "canceled" in entry.hint


# ---- merge and retry with inputs in any dialect ------------------------------------------------------------


def anthropic_result(custom_id, text):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


@pytest.mark.parametrize("to", ["anthropic", "gemini", "vertex", "bedrock", "custom-body"])
def test_merge_joins_results_to_input_lines_of_every_dialect(to, tmp_path):
    import batchkit
    from batchkit.convert import convert_file

    converted = tmp_path / f"{to}.jsonl"
    convert_file(DATA / "dialect-input.jsonl", converted, to, max_tokens=64)
    results = {
        "anthropic": "anthropic/results.jsonl",
        "gemini": "gemini/results.jsonl",
        "vertex": "vertex/results.jsonl",
        "bedrock": "bedrock/results.jsonl",
        "custom-body": "custom-body/mistral.jsonl",
    }[to]
    merged = batchkit.merge(converted, DATA / results)
    assert list(merged["custom_id"]) == ["q-1", "q-2", "q-3"]
    assert list(merged["status"]) == ["ok", "ok", "http_error"]
    if to in ("anthropic", "custom-body"):  # the others leave the model to the job
        assert list(merged["model"]) == ["m", "m", "m"]


def test_merge_of_anthropic_lines_on_the_command_line(tmp_path):
    claude = tmp_path / "claude.jsonl"
    assert run("convert", DATA / "dialect-input.jsonl", "-o", claude, "--to", "anthropic").exit_code == 0
    out = tmp_path / "m.csv"
    result = run("merge", claude, "-r", DATA / "anthropic" / "results.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    assert "requests: 3 (ok 2, http_error 1)" in result.output


def test_merge_with_the_id_map_joins_results_of_a_converted_file_to_the_original(tmp_path):
    source = write(tmp_path / "batch.jsonl", [chat("row 1"), chat("row/2"), chat("ok_3")])
    claude = tmp_path / "claude.jsonl"
    done = run("convert", source, "-o", claude, "--to", "anthropic", "--max-tokens", 10)
    assert done.exit_code == 0, done.output
    ids = [x["custom_id"] for x in jsonl(claude)]
    assert ids == ["line-1", "line-2", "ok_3"]
    results = write(tmp_path / "claude-results.jsonl", [anthropic_result(i, f"answer {i}") for i in ids])
    out = tmp_path / "m.jsonl"
    without = run("merge", source, "-r", results, "-o", out)
    assert without.exit_code == 1  # two of three have no result under their own ids
    merged = run("merge", source, "-r", results, "--id-map", tmp_path / "claude.ids.jsonl", "-o", out)
    assert merged.exit_code == 0, merged.output
    rows = {r["custom_id"]: r for r in jsonl(out)}
    assert {k: r["content"] for k, r in rows.items()} == {
        "row 1": "answer line-1",
        "row/2": "answer line-2",
        "ok_3": "answer ok_3",
    }
    assert "2 request(s) also found by the ids in" in merged.output
    # retry reads the map as merge does: what was answered is not sent (and paid for) again
    retried = tmp_path / "retry.jsonl"
    blind = run("retry", source, "-r", results, "-o", retried)
    assert blind.exit_code == 0 and len(jsonl(retried)) == 2  # without it, two answered look missing
    mapped = run("retry", source, "-r", results, "--id-map", tmp_path / "claude.ids.jsonl", "-o", retried)
    assert mapped.exit_code == 0 and "nothing to retry" in mapped.output.lower(), mapped.output


def test_a_broken_id_map_is_an_input_error_naming_the_file(tmp_path):
    source = write(tmp_path / "batch.jsonl", [chat("a")])
    bad = tmp_path / "bad.ids.jsonl"
    bad.write_text('{"custom_id": "a", "id": "line-1"}\n{"nope": 1}\n')
    result = run("merge", source, "-r", DATA / "anthropic" / "results.jsonl", "--id-map", bad, "-o", "-")
    assert result.exit_code == 2
    assert f"{bad}:2: not an id map line" in result.output


def test_retry_writes_the_failed_lines_of_an_anthropic_file(tmp_path):
    from batchkit.results import retry

    claude = tmp_path / "claude.jsonl"
    assert run("convert", DATA / "dialect-input.jsonl", "-o", claude, "--to", "anthropic").exit_code == 0
    done = retry(claude, DATA / "anthropic" / "results.jsonl", tmp_path / "retry.jsonl")
    assert [x["custom_id"] for x in jsonl(tmp_path / "retry.jsonl")] == ["q-3"]
    assert "params" in jsonl(tmp_path / "retry.jsonl")[0]
    assert done.validation.valid and done.validation.provider == "anthropic"
    cli = run("retry", claude, "-r", DATA / "anthropic" / "results.jsonl", "-o", tmp_path / "r2.jsonl")
    assert cli.exit_code == 0, cli.output
    wrong = run(
        "retry",
        claude,
        "-r",
        DATA / "anthropic" / "results.jsonl",
        "-o",
        tmp_path / "r3.jsonl",
        "--provider",
        "openai",
    )
    assert wrong.exit_code == 2 and "takes openai lines, not anthropic" in wrong.output


# ---- Bedrock's manifest.json.out ---------------------------------------------------------------------------


def bedrock_job(tmp_path, **counts):
    folder = tmp_path / "job-1"
    folder.mkdir()
    (folder / "input.jsonl.out").write_bytes((DATA / "bedrock" / "results.jsonl").read_bytes())
    manifest = {
        "totalRecordCount": 3,
        "processedRecordCount": 3,
        "successRecordCount": 2,
        "errorRecordCount": 1,
        "inputTokenCount": 32,
        "outputTokenCount": 11,
    }
    (folder / "manifest.json.out").write_text(json.dumps(manifest | counts))
    return folder


def test_the_bedrock_manifest_counts_are_in_the_merge_summary(tmp_path):
    folder = bedrock_job(tmp_path)
    result = run(
        "merge", DATA / "dialect-input.jsonl", "-r", folder / "input.jsonl.out", "-o", tmp_path / "m.csv"
    )
    assert result.exit_code == 0, result.output
    assert "3 records, 3 processed, 2 succeeded, 1 failed, 32 input tokens, 11 output tokens" in result.output
    assert "the manifest counts" not in result.output


def test_a_bedrock_manifest_that_disagrees_with_the_results_read_is_noted(tmp_path):
    folder = bedrock_job(tmp_path, successRecordCount=3, outputTokenCount=99)
    result = run(
        "merge",
        DATA / "dialect-input.jsonl",
        "-r",
        folder / "input.jsonl.out",
        "-o",
        tmp_path / "m.csv",
        "--format",
        "json",
    )
    notes = json.loads(result.output)["notes"]
    assert any("the manifest counts 3 succeeded, the results read give 2" in n for n in notes)
    assert any("the manifest counts 99 output tokens, the results read give 11" in n for n in notes)


def test_a_broken_bedrock_manifest_is_a_note_not_a_crash(tmp_path):
    folder = bedrock_job(tmp_path)
    (folder / "manifest.json.out").write_text("[1, 2")
    result = run(
        "merge", DATA / "dialect-input.jsonl", "-r", folder / "input.jsonl.out", "-o", tmp_path / "m.csv"
    )
    assert result.exit_code == 0, result.output
    assert "is not a Bedrock manifest" in result.output


# ---- convert --to openai --endpoint /v1/responses ----------------------------------------------------------

RESPONSES_ROUND_TRIP = [
    chat(
        "r-1",
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"},
                    },
                ],
            },
        ],
        max_completion_tokens=16,
        temperature=0.3,
        top_p=0.9,
        metadata={"run": "1"},
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"word": {"type": "string"}},
                    "required": ["word"],
                    "additionalProperties": False,
                },
            },
        },
    ),
    chat(
        "r-2",
        messages=[
            {"role": "user", "content": "Weather in Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "The weather in a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        tool_choice={"type": "function", "function": {"name": "weather"}},
    ),
]


def test_chat_lines_convert_to_responses_bodies(tmp_path):
    source = write(tmp_path / "chat.jsonl", RESPONSES_ROUND_TRIP)
    out = tmp_path / "responses.jsonl"
    result = run(
        "convert", source, "-o", out, "--to", "openai", "--endpoint", "/v1/responses", "-p", "openai"
    )
    assert result.exit_code == 0, result.output
    first, second = jsonl(out)
    assert first["url"] == second["url"] == "/v1/responses"
    body = first["body"]
    assert body["instructions"] == "Answer in one word."
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"},
            ],
        }
    ]
    assert body["max_output_tokens"] == 16
    assert body["text"]["format"]["type"] == "json_schema" and body["text"]["format"]["name"] == "answer"
    tools = second["body"]["tools"]
    assert tools[0]["type"] == "function" and tools[0]["name"] == "weather"
    assert [i.get("type", "message") for i in second["body"]["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert second["body"]["tool_choice"] == {"type": "function", "name": "weather"}
    assert validate_file(out, "openai").valid


def test_responses_lines_convert_back_to_the_same_chat_requests(tmp_path):
    source = write(tmp_path / "chat.jsonl", RESPONSES_ROUND_TRIP)
    there = tmp_path / "responses.jsonl"
    back = tmp_path / "back.jsonl"
    done = run(
        "convert", source, "-o", there, "--to", "openai", "--endpoint", "/v1/responses", "-p", "openai"
    )
    assert done.exit_code == 0, done.output
    assert run("convert", there, "-o", back, "--to", "openai").exit_code == 0
    assert jsonl(back) == RESPONSES_ROUND_TRIP


def test_what_responses_cannot_express_is_a_finding():
    from batchkit.convert import convert_request

    done = convert_request(chat("a", stop=["\n"], logit_bias={"1": 2}), "openai", endpoint="/v1/responses")
    assert done.line is None
    assert {f.path for f in done.findings} == {"/body/stop", "/body/logit_bias"}
    dropped = convert_request(
        chat("a", stop=["\n"]), "openai", endpoint="/v1/responses", drop_unsupported=True
    )
    assert dropped.dropped == ["/body/stop"] and "stop" not in dropped.line["body"]


def test_endpoint_is_for_openai_lines_only(tmp_path):
    source = write(tmp_path / "chat.jsonl", [chat("a")])
    result = run(
        "convert", source, "-o", tmp_path / "x.jsonl", "--to", "anthropic", "--endpoint", "/v1/responses"
    )
    assert result.exit_code == 2
    assert "only for OpenAI lines" in result.output


# ---- the README's Dialects section -------------------------------------------------------------------------


def test_every_example_of_the_readme_dialects_section_is_a_block_test_readme_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Dialects", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert blocks and all(language == "sh" for language, _ in blocks)
    commands = " ".join(body for _, body in blocks)
    for shown in ("convert", "--endpoint /v1/responses", "merge claude.jsonl", "retry claude.jsonl"):
        assert shown in commands
