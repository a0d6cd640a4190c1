"""Support for the submit tests: the CLI as a real subprocess, and real HTTP servers on 127.0.0.1 (no
mocked clients):

- `kluster_style()`: a small Batch API that answers the way kluster.ai does — timestamps as strings,
  `/models` as a bare array with ISO dates, list pages with extra fields (`count`, `page`, ...) — with a
  required API key, request counting, and failures that can be queued per route.
- `Proxy`: forwards to another server (e.g. `batchkit serve`) and can pause a request until released, hold
  a request before forwarding it, hold or drop the answer after forwarding it, so a test can kill the CLI
  at an exact step, lose the answer to a create, or run two CLIs against each other.
- `invoke()`: the CLI in-process with click's CliRunner, for tests where the process itself is not the point.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import http.server
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

ROOT = Path(__file__).resolve().parent.parent
SEED_MODELS = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct",
)


@dataclass
class Outcome:
    """What a CLI call did: the same fields as a finished subprocess."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args, **env: str) -> Outcome:
    """`batchkit ARGS` in this process with click's CliRunner (much faster than a subprocess); for tests
    where no signal, terminal or process is the point. An exception that is not an exit is raised."""
    from click.testing import CliRunner

    from batchkit.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], env=env or None)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "batchkit", *map(str, args)]


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment (BATCHKIT_HOME etc. from conftest) with batchkit importable from the checkout."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_cli(*args, env: dict | None = None, timeout: float = 120, **extra_env) -> subprocess.CompletedProcess:
    """`batchkit ARGS` as a subprocess; stdout and stderr as text."""
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout, env=env or cli_env(**extra_env)
    )


def start_cli(
    *args, env: dict | None = None, stderr=subprocess.PIPE, ctrl_c: bool = False, **extra_env
) -> subprocess.Popen:
    """`batchkit ARGS` started as a subprocess; stderr to a pipe unless another file is given. `ctrl_c`:
    SIGINT at its default, as a command in a terminal's foreground has it, however the suite was started
    (a shell starts a background job with SIGINT ignored, and a child inherits that)."""
    return subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env or cli_env(**extra_env),
        preexec_fn=_sigint_at_its_default if ctrl_c else None,
    )


def _sigint_at_its_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_in_terminal(*args) -> str:
    """`batchkit ARGS` with stdout and stderr on a pseudo-terminal 120 columns wide; everything it showed.
    Bars redraw on every update (TQDM_MININTERVAL=0), so what they show does not depend on the speed of the
    machine (a fast read would otherwise finish before the first redraw)."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of a known size, then the CLI
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        command = cli_command(*args)
        os.execve(command[0], command, cli_env(TQDM_MININTERVAL="0"))
    shown = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child has exited and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return shown.decode(errors="replace")


def write_requests(path: Path, count: int = 3, models=SEED_MODELS, prefix: str = "q", **body) -> Path:
    """A valid chat batch file of `count` requests cycling through `models`."""
    lines = []
    for i in range(count):
        request_body = {
            "model": models[i % len(models)],
            "messages": [{"role": "user", "content": f"{prefix} question {i}"}],
            **body,
        }
        request = {
            "custom_id": f"{prefix}-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": request_body,
        }
        lines.append(json.dumps(request) + "\n")
    path.write_text("".join(lines))
    return path


@contextlib.contextmanager
def serve_app(app) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a free 127.0.0.1 port; yields the root URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# --- a kluster-style provider ----------------------------------------------------------------------------


@dataclass
class KlusterStyle:
    key: str
    base_url: str = ""
    hits: collections.Counter = field(default_factory=collections.Counter)
    # route name → list of (status, body, headers) answered instead of the real thing, first first
    failures: dict[str, list[tuple[int, dict, dict]]] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    # how many retrieves a batch stays in each status before moving on
    steps_per_status: int = 1
    # leave this many lines out of each output file (a download that disagrees with request_counts)
    short_output: int = 0
    # every create body received (answered or failed), with its Idempotency-Key header, in order
    creates: list[tuple[dict, str | None]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # for files and batches
    models: tuple[str, ...] = SEED_MODELS  # what /models lists
    # when set, a batch fails at validation with these errors.data entries instead of completing
    batch_errors: list[dict] | None = None

    def fail(self, route: str, status: int, message: str, times: int = 1, headers: dict | None = None):
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        self.failures.setdefault(route, []).extend([(status, body, headers or {})] * times)


def _stamp() -> str:
    return str(int(time.time()))  # kluster.ai sends timestamps as strings


def kluster_app(state: KlusterStyle):
    app = FastAPI()
    _guard(app, state)
    _file_routes(app, state)
    _batch_routes(app, state)

    @app.get("/v1/models")
    def models():
        # kluster.ai's documented answer: a bare array, `created` as an ISO string
        return [
            {"id": name, "object": "model", "created": "1970-01-01T00:00:00Z", "owned_by": "kluster"}
            for name in state.models
        ]

    return app


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=404)


def _guard(app, state: KlusterStyle) -> None:
    """Count every request, record creates, require the key, answer queued failures."""

    @app.middleware("http")
    async def guard(request: Request, call_next):
        route = _route_name(request.method, request.url.path)
        state.hits[route] += 1
        if route == "POST /v1/batches":
            state.creates.append((json.loads(await request.body()), request.headers.get("idempotency-key")))
        if request.headers.get("authorization") != f"Bearer {state.key}":
            return JSONResponse({"error": {"message": "Invalid API key provided."}}, status_code=401)
        queued = state.failures.get(route)
        if queued:
            status, body, headers = queued.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        return await call_next(request)


def _file_object(record: dict) -> dict:
    return {k: record[k] for k in ("id", "object", "bytes", "created_at", "filename", "purpose", "status")}


def _add_file(state: KlusterStyle, content: bytes, filename: str, purpose: str) -> dict:
    file_id = f"file-{next(state.ids)}"
    state.files[file_id] = {
        "id": file_id, "object": "file", "bytes": len(content), "created_at": _stamp(),
        "filename": filename, "purpose": purpose, "status": "processed", "content": content,
    }  # fmt: skip
    return state.files[file_id]


def _file_routes(app, state: KlusterStyle) -> None:
    @app.post("/v1/files")
    async def upload(file: UploadFile, purpose: str = Form(...)):
        return _file_object(_add_file(state, await file.read(), file.filename, purpose))

    @app.get("/v1/files/{file_id}")
    def get_file(file_id: str):
        if file_id not in state.files:
            return _not_found(f"No such File object: {file_id}")
        return _file_object(state.files[file_id])

    @app.get("/v1/files/{file_id}/content")
    def content(file_id: str):
        if file_id not in state.files:
            return _not_found(f"No such File object: {file_id}")
        return Response(state.files[file_id]["content"], media_type="application/octet-stream")


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _new_batch(state: KlusterStyle, body: dict) -> dict:
    batch_id = f"batch-{next(state.ids)}"
    lines = [json.loads(line) for line in state.files[body["input_file_id"]]["content"].splitlines() if line]
    state.batches[batch_id] = {
        "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
        "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
        "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": _stamp(),
        "in_progress_at": None, "expires_at": str(int(time.time()) + 86400), "completed_at": None,
        "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        "metadata": body.get("metadata") or {}, "_lines": lines, "_polls": 0,
    }  # fmt: skip
    return state.batches[batch_id]


def _answers(state: KlusterStyle, batch: dict) -> bytes:
    """The output file: one "ok" answer per line (less `short_output` lines)."""
    return b"".join(
        json.dumps({
            "id": f"resp-{i}", "custom_id": line["custom_id"], "error": None,
            "response": {"status_code": 200, "request_id": f"req-{i}", "body": {
                "id": f"chat-{i}", "object": "chat.completion", "created": _stamp(),
                "model": line["body"]["model"], "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "ok"}}]}},
        }).encode() + b"\n"
        for i, line in enumerate(batch["_lines"][: len(batch["_lines"]) - state.short_output])
    )  # fmt: skip


def _advance(state: KlusterStyle, batch: dict) -> None:
    """validating → in_progress → completed, one step every `steps_per_status` retrieves."""
    batch["_polls"] += 1
    if batch["status"] in ("completed", "cancelled", "failed") or batch["_polls"] % state.steps_per_status:
        return
    if batch["status"] == "validating" and state.batch_errors is not None:
        batch.update(
            status="failed", failed_at=_stamp(), errors={"object": "list", "data": state.batch_errors}
        )
    elif batch["status"] == "validating":
        batch["status"], batch["in_progress_at"] = "in_progress", _stamp()
    elif batch["status"] == "in_progress":
        output = _add_file(state, _answers(state, batch), "output.jsonl", "batch_output")
        total = batch["request_counts"]["total"]
        batch.update(status="completed", completed_at=_stamp(), output_file_id=output["id"])
        batch["request_counts"] = {"total": total, "completed": total, "failed": 0}


def _page(state: KlusterStyle, limit: int, after: str | None) -> dict:
    newest_first = sorted(state.batches.values(), key=lambda b: int(b["id"].split("-")[1]), reverse=True)
    if after:
        position = next((i for i, b in enumerate(newest_first) if b["id"] == after), len(newest_first))
        newest_first = newest_first[position + 1 :]
    page = newest_first[:limit]
    return {
        "object": "list", "data": [_public(b) for b in page],
        "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
        "has_more": len(newest_first) > limit,
        # kluster.ai's extra paging fields
        "count": len(state.batches), "page": 1, "page_count": 1, "items_per_page": limit,
    }  # fmt: skip


def _batch_routes(app, state: KlusterStyle) -> None:
    @app.post("/v1/batches")
    async def create(request: Request):
        return _public(_new_batch(state, await request.json()))

    @app.get("/v1/batches/{batch_id}")
    def retrieve(batch_id: str):
        if batch_id not in state.batches:
            return _not_found(f"Batch {batch_id} not found")
        _advance(state, state.batches[batch_id])
        return _public(state.batches[batch_id])

    @app.post("/v1/batches/{batch_id}/cancel")
    def cancel(batch_id: str):
        batch = state.batches.get(batch_id)
        if batch is None:
            return _not_found(f"Batch {batch_id} not found")
        if batch["status"] == "completed":
            return JSONResponse(
                {"error": {"message": "Cannot cancel a batch with status 'completed'."}}, status_code=409
            )
        batch.update(status="cancelled", cancelling_at=_stamp(), cancelled_at=_stamp())
        return _public(batch)

    @app.get("/v1/batches")
    def listing(limit: int = 20, after: str | None = None):
        return _page(state, limit, after)


def _route_name(method: str, path: str) -> str:
    """'GET /v1/batches/{id}' style names for counting and queued failures."""
    parts = path.rstrip("/").split("/")
    named = []
    for i, part in enumerate(parts):
        if i >= 3 and parts[i - 1] in ("files", "batches"):
            named.append("{id}")
        else:
            named.append(part)
    return f"{method} {'/'.join(named)}"


@contextlib.contextmanager
def kluster_style(key: str, **options) -> Iterator[KlusterStyle]:
    state = KlusterStyle(key=key, **options)
    with serve_app(kluster_app(state)) as root:
        state.base_url = f"{root}/v1"
        yield state


def _azure_guard(app, state: KlusterStyle):
    """Azure OpenAI's way in front of the kluster-style app: the key in an `api-key` header (never a bearer
    token), `?api-version=` on every request, and paths under /openai instead of /v1."""

    async def guarded(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = dict(scope["headers"])
        query = urllib.parse.parse_qs(scope["query_string"].decode())
        path = scope["path"]
        state.hits["api-version " + ",".join(query.get("api-version", []))] += 1
        if (
            headers.get(b"api-key") != state.key.encode()
            or b"authorization" in headers
            or not query.get("api-version")
            or not path.startswith("/openai/")
        ):
            response = JSONResponse({"error": {"code": "401", "message": "Access denied."}}, status_code=401)
            return await response(scope, receive, send)
        inner = dict(scope, path="/v1/" + path[len("/openai/") :])
        inner["headers"] = [*scope["headers"], (b"authorization", f"Bearer {state.key}".encode())]
        await app(inner, receive, send)

    return guarded


@contextlib.contextmanager
def azure_style(key: str, **options) -> Iterator[KlusterStyle]:
    """An Azure-OpenAI-style provider; `base_url` is the resource endpoint (the SDK adds /openai)."""
    state = KlusterStyle(key=key, **options)
    with serve_app(_azure_guard(kluster_app(state), state)) as root:
        state.base_url = root
        yield state


# --- a forwarding proxy that can interrupt ----------------------------------------------------------------

PAUSE = "pause"  # keep the request until `release()`, then forward it and answer
HOLD_BEFORE = "hold-before"  # never forward; keep the client waiting (until the client is killed)
HOLD_AFTER = "hold-after"  # forward, then keep the client waiting for the answer
DROP_AFTER = "drop-after"  # forward, then close the connection without answering


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """One request through the Proxy (`self.server.proxy`), acting on the rule for its route."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("content-length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def _forward(self, body: bytes):
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        return answer, data

    def _answer(self, answer, data: bytes) -> None:
        self.send_response(answer.status)
        head = self.command == "HEAD"  # no body, and the length is the object's: pass the upstream's on
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection") and (
                head or name.lower() != "content-length"
            ):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        proxy = self.server.proxy
        body = self._body()
        route = _route_name(self.command, urllib.parse.urlsplit(self.path).path)
        proxy.hits[route] += 1
        rule = proxy.rules.get(route)
        if rule in (PAUSE, HOLD_BEFORE):
            proxy.triggered.set()
            proxy._release.wait(60)
            if rule == HOLD_BEFORE:
                self.close_connection = True
                return
        answer, data = self._forward(body)
        if rule in (HOLD_AFTER, DROP_AFTER):
            proxy.triggered.set()
            if rule == HOLD_AFTER:
                proxy._release.wait(60)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(answer, data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


class Proxy:
    """`with Proxy(upstream_base_url) as proxy:` → proxy.base_url; proxy.rules["POST /v1/batches"] = DROP_AFTER."""

    def __init__(self, upstream: str):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port
        self.rules: dict[str, str] = {}
        self.hits: collections.Counter = collections.Counter()
        # set when a rule has acted (the upstream has answered, if it was asked)
        self.triggered = threading.Event()
        self._release = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def release(self) -> None:
        """Let paused requests go on (and held ones end)."""
        self._release.set()

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
