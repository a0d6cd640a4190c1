"""`batchkit run` and the sender under it against an upstream that misbehaves (a real HTTP server on
127.0.0.1, each path a behaviour): it echoes the key in its `x-request-id`, answers 200 with no choices,
cuts its body, sends a body without end or one that drips, or compresses it unasked. What it answered
with a success status is never asked for again; no body is held past its bound, nor waited for past the
timeout; no key reaches a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.server
import json
import time

import pytest
from polling import poll
from serverutil import running_server, serving
from submitsupport import run_cli

from batchkit.wire.upstream import Sender

KEY = "sk-hostile-0123456789abcdefXYZ"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
GOOD = {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
        "content": "fine"}, "finish_reason": "stop"}]}  # fmt: skip


class _Hostile(http.server.BaseHTTPRequestHandler):
    posts: list[str] = []  # the behaviours asked for, one per POST received

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        mode = self.path.split("/")[1]
        self.posts.append(mode)
        getattr(self, f"_{mode}")()

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _keyreqid(self) -> None:
        self._send(200, json.dumps(GOOD).encode(), x_request_id=self.headers["authorization"])

    def _emptychoices(self) -> None:
        self._send(200, b'{"error":{"message":"model overloaded","code":"overloaded"},"choices":[]}')

    def _trunc(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "400")
        self.end_headers()
        self.wfile.write(json.dumps(GOOD).encode()[:40])  # then the connection closes

    def _answer(self, *choices) -> None:
        body = {"id": "c", "object": "chat.completion", "choices": [
            {"index": i, "message": {"role": "assistant", **message}, "finish_reason": reason}
            for i, (message, reason) in enumerate(choices)]}  # fmt: skip
        self._send(200, json.dumps(body).encode())

    def _secondcut(self) -> None:  # n=2: the second choice cut at the token limit
        self._answer(({"content": "whole"}, "stop"), ({"content": "cu"}, "length"))

    def _refusal(self) -> None:
        self._answer(({"content": None, "refusal": "I can't help with that."}, "stop"))

    def _empty(self) -> None:
        self._answer(({"content": ""}, "stop"))

    def _gzip(self) -> None:
        self._send(200, gzip.compress(json.dumps(GOOD).encode()), content_encoding="gzip")

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("content-length", str(10**12))
        self.end_headers()
        chunk = b" " * (1 << 20)
        with contextlib.suppress(OSError):
            for _ in range(4096):  # 4 GB at most, should the client never stop reading
                self.wfile.write(chunk)

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "1000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(30):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)


@pytest.fixture
def upstream():
    _Hostile.posts = []
    with serving(_Hostile, path="") as root:  # each behaviour at a path of its own: ROOT/MODE/v1
        yield root


def _batch(tmp_path, count: int = 2):
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                        "body": CHAT}) + "\n" for i in range(count)))  # fmt: skip
    return path


def _run(tmp_path, upstream: str, mode: str, *extra):
    return run_cli("run", _batch(tmp_path), "--base-url", f"{upstream}/{mode}/v1", "--api-key-env", "HOSTILE_KEY",
                   "-o", tmp_path / "out.jsonl", *extra, HOSTILE_KEY=KEY)  # fmt: skip


def test_a_key_the_upstream_puts_in_its_request_id_reaches_no_file(tmp_path, upstream):
    result = _run(tmp_path, upstream, "keyreqid", "--cache", tmp_path / "cache.db")
    assert result.returncode == 0, result.stderr
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert KEY.encode() not in written and b"hostile-0123" not in written
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {line["response"]["request_id"] for line in lines} == {"Bearer [redacted]"}


def test_a_200_with_no_choices_is_a_failure_and_never_cached(tmp_path, upstream):
    result = _run(tmp_path, upstream, "emptychoices", "--cache", tmp_path / "cache.db")
    assert result.returncode == 1 and "2 failed" in result.stderr, result.stderr
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert {e["error"]["code"] for e in errors} == {"no_answer"}
    again = _run(tmp_path, upstream, "emptychoices", "--cache", tmp_path / "cache.db")
    assert "from the answer cache" not in again.stderr and _Hostile.posts.count("emptychoices") == 4


@pytest.mark.parametrize("mode", ["trunc", "gzip"])
def test_an_answer_given_with_a_success_status_is_never_asked_for_again(tmp_path, upstream, mode):
    result = _run(tmp_path, upstream, mode, "--no-cache", "-c", "1")
    assert result.returncode == 1, result.stderr
    assert _Hostile.posts == [mode, mode]  # one try per request, where six were made
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert {e["response"]["body"]["error"]["code"] for e in errors} == {"invalid_upstream_response"}


def _post(upstream: str, mode: str, **options):
    async def post():
        async with Sender(f"{upstream}/{mode}/v1", KEY, **options) as sender:
            return await sender.post("/chat/completions", CHAT)

    return asyncio.run(post())


def test_a_body_without_end_is_read_to_its_bound_and_one_that_drips_to_the_timeout(upstream):
    answer = _post(upstream, "endless", max_answer_bytes=8 << 20)
    assert answer.status_code == 502 and "over 8,388,608 bytes, not read" in answer.body["error"]["message"]
    started = time.monotonic()
    answer = _post(upstream, "drip", timeout=1.0)
    assert time.monotonic() - started < 3 and "did not end within 1 s" in answer.body["error"]["message"]
    assert _Hostile.posts == ["endless", "drip"]


@pytest.mark.parametrize("mode", ["secondcut", "refusal", "empty"])
def test_an_answer_not_whole_is_never_kept_in_the_cache(tmp_path, upstream, mode):
    cache = tmp_path / "cache.db"
    for run in (1, 2):  # a fresh output each time: only the cache could answer the second run
        ran = _run(tmp_path, upstream, mode, "--cache", cache, "-o", tmp_path / f"out-{run}.jsonl")
        assert "from the answer cache" not in ran.stderr, ran.stderr
    assert _Hostile.posts == [mode] * 4  # both requests asked again: nothing was kept


def test_serve_never_makes_an_upstreams_empty_answer_a_success_on_any_surface(tmp_path, upstream):
    import anthropic

    url = f"{upstream}/emptychoices/v1"
    with running_server("--backend", "upstream", "--upstream-url", url, data_dir=tmp_path / "front") as front:
        claude = anthropic.Anthropic(base_url=front.root_url, api_key="unused")
        params = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
        batch = claude.messages.batches.create(requests=[{"custom_id": "q1", "params": params}])
        poll(lambda: claude.messages.batches.retrieve(batch.id).processing_status == "ended", timeout=30,
             what="the batch to end")  # fmt: skip
        (only,) = list(claude.messages.batches.results(batch.id))
        assert only.result.type == "errored", only
        submitted = run_cli("submit", _batch(tmp_path, 1), "--base-url", front.base_url, "--wait", "--interval",
                            "0.2")  # fmt: skip
    assert submitted.returncode == 1 and "1 of 1 request(s) failed" in submitted.stderr + submitted.stdout


class _CutDownload(http.server.BaseHTTPRequestHandler):
    """A Batch API whose result file's connection drops after a part of its body: the batch is done, its
    output file says a megabyte is coming, and the server closes after a kilobyte."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.endswith("/content"):
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"{}\n" * 400)
            self.wfile.flush()
            self.close_connection = True
            return
        batch = {"id": "batch_cut", "object": "batch", "status": "completed", "endpoint": "/v1/chat/completions",
                 "input_file_id": "file-in", "output_file_id": "file-out", "error_file_id": None,
                 "completion_window": "24h", "created_at": 1700000000,
                 "request_counts": {"total": 1, "completed": 1, "failed": 0}}  # fmt: skip
        body = json.dumps(batch).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_download_whose_connection_drops_is_one_line_and_leaves_no_file(tmp_path):
    """Was a traceback (httpx's RemoteProtocolError, read outside what the SDK's errors cover), exit 1."""
    with serving(_CutDownload) as base_url:
        cut = run_cli("download", "batch_cut", "-p", "openai", "--base-url", base_url, "-o", tmp_path,
                      OPENAI_API_KEY="k")  # fmt: skip
    assert cut.returncode == 2, cut.stderr
    assert "Traceback" not in cut.stderr and len(cut.stderr.strip().splitlines()) == 1, cut.stderr
    assert list(tmp_path.iterdir()) == []
