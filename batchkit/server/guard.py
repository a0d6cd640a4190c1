"""Who may drive the server: a web page in a browser must not (DNS rebinding, cross-origin form posts),
and with `--api-key-env` nobody without the key may.

Checked before any route runs, on every request under /v1:
- `Host` names the bound address (or localhost when it is a loopback one, or an `--allowed-host`); a
  wildcard address (0.0.0.0, ::) accepts any Host, since it needs a key or `--insecure` to start;
- an `Origin`, when a browser sends one, names an allowed host too;
- a request body is `application/json` or `multipart/form-data` (the only kinds a cross-origin page
  cannot send without a preflight we never answer);
- with a key, `Authorization: Bearer <key>` (compared in constant time).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

from ..wire import error_body
from .config import ServerConfig, is_loopback

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


def _refusal(status: int, message: str, code: str, type: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(message, type, code=code), status_code=status)


class Guard:
    """ASGI middleware applying the rules above."""

    def __init__(self, app, *, config: ServerConfig, key: str | None):
        self.app = app
        self.hosts = allowed_hosts(config)
        self.key = key.encode() if key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            refusal = self.check(scope["method"], headers)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, method: str, headers: dict[str, str]) -> JSONResponse | None:
        if self.hosts is not None:
            host = _host_name(headers.get("host", ""))
            if host not in self.hosts:
                return _refusal(421, f"This server does not answer to the host {host!r}.", "invalid_host")
            origin = headers.get("origin")
            if origin is not None and (urlsplit(origin).hostname or "").lower() not in self.hosts:
                return _refusal(
                    403, "Requests from web pages of other origins are refused.", "invalid_origin"
                )
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
