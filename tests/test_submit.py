"""Every submit command's happy path and its failures, as real CLI processes against `batchkit serve`."""

from __future__ import annotations

import json
import signal
import time

import openai
import pytest
from serverutil import running_server
from submitsupport import ROOT, SEED_MODELS, run_cli, run_in_terminal, start_cli, write_requests

SERVED = [arg for model in SEED_MODELS for arg in ("--model", model)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", *SERVED, data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """One request at a time, each taking a while: batches stay in progress long enough to cancel."""
    with running_server(
        "--backend", "echo", *SERVED, "--latency", "1", "--concurrency", "1",
        data_dir=tmp_path_factory.mktemp("slow"),
    ) as running:  # fmt: skip
        yield running


def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused")


def bk(server, *args):
    return run_cli(*args, "--base-url", server.base_url)


def remote_batches(server, path) -> list:
    """The server's batches whose metadata names this file."""
    return [
        b for b in sdk(server).batches.list(limit=100) if (b.metadata or {}).get("batchkit_file") == path.name
    ]


def test_models_lists_what_the_server_serves(server):
    result = bk(server, "models", "--json")
    assert result.returncode == 0, result.stderr
    assert [m["id"] for m in json.loads(result.stdout)] == list(SEED_MODELS)
    assert SEED_MODELS[2] in bk(server, "models").stdout


def test_submit_watch_status_download_list(server, tmp_path):
    batch_file = write_requests(tmp_path / "questions.jsonl", 3)
    submitted = bk(server, "submit", batch_file, "--metadata", "run=first")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith(f"{batch_file}: submitted as batch_")
    batch_id = submitted.stdout.split(" submitted as ")[1].split()[0]
    assert f"follow with: batchkit watch {batch_file}" in submitted.stderr

    watched = run_cli("watch", batch_file, "--interval", "0.3")  # the ledger knows the server
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == f"{batch_id}: completed (3/3 completed, 0 failed)\n"

    status = json.loads(run_cli("status", batch_id, "--json").stdout)
    assert status["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert status["file"] == str(batch_file) and status["metadata"]["run"] == "first"
    text = run_cli("status", batch_file).stdout
    assert (
        f"{batch_id}  completed" in text and "3 total, 3 completed, 0 failed" in text and "completed " in text
    )

    downloaded = run_cli("download", batch_file)
    assert downloaded.returncode == 0, downloaded.stderr
    output = tmp_path / "questions.output.jsonl"
    assert downloaded.stdout == f"{output}: output, 3 line(s)\n"
    assert sorted(json.loads(line)["custom_id"] for line in output.read_text().splitlines()) == [
        "q-0",
        "q-1",
        "q-2",
    ]
    assert not (tmp_path / "questions.errors.jsonl").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left

    # already downloaded: nothing happens unless --force or another folder
    output.write_text("kept\n")
    again = run_cli("download", batch_file)
    assert again.stdout == f"{output}: already downloaded (--force downloads again)\n"
    assert output.read_text() == "kept\n"
    assert run_cli("download", batch_file, "--force").returncode == 0
    assert len(output.read_text().splitlines()) == 3
    elsewhere = run_cli("download", batch_id, "-o", tmp_path / "results")
    assert elsewhere.stdout == f"{tmp_path / 'results' / 'questions.output.jsonl'}: output, 3 line(s)\n"

    local = json.loads(run_cli("list", "--json").stdout)
    assert [(e["batch_id"], e["status"], e["path"]) for e in local] == [
        (batch_id, "completed", str(batch_file))
    ]
    assert batch_id in run_cli("list").stdout
    remote = json.loads(bk(server, "list", "--remote", "--json").stdout)
    assert batch_id in [b["id"] for b in remote]


def test_an_invalid_file_is_refused_with_its_report(server, tmp_path):
    batch_file = tmp_path / "mistakes.jsonl"
    batch_file.write_bytes((ROOT / "samples" / "common-mistakes.jsonl").read_bytes())
    uploads_before = len(list(sdk(server).files.list()))
    result = bk(server, "submit", batch_file, "--provider", "kluster")
    assert result.returncode == 1
    assert f"{batch_file}:2: error[duplicate-custom-id]" in result.stdout
    assert result.stderr.startswith(f"batchkit: error: {batch_file}: not submitted: ")
    assert len(list(sdk(server).files.list())) == uploads_before
    assert json.loads(run_cli("list", "--json").stdout) == []


def test_one_invalid_shard_stops_the_whole_set_before_any_upload(server, tmp_path):
    good = write_requests(tmp_path / "set-00001.jsonl", 2, prefix="good")
    bad = tmp_path / "set-00002.jsonl"
    bad.write_bytes((ROOT / "samples" / "common-mistakes.jsonl").read_bytes())
    uploads_before = len(list(sdk(server).files.list()))
    result = bk(server, "submit", good, bad, good, "--provider", "kluster")
    assert result.returncode == 1 and "not submitted" in result.stderr
    assert len(list(sdk(server).files.list())) == uploads_before
    twice = bk(server, "submit", good, good)  # the same file twice in one command: one batch
    assert twice.returncode == 0 and "already submitted as" in twice.stdout.splitlines()[1]
    assert len(remote_batches(server, good)) == 1


def test_submitting_again_prints_the_batch_and_force_submits_anew(server, tmp_path):
    batch_file = write_requests(tmp_path / "twice.jsonl", 2, prefix="twice")
    first = bk(server, "submit", batch_file)
    batch_id = first.stdout.split(" submitted as ")[1].split()[0]
    second = bk(server, "submit", batch_file)
    assert second.returncode == 0
    assert second.stdout.startswith(f"{batch_file}: already submitted as {batch_id} (")
    assert "--force submits it again" in second.stdout
    assert len(remote_batches(server, batch_file)) == 1
    forced = bk(server, "submit", batch_file, "--force")
    assert forced.returncode == 0 and batch_id not in forced.stdout
    assert len(remote_batches(server, batch_file)) == 2


def test_shards_submit_together_one_batch_each(server, tmp_path):
    shards = [write_requests(tmp_path / f"big-{n:05}.jsonl", 2, prefix=f"s{n}") for n in (1, 2)]
    result = bk(server, "submit", *shards, "--wait", "--interval", "0.3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("submitted as batch_") == 2
    for shard in shards:
        assert len(remote_batches(server, shard)) == 1
        assert len(shard.with_name(f"{shard.stem}.output.jsonl").read_text().splitlines()) == 2


def test_a_failed_batch_exits_1_with_the_providers_errors(server, tmp_path):
    batch_file = write_requests(tmp_path / "unserved.jsonl", 2, models=("no-such-model",))
    result = bk(server, "submit", batch_file, "--wait", "--interval", "0.3")
    assert result.returncode == 1
    assert ": failed (" in result.stdout
    assert (
        "line 1: model_not_found (body.model): The provided model 'no-such-model' is not supported"
        in result.stderr
    )
    batch_id = result.stdout.split(" submitted as ")[1].split()[0]
    assert result.stderr.rstrip().endswith(f"1 batch(es) did not complete: {batch_id} failed")
    assert run_cli("watch", batch_file).returncode == 1
    nothing = run_cli("download", batch_file)
    assert nothing.returncode == 1 and "it has no results to download" in nothing.stderr


def test_every_request_failed_so_there_is_no_output_file(server, tmp_path):
    batch_file = write_requests(tmp_path / "rejected.jsonl", 2, max_tokens=-1)
    result = bk(server, "submit", batch_file, "--no-validate", "--wait", "--interval", "0.3")
    assert result.returncode == 0, result.stderr
    assert "completed (0/2 completed, 2 failed)" in result.stdout
    assert "no output file (no request succeeded)" in result.stderr
    errors = (tmp_path / "rejected.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["response"]["status_code"] for line in errors] == [400, 400]
    assert not (tmp_path / "rejected.output.jsonl").exists()


def test_cancel_keeps_what_finished(slow_server, tmp_path):
    batch_file = write_requests(tmp_path / "long.jsonl", 30)
    assert bk(slow_server, "submit", batch_file).returncode == 0
    cancelled = run_cli("cancel", batch_file)
    assert cancelled.returncode == 0, cancelled.stderr
    assert ": cancelling (" in cancelled.stdout or ": cancelled (" in cancelled.stdout
    watched = run_cli("watch", batch_file, "--interval", "0.3")
    assert watched.returncode == 1 and ": cancelled (" in watched.stdout
    assert "did not complete" in watched.stderr
    again = run_cli("cancel", batch_file)  # cancelling a cancelled batch is allowed
    assert again.returncode == 0


def test_ctrl_c_stops_watching_without_cancelling(slow_server, tmp_path):
    batch_file = write_requests(tmp_path / "watched.jsonl", 30)
    submitted = bk(slow_server, "submit", batch_file)
    batch_id = submitted.stdout.split(" submitted as ")[1].split()[0]
    watcher = start_cli("watch", batch_file, "--interval", "0.3")
    deadline = time.monotonic() + 30
    while "in_progress" not in (watcher.stderr.readline() or "") and time.monotonic() < deadline:
        pass
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 130
    assert f"stopped watching; the batches keep running. Resume with: batchkit watch {batch_file}" in err
    assert "Traceback" not in err
    assert sdk(slow_server).batches.retrieve(batch_id).status in ("in_progress", "finalizing", "completed")
    run_cli("cancel", batch_id)


def test_usage_mistakes_exit_2(server, tmp_path):
    batch_file = write_requests(tmp_path / "u.jsonl", 1)
    window = bk(server, "submit", batch_file, "--completion-window", "48h")
    assert window.returncode == 2
    assert "completion window '48h' is not offered by generic; choose 24h" in window.stderr
    metadata = bk(server, "submit", batch_file, "--metadata", "novalue")
    assert metadata.returncode == 2 and "metadata 'novalue' is not KEY=VALUE" in metadata.stderr
    unknown = run_cli("status", tmp_path / "never.jsonl")
    assert unknown.returncode == 2 and "no such file" in unknown.stderr
    not_submitted = run_cli("status", batch_file)
    assert not_submitted.returncode == 2
    assert (
        f"{batch_file} has not been submitted; submit it with `batchkit submit {batch_file}`"
        in not_submitted.stderr
    )


def test_progress_bars_only_on_a_terminal(server, tmp_path):
    batch_file = write_requests(tmp_path / "bars.jsonl", 3)
    shown = run_in_terminal(
        "submit", batch_file, "--base-url", server.base_url, "--wait", "--interval", "0.3"
    )
    assert f"upload {batch_file}: 100%" in shown
    assert "3/3 [" in shown and "req/s, completed, 0 failed]" in shown
    assert f"download {tmp_path / 'bars.output.jsonl'}: 100%" in shown
    quiet = run_in_terminal("download", batch_file, "--force", "-q")
    assert "%|" not in quiet and "bars.output.jsonl: output, 3 line(s)" in quiet
    piped = run_cli("download", batch_file, "--force")
    assert "%|" not in piped.stdout + piped.stderr
