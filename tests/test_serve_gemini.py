"""`batchkit serve` speaks the Gemini API's batch mode and Files API: the official `google-genai` SDK,
pointed at a real server process by `http_options`, uploads a file (resumable upload), creates batches from
it and from inline requests, polls, lists, cancels and deletes them and downloads the results — under the
SDK's default `v1` (told from OpenAI's `/v1` by Google's key header) and under `v1beta`."""

from __future__ import annotations

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from polling import poll
from surfaceutil import KEY, SLOW, keyed_server, kill_9, upstream_pair

RUNNING = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")


def client_for(server, key: str = KEY, version: str | None = None) -> genai.Client:
    options = {"base_url": server.root_url}
    if version:
        options["api_version"] = version
    return genai.Client(api_key=key, http_options=options)


def line(key: str, text: str, **config) -> dict:
    request = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if config:
        request["generationConfig"] = config
    return {"key": key, "request": request}


def upload(client: genai.Client, path, lines: list) -> str:
    path.write_bytes(b"".join(x if isinstance(x, bytes) else orjson.dumps(x) + b"\n" for x in lines))
    return client.files.upload(file=str(path), config={"mime_type": "application/jsonl"}).name


def finished(client: genai.Client, name: str, timeout: float = 60.0):
    def check():
        job = client.batches.get(name=name)
        return job if job.state.name not in RUNNING else None

    return poll(check, timeout=timeout, interval=0.1, what=f"{name} to end")


def responses(client: genai.Client, job) -> list[dict]:
    return [orjson.loads(x) for x in client.files.download(file=job.dest.file_name).splitlines()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with keyed_server(
        "--model", "gemini-echo", data_dir=tmp_path_factory.mktemp("gemini") / "data"
    ) as running:
        yield running


@pytest.mark.parametrize("version", [None, "v1beta"])
def test_file_batch_end_to_end(server, tmp_path, version):
    client = client_for(server, version=version)
    lines = [line("a", "alpha beta gamma"), line("cut", "one two three", maxOutputTokens=1), line("bad", "x")]
    lines[2]["request"]["contents"] = "not a list"
    name = upload(client, tmp_path / "in.jsonl", [*lines, b"not json\n"])
    assert client.files.get(name=name).size_bytes > 0
    job = client.batches.create(model="gemini-echo", src=name, config={"display_name": "nightly"})
    assert (
        job.name.startswith("batches/")
        and job.model == "models/gemini-echo"
        and job.display_name == "nightly"
    )
    job = finished(client, job.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED" and job.end_time is not None
    got = responses(client, job)
    assert [x.get("key") for x in got] == ["a", "cut", "bad", None]  # one line per request, in input order
    first = got[0]["response"]
    assert first["candidates"][0]["content"]["parts"][0]["text"] == "alpha beta gamma"
    assert (
        first["candidates"][0]["finishReason"] == "STOP" and first["usageMetadata"]["promptTokenCount"] == 3
    )
    assert got[1]["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert got[2]["error"]["status"] == "INVALID_ARGUMENT" and "contents" in got[2]["error"]["message"]
    assert got[3]["error"]["code"] == 400
    assert job.name in [
        j.name for j in client.batches.list(config={"page_size": 1})
    ]  # the pager follows tokens
    client.batches.delete(name=job.name)
    with pytest.raises(genai_errors.ClientError):
        client.batches.get(name=job.name)


def test_inline_requests(server):
    client = client_for(server)
    job = client.batches.create(
        model="gemini-echo",
        src=[
            {"contents": [{"parts": [{"text": "first words"}], "role": "user"}], "metadata": {"key": "k1"}},
            {
                "contents": [{"parts": [{"text": "second answer here"}], "role": "user"}],
                "config": {"system_instruction": "be brief", "max_output_tokens": 2},
            },
        ],
    )
    job = finished(client, job.name)
    first, second = job.dest.inlined_responses
    assert first.response.text == "first words" and first.metadata == {"key": "k1"}
    assert (
        second.response.text == "second answer"
        and second.response.candidates[0].finish_reason.name == "MAX_TOKENS"
    )


def test_unknown_model_and_wrong_key_in_googles_envelope(server, tmp_path):
    client = client_for(server)
    name = upload(client, tmp_path / "m.jsonl", [line("a", "x")])
    job = finished(client, client.batches.create(model="not-served", src=name).name)
    (only,) = responses(client, job)
    assert only["error"]["code"] == 404 and only["error"]["status"] == "NOT_FOUND"
    stranger = client_for(server, key="wrong")  # held: a client closes its connections when collected
    with pytest.raises(genai_errors.ClientError) as refused:
        stranger.batches.list()
    assert (
        refused.value.code == 400
        and refused.value.status == "INVALID_ARGUMENT"
        and KEY not in str(refused.value)
    )
    missing = httpx.get(server.root_url + "/v1beta/batches")
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    foreign = httpx.get(
        server.root_url + "/v1beta/batches", params={"key": KEY}, headers={"host": "evil.example"}
    )
    assert foreign.status_code == 421 and foreign.json()["error"]["code"] == 421
    # OpenAI's /v1 stays OpenAI's for an OpenAI client
    openai_page = httpx.get(server.root_url + "/v1/batches", headers={"authorization": f"Bearer {KEY}"})
    assert openai_page.status_code == 200 and openai_page.json()["object"] == "list"


def test_cancel_mid_batch(tmp_path):
    with keyed_server("--latency", "0.3", "--concurrency", "1", data_dir=tmp_path / "slow") as slow:
        client = client_for(slow)
        name = upload(client, tmp_path / "c.jsonl", [line(f"r{i}", "x") for i in range(8)])
        job = client.batches.create(model="gemini-echo", src=name)
        client.batches.cancel(name=job.name)
        job = finished(client, job.name)
        assert job.state.name == "JOB_STATE_CANCELLED"
        with pytest.raises(genai_errors.ClientError, match="FAILED_PRECONDITION"):
            client.batches.cancel(name=job.name)


def test_upstream_backend(tmp_path):
    with upstream_pair(tmp_path) as (_echo, front):
        client = client_for(front)
        name = upload(client, tmp_path / "u.jsonl", [line("up", "through the upstream")])
        job = finished(client, client.batches.create(model="gemini-echo", src=name).name)
        (answer,) = responses(client, job)
        assert answer["response"]["candidates"][0]["content"]["parts"][0]["text"] == "through the upstream"


def test_kill_9_mid_batch_then_restart(tmp_path):
    data = tmp_path / "state"
    with keyed_server(*SLOW, data_dir=data) as first:
        client = client_for(first)
        name = upload(client, tmp_path / "k.jsonl", [line(f"r{i}", f"n {i}") for i in range(10)])
        job = client.batches.create(model="gemini-echo", src=name)
        poll(
            lambda: (
                int(client.batches.get(name=job.name).state.name == "JOB_STATE_RUNNING")
                and _progress(first, job.name) >= 2
            ),
            timeout=20,
            what="progress",
        )
        port = kill_9(first)
    with keyed_server(*SLOW, data_dir=data, port=port) as second:
        client = client_for(second)
        job = finished(client, job.name)
        assert job.state.name == "JOB_STATE_SUCCEEDED"
        assert [x["key"] for x in responses(client, job)] == [f"r{i}" for i in range(10)]


def _progress(server, name: str) -> int:
    """Requests done so far, from the operation's batchStats (the SDK's BatchJob leaves them out)."""
    operation = httpx.get(f"{server.root_url}/v1beta/{name}", headers={"x-goog-api-key": KEY}).json()
    return int(operation["metadata"]["batchStats"]["successfulRequestCount"])


def test_a_batchs_results_deleted_through_the_files_api_leave_it_readable(server):
    import openai

    client = client_for(server)
    job = finished(client, client.batches.create(model="gemini-echo", src=[line("k", "hi")["request"]]).name)
    files = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0).files
    for f in files.list():  # this batch's results: the output made since it was created
        if f.purpose == "batch_output" and f.created_at >= job.create_time.timestamp() - 1:
            files.delete(f.id)
    again = client.batches.get(name=job.name)  # was a 500: the inline results were read from the file
    assert again.state.name == "JOB_STATE_SUCCEEDED" and not (again.dest.inlined_responses or [])
    assert job.name in [b.name for b in client.batches.list()]


def test_a_fault_inside_the_server_is_answered_in_googles_envelope(tmp_path):
    import openai

    data = tmp_path / "data"
    with keyed_server("--model", "gemini-echo", data_dir=data) as running:
        client = client_for(running)
        job = finished(
            client, client.batches.create(model="gemini-echo", src=[line("k", "hi")["request"]]).name
        )
        files = openai.OpenAI(base_url=running.base_url, api_key=KEY).files.list()
        (output,) = [f for f in files if f.purpose == "batch_output"]
        (data / "files" / output.id).write_bytes(b"not JSON\n")  # what the server reads back is broken
        answer = httpx.get(f"{running.root_url}/v1beta/{job.name}", headers={"x-goog-api-key": KEY})
    assert answer.status_code == 500, answer.text
    assert (
        answer.json()["error"]["status"] == "INTERNAL" and "type" not in answer.json()["error"]
    )  # not OpenAI's


def test_a_file_downloads_as_a_file_whatever_type_its_uploader_named(server, tmp_path):
    client = client_for(server)
    path = tmp_path / "page.html"
    path.write_bytes(b"<script>alert(1)</script>\n")
    name = client.files.upload(file=str(path), config={"mime_type": "text/html"}).name
    got = httpx.get(f"{server.root_url}/v1beta/{name}:download", params={"alt": "media"},
                    headers={"x-goog-api-key": KEY})  # fmt: skip
    assert got.status_code == 200 and got.content == path.read_bytes()
    assert (
        got.headers["content-disposition"] == "attachment"
        and got.headers["x-content-type-options"] == "nosniff"
    )


def test_inline_responses_of_a_cancelled_batch_keep_every_requests_place(tmp_path):
    with keyed_server("--latency", "0.4", "--concurrency", "1", data_dir=tmp_path / "slow") as slow:
        client = client_for(slow)
        src = [{"contents": [{"parts": [{"text": f"request {i}"}], "role": "user"}]} for i in range(6)]
        job = client.batches.create(model="gemini-echo", src=src)
        url = f"{slow.root_url}/v1beta/{job.name}"

        def answered() -> bool:
            stats = httpx.get(url, params={"key": KEY}).json()["metadata"]["batchStats"]
            return int(stats.get("successfulRequestCount", 0)) >= 1

        poll(answered, timeout=30, interval=0.05, what="a first answer")
        client.batches.cancel(name=job.name)
        job = finished(client, job.name)
    answers = job.dest.inlined_responses
    assert job.state.name == "JOB_STATE_CANCELLED" and len(answers) == 6  # one per request, in its place
    ran = [i for i, a in enumerate(answers) if a.response is not None]
    assert (
        ran and ran == list(range(len(ran))) and all(answers[i].response.text == f"request {i}" for i in ran)
    )
    assert all(a.error is not None and a.error.code == 1 for a in answers[len(ran) :])
