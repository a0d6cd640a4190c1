"""`validate --skip-non-requests` (the pre-commit hook's mode): a file whose first line is a result line of
any provider, or a fine-tuning example, is passed over and named; every other file — a batch file of any
dialect, a broken one, one that is not JSON — is validated as always."""

import gzip
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from batchkit.cli import cli
from batchkit.validate import FINE_TUNING, REQUESTS, RESULTS, file_kind

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DATA = ROOT / "tests" / "data" / "results"
SAMPLES = ROOT / "samples"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize(
    "name",
    [
        "openai/output.jsonl",
        "openai/errors.jsonl",
        "anthropic/results.jsonl",
        "bedrock/results.jsonl",
        "gemini/results.jsonl",
        "vertex/results.jsonl",
        "custom-body/mistral.jsonl",
        "vllm/results.jsonl",
    ],
)
def test_result_files_of_every_provider_are_results(name):
    assert file_kind(RESULTS_DATA / name) == RESULTS


@pytest.mark.parametrize(
    "line",
    [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"prompt": "Q:", "completion": " A"},
        {"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []},
    ],
)
def test_fine_tuning_examples_are_not_batch_files(tmp_path, line):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert file_kind(path) == FINE_TUNING


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json\n",
        b'{"custom_id": "a"}\n',  # a broken request: validation must see it
        b'{"custom_id": "a", "body": {"messages": []}}\n',  # custom-body request
        b'{"custom_id": "a", "params": {"model": "claude"}}\n',  # Anthropic request
        b'{"key": "a", "request": {"contents": []}}\n',  # Gemini request
        b'{"recordId": "a", "modelInput": {}}\n',  # Bedrock request
        b'{"request": {"contents": []}}\n',  # Vertex request
        b'{"custom_id": "a", "url": "/v1/chat/completions", "body": {"messages": []}, "error": 1}\n',
    ],
)
def test_requests_and_anything_unrecognised_are_validated(tmp_path, content):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(content)
    assert file_kind(path) == REQUESTS


def test_the_first_content_line_decides_past_a_bom_blank_lines_and_gzip(tmp_path):
    line = json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {}}, "error": None})
    path = tmp_path / "out.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf\n\n" + line.encode() + b"\n"))
    assert file_kind(path) == RESULTS


def test_skip_non_requests_names_what_it_passes_over_and_validates_the_rest(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n")
    output = RESULTS_DATA / "openai" / "output.jsonl"
    broken = SAMPLES / "kluster-curl-example.jsonl"

    result = run("validate", "--skip-non-requests", output, train, SAMPLES / "clean-chat.jsonl")
    assert result.exit_code == 0, result.output
    assert f"{output}: skipped: a results file" in result.output
    assert f"{train}: skipped: not a batch file (fine-tuning data)" in result.output
    assert "clean-chat.jsonl: " in result.output and "valid" in result.output

    failed = run("validate", "--skip-non-requests", output, broken)
    assert failed.exit_code == 1
    assert "duplicate-custom-id" in failed.output


def test_without_the_option_a_results_file_is_validated_and_fails():
    assert run("validate", RESULTS_DATA / "openai" / "output.jsonl").exit_code == 1


def test_json_output_stays_json_when_files_are_skipped():
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            "--skip-non-requests",
            "--format",
            "json",
            str(RESULTS_DATA / "openai" / "output.jsonl"),
        ],
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "skipped: a results file" in result.stderr


def test_the_pre_commit_hook_skips_results_and_training_data():
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    # in the entry: a user's `args:` (e.g. --provider openai) replace the hook's args, not its entry
    assert hook["entry"].split() == ["batchkit", "validate", "--skip-non-requests"]
    assert "args" not in hook
