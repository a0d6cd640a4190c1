"""Dialects beyond validation and conversion of one file: OpenAI lines for a provider that takes another
dialect, merge and retry with inputs in any dialect (and an id map), canceled requests, Bedrock's
manifest, and Responses bodies written by `convert`."""

import io
import json

import orjson
import pytest
from click.testing import CliRunner

from batchkit import validate_file
from batchkit.cli import cli
from batchkit.providers import PROVIDERS


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def chat(custom_id, **body):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **body},
    }


def write(path, lines):
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


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
    assert f"batchkit convert FILE -o OUT --provider {provider}" in message
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
    assert "invalid for provider anthropic" in result.output


def test_wrong_dialect_is_the_same_on_the_parallel_path(tmp_path, monkeypatch):
    import batchkit.validate.validator as validator

    monkeypatch.setattr(validator, "PARALLEL_MIN_BYTES", 1)
    source = write(tmp_path / "in.jsonl", [chat(f"id {i}") for i in range(50)] + [chat("id 3")])
    one = validate_file(source, "anthropic", jobs=1).to_dict()
    many = validate_file(source, "anthropic", jobs=3).to_dict()
    assert one == many
    assert [f["code"] for f in one["findings"]] == ["wrong-dialect", "duplicate-custom-id"]


# ---- canceled requests are retried -------------------------------------------------------------------------

DATA = __import__("pathlib").Path(__file__).resolve().parent / "data" / "results"


def test_retry_sends_canceled_requests_again_by_default(tmp_path):
    from batchkit.results import retry

    # q-1 expired, q-2 canceled, q-3 errored (see the fixture)
    done = retry(
        DATA / "dialect-input.jsonl", DATA / "anthropic" / "expired-canceled.jsonl", tmp_path / "r.jsonl"
    )
    assert done.selected["canceled"] == 1
    assert [x["custom_id"] for x in jsonl(tmp_path / "r.jsonl")] == ["q-1", "q-2", "q-3"]


def test_the_cli_retry_default_is_every_failed_status():
    from batchkit.cli.merge import retry as retry_command
    from batchkit.results import FAILED

    only = next(p for p in retry_command.params if p.name == "only")
    assert only.default.split(",") == list(FAILED)
    assert "canceled" in FAILED


def test_the_digest_hints_at_retry_for_canceled_requests():
    from batchkit.results import digest

    [entry] = digest([("q-2", "canceled", "batch_canceled", "the batch was canceled", None)])
    assert "batchkit retry" in entry.hint and "canceled" in entry.hint
