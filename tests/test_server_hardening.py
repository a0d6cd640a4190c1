"""`batchkit serve` under hostile callers, hostile upstreams and faults: who may call it, secrets never
relayed, a busy port, a locked database, a driver that fails, deadlines nobody watches."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import threading
import time

import httpx
import openai
import orjson
import pytest
from click.testing import CliRunner
from polling import poll
from serverutil import free_port, header_echo_upstream, running_server

from batchkit.cli import cli

KEY = "sk-local-test-key-42"


def chat(custom_id, text="hello", model="batchkit-echo"):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def jsonl(lines) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def upload_and_create(client, lines, endpoint="/v1/chat/completions"):
    file_id = client.files.create(file=("b.jsonl", jsonl(lines)), purpose="batch").id
    return client.batches.create(input_file_id=file_id, endpoint=endpoint, completion_window="24h")


def ended(client, batch_id, timeout=20.0):
    terminal = {"completed", "failed", "expired", "cancelled"}

    def check():
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in terminal else None

    return poll(check, timeout=timeout, what=f"batch {batch_id} to end")


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    """A server with no options, shared by the tests that only make and read their own files and batches."""
    with running_server(data_dir=tmp_path_factory.mktemp("default") / "data") as server:
        yield server


# ---- who may call it ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    data = tmp_path_factory.mktemp("keyed") / "data"
    args = ("--api-key-env", "SERVE_KEY", "--allowed-host", "batch.internal")
    with running_server(*args, data_dir=data, env={"SERVE_KEY": KEY}) as server:
        yield server


def test_a_key_is_required_when_configured(keyed):
    url = keyed.base_url + "/models"
    missing = httpx.get(url)
    assert missing.status_code == 401 and "didn't provide an API key" in missing.json()["error"]["message"]
    wrong = httpx.get(url, headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in wrong.text
    client = openai.OpenAI(base_url=keyed.base_url, api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["batchkit-echo"]
    assert ended(client, upload_and_create(client, [chat("k")]).id).status == "completed"


def test_a_gemini_upload_starts_only_with_the_key_and_a_session_is_only_one_it_gave(keyed):
    start = {"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start"}
    url = keyed.root_url + "/upload/v1beta/files"
    for query in ("", "?x=upload_id=", "?upload_id=", "?upload_protocol=resumable&x=upload_id%3D1"):
        refused = httpx.post(url + query, json={"file": {}}, headers=start)
        assert refused.status_code in (401, 403), (query, refused.status_code, refused.text)
    unknown = httpx.post(url + "?upload_id=made-up", json={}, headers={"x-goog-upload-command": "upload"})
    assert unknown.status_code == 404  # a session only the key's holder started is taken without the key
    began = httpx.post(url, json={"file": {}}, headers={**start, "x-goog-api-key": KEY})
    chunk = {
        "x-goog-upload-command": "upload, finalize",
        "x-goog-upload-offset": "0",
        "content-type": "application/json",
    }
    done = httpx.post(began.headers["x-goog-upload-url"], content=b"{}\n", headers=chunk)
    assert done.status_code == 200 and done.json()["file"]["state"] == "ACTIVE"


def test_a_json_body_past_the_file_limit_is_refused_before_it_is_held(tmp_path):
    with running_server("--max-file-size", "1MB", data_dir=tmp_path / "d") as server:
        big = b'{"input_file_id": "' + b"x" * 2_000_000 + b'"}'
        refused = httpx.post(
            server.base_url + "/batches", content=big, headers={"Content-Type": "application/json"}
        )
        streamed = httpx.post(
            server.base_url + "/batches",
            content=(big[i : i + 65_536] for i in range(0, len(big), 65_536)),  # no length said
            headers={"Content-Type": "application/json"},
        )
    assert refused.status_code == streamed.status_code == 413, refused.text
    assert "larger than this server accepts (1,000,000 bytes)" in refused.json()["error"]["message"]


@pytest.mark.parametrize("page", ["/", "/docs", "/openapi.json"])
def test_with_a_key_every_page_needs_it(keyed, page):
    refused = httpx.get(keyed.root_url + page)
    assert refused.status_code == 401 and "SERVE_KEY" not in refused.text and "data" not in refused.text
    assert httpx.get(keyed.root_url + page, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_pages_of_other_local_origins_cannot_drive_it(keyed):
    auth = {"Authorization": f"Bearer {KEY}"}
    port = keyed.base_url.split(":")[2].split("/")[0]

    def answer(origin, route="/batches"):
        return httpx.get(keyed.base_url + route, headers={**auth, "Origin": origin}).status_code

    for other in ("http://localhost:3000", "http://127.0.0.1:3000", f"https://127.0.0.1:{port}", "null"):
        assert answer(other) == answer(other, "/files") == 403, other
    assert answer(f"http://127.0.0.1:{port}") == answer(f"http://127.0.0.1:{port}", "/files") == 200


def test_an_allowed_origin_may_drive_it(tmp_path):
    with running_server("--allowed-origin", "http://localhost:3000", data_dir=tmp_path / "d") as server:
        allowed = httpx.get(server.base_url + "/files", headers={"Origin": "http://localhost:3000"})
        other = httpx.get(server.base_url + "/files", headers={"Origin": "http://localhost:3001"})
    assert (allowed.status_code, other.status_code) == (200, 403)


def test_web_pages_cannot_drive_it(keyed):
    auth = {"Authorization": f"Bearer {KEY}"}
    url = keyed.base_url + "/chat/completions"
    body = orjson.dumps(chat("x")["body"])
    as_text = httpx.post(url, content=body, headers={**auth, "Content-Type": "text/plain"})
    assert as_text.status_code == 415 and as_text.json()["error"]["code"] == "unsupported_media_type"
    rebound = httpx.get(keyed.base_url + "/models", headers={**auth, "Host": "evil.example:8000"})
    assert rebound.status_code == 421 and rebound.json()["error"]["code"] == "invalid_host"
    other_origin = httpx.post(
        url,
        content=body,
        headers={**auth, "Content-Type": "application/json", "Origin": "https://evil.example"},
    )
    assert other_origin.status_code == 403
    port = keyed.base_url.split(":")[2].split("/")[0]
    named = httpx.get(keyed.base_url + "/models", headers={**auth, "Host": f"batch.internal:{port}"})
    assert named.status_code == 200  # --allowed-host
    as_json = httpx.post(url, content=body, headers={**auth, "Content-Type": "application/json"})
    assert as_json.status_code == 200


def test_an_open_address_needs_a_key_or_insecure(tmp_path):
    import subprocess
    import sys

    # a subprocess, bounded: a server that wrongly starts must fail the test, not hang it
    command = [sys.executable, "-m", "batchkit", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "--api-key-env" in result.stderr and "--insecure" in result.stderr
    assert not (tmp_path / "d").exists()  # refused before anything started


def test_a_key_variable_that_is_not_set_is_refused_before_starting(tmp_path):
    result = CliRunner().invoke(
        cli, ["serve", "--api-key-env", "NOT_SET_SERVE_KEY", "--data-dir", str(tmp_path / "d")], env={}
    )
    assert result.exit_code == 2
    assert (
        result.output
        == "batchkit: error: environment variable NOT_SET_SERVE_KEY (--api-key-env) is not set\n"
    )


def test_a_busy_port_is_one_line_naming_its_holder(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use by PID {os.getpid()}" in result.output
    assert "Traceback" not in result.output and "Errno" not in result.output


# ---- secrets an upstream echoes ------------------------------------------------------------------------


def test_serve_never_relays_the_upstream_key(tmp_path):
    secret = "sk-Q7zq9W3kx5Lm2Np8Rt4Vy6Hj"
    with header_echo_upstream() as upstream:
        args = ("--backend", "upstream", "--upstream-url", upstream, "--upstream-key-env", "UP_KEY")
        with running_server(*args, data_dir=tmp_path / "d", env={"UP_KEY": secret}) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
            done = ended(client, upload_and_create(client, [chat("a"), chat("b")]).id)
            stored = client.files.content(done.error_file_id).content.decode()
            direct = httpx.post(server.base_url + "/chat/completions", json=chat("c")["body"]).text
            text = httpx.post(server.base_url + "/completions", json={"model": "m", "prompt": "p"}).text
    assert done.request_counts.failed == 2
    for relayed in (stored, direct, text):
        assert "[redacted]" in relayed
        for start in range(len(secret) - 6):
            assert secret[start : start + 7] not in relayed


def test_the_echo_backend_never_echoes_the_servers_own_key(keyed):
    client = openai.OpenAI(base_url=keyed.base_url, api_key=KEY, max_retries=0)
    asked = chat("k")
    asked["body"]["messages"][0]["content"] = f"my key: {KEY}"
    direct = client.chat.completions.create(**asked["body"]).choices[0].message.content
    done = ended(client, upload_and_create(client, [asked]).id)
    stored = client.files.content(done.output_file_id).content.decode()
    assert direct == "my key: [redacted]" and KEY not in stored and "[redacted]" in stored


def test_a_vertex_job_whose_configs_are_of_another_shape_is_a_400(default_server):
    jobs = "/v1/projects/p/locations/l/batchPredictionJobs"
    answers = [
        httpx.post(
            default_server.root_url + jobs, json={"model": "m", "inputConfig": odd, "outputConfig": odd}
        )
        for odd in ("x", 5, ["a"], {"gcsSource": "x", "gcsDestination": [1]})
    ]
    assert [a.status_code for a in answers] == [400] * 4, [a.text for a in answers]
    assert all("inputConfig.gcsSource.uris" in a.text for a in answers)


def test_a_vertex_job_the_server_has_no_credentials_to_read_is_a_400_saying_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "STORAGE_"))}
    closed = f"127.0.0.1:{free_port()}"
    env |= {
        "HOME": str(tmp_path),
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": closed,
        "GCE_METADATA_IP": closed,
    }
    job = {"model": "m", "inputConfig": {"gcsSource": {"uris": ["gs://b/in.jsonl"]}},
           "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://b/out/"}}}  # fmt: skip
    with running_server(data_dir=tmp_path / "d", env=env) as server:
        answer = httpx.post(server.root_url + "/v1/projects/p/locations/l/batchPredictionJobs", json=job)
    assert answer.status_code == 400, answer.text
    assert "Failed to read the input gs://b/in.jsonl: no Google Cloud credentials found" in answer.text


def test_an_upstream_model_list_of_another_shape_finds_no_model(tmp_path):
    from serverutil import odd_native_apis

    with odd_native_apis() as upstream:  # its /models answers {"data": 5}
        args = ("--backend", "upstream", "--upstream-url", upstream, "--upstream-key-env", "UP_KEY")
        with running_server(*args, data_dir=tmp_path / "d", env={"UP_KEY": "up-key"}) as server:
            one = httpx.get(server.base_url + "/models/gpt-4o-mini")
    assert one.status_code == 404 and one.json()["error"]["code"] == "model_not_found"


# ---- faults -----------------------------------------------------------------------------------------------


def _break_files_folder(data_dir):
    """Make the server unable to write file bodies (as a full disk would): `files` becomes a plain file."""
    files = data_dir / "files"
    shutil.move(files, data_dir / "files.kept")
    files.write_bytes(b"")


def test_a_driver_that_fails_fails_its_batch_and_uploads_answer_json(tmp_path):
    data = tmp_path / "d"
    with running_server("--latency", "0.2", "--concurrency", "1", data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        batch = upload_and_create(client, [chat(f"f{i}") for i in range(3)])
        poll(lambda: client.batches.retrieve(batch.id).status == "in_progress", what="in_progress")
        _break_files_folder(data)
        upload = httpx.post(
            server.base_url + "/files", files={"file": ("x.jsonl", b"{}\n"), "purpose": (None, "batch")}
        )
        assert upload.status_code == 500
        assert upload.json()["error"]["type"] == "server_error"
        done = ended(client, batch.id)
        assert done.status == "failed" and isinstance(done.failed_at, int)
        ((error),) = done.errors.data
        assert error.code == "server_error" and "server's log" in error.message
        # it stays ended: nothing drives it again
        assert client.batches.retrieve(batch.id).status == "failed"


def test_a_locked_database_answers_503_and_the_root_page_stays_quick(tmp_path):
    data = tmp_path / "d"
    with running_server(data_dir=data) as server:
        blocker = sqlite3.connect(data / "server.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        answers = {}

        def upload():
            started = time.monotonic()
            answers["upload"] = httpx.post(
                server.base_url + "/files",
                files={"file": ("x.jsonl", jsonl([chat("a")])), "purpose": (None, "batch")},
                timeout=20,
            )
            answers["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=upload)
        thread.start()
        try:
            time.sleep(0.3)  # the upload is waiting on the lock now
            root = httpx.get(server.root_url + "/", timeout=5)
            # answered while the upload still waits on the lock (a wall-clock bound would be load, not cause)
            assert root.status_code == 200 and thread.is_alive()
            reads = httpx.get(server.base_url + "/batches", timeout=5)  # readers never wait in WAL mode
            assert reads.status_code == 200
            thread.join(30)
        finally:
            blocker.rollback()
            blocker.close()
        response = answers["upload"]
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        assert response.json()["error"]["code"] == "database_busy" and answers["seconds"] < 10
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        assert client.files.create(file=("x.jsonl", jsonl([chat("a")])), purpose="batch").id  # free again


def test_expires_after_on_upload_sets_expires_at(default_server):
    client = openai.OpenAI(base_url=default_server.base_url, api_key="unused", max_retries=0)
    uploaded = client.files.create(
        file=("e.jsonl", jsonl([chat("e")])),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert uploaded.expires_at == pytest.approx(uploaded.created_at + 7200, abs=2)
    assert client.files.retrieve(uploaded.id).expires_at == uploaded.expires_at
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("e.jsonl", b"{}\n"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 5},
        )
    assert caught.value.param == "expires_after.seconds"
    plain = client.files.create(file=("p.jsonl", jsonl([chat("p")])), purpose="batch")
    assert plain.expires_at is None


# ---- responses and moderations batches ------------------------------------------------------------------


def test_responses_and_moderations_batches(default_server):
    client = openai.OpenAI(base_url=default_server.base_url, api_key="unused", max_retries=0)
    responses = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "m", "input": f"r {i}"},
        }
        for i in range(2)
    ]
    done = ended(client, upload_and_create(client, responses, "/v1/responses").id)
    assert done.status == "completed" and done.request_counts.completed == 2
    assert done.usage.input_tokens == 4 and done.usage.output_tokens == 4
    line = orjson.loads(client.files.content(done.output_file_id).content.splitlines()[0])
    assert line["response"]["body"]["output"][0]["content"][0]["text"] in ("r 0", "r 1")
    moderations = [{"custom_id": "m", "method": "POST", "url": "/v1/moderations", "body": {"input": "hello"}}]
    done = ended(client, upload_and_create(client, moderations, "/v1/moderations").id)
    assert done.status == "completed", done.errors
    direct = client.responses.create(model="m", input="direct answer")
    assert direct.output_text == "direct answer"
    # the Responses API takes a body without a model (a stored prompt names one): answered, never a 500
    unnamed = httpx.post(f"{default_server.base_url}/responses", json={"input": "no model"}, timeout=10)
    assert unnamed.status_code == 200 and unnamed.json()["model"] is None
    moderated = client.moderations.create(input=["a", "b"])
    assert [r.flagged for r in moderated.results] == [False, False]


@pytest.fixture(scope="module")
def key_relaying(tmp_path_factory):
    """A server in front of an upstream that echoes the upstream key back, encoded as the model says."""
    from serverutil import key_echo_upstream

    data = tmp_path_factory.mktemp("relay") / "data"
    with key_echo_upstream() as upstream:
        args = ("--backend", "upstream", "--upstream-url", upstream, "--upstream-key-env", "UP_KEY")
        with running_server(*args, data_dir=data, env={"UP_KEY": UPSTREAM_KEY}) as server:
            yield server, data


UPSTREAM_KEY = "sk-Q7zq9W3kx5Lm2Np8Rt4Vy6Hj"


@pytest.mark.parametrize("encoding", ["plain", "json-escaped", "base64", "url-encoded"])
def test_serve_stores_and_relays_no_encoding_of_the_upstream_key(key_relaying, encoding):
    from leaks import leaked

    server, data = key_relaying
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    done = ended(client, upload_and_create(client, [chat("a", model=encoding)]).id)
    stored = client.files.content(done.error_file_id).content.decode()
    direct = httpx.post(server.base_url + "/chat/completions", json=chat("c", model=encoding)["body"]).text
    assert done.request_counts.failed == 1 and "[redacted]" in stored and "[redacted]" in direct
    database = b"".join(p.read_bytes() for p in data.glob("server.db*")).decode("latin-1")
    for text in (stored, direct, database):
        assert leaked(text, UPSTREAM_KEY) is None


# ---- bounded uploads and lines ---------------------------------------------------------------------------


def _multipart(chunks, boundary="b0undary"):
    """A multipart upload of a file made of `chunks`, streamed (chunked: no Content-Length)."""
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'.encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def test_an_upload_over_the_file_limit_is_refused_as_openai_does(tmp_path):
    line = orjson.dumps(chat("x")) + b"\n"
    limit = 1_000_000
    at_limit = line * (limit // len(line)) + b" " * (limit % len(line))
    assert len(at_limit) == limit
    data = tmp_path / "d"
    with running_server("--max-file-size", "1MB", data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as declared:  # Content-Length says it: refused unread
            client.files.create(file=("b.jsonl", at_limit * 5), purpose="batch")
        with pytest.raises(openai.BadRequestError) as one_over:  # within the form's room, one byte over
            client.files.create(file=("b.jsonl", at_limit + b" "), purpose="batch")
        streamed = httpx.post(  # no Content-Length: refused once more than the limit arrived
            server.base_url + "/files",
            content=_multipart(at_limit for _ in range(50)),
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
            timeout=60,
        )
        kept = client.files.create(file=("b.jsonl", at_limit), purpose="batch")
        listed = [f.id for f in client.files.list()]
    for refusal in (declared.value.body, one_over.value.body, streamed.json()["error"]):
        assert refusal == {
            "message": "File is too large.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    assert streamed.status_code == 400
    assert kept.bytes == limit and listed == [kept.id]
    assert sorted(p.name for p in (data / "files").iterdir()) == [kept.id]  # nothing of the refused stays


def test_a_file_past_its_expires_at_is_gone_as_on_openai(tmp_path):
    data = tmp_path / "d"
    with running_server(data_dir=data) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        after = {"anchor": "created_at", "seconds": 3600}
        expiring = client.files.create(
            file=("e.jsonl", jsonl([chat("e")])), purpose="batch", expires_after=after
        )
        kept = client.files.create(file=("k.jsonl", jsonl([chat("k")])), purpose="batch")
        with sqlite3.connect(data / "server.db") as db:  # an hour passes for it
            db.execute("UPDATE files SET expires_at = expires_at - 3601 WHERE id = ?", (expiring.id,))
        gone = [
            httpx.get(f"{server.base_url}/files/{expiring.id}"),
            httpx.get(f"{server.base_url}/files/{expiring.id}/content"),
            httpx.delete(f"{server.base_url}/files/{expiring.id}"),
        ]
        listed = [f.id for f in client.files.list()]
        batch = client.batches.create(
            input_file_id=expiring.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = ended(client, batch.id)
        poll(lambda: not (data / "files" / expiring.id).exists(), what="the expired file's body to go")
    assert [r.status_code for r in gone] == [404, 404, 404]
    assert all(r.json()["error"]["code"] == "not_found" for r in gone)
    assert listed == [kept.id]
    assert done.status == "failed" and done.errors.data[0].param == "file_id"
    assert (data / "files" / kept.id).is_file()


def test_a_gemini_upload_over_the_file_limit_is_refused_while_it_streams(tmp_path):
    data = tmp_path / "d"
    key = {"x-goog-api-key": "unused"}
    with running_server("--max-file-size", "1MB", data_dir=data) as server:
        root = server.root_url

        def started() -> str:
            answer = httpx.post(
                f"{root}/upload/v1beta/files",
                json={"file": {"display_name": "b.jsonl", "mimeType": "application/jsonl"}},
                headers={**key, "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start"},
            )
            return answer.headers["x-goog-upload-url"]

        def send(url: str, body, command: str = "upload, finalize"):  # as Google's SDK sends a chunk
            headers = {"x-goog-upload-command": command, "content-type": "application/json"}
            return httpx.post(url, content=body, headers=headers, timeout=60)

        in_one = send(started(), b"x" * 1_500_000)
        chunked = started()
        first = send(chunked, b"x" * 600_000, "upload")
        second = send(chunked, (b"x" * 65_536 for _ in range(10)))  # streamed: the whole file is over
        kept = send(started(), b"{}\n")
    assert in_one.status_code == 413 and in_one.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert first.status_code == 200 and second.status_code == 413
    assert kept.status_code == 200
    assert sorted(p.name for p in (data / "files").iterdir()) == [kept.json()["file"]["name"].split("/")[-1]]
