"""Start `batchkit serve` as a real subprocess for tests.

Usage::

    from serverutil import running_server

    def test_something(tmp_path):
        with running_server("--backend", "echo", "--latency", "0.05", data_dir=tmp_path / "srv") as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="unused")
            ...
            server.process        # the subprocess.Popen (e.g. send SIGKILL to test a crash)

    # unpacking works too:  with running_server() as (base_url, process): ...

The server binds 127.0.0.1 on a free port, keeps its state in `data_dir` (a fresh temporary folder when
not given, removed afterwards) and is always stopped when the block ends (terminate, then kill). Pass the
same `data_dir` (and `port=` if a client must find it again) to restart a server on the state a killed one
left. Its stdout/stderr go to `<log_dir or data_dir>/serve-<port>.log`; the log is included in the error raised when the
server does not come up.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

START_TIMEOUT = 30.0


class ServerProcess(NamedTuple):
    base_url: str  # "http://127.0.0.1:PORT/v1"
    process: subprocess.Popen

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str, pid: int) -> bool:
    """True when the server at `url` is the process `pid` (not another one that holds the port); a server
    that requires a key answers 401 with the same header."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and response.headers.get("x-batchkit-pid") == str(pid)
    except urllib.error.HTTPError as refused:
        return refused.code == 401 and refused.headers.get("x-batchkit-pid") == str(pid)
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate `process` (SIGTERM), then kill it if it does not stop within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_server(
    *args: str,
    data_dir: str | os.PathLike | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike | None = None,
) -> Iterator[ServerProcess]:
    """Run `batchkit serve --host 127.0.0.1 --port PORT --data-dir DIR *args` until the block ends."""
    own_dir = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="batchkit-serve-")) if own_dir else Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = Path(log_dir) if log_dir else data_dir
    full_env = {**os.environ, **(env or {})}
    attempts = 1 if port else 3  # a free port can be taken between probing and binding: try another
    process = None
    try:
        for attempt in range(attempts):
            chosen = port or free_port()
            log_path = log_dir / f"serve-{chosen}.log"
            command = [
                sys.executable, "-m", "batchkit", "serve",
                "--host", "127.0.0.1", "--port", str(chosen), "--data-dir", str(data_dir), *args,
            ]  # fmt: skip
            with open(log_path, "ab") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
            root = f"http://127.0.0.1:{chosen}"
            deadline = time.monotonic() + START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(root + "/", process.pid):
                    break
                time.sleep(0.05)
            if process.poll() is None and _answers(root + "/", process.pid):
                break
            stop(process)
            if attempt == attempts - 1:
                log_text = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"batchkit serve did not start (exit {process.returncode}):\n{log_text}")
        yield ServerProcess(f"{root}/v1", process)
    finally:
        if process is not None:
            stop(process)
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


class _HeaderEcho(http.server.BaseHTTPRequestHandler):
    """A hostile upstream: every POST fails with the request's headers in its error body (JSON, 400) or, for
    `/completions`, in a long plain-text body (401) where they sit past the first few hundred characters."""

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        models = {"object": "list", "data": [{"id": "batchkit-echo", "object": "model", "owned_by": "x"}]}
        self._answer(200, json.dumps(models).encode(), "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        if self.path.endswith("/completions") and not self.path.endswith("/chat/completions"):
            # the key's first characters fall just before a 500-character cut, the rest after it
            text = "x" * 470 + f"Authorization: {headers.get('Authorization')} " + str(headers)
            self._answer(401, text.encode(), "text/plain")
            return
        error = {"message": f"bad request; you sent {headers}", "type": "invalid_request_error"}
        self._answer(400, json.dumps({"error": error, "echo": headers}).encode(), "application/json")


def header_echo_upstream():
    """A real HTTP server on 127.0.0.1 that echoes request headers into its error bodies; yields its base URL."""
    return serving(_HeaderEcho)


@contextlib.contextmanager
def serving(handler, path: str = "/v1") -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 with `handler`, in a thread, for the block; yields its base URL
    (its address and `path`). A request still being answered at the end does not hold the block up."""
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()


class _KeyEcho(_HeaderEcho):
    """A hostile upstream that answers every POST with 400 and the bearer key in its error message, in the
    encoding `leaks.ENCODINGS` names as the body's `model` (written into the raw JSON text as it is)."""

    def do_GET(self) -> None:
        from leaks import ENCODINGS

        models = {"object": "list", "data": [{"id": name, "object": "model"} for name in ENCODINGS]}
        self._answer(200, json.dumps(models).encode(), "application/json")

    def do_POST(self) -> None:
        from leaks import ENCODINGS

        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        encode = ENCODINGS.get(body.get("model"), ENCODINGS["plain"])
        text = '{"error": {"message": "bad key ' + encode(key) + '", "type": "invalid_request_error"}}'
        self._answer(400, text.encode(), "application/json")


def key_echo_upstream():
    """A real HTTP server on 127.0.0.1 that answers with the caller's key encoded (see _KeyEcho)."""
    return serving(_KeyEcho)


class _Hostile(_HeaderEcho):
    """An upstream whose every word is hostile: model ids, and every POST answered 400 with an error
    whose code and message are `HOSTILE` (terminal control sequences)."""

    def do_GET(self) -> None:
        models = {"object": "list", "data": [{"id": f"m{HOSTILE}", "object": "model", "owned_by": HOSTILE}]}
        self._answer(200, json.dumps(models).encode(), "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        error = {"message": f"refused {HOSTILE}", "type": "invalid_request_error", "code": f"c{HOSTILE}"}
        self._answer(400, json.dumps({"error": error}).encode(), "application/json")


def hostile_upstream():
    """A real HTTP server on 127.0.0.1 whose answers carry terminal control sequences (see _Hostile)."""
    return serving(_Hostile)


# a window title (OSC 0), a clipboard write (OSC 52), a link (OSC 8), a screen clear (CSI), an 8-bit CSI
# and a right-to-left override: what a hostile answer puts in front of a terminal
HOSTILE = (
    "\x1b]0;pwned\x07\x1b]52;c;cGF5bG9hZA==\x07\x1b]8;;http://evil.example/\x1b\\here\x1b]8;;\x1b\\"
    "\x1b[2J\x9b31m\u202e\u200b\u2028\ufeff"
)


class _Redirect(_HeaderEcho):
    """An upstream that answers every POST with a redirect elsewhere (http:// to https://, say), counting
    the requests it gets."""

    posts = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).posts += 1
        self.send_response(301)
        self.send_header("Location", "https://api.example.com/v1/chat/completions")
        self.send_header("Content-Length", "0")
        self.end_headers()


def redirecting_upstream():
    """A real HTTP server on 127.0.0.1 that redirects every POST (see _Redirect); yields (base URL, its
    handler class, whose `posts` counts what it got)."""
    _Redirect.posts = 0
    return serving(_Redirect)


class _AnswersNothing(_HeaderEcho):
    """An upstream that answers every POST 200 with an empty JSON object: a success with no answer."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(200, b"{}", "application/json")


def answerless_upstream():
    """A real HTTP server on 127.0.0.1 whose every answer is 200 `{}` (see _AnswersNothing); yields its
    base URL."""
    return serving(_AnswersNothing)


class _OddBatches(_HeaderEcho):
    """A Batches API whose batch objects have fields of other shapes (counts and metadata as text, a
    time past year 9999) and whose `batch_array` is a JSON array."""

    def do_GET(self) -> None:
        if self.path.endswith("/batch_array"):
            self._answer(200, b"[1, 2]", "application/json")
            return
        batch = {"id": "batch_odd", "object": "batch", "status": "completed", "request_counts": "2 of 2",
                 "metadata": "none", "created_at": 10**20, "errors": {"data": [None, 5, {"message": 7}]}}  # fmt: skip
        self._answer(200, json.dumps(batch).encode(), "application/json")


class _OddNative(_HeaderEcho):
    """The Gemini, Mistral, Anthropic and OpenAI APIs answering in shapes their SDKs (or batchkit) do not
    expect: a Gemini batch whose name is a number, a Mistral job whose id is a number, lists whose `data`
    is a number, an Anthropic batch whose `results_url` is a list; and Vertex (401) and Bedrock (403)
    refusing the credentials they were given."""

    ANSWERS = {
        "/v1beta/batches/odd": {"name": 1.5},
        "/v1/batch/jobs/odd": {"id": 5, "status": {"a": 1}, "input_files": "x"},
        "/v1beta/batches/esc": {"name": "batches/esc", "metadata": {"state": "\x1b[2Jesc", "model": "models/m"}},
        "/v1beta/batches": {"operations": [{"name": {"a": 1}, "metadata": {"state": 5}}]},
        "/v1/models": {"object": "list", "data": 5},
        "/v1/messages/batches": {"data": 5, "has_more": False},
        "/v1/messages/batches/msgbatch_odd": {
            "id": "msgbatch_odd", "type": "message_batch", "processing_status": "ended",
            "request_counts": {"succeeded": 1}, "created_at": "2026-01-01T00:00:00Z", "results_url": ["x"],
        },
    }  # fmt: skip

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if "/batchPredictionJobs/" in path:  # Vertex: credentials it does not take
            error = {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED",
            }
            self._answer(401, json.dumps({"error": error}).encode(), "application/json")
        elif path.startswith("/model-invocation-job/"):  # Bedrock: credentials not allowed to read the job
            self.send_response(403)
            self.send_header("x-amzn-ErrorType", "AccessDeniedException")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        else:
            answer = self.ANSWERS.get(path)
            self._answer(
                200 if answer else 404, json.dumps(answer or {"error": "no"}).encode(), "application/json"
            )


def odd_native_apis():
    """A real HTTP server on 127.0.0.1 answering odd shapes of the native APIs (see _OddNative)."""
    return serving(_OddNative)


def odd_batches_api():
    """A real HTTP server on 127.0.0.1 answering odd batch objects (see _OddBatches); yields its base URL."""
    return serving(_OddBatches)
