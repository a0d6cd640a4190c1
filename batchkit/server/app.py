"""`batchkit serve`: the HTTP routes of a local OpenAI-compatible Files + Batches API (FastAPI + uvicorn).

Routes under /v1: GET /models, GET /models/{id}; POST /files, GET /files, GET /files/{id},
GET /files/{id}/content, DELETE /files/{id}; POST /batches, GET /batches, GET /batches/{id},
POST /batches/{id}/cancel; POST /chat/completions, /embeddings, /completions (answered by the backend).
GET / describes the server to a person. Any API key is accepted (none is checked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import UsageError
from ..wire import EXECUTABLE_ENDPOINTS, error_body
from .backends import EchoBackend, UpstreamBackend
from .store import Store
from .worker import Manager, window_seconds

log = logging.getLogger("batchkit.server")

METADATA_MAX_PAIRS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 16, 64, 512
OUTPUT_EXPIRY_RANGE = (3600, 2_592_000)


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "echo"
    upstream_url: str | None = None
    upstream_key_env: str | None = None
    models: tuple[str, ...] = ()
    concurrency: int = 8
    window_scale: float = 1.0
    completion_windows: tuple[str, ...] = ("24h",)
    latency: float = 0.0
    fail_every: int = 0


def _page(data: list[dict], has_more: bool) -> dict:
    """A list response, with the cursors OpenAI's pagination uses."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def make_backend(config: ServerConfig):
    if config.backend == "echo":
        return EchoBackend(config.models, latency=config.latency, fail_every=config.fail_every)
    if config.backend == "upstream":
        if not config.upstream_url:
            raise UsageError("--backend upstream needs --upstream-url (e.g. http://localhost:8001/v1)")
        api_key = None
        if config.upstream_key_env:
            api_key = os.environ.get(config.upstream_key_env)
            if not api_key:
                raise UsageError(
                    f"environment variable {config.upstream_key_env} (--upstream-key-env) is not set"
                )
        return UpstreamBackend(
            config.upstream_url, api_key, concurrency=config.concurrency, models=config.models
        )
    raise UsageError(f"unknown backend {config.backend!r}; choose echo or upstream")


class ApiError(Exception):
    """An HTTP error answered with OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.body = status, error_body(message, type, param, code)


def _not_found(kind: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, f"No {kind} found with id '{object_id}'.", param, "not_found")


def _invalid(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param, code)


def _limit(value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise _invalid(
            "limit", f"Invalid type for 'limit': expected an integer, got {value!r}.", "invalid_type"
        ) from None
    if not 1 <= limit <= most:
        raise _invalid("limit", f"Invalid value for 'limit': {limit} is not between 1 and {most}.")
    return limit


async def _json_object(request: Request) -> dict:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(
            400, "We could not parse the JSON body of your request. Send a JSON object.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_type")
    return body


def _check_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _invalid("metadata", "Invalid type for 'metadata': expected an object.", "invalid_type")
    if len(metadata) > METADATA_MAX_PAIRS:
        raise _invalid("metadata", f"Invalid 'metadata': at most {METADATA_MAX_PAIRS} key-value pairs.")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY:
            raise _invalid(
                "metadata",
                f"Invalid 'metadata': key {key[:80]!r} is longer than {METADATA_MAX_KEY} characters.",
            )
        if not isinstance(value, str):
            raise _invalid(
                f"metadata.{key}",
                f"Invalid type for 'metadata.{key}': expected a string, but got {type(value).__name__}.",
                "invalid_type",
            )
        if len(value) > METADATA_MAX_VALUE:
            raise _invalid(
                f"metadata.{key}", f"Invalid 'metadata.{key}': longer than {METADATA_MAX_VALUE} characters."
            )


def _check_output_expiry(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(
            "output_expires_after",
            "Invalid type for 'output_expires_after': expected an object.",
            "invalid_type",
        )
    if value.get("anchor") != "created_at":
        raise _invalid(
            "output_expires_after.anchor",
            "Invalid value for 'output_expires_after.anchor': expected 'created_at'.",
        )
    seconds = value.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _invalid(
            "output_expires_after.seconds",
            "Invalid type for 'output_expires_after.seconds': expected an integer.",
            "invalid_type",
        )
    low, high = OUTPUT_EXPIRY_RANGE
    if not low <= seconds <= high:
        raise _invalid(
            "output_expires_after.seconds",
            f"Invalid value for 'output_expires_after.seconds': must be between {low} and {high}.",
        )
    return seconds


def _required_string(body: dict, name: str) -> str:
    if name not in body or body[name] is None:
        raise _invalid(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
    if not isinstance(body[name], str):
        raise _invalid(
            name,
            f"Invalid type for '{name}': expected a string, but got {type(body[name]).__name__}.",
            "invalid_type",
        )
    return body[name]


def _describe(config: ServerConfig, backend, base: str) -> str:
    windows = ", ".join(config.completion_windows)
    scaled = ""
    if config.window_scale != 1:
        first = config.completion_windows[0]
        scaled = f" (scaled ×{config.window_scale:g}: {first} lasts {window_seconds(first) * config.window_scale:g} s)"
    return f"""batchkit serve {__version__}: a local OpenAI-compatible Files + Batches API.

Backend:            {backend.describe()}
Data folder:        {config.data_dir}
Completion windows: {windows}{scaled}

Point any OpenAI client at it (no API key is checked):
    export OPENAI_BASE_URL={base}/v1
    export OPENAI_API_KEY=unused
Or run a batch file against it directly:
    batchkit run batch.jsonl --base-url {base}/v1 -o results.jsonl

Routes under /v1:
    GET  /models
    POST /files (multipart: file, purpose=batch)   GET /files   GET /files/{{id}}
    GET  /files/{{id}}/content                       DELETE /files/{{id}}
    POST /batches   GET /batches?after=&limit=   GET /batches/{{id}}   POST /batches/{{id}}/cancel
    POST /chat/completions   POST /embeddings   POST /completions
Interactive API documentation: {base}/docs
"""


def create_app(config: ServerConfig) -> FastAPI:
    backend = make_backend(config)  # before anything starts: a bad option or a busy folder fails at once
    store = Store(config.data_dir)
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        manager = Manager(store, backend, concurrency=config.concurrency)
        state["manager"] = manager
        await manager.start()
        try:
            yield
        finally:
            await manager.stop()
            await backend.aclose()
            store.close()

    app = FastAPI(
        title="batchkit serve",
        version=__version__,
        lifespan=lifespan,
        description="A local OpenAI-compatible Files + Batches API.",
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_type"
        return JSONResponse(
            error_body(f"Invalid request: {first.get('msg', 'bad parameters')}", param=param, code=code),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
            return JSONResponse(error_body(message, code="unknown_url"), status_code=404)
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code)

    @app.get("/", response_class=PlainTextResponse, include_in_schema=False)
    async def root(request: Request):
        text = _describe(config, backend, str(request.base_url).rstrip("/"))
        # the pid lets a launcher tell its own server from another one that took the port first
        return PlainTextResponse(text, headers={"x-batchkit-pid": str(os.getpid())})

    # models ------------------------------------------------------------------------------------------

    @app.get("/v1/models")
    async def list_models():
        answer = await backend.models()
        return JSONResponse(answer.body, status_code=answer.status_code)

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        answer = await backend.models()
        for model in answer.body.get("data") or ():
            if isinstance(model, dict) and model.get("id") == model_id:
                return model
        raise ApiError(404, f"The model '{model_id}' does not exist", "model", "model_not_found")

    # files -------------------------------------------------------------------------------------------

    @app.post("/v1/files")
    async def upload_file(request: Request):
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise _invalid(
                "file",
                "Upload the file as multipart/form-data with fields `file` and `purpose`.",
                "invalid_type",
            )
        async with request.form(max_files=1, max_fields=16) as form:
            upload, purpose = form.get("file"), form.get("purpose")
            if purpose is None:
                raise _invalid(
                    "purpose", "Missing required parameter: 'purpose'.", "missing_required_parameter"
                )
            if not isinstance(upload, UploadFile):
                raise _invalid("file", "Missing required parameter: 'file'.", "missing_required_parameter")
            if purpose != "batch":
                raise _invalid(
                    "purpose", f"Invalid value for 'purpose': {purpose!r}; this server accepts only 'batch'."
                )
            filename = os.path.basename(upload.filename or "")
            if not filename.endswith(".jsonl"):
                raise _invalid("file", f"Invalid file format for Batch API: {filename!r}. Must be .jsonl")
            file_id, part = store.upload_path()
            try:
                await asyncio.to_thread(_copy_to_disk, upload.file, part)
                return store.add_file(file_id, part, filename, purpose)
            finally:
                part.unlink(missing_ok=True)

    @app.get("/v1/files")
    async def list_files(
        purpose: str | None = None, limit: str | None = None, order: str = "desc", after: str | None = None
    ):
        if order not in ("asc", "desc"):
            raise _invalid("order", f"Invalid value for 'order': {order!r}; expected 'asc' or 'desc'.")
        listed = store.list_files(
            purpose=purpose, limit=_limit(limit, 10_000, 10_000), order=order, after=after
        )
        if listed is None:
            raise _invalid("after", f"Invalid value for 'after': no file with id {after!r}.")
        return _page(*listed)

    @app.get("/v1/files/{file_id}")
    async def get_file(file_id: str):
        return store.get_file(file_id) or _raise(_not_found("file", file_id, "file_id"))

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str):
        file = store.get_file(file_id) or _raise(_not_found("file", file_id, "file_id"))
        return FileResponse(
            store.file_path(file_id), media_type="application/octet-stream", filename=file["filename"]
        )

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str):
        if not store.delete_file(file_id):
            raise _not_found("file", file_id, "file_id")
        return {"id": file_id, "object": "file", "deleted": True}

    # batches -----------------------------------------------------------------------------------------

    @app.post("/v1/batches")
    async def create_batch(request: Request):
        body = await _json_object(request)
        input_file_id = _required_string(body, "input_file_id")
        endpoint = _required_string(body, "endpoint")
        completion_window = _required_string(body, "completion_window")
        if endpoint not in EXECUTABLE_ENDPOINTS:
            raise _invalid(
                "endpoint",
                f"Invalid value for 'endpoint': {endpoint!r}. Supported values are: "
                f"{', '.join(repr(e) for e in EXECUTABLE_ENDPOINTS)}.",
            )
        if completion_window not in config.completion_windows:
            raise _invalid(
                "completion_window",
                f"Invalid value for 'completion_window': {completion_window!r}. "
                f"Supported values are: {', '.join(repr(w) for w in config.completion_windows)}.",
            )
        metadata = body.get("metadata")
        _check_metadata(metadata)
        output_expires_after = _check_output_expiry(body.get("output_expires_after"))
        key = body.get("idempotency_key")
        if key is not None and not isinstance(key, str):
            raise _invalid(
                "idempotency_key", "Invalid type for 'idempotency_key': expected a string.", "invalid_type"
            )
        params = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
            "metadata": metadata,
            "output_expires_after": body.get("output_expires_after"),
        }
        if key is not None:
            previous = store.batch_by_key(key)
            if previous is not None:
                batch, used = previous
                if used != params:
                    raise ApiError(
                        409,
                        f"Idempotency key {key!r} was already used with different parameters "
                        "(conflict); use a new key or the same parameters.",
                        "idempotency_key",
                        "conflict",
                    )
                return batch
        batch = store.create_batch(
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=completion_window,
            metadata=metadata,
            window_seconds=window_seconds(completion_window) * config.window_scale,
            output_expires_after=output_expires_after,
            idempotency_key=key,
            params=params,
        )
        state["manager"].launch(batch["id"])
        return batch

    @app.get("/v1/batches")
    async def list_batches(after: str | None = None, limit: str | None = None):
        listed = store.list_batches(after=after, limit=_limit(limit, 20, 100))
        if listed is None:
            raise _invalid("after", f"Invalid value for 'after': no batch with id {after!r}.")
        return _page(*listed)

    @app.get("/v1/batches/{batch_id}")
    async def get_batch(batch_id: str):
        return store.get_batch(batch_id) or _raise(_not_found("batch", batch_id, "batch_id"))

    @app.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(batch_id: str):
        batch = store.get_batch(batch_id) or _raise(_not_found("batch", batch_id, "batch_id"))
        if batch["status"] in ("validating", "in_progress"):
            if store.transition(batch_id, "cancelling", when=("validating", "in_progress")):
                state["manager"].request_cancel(batch_id)
            return store.get_batch(batch_id)
        if batch["status"] in ("cancelling", "cancelled"):
            return batch
        raise ApiError(409, f"Cannot cancel a batch with status '{batch['status']}'.", None, "conflict")

    # requests answered directly by the backend ---------------------------------------------------------

    async def direct(endpoint: str, request: Request):
        answer = await backend.call(endpoint, await _json_object(request), direct=True)
        headers = {"x-request-id": answer.request_id}
        if answer.status_code == 429:
            headers.update({"retry-after": "1", "retry-after-ms": "100"})
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await direct("/v1/chat/completions", request)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        return await direct("/v1/embeddings", request)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await direct("/v1/completions", request)

    return app


def _raise(error: Exception):
    raise error


def _copy_to_disk(source, target: Path) -> None:
    """Copy an upload (spooled by the form parser) to disk in 1 MB chunks, synced before it counts."""
    source.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


def serve(config: ServerConfig) -> None:
    """Run the server until interrupted (Ctrl-C or SIGTERM stop it cleanly; state survives even kill -9)."""
    import uvicorn

    config.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upstream request
    app = create_app(config)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
