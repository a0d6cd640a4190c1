"""The ledger makes submit resumable and never pays twice. Each test interrupts a real `batchkit submit`
process at an exact step — a proxy in front of `batchkit serve` holds or drops one request, and the test
kills the CLI there — then runs the command again (in-process) and checks what the server received. Two
real processes submitting one file at once make one batch."""

from __future__ import annotations

import json

import openai
import pytest
from polling import poll
from serverutil import running_server
from submitsupport import (
    DROP_AFTER,
    HOLD_AFTER,
    HOLD_BEFORE,
    PAUSE,
    SEED_MODELS,
    Proxy,
    invoke,
    start_cli,
    write_requests,
)

pytestmark = pytest.mark.slow

SERVED = [arg for model in SEED_MODELS for arg in ("--model", model)]
CREATE = "POST /v1/batches"
UPLOAD = "POST /v1/files"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", *SERVED, data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture
def proxy(server):
    with Proxy(server.base_url) as running:
        yield running


def server_batches(server, path) -> list:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    return [b for b in client.batches.list(limit=100) if (b.metadata or {}).get("batchkit_file") == path.name]


def submit_until(proxy, rule: str, route: str, *args):
    """Start `batchkit submit` through the proxy, let the rule act on `route`, then kill the CLI (SIGKILL)."""
    proxy.rules[route] = rule
    process = start_cli("submit", *args, "--base-url", proxy.base_url)
    assert proxy.triggered.wait(60), process.communicate(timeout=5)
    process.kill()
    process.wait(30)
    proxy.rules.clear()
    return process


def ledger_row(path) -> dict:
    rows = [row for row in json.loads(invoke("list", "--json").stdout) if row["path"] == str(path)]
    return rows[0]


def test_killed_after_the_upload_resumes_with_the_uploaded_file(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "resume.jsonl", 3)
    submit_until(proxy, HOLD_BEFORE, CREATE, batch_file)  # the create never reached the server
    row = ledger_row(batch_file)
    assert row["step"] == "creating" and row["file_id"] and row["batch_id"] is None
    assert server_batches(server, batch_file) == []

    again = invoke("submit", batch_file, "--base-url", proxy.base_url)
    assert again.returncode == 0, again.stderr
    assert f"reusing file {row['file_id']}, uploaded by an earlier run" in again.stderr
    assert proxy.hits[UPLOAD] == 1  # not uploaded twice
    assert proxy.hits["GET /v1/files/{id}"] == 1  # checked that it still exists
    assert proxy.hits["GET /v1/batches"] >= 1  # looked for a batch before creating one
    (batch,) = server_batches(server, batch_file)
    assert batch.input_file_id == row["file_id"]
    assert ledger_row(batch_file)["batch_id"] == batch.id


def test_an_upload_that_is_gone_is_uploaded_again(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "gone.jsonl", 2)
    submit_until(proxy, HOLD_BEFORE, CREATE, batch_file)
    file_id = ledger_row(batch_file)["file_id"]
    openai.OpenAI(base_url=server.base_url, api_key="unused").files.delete(file_id)

    again = invoke("submit", batch_file, "--base-url", proxy.base_url)
    assert again.returncode == 0, again.stderr
    assert f"file {file_id}, uploaded by an earlier run, is gone; uploading again" in again.stderr
    assert proxy.hits[UPLOAD] == 2
    (batch,) = server_batches(server, batch_file)
    assert batch.input_file_id != file_id


def test_killed_during_create_finds_the_batch_instead_of_creating_another(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "unknown.jsonl", 3)
    submit_until(proxy, HOLD_AFTER, CREATE, batch_file)  # created on the server; the CLI never heard
    (created,) = server_batches(server, batch_file)
    assert ledger_row(batch_file)["batch_id"] is None

    again = invoke("submit", batch_file, "--base-url", proxy.base_url, "--wait", "--interval", "0.3")
    assert again.returncode == 0, again.stderr
    assert f"found batch {created.id}, created by an interrupted run; not creating another" in again.stderr
    assert proxy.hits[CREATE] == 1 and proxy.hits[UPLOAD] == 1
    assert [b.id for b in server_batches(server, batch_file)] == [created.id]
    assert len((tmp_path / "unknown.output.jsonl").read_text().splitlines()) == 3


def test_a_lost_create_answer_is_looked_for_in_the_same_run(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "dropped.jsonl", 2)
    proxy.rules[CREATE] = DROP_AFTER  # the server creates the batch; the connection closes unanswered
    result = invoke("submit", batch_file, "--base-url", proxy.base_url)
    assert result.returncode == 0, result.stderr
    (batch,) = server_batches(server, batch_file)
    assert (
        f"the answer to create was lost; found batch {batch.id} carrying this file's sha256" in result.stderr
    )
    assert proxy.hits[CREATE] == 1  # the SDK did not retry it blindly
    assert result.stdout.startswith(f"{batch_file}: submitted as {batch.id} (")


def test_killed_during_upload_uploads_again_and_submits_once(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "midupload.jsonl", 2)
    submit_until(proxy, HOLD_BEFORE, UPLOAD, batch_file)
    assert ledger_row(batch_file)["step"] == "uploading"
    again = invoke("submit", batch_file, "--base-url", proxy.base_url)
    assert again.returncode == 0, again.stderr
    assert len(server_batches(server, batch_file)) == 1


def test_killed_during_download_leaves_no_partial_file(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "dl.jsonl", 3)
    assert (
        invoke("submit", batch_file, "--base-url", proxy.base_url, "--wait", "--interval", "0.3").returncode
        == 0
    )
    output = tmp_path / "dl.output.jsonl"
    output.unlink()
    proxy.rules["GET /v1/files/{id}/content"] = HOLD_BEFORE
    process = start_cli("download", batch_file, "--force", "--base-url", proxy.base_url)
    assert proxy.triggered.wait(60)
    process.kill()
    process.wait(30)
    proxy.rules.clear()
    # the download writes beside the target and renames when whole: the name never holds a partial file
    assert not output.exists()
    result = invoke("download", batch_file, "--base-url", proxy.base_url)
    assert result.returncode == 0 and len(output.read_text().splitlines()) == 3


def test_two_concurrent_submits_of_one_file_create_one_batch(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "race.jsonl", 2)
    proxy.rules[UPLOAD] = PAUSE
    first = start_cli("submit", batch_file, "--base-url", proxy.base_url)
    assert proxy.triggered.wait(60)  # the first is uploading, paused at the proxy
    second_err = tmp_path / "second.err"
    with open(second_err, "w") as err:
        second = start_cli("submit", batch_file, "--base-url", proxy.base_url, stderr=err)
        # the second must wait for the first instead of uploading the same file again
        poll(
            lambda: "is submitting this content" in second_err.read_text() or proxy.hits[UPLOAD] > 1,
            timeout=60,
            what="the second submit to wait or to upload",
        )
        assert proxy.hits[UPLOAD] == 1, "a second upload of the same file was started"
        proxy.release()
        first_out, first_err = first.communicate(timeout=60)
        second_out, _ = second.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err.read_text()
    (batch,) = server_batches(server, batch_file)
    assert first_out.startswith(f"{batch_file}: submitted as {batch.id} (")
    assert second_out.startswith(f"{batch_file}: already submitted as {batch.id} (")
    assert proxy.hits[UPLOAD] == 1 and proxy.hits[CREATE] == 1


def test_a_killed_holder_frees_the_file_for_the_next_submit(server, proxy, tmp_path):
    batch_file = write_requests(tmp_path / "freed.jsonl", 2)
    submit_until(proxy, HOLD_BEFORE, UPLOAD, batch_file)  # killed while holding its turn
    again = invoke("submit", batch_file, "--base-url", proxy.base_url)
    assert again.returncode == 0, again.stderr
    assert "is submitting this content" not in again.stderr
    assert len(server_batches(server, batch_file)) == 1
