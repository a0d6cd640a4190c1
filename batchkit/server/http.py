"""HTTP plumbing shared by the routes: every failure (ours, FastAPI's, a busy database, an unexpected fault)
in the error envelope of the API the request was for (`surfaces`), request body and query parsing, list
pages, and database work off the loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .store import RETRY_AFTER, StoreBusy, off_loop
from .surfaces import Surface, surface_of

log = logging.getLogger("batchkit.server")


class ApiError(Exception):
    """An HTTP error, answered in the envelope of the API the request was for."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers

    def response(self, surface: Surface) -> JSONResponse:
        return surface.respond(self.status, self.message, self.code, self.type, self.param, self.headers)


def _error(request: Request, status: int, message: str, code=None, type=None, param=None) -> JSONResponse:
    return surface_of(request.scope).respond(status, message, code, type, param)


def not_found(kind: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, f"No {kind} found with id '{object_id}'.", param, "not_found")


def invalid(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param, code)


def busy() -> ApiError:
    return ApiError(
        503,
        "The server's database is busy; retry the request shortly.",
        code="database_busy",
        type="server_error",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def db(work, *args, **kwargs):
    """Database work for a route: off the event loop, and a 503 with Retry-After when it stays locked."""
    try:
        return await off_loop(work, *args, **kwargs)
    except StoreBusy:
        raise busy() from None


async def found(work, object_id: str, kind: str) -> dict:
    """The object `work(object_id)` reads from the store, or OpenAI's 404 for a `kind` ('file', 'batch')."""
    value = await db(work, object_id)
    if value is None:
        raise not_found(kind, object_id, f"{kind}_id")
    return value


def listed_page(listed: tuple[list[dict], bool] | None, kind: str, after: str | None) -> dict:
    """A list page, or OpenAI's 400 when `after` named no such object (the store answered None)."""
    if listed is None:
        raise invalid("after", f"Invalid value for 'after': no {kind} with id {after!r}.")
    return page(*listed)


def limit_param(value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise invalid(
            "limit", f"Invalid type for 'limit': expected an integer, got {value!r}.", "invalid_type"
        ) from None
    if not 1 <= limit <= most:
        raise invalid("limit", f"Invalid value for 'limit': {limit} is not between 1 and {most}.")
    return limit


def capped(request: Request, limit: int, too_large: Callable[[], Exception]) -> Request:
    """`request` with a body of at most `limit` bytes: one that declares more is refused (`too_large()`)
    before any of it is read, one that sends more as soon as it does (never after holding it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large()
    received = 0

    async def receive():
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large()
        return message

    return Request(request.scope, receive)


async def body_of(request: Request) -> bytes:
    """The request's body, read once (kept in the request's state for whoever asks next: a dependency that
    checks a signature, then the route) and up to the server's --max-file-size (an inline batch is a
    whole file in one body; nothing larger is held)."""
    kept = getattr(request.state, "body", None)
    if kept is not None:
        return kept
    limit = request.app.state.config.max_file_size

    def too_large() -> ApiError:
        return ApiError(413, f"The request body is larger than this server accepts ({limit:,} bytes).")

    request.state.body = await capped(request, limit, too_large).body()
    return request.state.body


async def json_object(request: Request, missing: dict | None = None) -> dict:
    """The request's JSON object body (`body_of`); `missing`, when given, stands for an empty body."""
    raw = await body_of(request)
    if not raw and missing is not None:
        return missing
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(
            400, "We could not parse the JSON body of your request. Send a JSON object.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_type")
    return body


def page(data: list[dict], has_more: bool) -> dict:
    """A list response, with the cursors OpenAI's pagination uses."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


async def _api_error(request: Request, exc: ApiError):
    return exc.response(surface_of(request.scope))


async def _store_busy(request: Request, exc: StoreBusy):
    return busy().response(surface_of(request.scope))


async def _validation_error(request: Request, exc: RequestValidationError):
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_type"
    return _error(request, 400, f"Invalid request: {first.get('msg', 'bad parameters')}", code, param=param)


async def _http_error(request: Request, exc: StarletteHTTPException):
    if exc.status_code == 404:
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        return _error(request, 404, f"Unknown request URL: {request.method} {path}.", "unknown_url")
    return _error(request, exc.status_code, str(exc.detail))


async def _fault(request: Request, exc: Exception):
    # the details go to the log, never to the client
    log.error("%s %s failed inside the server", request.method, request.url.path, exc_info=exc)
    message = f"The server had an error while processing your request ({type(exc).__name__}); see its log."
    return _error(request, 500, message, "server_error", "server_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StoreBusy, _store_busy)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _fault)
