"""The APIs one `batchkit serve` port speaks, as data: which requests belong to which, where each takes the
key, and each one's error envelope.

    openai     /v1/...                        Authorization: Bearer KEY   {"error": {message, type, param, code}}
    anthropic  /v1/messages/...               x-api-key: KEY (or Bearer)  {"type": "error", "error": {type, message}}
    mistral    /v1/batch/...                  Authorization: Bearer KEY   {"object": "error", message, type, param, code}
    gemini     /v1beta/..., /upload/...,      x-goog-api-key: KEY or      {"error": {code, message, status}}
               /download/..., and /v1/...     ?key=KEY
               when Google's key is sent
    vertex     /v1/projects/..., /v1beta1/... Authorization: Bearer TOKEN  {"error": {code, message, status}}
    bedrock    /model-invocation-job(s)...,   AWS Signature Version 4     {"message"}, its type in the
               /foundation-models             (checked by the routes)     x-amzn-ErrorType header

Gemini's SDK speaks `v1` by default, where its paths (files, batches, models) are OpenAI's too: a request
carrying Google's key header or `key` parameter is Gemini's. Its requests are routed under an internal
prefix (`GEMINI_ROOT`), so each API keeps routes of its own; the path as sent stays in `scope["raw_path"]`.
Mistral's files are OpenAI's `/v1/files` (one file object serves both SDKs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from ..wire import error_body, new_id

GEMINI_ROOT = "/_gemini"
GEMINI_VERSIONS = ("v1beta", "v1")
VERTEX_VERSIONS = ("v1", "v1beta1")
BEDROCK_ROOTS = ("model-invocation-job", "model-invocation-jobs", "foundation-models")

# HTTP status → Anthropic's error type (its API's own pairs)
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    421: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
# HTTP status → google.rpc.Code name, as Google's APIs pair them
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    421: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def anthropic_type(status: int) -> str:
    return ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def google_status(status: int) -> str:
    return GOOGLE_STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def _openai_error(status: int, message: str, code: str | None, type: str | None, param: str | None) -> dict:
    return error_body(
        message, type or ("server_error" if status >= 500 else "invalid_request_error"), param, code
    )


def anthropic_error(status: int, message: str, *_ignored) -> dict:
    return {
        "type": "error",
        "error": {"type": anthropic_type(status), "message": message},
        "request_id": new_id("req_"),
    }


def google_error(status: int, message: str, code=None, type=None, param=None) -> dict:
    """Google's envelope; `type`, when it is a google.rpc.Code name (FAILED_PRECONDITION), is the status."""
    name = type if type and type.isupper() else google_status(status)
    return {"error": {"code": status, "message": message, "status": name}}


# HTTP status → the exception Bedrock names in x-amzn-ErrorType (botocore's bedrock service model)
AWS_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ConflictException",
    413: "ValidationException",
    415: "ValidationException",
    421: "AccessDeniedException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def aws_error_type(status: int, type: str | None = None) -> str:
    """The exception an AWS REST-JSON service answers with: `type` when it names one."""
    if type and type.endswith("Exception"):
        return type
    return AWS_ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException")


def _aws_error(status: int, message: str, *_ignored) -> dict:
    return {"message": message}


def _aws_headers(status: int, type: str | None) -> dict[str, str]:
    return {"x-amzn-ErrorType": aws_error_type(status, type)}


def _mistral_error(status: int, message: str, code: str | None, type: str | None, param: str | None) -> dict:
    kind = type or ("server_error" if status >= 500 else "invalid_request_error")
    return {"object": "error", "message": message, "type": kind, "param": param, "code": code}


@dataclass(frozen=True)
class Surface:
    name: str
    key_headers: tuple[str, ...]  # headers that may carry the key ("authorization" takes `Bearer KEY`)
    key_param: str | None  # a query parameter that may carry it
    error: Callable[..., dict]  # (status, message, code, type, param) → the API's error body
    missing_key: str  # what the API says when no key came
    wrong_key: str  # … and when the key is not the server's
    key_statuses: tuple[int, int] = (401, 401)  # the HTTP status of each of those two refusals
    error_headers: Callable[[int, str | None], dict[str, str]] | None = None  # (status, type) → headers

    @property
    def takes_key(self) -> bool:
        """Whether the API takes a key the guard checks (Bedrock's requests are signed instead)."""
        return bool(self.key_headers or self.key_param)

    def error_body(self, status: int, message: str, code=None, type=None, param=None) -> dict:
        return self.error(status, message, code, type, param)

    def respond(self, status: int, message: str, code=None, type=None, param=None, headers=None):
        """An error in the API's envelope (and headers), as a response."""
        from fastapi.responses import JSONResponse

        extra = self.error_headers(status, type) if self.error_headers else {}
        body = self.error_body(status, message, code, type, param)
        return JSONResponse(body, status_code=status, headers={**(headers or {}), **extra})


SURFACES = {
    "openai": Surface(
        "openai",
        ("authorization",),
        None,
        _openai_error,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "Incorrect API key provided.",
    ),
    "anthropic": Surface(
        "anthropic",
        ("x-api-key", "authorization"),
        None,
        anthropic_error,
        "x-api-key header is required",
        "invalid x-api-key",
    ),
    "mistral": Surface(
        "mistral",
        ("authorization",),
        None,
        _mistral_error,
        "Unauthorized: no API key was sent (Authorization: Bearer YOUR_KEY).",
        "Unauthorized",
    ),
    "gemini": Surface(
        "gemini",
        ("x-goog-api-key",),
        "key",
        google_error,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API "
        "Key or other form of API consumer identity to call this API.",
        "API key not valid. Please pass a valid API key.",
        (403, 400),
    ),
    "vertex": Surface(
        "vertex",
        ("authorization",),
        None,
        google_error,
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential.",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    ),
    "bedrock": Surface(
        "bedrock",
        (),
        None,
        _aws_error,
        "Missing Authentication Token",
        "The security token included in the request is invalid.",
        (403, 403),
        _aws_headers,
    ),  # fmt: skip
}
OPENAI = SURFACES["openai"]


def _google_key_sent(headers: dict[str, str], query: str) -> bool:
    return "x-goog-api-key" in headers or "key" in parse_qs(query)


def route(path: str, headers: dict[str, str], query: str) -> tuple[Surface, str] | None:
    """(the API a request belongs to, the path to route it by), or None for a path outside every API
    (the description page, the interactive docs). `headers`: lower-case names."""
    if path.startswith(GEMINI_ROOT):  # the internal prefix is reached only through the paths below
        return OPENAI, "/v1/unknown" + path
    first = path.split("/", 2)[1] if path.count("/") >= 1 else ""
    if first in BEDROCK_ROOTS:
        return SURFACES["bedrock"], path
    if first in VERTEX_VERSIONS and path.startswith(f"/{first}/projects/"):
        return SURFACES["vertex"], path
    if first in ("upload", "download") or first == "v1beta":
        return SURFACES["gemini"], GEMINI_ROOT + path
    if first != "v1":
        return None
    if _google_key_sent(headers, query):
        return SURFACES["gemini"], GEMINI_ROOT + path
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return SURFACES["anthropic"], path
    if path.startswith("/v1/batch/"):
        return SURFACES["mistral"], path
    return OPENAI, path


def surface_of(scope) -> Surface:
    """The API of a request the dispatch has routed (OpenAI's for anything else)."""
    return SURFACES.get(scope.get("batchkit_surface", "openai"), OPENAI)


def given_key(surface: Surface, headers: dict[str, str], query: str) -> str | None:
    """The key a request presents where its API takes one, or None."""
    for name in surface.key_headers:
        value = headers.get(name)
        if value is None:
            continue
        if name == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
        return value.strip()
    if surface.key_param:
        values = parse_qs(query).get(surface.key_param)
        if values:
            return values[0]
    return None
