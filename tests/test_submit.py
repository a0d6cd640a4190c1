"""Every submit command's happy path and its failures against a real `batchkit serve`: in-process through
click's CliRunner, and as real processes where a signal or a terminal is the point."""

from __future__ import annotations

import json
import shutil
import signal

import openai
import pytest
from polling import poll
from serverutil import free_port, running_server
from submitsupport import ROOT, SEED_MODELS, invoke, run_cli, run_in_terminal, start_cli, write_requests

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
    return invoke(*args, "--base-url", server.base_url)


def batch_id_of(result) -> str:
    return result.stdout.split(" submitted as ")[1].split()[0]


def remote_batches(server, path) -> list:
    """The server's batches whose metadata names this file."""
    return [
        b for b in sdk(server).batches.list(limit=100) if (b.metadata or {}).get("batchkit_file") == path.name
    ]


def test_models_lists_what_the_server_serves(server):
    result = bk(server, "models", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [m["id"] for m in json.loads(result.stdout)] == list(SEED_MODELS)
    assert bk(server, "models", "--json").stdout == result.stdout  # the older spelling still works
    assert SEED_MODELS[2] in bk(server, "models").stdout


def test_submit_watch_status_download_list(server, tmp_path):
    batch_file = write_requests(tmp_path / "questions.jsonl", 3)
    submitted = bk(server, "submit", batch_file, "--metadata", "run=first")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith(f"{batch_file}: submitted as batch_")
    batch_id = batch_id_of(submitted)
    assert f"follow with: batchkit watch {batch_file}" in submitted.stderr

    watched = invoke("watch", batch_file, "--interval", "0.3")  # the ledger knows the server
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == f"{batch_id}: completed (3/3 completed, 0 failed)\n"

    status = json.loads(invoke("status", batch_id, "--format", "json").stdout)
    assert status["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert status["file"] == str(batch_file) and status["metadata"]["run"] == "first"
    text = invoke("status", batch_file).stdout
    assert (
        f"{batch_id}  completed" in text and "3 total, 3 completed, 0 failed" in text and "completed " in text
    )

    downloaded = invoke("download", batch_file)
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
    again = invoke("download", batch_file)
    assert again.stdout == f"{output}: already downloaded (--force downloads again)\n"
    assert output.read_text() == "kept\n"
    assert invoke("download", batch_file, "--force").returncode == 0
    assert len(output.read_text().splitlines()) == 3
    elsewhere = invoke("download", batch_id, "-o", tmp_path / "results")
    assert elsewhere.stdout == f"{tmp_path / 'results' / 'questions.output.jsonl'}: output, 3 line(s)\n"

    local = json.loads(invoke("list", "--format", "json").stdout)
    assert [(e["batch_id"], e["status"], e["path"], e["names"]) for e in local] == [
        (batch_id, "completed", str(batch_file), [str(batch_file)])
    ]
    assert invoke("list", "--json").stdout == invoke("list", "--format", "json").stdout
    assert batch_id in invoke("list").stdout
    remote = json.loads(bk(server, "list", "--remote", "--format", "json").stdout)
    assert batch_id in [b["id"] for b in remote]


def test_a_copy_is_the_same_batch_under_another_name_with_its_own_results(server, tmp_path):
    original = write_requests(tmp_path / "a.jsonl", 2, prefix="copy")
    copy = tmp_path / "elsewhere" / "b.jsonl"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    first = bk(server, "submit", original, "--wait", "--interval", "0.3")
    assert first.returncode == 0, first.stderr
    batch_id = batch_id_of(first)

    again = bk(server, "submit", copy, "--wait", "--interval", "0.3")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(
        f"{copy}: already submitted as {batch_id} (completed) under the name {original}; "
        f"recorded {copy} as another name for it"
    )
    assert len(remote_batches(server, original)) == 1
    own = copy.parent / "b.output.jsonl"  # not skipped because a.output.jsonl exists
    assert f"{own}: output, 2 line(s)" in again.stdout and len(own.read_text().splitlines()) == 2

    status = json.loads(invoke("status", copy, "--format", "json").stdout)
    assert (status["id"], status["file"]) == (batch_id, str(copy))
    assert invoke("download", copy).stdout == f"{own}: already downloaded (--force downloads again)\n"
    (row,) = json.loads(invoke("list", "--format", "json").stdout)
    assert row["names"] == [str(original), str(copy)]
    assert f"{original} (+1 other name(s))" in invoke("list").stdout

    elsewhere = invoke("status", copy, "--base-url", "http://127.0.0.1:9/v1")  # unchanged, at another address
    assert elsewhere.returncode == 2 and (
        f"{copy} has not been submitted to http://127.0.0.1:9/v1: it was submitted to {server.base_url} as "
        f"{batch_id}" in elsewhere.stderr
    ), elsewhere.stderr
    original.write_text(original.read_text() + original.read_text().replace("copy-", "more-"))
    changed = invoke("status", original)
    assert changed.returncode == 2
    assert f"{original} has changed since it was submitted as {batch_id}" in changed.stderr


def test_an_invalid_file_is_refused_with_its_report(server, tmp_path):
    batch_file = tmp_path / "mistakes.jsonl"
    batch_file.write_bytes((ROOT / "samples" / "common-mistakes.jsonl").read_bytes())
    uploads_before = len(list(sdk(server).files.list()))
    result = bk(server, "submit", batch_file, "--provider", "kluster")
    assert result.returncode == 1
    assert f"{batch_file}:2: error[duplicate-custom-id]" in result.stdout
    assert result.stderr.startswith(f"batchkit: error: {batch_file}: not submitted: ")
    assert len(list(sdk(server).files.list())) == uploads_before
    assert json.loads(invoke("list", "--format", "json").stdout) == []


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


def test_submitting_again_prints_the_batch_and_force_or_forget_submits_anew(server, tmp_path):
    batch_file = write_requests(tmp_path / "twice.jsonl", 2, prefix="twice")
    batch_id = batch_id_of(bk(server, "submit", batch_file))
    second = bk(server, "submit", batch_file)
    assert second.returncode == 0
    assert second.stdout.startswith(f"{batch_file}: already submitted as {batch_id} (")
    assert "--force submits it again" in second.stdout
    assert len(remote_batches(server, batch_file)) == 1
    forced = bk(server, "submit", batch_file, "--force")
    assert forced.returncode == 0 and batch_id not in forced.stdout
    assert len(remote_batches(server, batch_file)) == 2

    forced_id = batch_id_of(forced)
    forgot = invoke("forget", forced_id)
    assert forgot.returncode == 0
    assert forgot.stdout == f"forgot {forced_id} of {batch_file} to {server.base_url}\n"
    assert invoke("status", batch_file).stdout.startswith(f"{batch_id}  ")  # the older one remains
    assert invoke("forget", batch_file).stdout == f"forgot {batch_id} of {batch_file} to {server.base_url}\n"
    assert "has not been submitted" in invoke("status", batch_file).stderr
    anew = bk(server, "submit", batch_file)  # forgotten: submitted again without --force
    assert anew.returncode == 0 and " submitted as " in anew.stdout
    assert len(remote_batches(server, batch_file)) == 3
    unknown = invoke("forget", "batch_nothing")
    assert unknown.returncode == 2 and "the ledger has no submission of it" in unknown.stderr
    anew_id = batch_id_of(anew)
    with batch_file.open("a") as f:  # edited since: its submissions are found by its name
        f.write(batch_file.read_text().splitlines()[0].replace("twice", "later") + "\n")
    edited = invoke("forget", batch_file)
    assert edited.stdout == f"forgot {anew_id} of {batch_file} to {server.base_url}\n", edited.stderr


def test_failed_uploads_say_why_and_are_pruned(server, tmp_path):
    batch_file = write_requests(tmp_path / "nowhere.jsonl", 1)
    no_v1 = invoke("submit", batch_file, "--base-url", server.root_url)
    assert no_v1.returncode == 2
    assert no_v1.stderr.endswith(
        f"the server answered 404 for /files; did you mean --base-url {server.root_url}/v1?\n"
    )
    assert f"the server at {server.root_url} answered 404" in no_v1.stderr and "generic" not in no_v1.stderr
    closed = f"http://127.0.0.1:{free_port()}/v1"
    wrong_port = invoke("submit", batch_file, "--base-url", closed)
    assert wrong_port.returncode == 2 and f"cannot reach {closed}" in wrong_port.stderr

    rows = json.loads(invoke("list", "--format", "json").stdout)
    assert [(r["step"], r["base_url"]) for r in rows] == [
        ("upload failed", closed),
        ("upload failed", server.root_url),
    ]
    assert "cannot reach" in rows[0]["error"] and "answered 404" in rows[1]["error"]
    listed = invoke("list").stdout
    assert "(upload failed)" in listed
    # the whole cause, under the table, not cut inside a column
    assert f"the server answered 404 for /files; did you mean --base-url {server.root_url}/v1?" in listed
    stopped = invoke("status", batch_file, "--base-url", closed)
    assert stopped.returncode == 2
    assert (
        f"{batch_file} has no batch yet: its submission stopped at step 'upload failed' (" in stopped.stderr
    )

    pruned = invoke("list", "--prune", "--format", "json")
    assert pruned.returncode == 0 and json.loads(pruned.stdout) == []
    assert "forgot 2 submission(s) that never became a batch" in pruned.stderr


def test_a_fixed_file_needs_no_force_and_the_same_failed_file_says_why(server, tmp_path):
    batch_file = write_requests(tmp_path / "unserved.jsonl", 2, models=("no-such-model",))
    failed = bk(server, "submit", batch_file, "--wait", "--interval", "0.3")
    assert failed.returncode == 1
    assert ": failed (" in failed.stdout
    assert (
        "line 1: model_not_found (body.model): The provided model 'no-such-model' is not supported"
        in failed.stderr
    )
    batch_id = batch_id_of(failed)
    assert failed.stderr.rstrip().endswith(f"1 batch(es) did not complete: {batch_id} failed")
    assert invoke("watch", batch_file).returncode == 1
    nothing = invoke("download", batch_file)
    assert nothing.returncode == 1 and "it has no results to download" in nothing.stderr

    same = bk(server, "submit", batch_file)
    assert same.returncode == 1
    assert same.stdout.startswith(
        f"{batch_file}: already submitted as {batch_id} (failed); it failed on the server because of the "
        "file's lines (line 1: model_not_found (body.model): "
    )
    assert "fix the file and submit it again" in same.stdout
    write_requests(batch_file, 2)  # fixed: every model is served
    fixed = bk(server, "submit", batch_file, "--wait", "--interval", "0.3")
    assert fixed.returncode == 0, fixed.stderr
    assert batch_id_of(fixed) != batch_id and "completed (2/2 completed, 0 failed)" in fixed.stdout


def test_every_request_failed_so_there_is_no_output_file(server, tmp_path):
    batch_file = write_requests(tmp_path / "rejected.jsonl", 2, max_tokens=-1)
    result = bk(server, "submit", batch_file, "--no-validate", "--wait", "--interval", "0.3")
    assert result.returncode == 1, result.stderr  # completed, but no request succeeded
    assert "completed (0/2 completed, 2 failed)" in result.stdout
    assert "2 of 2 request(s) failed (their lines in the downloaded results say why)" in result.stderr
    assert "no output file (no request succeeded)" in result.stderr
    errors = (tmp_path / "rejected.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["response"]["status_code"] for line in errors] == [400, 400]
    assert not (tmp_path / "rejected.output.jsonl").exists()


def test_cancel_keeps_what_finished_and_a_cancelled_file_says_how_to_retry(slow_server, tmp_path):
    batch_file = write_requests(tmp_path / "long.jsonl", 30)
    batch_id = batch_id_of(bk(slow_server, "submit", batch_file))
    cancelled = invoke("cancel", batch_file)
    assert cancelled.returncode == 0, cancelled.stderr
    assert ": cancelling (" in cancelled.stdout or ": cancelled (" in cancelled.stdout
    watched = invoke("watch", batch_file, "--interval", "0.3")
    assert watched.returncode == 1 and ": cancelled (" in watched.stdout
    assert "did not complete" in watched.stderr
    again = invoke("cancel", batch_file)  # cancelling a cancelled batch is allowed
    assert again.returncode == 0

    resubmitted = bk(slow_server, "submit", batch_file)
    assert resubmitted.returncode == 1
    assert resubmitted.stdout == (
        f"{batch_file}: already submitted as {batch_id} (cancelled); not because of its lines: "
        f"`batchkit submit {batch_file} --force` submits it again\n"
    )
    forced = bk(slow_server, "submit", batch_file, "--force")
    assert forced.returncode == 0 and batch_id_of(forced) != batch_id
    invoke("cancel", batch_id_of(forced))


@pytest.mark.slow
def test_ctrl_c_stops_watching_without_cancelling(slow_server, tmp_path):
    batch_file = write_requests(tmp_path / "watched.jsonl", 30)
    batch_id = batch_id_of(bk(slow_server, "submit", batch_file))
    shown = tmp_path / "watch.err"
    with open(shown, "w") as err:
        watcher = start_cli("watch", batch_file, "--interval", "0.3", stderr=err, ctrl_c=True)
        # the watcher prints each new state; interrupt it only once it has seen the batch running
        poll(lambda: f"{batch_id}: in_progress" in shown.read_text(), timeout=30, what="in_progress")
        watcher.send_signal(signal.SIGINT)
        watcher.communicate(timeout=30)
    err = shown.read_text()
    assert watcher.returncode == 130, err
    assert f"stopped watching; the batches keep running. Resume with: batchkit watch {batch_file}" in err
    assert "nothing half-written" not in err  # said once, in the command's own words
    assert "Traceback" not in err
    assert sdk(slow_server).batches.retrieve(batch_id).status in ("in_progress", "finalizing", "completed")
    invoke("cancel", batch_id)


def test_usage_mistakes_exit_2(server, tmp_path):
    batch_file = write_requests(tmp_path / "u.jsonl", 1)
    window = bk(server, "submit", batch_file, "--completion-window", "48h")
    assert window.returncode == 2
    assert window.stderr == (
        f"batchkit: error: completion window '48h' is not offered by the server at {server.base_url}; "
        "choose 24h\n"
    )
    metadata = bk(server, "submit", batch_file, "--metadata", "novalue")
    assert metadata.returncode == 2 and "metadata 'novalue' is not KEY=VALUE" in metadata.stderr
    unknown = invoke("status", tmp_path / "never.jsonl")
    assert unknown.returncode == 2 and "no such file" in unknown.stderr
    not_submitted = invoke("status", batch_file)
    assert not_submitted.returncode == 2
    assert (
        f"{batch_file} has not been submitted; submit it with `batchkit submit {batch_file}`"
        in not_submitted.stderr
    )


@pytest.mark.slow
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


PASTED_KEY = "sk-proj-Zp4Kd8Wq2Xr6Tb1Nm5Cv9Gy3"


@pytest.mark.parametrize("pasted", [PASTED_KEY, "AIzaSyZp4Kd8Wq2Xr6Tb1Nm5Cv9Gy3q"])
@pytest.mark.parametrize(
    "command",
    [
        ["submit", "BATCH", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env"],
        ["models", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env"],
        ["run", "BATCH", "--base-url", "http://127.0.0.1:9/v1", "-o", "OUT", "--api-key-env"],
        ["serve", "--data-dir", "DATA", "--api-key-env"],
        [
            "serve",
            "--data-dir",
            "DATA",
            "--backend",
            "upstream",
            "--upstream-url",
            "http://x/v1",
            "--upstream-key-env",
        ],
    ],  # fmt: skip
)
def test_a_key_given_where_a_variable_name_belongs_is_never_repeated(tmp_path, command, pasted):
    batch = write_requests(tmp_path / "b.jsonl", 1)
    places = {"BATCH": batch, "OUT": tmp_path / "out.jsonl", "DATA": tmp_path / "data"}
    result = invoke(*[places.get(arg, arg) for arg in command], pasted)
    assert result.returncode == 2
    assert "takes the name of the environment variable" in result.stderr and "not the key" in result.stderr
    for start in range(len(pasted) - 6):
        assert pasted[start : start + 7] not in result.stdout + result.stderr


def test_validate_warnings_are_shown_grouped_before_the_upload(server, tmp_path):
    """A `max_token` typo is a warning, not an error: submit still sends the file, after showing it once."""
    path = write_requests(tmp_path / "typo.jsonl", count=6, max_token=5)
    result = bk(server, "submit", path)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "unknown-field" in line]
    assert warned == [
        f"{path}:1: warning[unknown-field] ×6, lines 1–6; first: /body/max_token: `max_token` is not a known "
        "chat-completions field; it is passed through as is (fine only for servers that accept it); did you "
        "mean `max_tokens`?"
    ]
    assert f"{path}: 6 warning(s), none an error; uploading it as it is" in result.stderr
    assert "generic" not in result.stderr + result.stdout
    assert " submitted as " in result.stdout
    clean = bk(server, "submit", write_requests(tmp_path / "clean.jsonl"))
    assert clean.returncode == 0 and "warning(s)" not in clean.stderr


def test_a_failed_submit_elsewhere_does_not_hide_the_completed_batch(server, tmp_path):
    """Completed at one address, then a failed upload to another: status shows both (per address), and
    watch and download follow the batch that exists instead of saying "no batch yet"."""
    path = write_requests(tmp_path / "both.jsonl", 2)
    done = bk(server, "submit", path, "--wait", "--interval", "0.3")
    assert done.returncode == 0, done.stderr
    batch_id = batch_id_of(done)
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    assert invoke("submit", path, "--base-url", nowhere).returncode == 2
    status = invoke("status", path)
    assert status.returncode == 0, status.stderr
    assert f"{path}  no batch at {nowhere}: its submission stopped at step 'upload failed'" in status.stdout
    assert f"`batchkit submit {path} --base-url {nowhere}` tries again" in status.stdout
    assert f"{batch_id}  completed" in status.stdout and f"address      {server.base_url}" in status.stdout
    rows = json.loads(invoke("status", path, "--format", "json").stdout)
    assert [(r["id"], r["base_url"]) for r in rows] == [(None, nowhere), (batch_id, server.base_url)]
    watched = invoke("watch", path, "--interval", "0.3")
    assert watched.returncode == 0 and watched.stdout == f"{batch_id}: completed (2/2 completed, 0 failed)\n"
    assert invoke("download", path, "--force").returncode == 0
    # the address named: only there
    there = invoke("status", path, "--base-url", nowhere)
    assert there.returncode == 2 and "no batch yet" in there.stderr


def test_wait_exits_1_when_requests_failed_unless_failures_are_allowed(tmp_path):
    """A batch that completed with failed requests is not a success: `submit --wait` exits 1 as `run`
    does, with the results downloaded and the commands that go on; --allow-failures accepts them."""
    path = write_requests(tmp_path / "b.jsonl", 20, models=("m",))
    with running_server("--fail-rate", "0.5", "--seed", "3", data_dir=tmp_path / "s") as flaky:
        failed = invoke("submit", str(path), "--base-url", flaky.base_url, "--wait", "--interval", "0.2")
        allowed = invoke("submit", str(path), "--base-url", flaky.base_url, "--wait", "--interval", "0.2",
                         "--allow-failures", "-o", str(tmp_path / "again"))  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    errors = (tmp_path / "b.errors.jsonl").read_text().splitlines()
    assert errors and (tmp_path / "b.output.jsonl").exists()
    assert f"{len(errors)} of 20 request(s) failed" in failed.stderr
    assert "batchkit retry" in failed.stderr and "--allow-failures" in failed.stderr
    assert allowed.returncode == 0, allowed.stderr


def test_batch_objects_of_odd_shapes_are_read_or_refused_by_name():
    """A Batches API's fields of other shapes read as absent, a time no date holds is shown as its number,
    and an answer that is no object where a batch belongs is an error that says so: never a traceback."""
    from serverutil import odd_batches_api

    with odd_batches_api() as api:
        odd = invoke("status", "batch_odd", "--base-url", api, KLUSTER_API_KEY="k")
        array = invoke("status", "batch_array", "--base-url", api, KLUSTER_API_KEY="k")
    assert odd.returncode == 0, odd.stderr
    assert (
        odd.stdout.startswith("batch_odd  completed") and "100000000000000000000 (not a date)" in odd.stdout
    )
    assert array.returncode == 2
    assert "answered JSON that is not an object where a file or batch belongs" in array.stderr


def test_answers_an_sdk_cannot_read_are_an_error_that_says_so():
    """What a provider's SDK fails to read (its own types refuse the answer) is one line naming the SDK
    and the address, exit 2; a list of another shape reads as empty; a name the SDK would refuse before
    asking is the user's error. Never a traceback."""
    from serverutil import odd_native_apis

    with odd_native_apis() as api:
        root = api.removesuffix("/v1")
        gemini = {"GEMINI_API_KEY": "gemini-test-key", "GOOGLE_API_KEY": ""}
        odd = invoke("status", "batches/odd", "--provider", "gemini", "--base-url", root, **gemini)
        listed = invoke("list", "--remote", "--provider", "gemini", "--base-url", root, **gemini)
        misnamed = invoke("status", "odd/x", "--provider", "gemini", "--base-url", root, **gemini)
        job = invoke(
            "status", "odd", "--provider", "mistral", "--base-url", root, MISTRAL_API_KEY="mistral-key"
        )
        claude = {"ANTHROPIC_API_KEY": "sk-ant-test-key"}
        results = invoke("download", "msgbatch_odd", "--provider", "anthropic", "--base-url", root, **claude)
        batches = invoke("list", "--remote", "--provider", "anthropic", "--base-url", root, **claude)
        models = invoke("models", "--provider", "anthropic", "--base-url", root, "--json", **claude)
        openai_models = invoke("models", "--base-url", api, "--json", KLUSTER_API_KEY="k")
    for failed, sdk in ((odd, "gemini"), (listed, "gemini"), (job, "mistral"), (results, "anthropic")):
        assert failed.returncode == 2, failed.stderr
        assert f"the {sdk} SDK cannot read what {root} answered (" in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
    assert (
        "ValidationError: 1 validation error for BatchJob: name: Input should be a valid string" in odd.stderr
    )
    assert misnamed.returncode == 2 and "odd/x: not a gemini batch name (batches/ID)" in misnamed.stderr
    for empty in (batches, models, openai_models):
        assert empty.returncode == 0, empty.stderr
    assert json.loads(models.stdout) == json.loads(openai_models.stdout) == []


def test_a_batch_cancelled_before_any_request_ran_is_said_to_have_no_results(tmp_path):
    batch_file = write_requests(tmp_path / "c.jsonl", 2)
    with running_server("--latency", "30", data_dir=tmp_path / "serve") as slow:
        assert bk(slow, "submit", batch_file).returncode == 0
        assert invoke("cancel", batch_file).returncode == 0
        assert "cancelled" in invoke("status", batch_file).stdout
        for command in (["merge", batch_file, "-r", tmp_path / "c.output.jsonl", "-o", tmp_path / "m.csv"],
                        ["retry", batch_file, "-r", tmp_path / "c.output.jsonl", "-o", tmp_path / "r.jsonl"]):  # fmt: skip
            said = invoke(*command)
            assert (
                said.returncode == 2 and "before any of its requests ran, so it has no results" in said.stderr
            )
            assert f"`batchkit submit {batch_file} --force` sends them again" in said.stderr


def test_cancelling_a_batch_that_failed_whole_says_it_has_no_results(tmp_path):
    """It said the results 'stay downloadable', and download then said there were none."""
    path = write_requests(tmp_path / "unknown.jsonl", 2, models=("not-served",))
    with running_server("--model", "gpt-4o-mini", data_dir=tmp_path / "srv") as server:
        failed = invoke(
            "submit", path, "--base-url", server.base_url, "--wait", "--interval", "0.2", "--no-validate"
        )
        assert failed.returncode == 1, failed.stderr
        cancel = invoke("cancel", path)
        download = invoke("download", path)
    assert cancel.returncode == 2 and "there is nothing to cancel; it has no results" in cancel.stderr, (
        cancel.stderr
    )
    assert download.returncode == 1 and "it has no results to download" in download.stderr
