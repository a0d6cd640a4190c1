"""The wire client against a kluster-style server (string timestamps, bare model arrays, extra list fields),
provider errors as one line, and the API key kept out of everything batchkit prints or writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from submitsupport import cli_env, invoke, kluster_style, run_cli, write_requests

from batchkit.errors import UsageError
from batchkit.lenient import as_int, timestamp
from batchkit.providers import PROVIDERS
from batchkit.remote import resolve_target
from batchkit.remote.apis.openai_files import parse_batch, parse_model

KEY = "sk-test-Zq7XKEYxyzzy-do-not-print-4417"


@pytest.fixture
def kluster():
    with kluster_style(KEY) as server:
        yield server


def kluster_cli(server, *args, key: str = KEY, **env):
    return invoke(*args, "--provider", "kluster", "--base-url", server.base_url, KLUSTER_API_KEY=key, **env)


# --- normalising what providers send ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (1733832777, 1733832777),
        ("1733832777", 1733832777),
        (1733832777.9, 1733832777),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-12-10T12:12:57+00:00", 1733832777),
        (None, None),
        ("not a time", None),
        (True, None),
    ],
)
def test_timestamps_in_every_shape_become_epoch_seconds(value, expected):
    assert timestamp(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (42, 42),
        ("42", 42),
        (" 42 ", 42),
        ("42.0", 42),
        (42.0, 42),
        (42.5, None),
        ("4x", None),
        (True, None),
        (None, None),
    ],
)
def test_counts_in_every_shape_become_integers(value, expected):
    assert as_int(value) == expected


def test_kluster_batch_with_string_timestamps_and_counts_parses():
    batch = parse_batch({
        "id": "b1", "object": "batch", "status": "failed", "created_at": "1733832777", "failed_at": "1733832800",
        "in_progress_at": None, "request_counts": {"total": "3", "completed": "1", "failed": "2"},
        "errors": {"object": "list", "data": [{"code": "invalid_url", "message": "bad url", "line": "2",
                                               "param": "url"}]},
        "metadata": None, "extra_vendor_field": {"x": 1},
    })  # fmt: skip
    assert batch.times == {"created_at": 1733832777, "failed_at": 1733832800}
    assert (batch.total, batch.completed, batch.failed) == (3, 1, 2)
    assert batch.terminal
    assert str(batch.errors[0]) == "line 2: invalid_url (url): bad url"
    assert batch.metadata == {}
    assert parse_model({"id": "m", "created": "1970-01-01T00:00:00Z"}).created == 0


# --- choosing the server and the key ---------------------------------------------------------------------


def test_defaults_come_from_the_provider_rows(monkeypatch):
    kluster = resolve_target()
    assert (kluster.provider.name, kluster.base_url, kluster.key_env) == (
        "kluster",
        "https://api.kluster.ai/v1",
        "KLUSTER_API_KEY",
    )
    openai = resolve_target("openai")
    assert (openai.base_url, openai.key_env) == ("https://api.openai.com/v1", "OPENAI_API_KEY")
    monkeypatch.setenv("BATCHKIT_BASE_URL", "http://127.0.0.1:9/v1/")
    local = resolve_target()
    assert (local.provider.name, local.base_url, local.key_required) == (
        "generic",
        "http://127.0.0.1:9/v1",
        False,
    )
    monkeypatch.delenv("BATCHKIT_BASE_URL")
    with pytest.raises(UsageError, match="provider 'azure' has no known address; pass base_url=URL"):
        resolve_target("azure")


def test_missing_key_is_one_line_naming_the_variable(tmp_path):
    result = invoke("models")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "batchkit: error: no API key: set KLUSTER_API_KEY to your kluster API key "
        "(or name another variable with --api-key-env)"
    ]
    named = invoke("models", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "MY_SERVER_KEY")
    assert named.returncode == 2
    assert (
        named.stderr
        == "batchkit: error: no API key: set MY_SERVER_KEY to the API key for http://127.0.0.1:9/v1\n"
    )


SDKS = ("openai", "anthropic", "mistralai", "google.genai")
NO_KEY_THEN_MODULES = """
import sys
from click.testing import CliRunner
from batchkit.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
print(result.exit_code, result.output.strip())
print(sorted(m for m in sys.modules if m.split(".")[0] in {s.split(".")[0] for s in %r}))
"""


@pytest.mark.parametrize("provider", ["kluster", "anthropic", "mistral", "gemini"])
def test_a_missing_key_is_said_before_any_sdk_is_imported(provider):
    """An SDK's import is most of a remote command's start-up (the Anthropic SDK's about 1.8 s)."""
    env = {k: v for k, v in cli_env().items() if k not in {"GEMINI_API_KEY", "GOOGLE_API_KEY"}}
    env.pop(PROVIDERS[provider].key_env, None)
    out = subprocess.run(
        [sys.executable, "-c", NO_KEY_THEN_MODULES % (SDKS,), "models", "--provider", provider],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0].startswith(f"2 batchkit: error: no API key: set {PROVIDERS[provider].key_env} "), out
    assert out[-1] == "[]", out


# --- a kluster-style server ------------------------------------------------------------------------------


def test_models_from_a_bare_array_with_iso_dates(kluster):
    result = kluster_cli(kluster, "models", "--json")
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)
    assert [m["id"] for m in models][0] == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    assert {m["created"] for m in models} == {0}
    table = kluster_cli(kluster, "models")
    assert "meta-llama/Meta-Llama-3.1-405B-Instruct" in table.stdout and "1970-01-01" in table.stdout


def test_round_trip_against_a_kluster_style_server_never_shows_the_key(kluster, tmp_path):
    batch_file = write_requests(tmp_path / "seed.jsonl", 3)
    outputs = []

    def run(*args):
        result = kluster_cli(kluster, *args)
        outputs.append(result.stdout + result.stderr)
        return result

    submitted = run("submit", batch_file, "--wait", "--interval", "0.2", "--metadata", "team=research")
    assert submitted.returncode == 0, submitted.stderr
    assert "completed (3/3 completed, 0 failed)" in submitted.stdout
    output = tmp_path / "seed.output.jsonl"
    assert [json.loads(line)["custom_id"] for line in output.read_text().splitlines()] == [
        "q-0",
        "q-1",
        "q-2",
    ]

    status = run("status", batch_file, "--json")
    record = json.loads(status.stdout)
    # string timestamps arrive as integers
    assert isinstance(record["times"]["created_at"], int) and isinstance(record["times"]["completed_at"], int)
    assert record["metadata"]["team"] == "research" and len(record["metadata"]["batchkit_sha256"]) == 64

    remote = run("list", "--remote", "--json")
    assert [b["id"] for b in json.loads(remote.stdout)] == [record["id"]]
    assert kluster.hits["POST /v1/files"] == 1 and kluster.hits["POST /v1/batches"] == 1

    # the provider refuses a wrong key: one line, the provider's words, the variable to check
    refused = kluster_cli(kluster, "status", batch_file, key="sk-wrong-key")
    outputs.append(refused.stdout + refused.stderr)
    assert refused.returncode == 2
    assert "answered 401: Invalid API key provided." in refused.stderr
    assert "check that KLUSTER_API_KEY holds a valid key" in refused.stderr
    # --debug shows the traceback (printed by the process itself), which must not carry the key either
    debug = run_cli("--debug", "status", "batch-does-not-exist", "--provider", "kluster", "--base-url",
                    kluster.base_url, KLUSTER_API_KEY=KEY)  # fmt: skip
    outputs.append(debug.stdout + debug.stderr)
    assert debug.returncode != 0 and "Traceback" in debug.stderr

    home = os.environ["BATCHKIT_HOME"]
    written = [p for p in (tmp_path.rglob("*")) if p.is_file()] + [p for p in os.scandir(home) if p.is_file()]
    for text in outputs:
        assert KEY not in text
    for path in written:
        with open(path, "rb") as f:
            assert KEY.encode() not in f.read(), path


def test_a_download_shorter_than_the_counts_says_so(tmp_path):
    with kluster_style(KEY, short_output=1) as server:
        batch_file = write_requests(tmp_path / "short.jsonl", 3)
        result = kluster_cli(server, "submit", batch_file, "--wait", "--interval", "0.2")
    assert result.returncode == 0, result.stderr
    assert "the output file has 2 line(s) but the provider counts 3 completed request(s)" in result.stderr
    assert len((tmp_path / "short.output.jsonl").read_text().splitlines()) == 2


def test_list_remote_follows_pages(kluster, tmp_path):
    for i in range(3):
        batch_file = write_requests(tmp_path / f"b{i}.jsonl", 1, prefix=f"p{i}")
        assert kluster_cli(kluster, "submit", batch_file, "-q").returncode == 0
    listed = kluster_cli(kluster, "list", "--remote", "--limit", "2", "--json")
    assert len(json.loads(listed.stdout)) == 2
    assert kluster.hits["GET /v1/batches"] == 1
    every = json.loads(kluster_cli(kluster, "list", "--remote", "--limit", "50", "--json").stdout)
    assert len(every) == 3 and every[0]["id"] > every[-1]["id"]


# --- errors users will meet ------------------------------------------------------------------------------

FAST_RETRY = {"retry-after-ms": "10"}  # the SDK honours it, so its retries take milliseconds


@pytest.mark.parametrize(
    "route, status, message, times, args, expected",
    [
        ("GET /v1/batches/{id}", 404, "Batch batch-x not found", 1, ("status", "batch-x"),
         "answered 404: Batch batch-x not found; check the id"),
        ("POST /v1/batches/{id}/cancel", 409, "Cannot cancel a batch with status 'completed'.", 3,
         ("cancel", "{file}"), "answered 409: Cannot cancel a batch with status 'completed'.; the batch is not"),
        ("POST /v1/files", 413, "File exceeds the 100 MB limit", 1, ("submit", "{file}"),
         "answered 413: File exceeds the 100 MB limit; the file is larger than the provider accepts; split it"),
        ("GET /v1/models", 429, "Rate limit reached", 3, ("models",),
         "answered 429: Rate limit reached; rate limited or over quota; wait a while"),
        ("GET /v1/models", 503, "upstream overloaded", 3, ("models",),
         "answered 503: upstream overloaded; the provider had a problem; try again later"),
        ("POST /v1/batches", 400, "completion_window must be 24h", 1, ("submit", "{file}"),
         "answered 400: completion_window must be 24h; the provider rejected the request"),
    ],
)  # fmt: skip
def test_provider_errors_are_one_clear_line(kluster, tmp_path, route, status, message, times, args, expected):
    kluster.fail(route, status, message, times=times, headers=FAST_RETRY)
    batch_file = write_requests(tmp_path / "e.jsonl", 2)
    if args[0] == "cancel":  # a batch still running, which ends before the cancel reaches it
        assert kluster_cli(kluster, "submit", batch_file, "-q").returncode == 0
    result = kluster_cli(kluster, *[str(batch_file) if a == "{file}" else a for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchkit: error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert kluster.hits[route] == times  # retried exactly where the SDK retries (429, 409, 5xx)


def test_create_refused_leaves_the_upload_for_the_next_run(kluster, tmp_path):
    kluster.fail("POST /v1/batches", 400, "try later", headers=FAST_RETRY)
    batch_file = write_requests(tmp_path / "again.jsonl", 2)
    assert kluster_cli(kluster, "submit", batch_file).returncode == 2
    second = kluster_cli(kluster, "submit", batch_file)
    assert second.returncode == 0, second.stderr
    assert "reusing file file-1, uploaded by an earlier run" in second.stderr
    assert kluster.hits["POST /v1/files"] == 1 and kluster.hits["POST /v1/batches"] == 2
    assert kluster.hits["GET /v1/batches"] == 0  # the refusal was an answer: nothing to look for


def test_unreachable_server_is_one_line_with_exit_2(tmp_path):
    from serverutil import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    result = invoke("models", "--base-url", url)
    assert result.returncode == 2
    assert result.stderr.startswith(f"batchkit: error: listing models: cannot reach {url} (")
    assert "check the address and the network" in result.stderr and "Traceback" not in result.stderr


# --- Azure OpenAI ----------------------------------------------------------------------------------------


def test_azure_needs_its_resource_address_and_key():
    with pytest.raises(UsageError, match="base_url=URL"):
        resolve_target("azure")
    target = resolve_target("azure", "https://example-resource.openai.azure.com/")
    assert target.key_env == "AZURE_OPENAI_API_KEY" and target.key_required
    assert target.base_url == "https://example-resource.openai.azure.com"


def test_round_trip_against_an_azure_style_server(tmp_path):
    from submitsupport import azure_style

    batch_file = tmp_path / "azure.jsonl"
    write_requests(batch_file, 3, models=("gpt-4o-mini-deployment",))
    batch_file.write_text(batch_file.read_text().replace('"/v1/chat/completions"', '"/chat/completions"'))
    with azure_style(KEY) as azure:
        missing = invoke("submit", batch_file, "--provider", "azure", "--base-url", azure.base_url)
        assert missing.returncode == 2 and "AZURE_OPENAI_API_KEY" in missing.stderr
        result = invoke(
            "submit",
            batch_file,
            "--provider",
            "azure",
            "--base-url",
            azure.base_url,
            "--wait",
            "--interval",
            "0.2",
            AZURE_OPENAI_API_KEY=KEY,
        )
        assert result.returncode == 0, result.stderr
        assert KEY not in result.stdout + result.stderr
        assert azure.hits["api-version 2024-10-21"] > 0 and azure.hits["POST /v1/batches"] == 1
        assert [b["endpoint"] for b in azure.batches.values()] == ["/chat/completions"]
    lines = (tmp_path / "azure.output.jsonl").read_text().splitlines()
    assert [json.loads(line)["custom_id"] for line in lines] == ["q-0", "q-1", "q-2"]


def test_create_sends_one_idempotency_key_per_submission(kluster, tmp_path):
    kluster.fail("POST /v1/batches", 500, "the answer was lost")  # unknown outcome: look, then ask again
    batch_file = write_requests(tmp_path / "key.jsonl", 2)
    result = kluster_cli(kluster, "submit", batch_file)
    assert result.returncode == 0, result.stderr
    assert "no batch was found, so asking once more" in result.stderr
    (lost, lost_header), (answered, answered_header) = kluster.creates
    key = lost["idempotency_key"]
    assert key.startswith("batchkit-") and lost_header == key
    assert answered["idempotency_key"] == key and answered_header == key  # the same request, asked again
    assert kluster_cli(kluster, "submit", batch_file, "--force").returncode == 0
    assert kluster.creates[-1][0]["idempotency_key"] not in (None, key)  # a new submission, a new key


def test_a_server_that_refuses_the_idempotency_field_is_asked_without_it(kluster, tmp_path):
    kluster.fail("POST /v1/batches", 400, "Unrecognized request argument supplied: idempotency_key")
    batch_file = write_requests(tmp_path / "strict.jsonl", 2)
    result = kluster_cli(kluster, "submit", batch_file)
    assert result.returncode == 0, result.stderr
    (refused, header), (accepted, accepted_header) = kluster.creates
    assert "idempotency_key" in refused and "idempotency_key" not in accepted
    assert header == accepted_header and header.startswith("batchkit-")
    assert len(kluster.batches) == 1
