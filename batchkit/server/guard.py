"""Who may drive the server: a web page in a browser must not (DNS rebinding, cross-origin form posts),
and with `--api-key-env` nobody without the key may.

Checked before any route runs, on every request (the description page and the API documentation too):
- `Host` names the bound address (or localhost when it is a loopback one, or an `--allowed-host`); a
  wildcard address (0.0.0.0, ::) accepts any Host, since it needs a key or `--insecure` to start;
- an `Origin`, when a browser sends one, is the server's own (the scheme, host and port the request was
  sent to) or an `--allowed-origin`: a page another local program serves (another port) is refused;
- a request body is `application/json` or `multipart/form-data` (the only kinds a cross-origin page
  cannot send without a preflight we never answer);
- with a key, `Authorization: Bearer <key>` (compared in constant time).
A refusal carries the `x-batchkit-pid` header the description page does, so a launcher can still tell its
own server from another one on the port.
"""

from __future__ import annotations

import hmac
import os
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

from ..wire import error_body
from .config import ServerConfig, is_loopback, origin_of

BODY_TYPES = ("application/json", "multipart/form-data")
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def allowed_hosts(config: ServerConfig) -> frozenset[str] | None:
    """Host names (without port) the server answers to; None for any."""
    if config.host in WILDCARDS:
        return None
    names = {config.host.strip("[]").lower(), *(h.lower() for h in config.allowed_hosts)}
    if is_loopback(config.host):
        names |= {"localhost", "127.0.0.1", "::1"}
    return frozenset(names)


def _host_name(value: str) -> str:
    """'example.com:8000' → 'example.com'; '[::1]:8000' → '::1'."""
    return (urlsplit(f"//{value}").hostname or "").lower()


def _same_origin(origin: tuple[str, str, int], scheme: str, host: str) -> bool:
    """Whether `origin` is the one a page the server itself served has: the scheme and Host it was asked
    by."""
    return origin_of(f"{scheme}://{host}") == origin


def _refusal(
    status: int, message: str, code: str | None, type: str = "invalid_request_error"
) -> JSONResponse:
    return JSONResponse(
        error_body(message, type, code=code), status_code=status, headers={"x-batchkit-pid": str(os.getpid())}
    )


class Guard:
    """ASGI middleware applying the rules above."""

    def __init__(self, app, *, config: ServerConfig, key: str | None):
        self.app = app
        self.hosts = allowed_hosts(config)
        self.origins = frozenset(origin_of(o) for o in config.allowed_origins)
        self.key = key.encode() if key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            refusal = self.check(scope["method"], headers, scope.get("scheme", "http"))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, method: str, headers: dict[str, str], scheme: str = "http") -> JSONResponse | None:
        host = headers.get("host", "")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            return _refusal(
                421, f"This server does not answer to the host {_host_name(host)!r}.", "invalid_host"
            )
        if "origin" in headers and not self._allowed_origin(headers["origin"], scheme, host):
            return _refusal(403, "Requests from web pages of other origins are refused.", "invalid_origin")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if (media or has_body) and method not in ("GET", "HEAD") and media not in BODY_TYPES:
            return _refusal(
                415,
                f"Unsupported Content-Type {media or 'none'!r}: send application/json or multipart/form-data.",
                "unsupported_media_type",
            )
        if self.key is not None:
            return self._check_key(headers.get("authorization", ""))
        return None

    def _allowed_origin(self, value: str, scheme: str, host: str) -> bool:
        origin = origin_of(value)
        return origin is not None and (origin in self.origins or _same_origin(origin, scheme, host))

    def _check_key(self, authorization: str) -> JSONResponse | None:
        scheme, _, given = authorization.partition(" ")
        if not authorization:
            return _refusal(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                None,
            )
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.key):
            return _refusal(401, "Incorrect API key provided.", "invalid_api_key")
        return None
