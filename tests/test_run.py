"""`batchkit run` as a real subprocess against real `batchkit serve` processes (echo, and upstream → echo)."""

from __future__ import annotations

import os
import subprocess
import sys

import openai
import orjson
import pytest
from polling import poll
from serverutil import running_server

from batchkit.runner import part_path

RUN = [sys.executable, "-m", "batchkit", "run"]


def chat(custom_id, text="hello", **extra) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "batchkit-echo", "messages": [{"role": "user", "content": text}], **extra},
    }


def write_lines(path, lines):
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def read_lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def finished(client, batch_id):
    def ended():
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in ("completed", "failed") else None

    return poll(ended, timeout=30, what=f"batch {batch_id} to end")


def run(*args, env=None, timeout=60):
    return subprocess.run(
        [*RUN, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    """An echo server of one model that answers every 5th direct request with 429 (Retry-After) or 503."""
    data = tmp_path_factory.mktemp("run-echo") / "data"
    args = ("--model", "batchkit-echo", "--latency", "0.02", "--fail-every", "5", "--concurrency", "16")
    with running_server(*args, data_dir=data) as server:
        yield server


def test_run_writes_output_and_errors_and_retries(echo, tmp_path):
    unknown_model = chat("elsewhere")
    unknown_model["body"]["model"] = "not-served"  # valid for the file, refused by the server
    lines = [chat(f"r{i}", f"answer {i}") for i in range(30)] + [unknown_model]
    source = write_lines(tmp_path / "batch.jsonl", lines)
    output = tmp_path / "out.jsonl"
    result = run(source, "--base-url", echo.base_url, "-o", output, "-c", "4")
    assert result.returncode == 1, result.stderr  # one request failed
    successes = read_lines(output)
    assert sorted(line["custom_id"] for line in successes) == sorted(f"r{i}" for i in range(30))
    for line in successes:
        assert line["response"]["status_code"] == 200 and line["error"] is None
        number = line["custom_id"][1:]
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"answer {number}"
    (failure,) = read_lines(tmp_path / "out.errors.jsonl")
    assert failure["custom_id"] == "elsewhere" and failure["response"]["status_code"] == 404
    assert failure["error"]["code"] == "model_not_found"
    assert failure["response"]["body"]["error"]["code"] == "model_not_found"
    assert "30 succeeded, 1 failed" in result.stderr
    retries = int(result.stderr.split(" retries")[0].rsplit(" ", 1)[1])
    assert retries >= 5  # 429s and 503s were retried, never recorded as answers
    assert not part_path(output).exists() and not part_path(tmp_path / "out.errors.jsonl").exists()

    # only successes are final: the failed request is sent again, and fails again
    again = run(source, "--base-url", echo.base_url, "-o", output, "-c", "4")
    assert again.returncode == 1 and "30 already answered before" in again.stderr
    assert "0 succeeded, 1 failed" in again.stderr
    assert len(read_lines(output)) == 30
    assert [line["custom_id"] for line in read_lines(tmp_path / "out.errors.jsonl")] == ["elsewhere"]


def test_run_refuses_an_invalid_file(echo, tmp_path):
    source = write_lines(tmp_path / "bad.jsonl", [chat("a"), chat("a"), {"custom_id": "b"}])
    result = run(source, "--base-url", echo.base_url, "-o", tmp_path / "out.jsonl")
    assert result.returncode == 1
    assert "duplicate-custom-id" in result.stderr and "batchkit: error:" in result.stderr
    assert not (tmp_path / "out.jsonl").exists() and not part_path(tmp_path / "out.jsonl").exists()


def test_run_needs_the_named_key_variable(echo, tmp_path):
    source = write_lines(tmp_path / "b.jsonl", [chat("a")])
    result = run(
        source, "--base-url", echo.base_url, "-o", tmp_path / "o.jsonl", "--api-key-env", "NOT_SET_X"
    )
    assert result.returncode == 2 and "NOT_SET_X" in result.stderr


def test_interrupted_run_resumes_without_sending_twice(tmp_path):
    ids = [f"s{i}" for i in range(40)]
    source = write_lines(tmp_path / "slow.jsonl", [chat(i, i) for i in ids])
    output = tmp_path / "out.jsonl"
    part = part_path(output)
    with running_server("--latency", "0.1", data_dir=tmp_path / "data") as server:
        process = subprocess.Popen(
            [*RUN, source, "--base-url", server.base_url, "-o", output, "-c", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def five_answered():
                assert process.poll() is None
                return part.exists() and part.read_bytes().count(b"\n") >= 5

            poll(five_answered, timeout=30, interval=0.02)
        finally:
            process.kill()
            process.wait()
        assert not output.exists()  # the output appears only when whole
        answered = part.read_bytes().count(b"\n")
        assert 5 <= answered < 40
        with open(part, "ab") as f:
            f.write(b'{"id":"batch_req_cut","custom_id":"s3')  # a line cut short by the kill

        result = run(source, "--base-url", server.base_url, "-o", output, "-c", "4")
    assert result.returncode == 0, result.stderr
    assert f"{answered} already answered before" in result.stderr
    assert f"{40 - answered} succeeded" in result.stderr
    lines = read_lines(output)
    assert sorted(line["custom_id"] for line in lines) == sorted(ids)  # each exactly once
    assert not part.exists()


def test_run_through_a_server_whose_upstream_is_another(echo, tmp_path):
    secret = "sk-upstream-secret-123"
    env = {"UPSTREAM_KEY": secret}
    args = (
        "--backend",
        "upstream",
        "--upstream-url",
        echo.base_url,
        "--upstream-key-env",
        "UPSTREAM_KEY",
        "--concurrency",
        "4",
    )
    with running_server(*args, data_dir=tmp_path / "data", env=env) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["batchkit-echo"]

        source = write_lines(tmp_path / "b.jsonl", [chat(f"u{i}", f"via proxy {i}") for i in range(12)])
        output = tmp_path / "out.jsonl"
        result = run(source, "--base-url", proxy.base_url, "-o", output, "--max-rps", "100")
        assert result.returncode == 0, result.stderr
        lines = read_lines(output)
        assert sorted(line["custom_id"] for line in lines) == sorted(f"u{i}" for i in range(12))
        assert all(line["response"]["status_code"] == 200 for line in lines)

        # a batch executed by the upstream backend, failures included
        with open(
            write_lines(tmp_path / "bb.jsonl", [chat("p1", "one"), chat("p2", max_tokens=-5)]), "rb"
        ) as f:
            file_id = client.files.create(file=f, purpose="batch").id
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = finished(client, batch.id)
        assert batch.status == "completed"
        assert batch.request_counts.model_dump() == {"total": 2, "completed": 1, "failed": 1}
        (ok,) = [orjson.loads(x) for x in client.files.content(batch.output_file_id).content.splitlines()]
        assert ok["response"]["body"]["choices"][0]["message"]["content"] == "one"
        (bad,) = [orjson.loads(x) for x in client.files.content(batch.error_file_id).content.splitlines()]
        assert (
            bad["response"]["status_code"] == 400
            and bad["response"]["body"]["error"]["param"] == "max_tokens"
        )

        bad_model = write_lines(
            tmp_path / "m.jsonl", [chat("m1") | {"body": {**chat("m1")["body"], "model": "nope"}}]
        )
        with open(bad_model, "rb") as f:
            file_id = client.files.create(file=f, purpose="batch").id
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = finished(client, batch.id)
        assert [(e.code, e.param, e.line) for e in batch.errors.data] == [
            ("model_not_found", "body.model", 1)
        ]
    log = "".join(p.read_text() for p in (tmp_path / "data").glob("serve-*.log"))
    assert "Application startup complete" in log and secret not in log
