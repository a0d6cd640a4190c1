"""Submitting natively to Anthropic's Message Batches, Gemini's batch mode and Mistral's batch jobs, each
through the provider's official SDK, against `batchkit serve` (which speaks all three) — watched from the
server's side with each provider's SDK too.

- convert → submit --wait → merge gives every row `ok` with the echo answer (real CLI processes);
- Python `submit()` returns handles that wait, download and find the same batch again;
- `submit` killed with -9 while its create is in flight resumes to one batch per content, and two
  processes submitting one file at once make one batch;
- status / watch / download / cancel / list --remote speak each API;
- the queue (--max-batches) and --max-cost work the same for these APIs.
"""

from __future__ import annotations

import json

import pytest
from nativesupport import CREATE_ROUTE, MODEL, NATIVE, answers, native_file, server_batches
from serverutil import running_server
from submitsupport import HOLD_AFTER, HOLD_BEFORE, PAUSE, Proxy, invoke, run_cli, start_cli, write_requests

import batchkit

pytestmark = pytest.mark.slow

# Gemini takes the model on the batch and its lines name none; Anthropic's and Mistral's name it
MODEL_FLAG = {"anthropic": (), "gemini": ("--model", MODEL), "mistral": ()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


def native(provider: str, base_url: str, *args, **env):
    """`batchkit ARGS --provider P --base-url URL` in this process."""
    return invoke(*args, "--provider", provider, "--base-url", base_url, **env)


def new_batches(provider: str, server, before: dict) -> dict:
    return {k: v for k, v in server_batches(provider, server.root_url).items() if k not in before}


@pytest.mark.parametrize("provider", NATIVE)
def test_convert_submit_merge_gives_every_row_ok(server, tmp_path, provider):
    source = write_requests(tmp_path / "batch.jsonl", 3, models=(MODEL,), max_tokens=50)
    target = tmp_path / "x.jsonl"
    assert run_cli("convert", source, "--to", provider, "-o", target).returncode == 0
    before = server_batches(provider, server.root_url)
    submitted = run_cli("submit", target, "--provider", provider, "--base-url", server.root_url, "--wait",
                        "--interval", "0.2", *MODEL_FLAG[provider])  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert "completed" in submitted.stdout
    merged = run_cli("merge", target, "-r", tmp_path / "x.output.jsonl", "-o", tmp_path / "out.csv")
    assert merged.returncode == 0, merged.stderr
    assert answers(tmp_path / "out.csv") == {f"q-{i}": f"q question {i}" for i in range(3)}
    ((batch_id, created),) = new_batches(provider, server, before).items()  # one batch for the file
    assert created["state"] in ("ended", "JOB_STATE_SUCCEEDED", "SUCCESS")
    # the API's request counts (Gemini's are in answers its SDK reads no counts from)
    status = run_cli("status", batch_id, "--provider", provider, "--base-url", server.root_url)
    assert "requests     3 total, 3 completed, 0 failed" in status.stdout, status.stdout + status.stderr
    # the address alone: the provider the ledger recorded there is asked (OpenAI's protocol was, a 404)
    for ref in (target, batch_id):
        alone = run_cli("status", ref, "--base-url", server.root_url)
        assert alone.returncode == 0 and "3 completed" in alone.stdout, alone.stdout + alone.stderr


@pytest.mark.parametrize(
    ("provider", "model"), [("mistral", "mistral-small-latest"), ("anthropic", "claude-sonnet-4-5")]
)
def test_results_of_a_file_converted_to_another_model_merge_onto_the_file_it_came_from(
    server, tmp_path, provider, model
):
    """Mistral's result lines are OpenAI's shape: the model convert set (not the one the OpenAI file
    asked for) made merge refuse them as stale onto the file they were converted from, where the results
    of Anthropic's (another shape) merged."""
    source = write_requests(tmp_path / "batch.jsonl", 3, models=("gpt-4o-mini",), max_tokens=50)
    target = tmp_path / "x.jsonl"
    assert run_cli("convert", source, "--to", provider, "--model", model, "-o", target).returncode == 0
    submitted = run_cli("submit", target, "--provider", provider, "--base-url", server.root_url, "--wait",
                        "--interval", "0.2")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    merged = run_cli("merge", source, "-r", tmp_path / "x.output.jsonl", "-o", tmp_path / "out.csv")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert answers(tmp_path / "out.csv") == {f"q-{i}": f"q question {i}" for i in range(3)}


@pytest.mark.parametrize("provider", NATIVE)
def test_python_submit_waits_downloads_and_finds_its_batch_again(server, tmp_path, provider):
    path = native_file(tmp_path, provider, 2, prefix="py")
    before = server_batches(provider, server.root_url)
    # the /v1 a user copies from an OpenAI-style address is the SDK's own path: it is dropped
    jobs = batchkit.submit(path, provider=provider, base_url=server.base_url, model=MODEL, interval=0.2)
    (job,) = jobs
    assert job.status().status == "completed" and job.status().provider_status is not None
    files = jobs.results()
    assert files == [tmp_path / f"py-{provider}.output.jsonl"]
    ids = {json.loads(line).get("custom_id") or json.loads(line).get("key") for line in files[0].open()}
    assert ids == {"py-0", "py-1"}
    again = batchkit.submit(path, provider=provider, base_url=server.root_url, model=MODEL, wait=False)
    assert again[0].batch_id == job.batch_id and again[0].submitted.existing
    assert len(new_batches(provider, server, before)) == 1


@pytest.mark.parametrize("provider", NATIVE)
def test_submit_killed_during_its_create_resumes_to_one_batch(server, tmp_path, provider):
    path = native_file(tmp_path, provider, 4, prefix="kill")
    before = server_batches(provider, server.root_url)
    with Proxy(server.base_url) as proxy:
        base = proxy.base_url.removesuffix("/v1")
        proxy.rules[CREATE_ROUTE[provider]] = HOLD_AFTER  # the server creates it; the answer never comes
        process = start_cli("submit", path, "--provider", provider, "--base-url", base, *MODEL_FLAG[provider])
        assert proxy.triggered.wait(60), process.communicate(timeout=5)
        process.kill()
        process.wait(30)
        proxy.rules.clear()
        created = new_batches(provider, server, before)
        assert len(created) == 1  # the create reached the server before the kill
        (batch_id,) = created
        args = ("submit", path, "--wait", "--interval", "0.2", *MODEL_FLAG[provider])
        again = native(provider, base, *args)
        if provider == "anthropic":  # no metadata proves the batch is this file's: the user says so
            assert (
                again.returncode == 2
                and f"and {batch_id} (created since, with as many requests) may be" in (again.stderr)
            ), again.stderr
            assert "if it is this file's, --adopt ID takes it, else --force creates another" in again.stderr
            again = native(provider, base, *args, "--adopt", batch_id)
    assert again.returncode == 0, again.stderr
    assert f"found batch {batch_id}, created by an interrupted run; not creating another" in again.stderr
    assert new_batches(provider, server, before).keys() == created.keys()
    output = tmp_path / f"kill-{provider}.output.jsonl"
    assert len(output.read_text().splitlines()) == 4


def test_a_batch_another_client_made_while_a_create_was_interrupted_is_never_taken_unasked(server, tmp_path):
    """Anthropic keeps no metadata: a batch of as many requests that another machine created after this
    file's create was interrupted (before it reached the server) fits it as well as its own would."""
    mine, theirs = (native_file(tmp_path, "anthropic", 3, prefix=name) for name in ("mine", "theirs"))
    before = server_batches("anthropic", server.root_url)
    with Proxy(server.base_url) as proxy:
        base = proxy.base_url.removesuffix("/v1")
        proxy.rules[CREATE_ROUTE["anthropic"]] = HOLD_BEFORE  # this create never reaches the server
        process = start_cli("submit", mine, "--provider", "anthropic", "--base-url", base)
        assert proxy.triggered.wait(60), process.communicate(timeout=5)
        process.kill()
        process.wait(30)
        proxy.rules.clear()
        other = native("anthropic", server.root_url, "submit", theirs, BATCHKIT_HOME=str(tmp_path / "other"))
        assert other.returncode == 0, other.stderr
        (foreign,) = new_batches("anthropic", server, before)
        again = native("anthropic", base, "submit", mine)
        assert again.returncode == 2 and f"and {foreign} (created since" in again.stderr, again.stderr
        assert new_batches("anthropic", server, before).keys() == {foreign}  # nothing taken, nothing made
        both = native("anthropic", base, "submit", mine, theirs, "--adopt", foreign)
        assert both.returncode == 2 and "--adopt names the batch of one file" in both.stderr, both.stderr
        wrong = native("anthropic", base, "submit", mine, "--adopt", "msgbatch_nope")
        assert (
            wrong.returncode == 2 and "batch msgbatch_nope is not one the interrupted create" in wrong.stderr
        )
        made = native("anthropic", base, "submit", mine, "--force")  # it is not ours: a batch of its own
        assert made.returncode == 0, made.stderr
        status = native("anthropic", base, "status", mine, "--format", "json")
    assert len(new_batches("anthropic", server, before)) == 2
    assert json.loads(status.stdout)["id"] != foreign


@pytest.mark.parametrize("provider", NATIVE)
def test_two_processes_submitting_one_file_make_one_batch(server, tmp_path, provider):
    path = native_file(tmp_path, provider, 2, prefix="race")
    before = server_batches(provider, server.root_url)
    with Proxy(server.base_url) as proxy:
        base = proxy.base_url.removesuffix("/v1")
        proxy.rules[CREATE_ROUTE[provider]] = PAUSE  # the first one holds its turn at the create
        args = ("submit", path, "--provider", provider, "--base-url", base, *MODEL_FLAG[provider])
        first = start_cli(*args)
        assert proxy.triggered.wait(60), first.communicate(timeout=5)
        second = start_cli(*args)
        proxy.release()
        outcomes = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outcomes
    (batch_id,) = new_batches(provider, server, before)
    assert "submitted as" in outcomes[0][0] and f"already submitted as {batch_id}" in outcomes[1][0]


@pytest.mark.parametrize("provider", NATIVE)
def test_status_watch_download_and_list_remote(server, tmp_path, provider):
    path = native_file(tmp_path, provider, 3, prefix="follow")
    base = server.root_url
    submitted = native(provider, base, "submit", path, *MODEL_FLAG[provider])
    assert submitted.returncode == 0, submitted.stderr
    watched = native(provider, base, "watch", path, "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    status = json.loads(native(provider, base, "status", path, "--json").stdout)
    assert status["status"] == "completed" and status["provider_status"] in (
        "ended",
        "JOB_STATE_SUCCEEDED",
        "SUCCESS",
    )
    shown = native(provider, base, "status", path).stdout.splitlines()[0]
    assert shown == f"{status['id']}  completed ({status['provider_status']} at {provider})"
    # the id as shown (Gemini's is batches/ID: a slash, and no file) names the batch too
    by_id = native(provider, base, "status", status["id"], "--json")
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["id"] == status["id"]
    downloaded = native(provider, base, "download", path)
    assert downloaded.returncode == 0, downloaded.stderr
    assert len((tmp_path / f"follow-{provider}.output.jsonl").read_text().splitlines()) == 3
    listed = json.loads(native(provider, base, "list", "--remote", "--json", "--limit", "100").stdout)
    assert status["id"] in [b["id"] for b in listed]


def test_one_command_follows_batches_of_several_apis_at_one_address(server, tmp_path):
    """`batchkit serve` speaks every API at one address: each batch is followed through its own API (the
    first file's client asked Mistral for an Anthropic batch: 404)."""
    paths = [native_file(tmp_path, provider, 2, prefix="several") for provider in NATIVE]
    for provider, path in zip(NATIVE, paths, strict=True):
        assert native(provider, server.root_url, "submit", path, *MODEL_FLAG[provider]).returncode == 0
    for order in (paths, paths[::-1]):
        watched = invoke("watch", *order, "--interval", "0.2")
        assert watched.returncode == 0, watched.stderr
        assert watched.stdout.count("completed (2/2 completed, 0 failed)") == len(NATIVE), watched.stdout
    for path in paths:
        downloaded = invoke("download", path)
        assert downloaded.returncode == 0, downloaded.stderr
        assert len(path.with_name(path.stem + ".output.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("provider", NATIVE)
def test_models_lists_the_servers_models_through_each_providers_sdk(server, provider):
    """`batchkit serve` lists its models as each API does (Gemini under v1beta/models; Mistral's SDK reads
    each model by its `type`): where Gemini's had no route and Mistral's SDK refused OpenAI's list."""
    listed = native(provider, server.root_url, "models")
    assert listed.returncode == 0, listed.stderr
    assert "batchkit-echo" in listed.stdout


@pytest.mark.parametrize("provider", NATIVE)
def test_cancelling_a_batch_that_has_ended_says_so(server, tmp_path, provider):
    """Each API refuses it in its own words (400 "has already ended"), which read as a bad request; the
    batch's state is asked first and named."""
    path = native_file(tmp_path, provider, 2, prefix="ended")
    submitted = native(
        provider, server.root_url, "submit", path, *MODEL_FLAG[provider], "--wait", "--interval", "0.2"
    )
    assert submitted.returncode == 0, submitted.stderr
    cancelled = invoke("cancel", path)
    assert cancelled.returncode == 2
    assert "has already ended (completed): there is nothing to cancel" in cancelled.stderr, cancelled.stderr
    assert (
        f"`batchkit download {path}`" in cancelled.stderr
        and "check the file and options" not in cancelled.stderr
    )


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    with running_server("--latency", "30", data_dir=tmp_path_factory.mktemp("slow")) as running:
        yield running


@pytest.mark.parametrize("provider", NATIVE)
def test_cancel_a_running_batch(slow_server, tmp_path, provider):
    path = native_file(tmp_path, provider, 2, prefix="cancel")
    base = slow_server.root_url
    assert native(provider, base, "submit", path, *MODEL_FLAG[provider]).returncode == 0
    cancelled = native(provider, base, "cancel", path)
    assert cancelled.returncode == 0, cancelled.stderr
    watched = native(provider, base, "watch", path, "--interval", "0.2")
    assert watched.returncode == 1  # the batch ended, but not completed
    status = json.loads(native(provider, base, "status", path, "--json").stdout)
    assert status["status"] == "cancelled"
    (server_side,) = [b for i, b in server_batches(provider, base).items() if i == status["id"]]
    assert server_side["state"] in ("ended", "JOB_STATE_CANCELLED", "CANCELLED")


@pytest.mark.parametrize("provider", ("anthropic", "mistral"))
def test_queue_sends_shards_one_at_a_time(server, tmp_path, provider):
    shards = [native_file(tmp_path, provider, 2, prefix=f"shard{i}") for i in range(2)]
    before = server_batches(provider, server.root_url)
    result = native(provider, server.root_url, "submit", *shards, "--max-batches", "1", "--wait",
                    "--interval", "0.2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(new_batches(provider, server, before)) == 2
    for shard in shards:
        assert len(shard.with_name(shard.stem + ".output.jsonl").read_text().splitlines()) == 2


def test_the_cost_of_lines_that_name_no_model_is_the_batchs_models(server, tmp_path):
    """Gemini's lines name no model (the batch does): --max-cost prices them by --model, where they were
    '(no model)', which has no price, so no cost bound could be kept."""
    path = native_file(tmp_path, "gemini", 2, prefix="priced")
    before = server_batches("gemini", server.root_url)
    bounded = ("submit", path, "--model", "gemini-2.5-flash", "--max-cost")
    refused = native("gemini", server.root_url, *bounded, "0.0000001")
    assert refused.returncode == 2 and "over --max-cost" in refused.stderr, refused.stderr
    assert new_batches("gemini", server, before) == {}
    sent = native("gemini", server.root_url, *bounded, "1")
    assert sent.returncode == 0, sent.stderr
    assert len(new_batches("gemini", server, before)) == 1


def test_max_cost_refuses_before_anything_is_sent(server, tmp_path):
    path = native_file(tmp_path, "anthropic", 2, prefix="cost")
    before = server_batches("anthropic", server.root_url)
    refused = native("anthropic", server.root_url, "submit", path, "--max-cost", "1")
    assert refused.returncode == 2
    # the cost is bounded only from requests read for their tokens and models with a price
    cannot = ("could not be read for their tokens", f"no price is known for {MODEL} at anthropic")
    assert any(reason in refused.stderr for reason in cannot), refused.stderr
    assert new_batches("anthropic", server, before) == {}
    capped = native("anthropic", server.root_url, "submit", path, "--max-enqueued-tokens", "1000")
    if capped.returncode == 2:  # while the estimate cannot read Anthropic's lines, the cap cannot hold
        assert "the enqueued-token cap cannot be kept; nothing was sent" in capped.stderr
    else:
        assert capped.returncode == 0 and "tokens in flight" in capped.stderr, capped.stderr


@pytest.mark.parametrize("provider", ["gemini", "mistral"])
def test_a_batch_of_another_model_is_another_batch_and_no_answer_of_the_first_is_taken(
    server, tmp_path, provider
):
    path = native_file(tmp_path, provider, 2, prefix="models")
    output = tmp_path / f"models-{provider}.output.jsonl"
    for model in ("model-one", "model-two"):
        submitted = native(
            provider, server.root_url, "submit", path, "--model", model, "--wait", "--interval", "0.2"
        )
        assert submitted.returncode == 0, submitted.stderr
        assert "already submitted" not in submitted.stdout and "from the answer cache" not in submitted.stderr
        assert model in output.read_text() and "model-one" not in output.read_text().replace(model, "")


def test_a_key_gemini_refuses_is_said_to_be_the_keys_fault(tmp_path):
    path = native_file(tmp_path, "gemini", 1, prefix="key")
    with running_server(
        "--api-key-env", "SERVE_KEY", data_dir=tmp_path / "serve", env={"SERVE_KEY": "right-key-123"}
    ) as s:
        refused = run_cli("submit", path, "--provider", "gemini", "--base-url", s.root_url, "--model", MODEL,
                          GEMINI_API_KEY="wrong-key-456")  # fmt: skip
    assert refused.returncode == 2 and "API key not valid" in refused.stderr
    assert "check that GEMINI_API_KEY holds a valid key" in refused.stderr, refused.stderr
