"""Who may drive the server: a web page in a browser must not (DNS rebinding, cross-origin form posts),
and with `--api-key-env` nobody without the key may. Also which API a request is for (`surfaces.route`):
every refusal is in that API's error envelope.

Checked before any route runs, on every request (the description page and the API documentation too, with
OpenAI's envelope):
- `Host` names the bound address (or localhost when it is a loopback one, or an `--allowed-host`); a
  wildcard address (0.0.0.0, ::) accepts any Host, since it needs a key or `--insecure` to start;
- an `Origin`, when a browser sends one, is the server's own (the scheme, host and port the request was
  sent to) or an `--allowed-origin`: a page another local program serves (another port) is refused;
- a request body is `application/json` or `multipart/form-data` (the only kinds a cross-origin page
  cannot send without a preflight we never answer);
- with a key, the key where the request's API takes it (`Authorization: Bearer`, `x-api-key`,
  `x-goog-api-key` or `?key=`), compared in constant time. A Gemini upload's later requests name their
  session by its unguessable id instead, as Google's upload URLs do. Bedrock's requests are signed
  (AWS Signature Version 4), which its routes check (`sigv4`), with or without a key.
A refusal carries the `x-batchkit-pid` header the description page does, so a launcher can still tell its
own server from another one on the port.
"""

from __future__ import annotations

import hmac
import os
from urllib.parse import parse_qs, urlsplit

from fastapi.responses import JSONResponse

from .config import ServerConfig, is_loopback, origin_of
from .surfaces import OPENAI, Surface, given_key, route

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


def _refusal(surface: Surface, status: int, message: str, code: str | None) -> JSONResponse:
    return surface.respond(status, message, code, headers={"x-batchkit-pid": str(os.getpid())})


def _upload_session(path: str, query: str) -> bool:
    """A Gemini resumable upload's chunk, which names its session (`upload_id`, an unguessable token the
    start of the upload, which needs the key, gave) instead of a key; a session it does not name is a 404."""
    return path.startswith("/upload/") and any(parse_qs(query).get("upload_id", []))


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
            query = scope.get("query_string", b"").decode("latin-1")
            routed = route(scope["path"], headers, query)
            surface = routed[0] if routed is not None else OPENAI  # a page outside the APIs: OpenAI's words
            refusal = self.check(surface, scope["method"], headers, scope["path"], query, scope.get("scheme"))
            if routed is not None:
                # named in the scope the outermost handler holds too: a crash answers in the API's envelope
                scope["batchkit_surface"] = surface.name
                scope = dict(scope, path=routed[1])
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(
        self,
        surface: Surface,
        method: str,
        headers: dict[str, str],
        path: str = "/v1",
        query: str = "",
        scheme: str | None = "http",
    ) -> JSONResponse | None:
        host = headers.get("host", "")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            return _refusal(
                surface, 421, f"This server does not answer to the host {_host_name(host)!r}.", "invalid_host"
            )
        if "origin" in headers and not self._allowed_origin(headers["origin"], scheme or "http", host):
            return _refusal(
                surface, 403, "Requests from web pages of other origins are refused.", "invalid_origin"
            )
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if (media or has_body) and method not in ("GET", "HEAD") and media not in BODY_TYPES:
            return _refusal(
                surface,
                415,
                f"Unsupported Content-Type {media or 'none'!r}: send application/json or multipart/form-data.",
                "unsupported_media_type",
            )
        if self.key is not None and surface.takes_key and not _upload_session(path, query):
            return self._check_key(surface, given_key(surface, headers, query))
        return None

    def _allowed_origin(self, value: str, scheme: str, host: str) -> bool:
        origin = origin_of(value)
        return origin is not None and (origin in self.origins or _same_origin(origin, scheme, host))

    def _check_key(self, surface: Surface, given: str | None) -> JSONResponse | None:
        if given is None:
            return _refusal(surface, surface.key_statuses[0], surface.missing_key, None)
        if not hmac.compare_digest(given.encode(), self.key):
            return _refusal(surface, surface.key_statuses[1], surface.wrong_key, "invalid_api_key")
        return None
