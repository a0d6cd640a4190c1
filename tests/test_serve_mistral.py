"""`batchkit serve` speaks Mistral's batch API: the official `mistralai` SDK, pointed at a real server process
by `server_url`, uploads files, creates, polls, lists, cancels and deletes jobs and downloads their results."""

from __future__ import annotations

import httpx
import orjson
import pytest
from mistralai.client import Mistral
from mistralai.client import errors as mistral_errors
from polling import poll
from surfaceutil import KEY, SLOW, keyed_server, kill_9, upstream_pair

RUNNING = ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED")


def line(custom_id: str, text: str, **body) -> dict:
    return {"custom_id": custom_id, "body": {"messages": [{"role": "user", "content": text}], **body}}


def client_for(server, key: str = KEY) -> Mistral:
    return Mistral(api_key=key, server_url=server.root_url)


def upload(client: Mistral, lines: list, name: str = "batch.jsonl") -> str:
    data = b"".join(x if isinstance(x, bytes) else orjson.dumps(x) + b"\n" for x in lines)
    return client.files.upload(file={"file_name": name, "content": data}, purpose="batch").id


def finished(client: Mistral, job_id: str, timeout: float = 60.0):
    def check():
        job = client.batch.jobs.get(job_id=job_id)
        return job if job.status not in RUNNING else None

    return poll(check, timeout=timeout, interval=0.1, what=f"job {job_id} to end")


def download(client: Mistral, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [orjson.loads(x) for x in client.files.download(file_id=file_id).read().splitlines()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with keyed_server(data_dir=tmp_path_factory.mktemp("mistral") / "data") as running:
        yield running


def test_files_create_poll_download_list_delete(server):
    client = client_for(server)
    file_id = upload(
        client,
        [
            line("a", "alpha beta gamma"),
            line("cut", "one two three", max_tokens=1),
            line("bad", "x", temperature="hot"),
            b"{not json\n",
        ],
    )
    assert client.files.retrieve(file_id=file_id).purpose == "batch"
    job = client.batch.jobs.create(
        input_files=[file_id],
        model="mistral-small-latest",
        endpoint="/v1/chat/completions",
        metadata={"run": "1"},
    )
    assert job.status == "QUEUED" and job.input_files == [file_id] and job.metadata == {"run": "1"}
    job = finished(client, job.id)
    assert job.status == "SUCCESS" and job.started_at and job.completed_at
    assert (job.total_requests, job.succeeded_requests, job.failed_requests, job.completed_requests) == (
        4,
        2,
        2,
        4,
    )
    outputs = {x["custom_id"]: x for x in download(client, job.output_file)}
    assert outputs["a"]["response"]["body"]["choices"][0]["message"]["content"] == "alpha beta gamma"
    assert outputs["a"]["response"]["body"]["model"] == "mistral-small-latest"  # the job's model
    assert outputs["cut"]["response"]["body"]["choices"][0]["finish_reason"] == "length"
    errors = download(client, job.error_file)
    assert [e["response"]["status_code"] for e in errors] == [400, 400]
    assert errors[0]["custom_id"] == "bad" and "temperature" in errors[0]["error"]["message"]
    assert len(client.batch.jobs.get(job_id=job.id, inline=True).outputs) == 4
    listed = client.batch.jobs.list(status=["SUCCESS"], model="mistral-small-latest")
    assert job.id in [j.id for j in listed.data] and listed.total >= 1
    assert client.batch.jobs.delete(job_id=job.id).deleted
    with pytest.raises(mistral_errors.SDKError):
        client.batch.jobs.get(job_id=job.id)


def test_inline_requests_and_several_files(server):
    client = client_for(server)
    job = client.batch.jobs.create(
        requests=[{"custom_id": "i", "body": {"messages": [{"role": "user", "content": "inline"}]}}],
        model="m", endpoint="/v1/chat/completions",
    )  # fmt: skip
    assert download(client, finished(client, job.id).output_file)[0]["custom_id"] == "i"
    first, second = upload(client, [line("one", "first")]), upload(client, [line("two", "second")])
    job = finished(
        client,
        client.batch.jobs.create(input_files=[first, second], model="m", endpoint="/v1/chat/completions").id,
    )
    assert [x["custom_id"] for x in download(client, job.output_file)] == ["one", "two"]


def test_refusals(server):
    client = client_for(server)
    file_id = upload(client, [line("a", "x")])
    with pytest.raises(mistral_errors.SDKError) as no_model:
        client.batch.jobs.create(input_files=[file_id], endpoint="/v1/chat/completions")
    assert no_model.value.status_code == 400 and "model" in no_model.value.body
    with pytest.raises(mistral_errors.SDKError):
        client.batch.jobs.create(input_files=[file_id], model="m", endpoint="/v1/ocr")
    with pytest.raises(mistral_errors.SDKError) as wrong_key:
        client_for(server, key="nope").batch.jobs.list()
    assert wrong_key.value.status_code == 401 and KEY not in wrong_key.value.body
    foreign = httpx.get(
        server.root_url + "/v1/batch/jobs", headers={"authorization": f"Bearer {KEY}", "host": "evil.example"}
    )
    assert foreign.status_code == 421 and foreign.json()["object"] == "error"


def test_cancel_mid_job(tmp_path):
    with keyed_server("--latency", "0.3", "--concurrency", "1", data_dir=tmp_path / "slow") as slow:
        client = client_for(slow)
        file_id = upload(client, [line(f"r{i}", "x") for i in range(8)])
        job = client.batch.jobs.create(input_files=[file_id], model="m", endpoint="/v1/chat/completions")
        assert client.batch.jobs.cancel(job_id=job.id).status in ("CANCELLATION_REQUESTED", "CANCELLED")
        job = finished(client, job.id)
        assert job.status == "CANCELLED" and job.succeeded_requests < 8


def test_upstream_backend(tmp_path):
    with upstream_pair(tmp_path) as (_echo, front):
        client = client_for(front)
        file_id = upload(client, [line("up", "through the upstream")])
        job = finished(
            client,
            client.batch.jobs.create(input_files=[file_id], model="m", endpoint="/v1/chat/completions").id,
        )
        (answer,) = download(client, job.output_file)
        assert answer["response"]["body"]["choices"][0]["message"]["content"] == "through the upstream"


def test_kill_9_mid_job_then_restart(tmp_path):
    data = tmp_path / "state"
    with keyed_server(*SLOW, data_dir=data) as first:
        client = client_for(first)
        file_id = upload(client, [line(f"r{i}", f"n {i}") for i in range(10)])
        job = client.batch.jobs.create(input_files=[file_id], model="m", endpoint="/v1/chat/completions")
        poll(
            lambda: client.batch.jobs.get(job_id=job.id).succeeded_requests >= 2, timeout=20, what="progress"
        )
        port = kill_9(first)
    with keyed_server(*SLOW, data_dir=data, port=port) as second:
        client = client_for(second)
        job = finished(client, job.id)
        assert job.status == "SUCCESS" and job.succeeded_requests == 10
        assert sorted(x["custom_id"] for x in download(client, job.output_file)) == sorted(
            f"r{i}" for i in range(10)
        )


def test_files_list_pages_by_number_as_mistrals_sdk_asks(tmp_path):
    with keyed_server(data_dir=tmp_path / "data") as running:
        client = client_for(running)
        made = [upload(client, [line(f"k{i}", "hi")], f"f{i}.jsonl") for i in range(5)]
        pages = [client.files.list(page=p, page_size=2) for p in range(4)]
    assert [len(page.data) for page in pages] == [2, 2, 1, 0] and {page.total for page in pages} == {5}
    assert sorted(f.id for page in pages for f in page.data) == sorted(made)  # each once: a loop ends


def test_mistrals_own_spellings_run_as_the_requests_they_are(server):
    client = client_for(server)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    image = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": "https://x.example/a.png"}]
    job = client.batch.jobs.create(
        requests=[{"custom_id": "any", "body": {"messages": [{"role": "user", "content": "hi"}], "tools": tools,
                                                "tool_choice": "any"}},
                  {"custom_id": "image", "body": {"messages": [{"role": "user", "content": image}]}}],
        model="m", endpoint="/v1/chat/completions",
    )  # fmt: skip
    job = finished(client, job.id)
    assert job.succeeded_requests == 2 and job.failed_requests == 0, download(client, job.error_file)
