"""`batchkit serve` end to end: the official openai SDK over real HTTP against real server processes."""

from __future__ import annotations

import io

import httpx
import openai
import orjson
import pytest
from polling import poll
from serverutil import running_server

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def chat(custom_id, text="hello", model="batchkit-echo", url="/v1/chat/completions", **extra) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": url,
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **extra},
    }


def write_lines(path, lines) -> str:
    with open(path, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else orjson.dumps(line) + b"\n")
    return str(path)


def read_lines(client, file_id) -> list[dict]:
    if file_id is None:
        return []
    return [orjson.loads(line) for line in client.files.content(file_id).content.splitlines()]


def wait_for(client, batch_id, until=TERMINAL, timeout=60.0, check=None):
    """Poll a batch until its status is in `until` (bounded so a broken server fails the test, not hangs it)."""

    def reached():
        batch = client.batches.retrieve(batch_id)
        if check is not None:
            check(batch)
        return batch if batch.status in until else None

    return poll(reached, timeout=timeout, what=f"batch {batch_id} to reach {sorted(until)}")


def submit(client, tmp_path, lines, name="batch.jsonl", endpoint="/v1/chat/completions", **kwargs):
    path = write_lines(tmp_path / name, lines)
    with open(path, "rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", **kwargs
    )


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    """An echo server serving two named models."""
    data = tmp_path_factory.mktemp("echo") / "data"
    with running_server("--model", "batchkit-echo", "--model", "other-model", data_dir=data) as server:
        yield server


@pytest.fixture
def client(echo):
    return openai.OpenAI(base_url=echo.base_url, api_key="unused", max_retries=0)


def test_root_page_tells_how_to_point_a_client(echo):
    text = httpx.get(echo.root_url + "/").text
    assert f"OPENAI_BASE_URL={echo.root_url}/v1" in text
    assert "echo backend" in text and "batchkit-echo, other-model" in text


def test_batch_end_to_end(client, tmp_path):
    lines = [chat(f"q{i}", f"question number {i}") for i in range(5)]
    lines.append(chat("bad-temperature", "too hot", temperature=5))
    lines.append(chat("other", "second model", model="other-model"))
    batch = submit(client, tmp_path, lines, metadata={"run": "e2e"})
    assert batch.status == "validating"
    assert batch.metadata == {"run": "e2e"}
    assert isinstance(batch.created_at, int) and batch.expires_at == batch.created_at + 86_400

    seen = []
    done = wait_for(client, batch.id, check=lambda b: seen.append(b.status))
    assert done.status == "completed"
    assert seen[-1] == "completed" and set(seen) <= {"validating", "in_progress", "finalizing", "completed"}
    assert done.request_counts.model_dump() == {"total": 7, "completed": 6, "failed": 1}
    for stamp in ("in_progress_at", "finalizing_at", "completed_at"):
        assert isinstance(getattr(done, stamp), int)
    assert done.failed_at is None and done.cancelled_at is None and done.errors is None
    assert done.model is None  # two models in the file
    assert (
        done.usage.input_tokens > 0
        and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    )

    output = read_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted([f"q{i}" for i in range(5)] + ["other"])
    by_id = {line["custom_id"]: line for line in output}
    answer = by_id["q3"]
    assert answer["id"].startswith("batch_req_") and answer["error"] is None
    assert answer["response"]["status_code"] == 200 and answer["response"]["request_id"]
    assert answer["response"]["body"]["object"] == "chat.completion"
    assert answer["response"]["body"]["choices"][0]["message"]["content"] == "question number 3"
    assert answer["response"]["body"]["usage"]["completion_tokens"] == 3
    assert by_id["other"]["response"]["body"]["model"] == "other-model"

    (failure,) = read_lines(client, done.error_file_id)
    assert failure["custom_id"] == "bad-temperature"
    assert failure["response"]["status_code"] == 400
    assert failure["response"]["body"]["error"]["code"] == "invalid_value"
    assert failure["response"]["body"]["error"]["param"] == "temperature"
    assert failure["error"]["code"] == "invalid_value" and "temperature" in failure["error"]["message"]

    output_file = client.files.retrieve(done.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes > 0
    assert output_file.filename == f"{batch.id}_output.jsonl"


def test_embeddings_batch(client, tmp_path):
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "batchkit-echo", "input": f"text {i}"},
        }
        for i in range(3)
    ]
    done = wait_for(client, submit(client, tmp_path, lines, endpoint="/v1/embeddings").id)
    assert done.status == "completed" and done.request_counts.completed == 3
    vectors = {
        line["custom_id"]: line["response"]["body"]["data"][0]["embedding"]
        for line in read_lines(client, done.output_file_id)
    }
    assert len(vectors["e0"]) == 16 and vectors["e0"] != vectors["e1"]
    direct = client.embeddings.create(model="batchkit-echo", input="text 0")
    # deterministic (the SDK asks for base64 float32, hence the tolerance)
    assert direct.data[0].embedding == pytest.approx(vectors["e0"], abs=1e-6)


def test_nothing_succeeded_means_no_output_file(client, tmp_path):
    lines = [chat("a", max_tokens=-1), chat("b", temperature=-1)]
    done = wait_for(client, submit(client, tmp_path, lines).id)
    assert done.status == "completed"
    assert done.output_file_id is None and done.error_file_id is not None
    assert done.request_counts.model_dump() == {"total": 2, "completed": 0, "failed": 2}
    errors = {line["custom_id"]: line for line in read_lines(client, done.error_file_id)}
    assert errors["a"]["response"]["body"]["error"]["param"] == "max_tokens"
    assert errors["b"]["error"]["code"] == "invalid_value"


def test_files_routes(client, tmp_path, echo):
    path = write_lines(tmp_path / "input.jsonl", [chat("x")])
    with open(path, "rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    assert (
        uploaded.filename == "input.jsonl" and uploaded.purpose == "batch" and uploaded.status == "processed"
    )
    assert uploaded.bytes == len(open(path, "rb").read())
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == open(path, "rb").read()
    assert uploaded.id in [f.id for f in client.files.list(purpose="batch")]
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)

    with pytest.raises(openai.BadRequestError) as wrong_name:
        client.files.create(file=("input.json", b"{}\n"), purpose="batch")
    assert wrong_name.value.body["param"] == "file" and "jsonl" in wrong_name.value.body["message"]
    with pytest.raises(openai.BadRequestError) as wrong_purpose:
        client.files.create(file=("input.jsonl", b"{}\n"), purpose="fine-tune")
    assert wrong_purpose.value.body["param"] == "purpose"
    missing = httpx.post(echo.base_url + "/files", files={"purpose": (None, "batch")})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    assert missing.json()["error"]["param"] == "file"


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"endpoint": "/v1/audio/speech"}, "invalid_value", "endpoint"),
        ({"endpoint": "/v2/chat"}, "invalid_value", "endpoint"),
        ({"completion_window": "48h"}, "invalid_value", "completion_window"),
        ({"metadata": {"n": 1}}, "invalid_type", "metadata.n"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "invalid_value", "metadata"),
        ({"metadata": {"k": "v" * 513}}, "invalid_value", "metadata.k"),
        ({"input_file_id": None}, "missing_required_parameter", "input_file_id"),
        ({"endpoint": None}, "missing_required_parameter", "endpoint"),
        ({"completion_window": None}, "missing_required_parameter", "completion_window"),
        ({"input_file_id": 7}, "invalid_type", "input_file_id"),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": 10}},
            "invalid_value",
            "output_expires_after.seconds",
        ),
    ],
)
def test_create_time_400(echo, change, code, param):
    body = {"input_file_id": "file-abc", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    before = httpx.get(echo.base_url + "/batches", params={"limit": 100}).json()["data"]
    response = httpx.post(echo.base_url + "/batches", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert error["message"]
    after = httpx.get(echo.base_url + "/batches", params={"limit": 100}).json()["data"]
    assert after == before  # nothing was created


def test_create_time_400_through_the_sdk(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(input_file_id="file-abc", endpoint="/v1/audio/speech", completion_window="24h")
    assert caught.value.code == "invalid_value" and caught.value.param == "endpoint"
    assert caught.value.body["message"] == (
        "Invalid value: '/v1/audio/speech'. Supported values are: '/v1/audio/transcriptions', "
        "'/v1/audio/translations', '/v1/chat/completions', '/v1/completions', '/v1/embeddings', "
        "'/v1/moderations', '/v1/rerank', '/v1/responses', and '/v1/score'."
    )


def test_validating_failures_report_line_code_param(client, tmp_path):
    lines = [
        chat("ok-1"),
        b"{not json\n",
        {"method": "POST", "url": "/v1/chat/completions", "body": chat("x")["body"]},
        {"custom_id": "no-method", "url": "/v1/chat/completions", "body": chat("x")["body"]},
        {"custom_id": "no-body", "method": "POST", "url": "/v1/chat/completions"},
        chat("wrong-url", url="/v1/embeddings"),
        chat("streams", stream=True),
        chat("unknown-model", model="gpt-nothing"),
        {
            "custom_id": "no-model",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hi"}]},
        },
        {
            "custom_id": "no-messages",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "batchkit-echo"},
        },
        chat("ok-1"),
    ]
    batch = submit(client, tmp_path, lines)
    done = wait_for(client, batch.id)
    assert done.status == "failed"
    assert isinstance(done.failed_at, int) and done.in_progress_at is None
    assert done.output_file_id is None and done.error_file_id is None
    got = [(e.line, e.code, e.param) for e in done.errors.data]
    assert got == [
        (2, "invalid_json_line", None),
        (3, "missing_required_parameter", "custom_id"),
        (4, "missing_required_parameter", "method"),
        (5, "missing_required_parameter", "body"),
        (6, "invalid_url", "url"),
        (7, "streaming_unsupported", "body.stream"),
        (8, "model_not_found", "body.model"),
        (9, "invalid_request", "body.model"),
        (10, "invalid_request", "body.messages"),
        (11, "duplicate_custom_id", "custom_id"),
    ]
    assert all(e.message for e in done.errors.data)
    # OpenAI's own words (recorded replies), names filled in
    messages = {e.line: e.message for e in done.errors.data}
    assert messages[2] == "This line is not parseable as valid JSON."
    assert messages[3] == "Missing required parameter: 'custom_id'."
    assert messages[5] == "Missing required parameter: 'body'."
    assert messages[6] == "The URL provided for this request does not match the batch endpoint."
    assert messages[7] == "Chat Completions: Streaming is not supported in the Batch API."
    assert messages[8] == "The provided model 'gpt-nothing' is not supported by the Batch API."
    assert messages[9] == "Model parameter is required."
    assert messages[10] == "Messages parameter is required."


def test_unknown_input_file_fails_while_validating(client):
    batch = client.batches.create(
        input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_for(client, batch.id)
    assert done.status == "failed"
    ((error),) = done.errors.data
    assert (error.code, error.param, error.line) == ("invalid_request", "file_id", None)
    assert (
        error.message == "Cannot find file file-nope, or organization org-local does not have access to it."
    )


def test_empty_file_fails(client, tmp_path):
    done = wait_for(client, submit(client, tmp_path, [b""]).id)
    assert done.status == "failed" and done.errors.data[0].code == "empty_file"


def test_list_pagination_newest_first(client, tmp_path):
    ids = [submit(client, tmp_path, [chat("p")], name=f"p{i}.jsonl").id for i in range(3)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2]
    assert first.has_more is True
    raw = httpx.get(str(client.base_url) + "batches", params={"limit": 2}).json()
    assert (raw["object"], raw["first_id"], raw["last_id"]) == ("list", ids[2], ids[1])
    second = client.batches.list(limit=2, after=ids[1])
    assert second.data[0].id == ids[0]
    everything = [b.id for b in client.batches.list(limit=1)]  # the SDK follows has_more/after
    assert everything[:3] == ids[::-1] and len(everything) == len(set(everything))
    last = httpx.get(str(client.base_url) + "batches", params={"after": everything[-1]}).json()
    assert last == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"after": "batch_nope"}):
        response = httpx.get(str(client.base_url) + "batches", params=bad)
        assert response.status_code == 400 and response.json()["error"]["param"] in bad


def test_not_found_and_conflict(client, tmp_path):
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_nope")
    done = wait_for(client, submit(client, tmp_path, [chat("c")]).id)
    with pytest.raises(openai.ConflictError) as caught:
        client.batches.cancel(done.id)
    assert caught.value.body["message"] == "Cannot cancel a batch with status 'completed'."
    assert caught.value.body["code"] is None and caught.value.body["param"] is None
    failed = wait_for(client, submit(client, tmp_path, [b"nope\n"], name="f.jsonl").id)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(failed.id)
    response = httpx.get(str(client.base_url) + "nothing-here")
    assert response.status_code == 404 and response.json()["error"]["message"]


def test_idempotency_key(client, tmp_path):
    path = write_lines(tmp_path / "i.jsonl", [chat("i")])
    with open(path, "rb") as f:
        file_id = client.files.create(file=f, purpose="batch").id
    params = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    first = client.batches.create(**params, extra_body={"idempotency_key": "key-1"})
    again = client.batches.create(**params, extra_body={"idempotency_key": "key-1"})
    assert again.id == first.id
    with pytest.raises(openai.ConflictError) as caught:
        client.batches.create(**params, metadata={"x": "y"}, extra_body={"idempotency_key": "key-1"})
    assert caught.value.code == "conflict" and "conflict" in caught.value.message
    other = client.batches.create(**params, extra_body={"idempotency_key": "key-2"})
    assert other.id != first.id


def test_models_and_direct_requests(client):
    assert [m.id for m in client.models.list()] == ["batchkit-echo", "other-model"]
    answer = client.chat.completions.create(
        model="other-model",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three four"},
        ],
        max_tokens=2,
    )
    assert answer.choices[0].message.content == "one two" and answer.choices[0].finish_reason == "length"
    assert answer.usage.prompt_tokens == 6 and answer.usage.completion_tokens == 2
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nothing", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="batchkit-echo", messages=[])
    assert caught.value.param == "messages"


# ---- running batches: cancel and expiry (a slow echo and scaled completion windows) --------------------

# 24h lasts ~2.6 s and 72h ~7.8 s; each request takes at least 0.3 s (a sleep: load only makes it
# longer), two at a time, so 80 requests need 12 s or more and can never beat a 2.6 s window
SLOW = (
    "--latency",
    "0.3",
    "--concurrency",
    "2",
    "--window-scale",
    "0.00003",
    "--completion-windows",
    "24h,72h",
)


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    with running_server(*SLOW, data_dir=tmp_path_factory.mktemp("slow") / "data") as server:
        yield openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_cancel_while_running_keeps_what_finished(slow, tmp_path):
    ids = [f"c{i}" for i in range(60)]
    path = write_lines(tmp_path / "cancel.jsonl", [chat(i, i) for i in ids])
    with open(path, "rb") as f:
        file_id = slow.files.create(file=f, purpose="batch").id
    batch = slow.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="72h"
    )
    wait_for(slow, batch.id, until={"in_progress"} | TERMINAL)

    def four_answered():  # live counts
        running = slow.batches.retrieve(batch.id)
        assert running.status == "in_progress"
        return running.request_counts.completed >= 4

    poll(four_answered, what="4 answers")
    cancelling = slow.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and isinstance(cancelling.cancelling_at, int)
    done = wait_for(slow, batch.id)
    assert done.status == "cancelled" and isinstance(done.cancelled_at, int)
    assert slow.batches.cancel(batch.id).status == "cancelled"  # cancelling a cancelled batch is allowed
    output = read_lines(slow, done.output_file_id)
    kept = [line["custom_id"] for line in output]
    assert len(kept) == len(set(kept)) == done.request_counts.completed >= 4
    assert len(kept) < 60 and set(kept) <= set(ids)
    assert done.error_file_id is None


def test_expiry_writes_every_unfinished_request_as_batch_expired(slow, tmp_path):
    ids = [f"x{i}" for i in range(80)]  # 80 × 0.3 s / 2 ≥ 12 s of work in a 2.6 s window
    done = wait_for(slow, submit(slow, tmp_path, [chat(i, i) for i in ids]).id)
    assert done.status == "expired" and isinstance(done.expired_at, int)
    assert done.expired_at >= done.expires_at  # never before the deadline
    output = read_lines(slow, done.output_file_id)
    errors = read_lines(slow, done.error_file_id)
    answered = [line["custom_id"] for line in output]
    expired = [line["custom_id"] for line in errors]
    assert sorted(answered + expired) == sorted(ids)  # each exactly once
    assert expired, "the window should have passed before every request was answered"
    for line in errors:
        assert line["response"] is None
        assert line["error"]["code"] == "batch_expired"
    assert done.request_counts.model_dump() == {
        "total": 80,
        "completed": len(answered),
        "failed": len(expired),
    }


# ---- kill -9 mid-batch, restart, continue ------------------------------------------------------------


def _committed(data_dir, batch_id) -> dict[str, str]:
    """custom_id → output line id of every request the server had committed (read from its database)."""
    import sqlite3

    db = sqlite3.connect(data_dir / "server.db")
    try:
        rows = db.execute("SELECT custom_id, data FROM results WHERE batch_id = ?", (batch_id,)).fetchall()
    finally:
        db.close()
    return {custom_id: orjson.loads(data)["id"] for custom_id, data in rows}


def test_kill_9_mid_batch_then_restart_continues(tmp_path):
    data = tmp_path / "data"
    ids = [f"k{i}" for i in range(60)]
    args = ("--latency", "0.05", "--concurrency", "2")
    with running_server(*args, data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        batch = submit(client, tmp_path, [chat(i, i) for i in ids])

        def ten_answered():
            progress = client.batches.retrieve(batch.id)
            assert progress.status in ("validating", "in_progress")
            return progress.request_counts.completed >= 10

        poll(ten_answered, interval=0.02, what="10 answers")
        server.process.kill()  # SIGKILL: no clean shutdown
        server.process.wait()
    before = _committed(data, batch.id)
    assert 10 <= len(before) < 60

    with running_server(*args, data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        done = wait_for(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts.model_dump() == {"total": 60, "completed": 60, "failed": 0}
    with running_server(*args, data_dir=data) as server:  # the files survive a restart too
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        output = read_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted(ids)
    again = {line["custom_id"]: line["id"] for line in output}
    # a request committed before the kill was not run again: its line is the very same one
    assert all(again[custom_id] == line_id for custom_id, line_id in before.items())


def test_binds_only_the_host_it_is_given(echo):
    import psutil

    listening = [
        c.laddr
        for c in psutil.Process(echo.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(address.ip == "127.0.0.1" for address in listening)


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path):
    import subprocess
    import sys

    from serverutil import free_port

    with running_server(data_dir=tmp_path / "data"):
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "batchkit",
                "serve",
                "--port",
                str(free_port()),
                "--data-dir",
                tmp_path / "data",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert second.returncode == 2
    assert "in use by another batchkit serve" in second.stderr and "Traceback" not in second.stderr


def test_a_file_deleted_while_its_batch_validates_is_gone_once_the_batch_fails(tmp_path):
    """Its body is kept while the batch reads it; refused at validation, the batch reads it no more."""
    data = tmp_path / "data"
    body = b"".join(orjson.dumps(chat(f"r{i}", "x" * 200)) + b"\n" for i in range(30_000)) + b"{not json\n"
    with running_server("--model", "batchkit-echo", data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        upload = client.files.create(file=("b.jsonl", io.BytesIO(body)), purpose="batch")
        batch = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        client.files.delete(upload.id)  # while it validates (8 MB)
        poll(lambda: client.batches.retrieve(batch.id).status == "failed", what="the batch to fail")
        assert not (data / "files" / upload.id).exists()  # was left until the next start
