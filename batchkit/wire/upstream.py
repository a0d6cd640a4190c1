"""Sending requests to an OpenAI-compatible server: at most N in flight, an optional requests-per-second
cap, `Retry-After` honoured on 429 (for every request, not just the one that got it), back-off on 5xx and
on connection failures, and the final answer returned as data, never raised.

Used by the `upstream` backend of `batchkit serve` and by `batchkit run`. The API key goes into the
Authorization header only; it is never logged or put into an answer.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import NamedTuple

import httpx
import orjson

from ..keys import redact, redact_json
from .protocol import error_body, new_id

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped (and the request tried again then)


class Answer(NamedTuple):
    """What a server finally answered one request: status, JSON body, request id."""

    status_code: int
    body: dict
    request_id: str


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_body(response: httpx.Response, secrets: tuple[str, ...]) -> tuple[int, dict]:
    """The answer's status and JSON object, redacted before anything is cut: a JSON body after it is
    decoded (an escaped key is plain by then), any other text as it is."""
    if 300 <= response.status_code < 400:  # not followed: the key would go wherever it points
        where = redact(response.headers.get("location", ""), secrets)[:300]
        return response.status_code, error_body(
            f"the upstream answered HTTP {response.status_code}, a redirect"
            + (f" to {where!r}" if where else "")
            + ", which is not followed: give the address it redirects to as the base URL",
            "upstream_error",
            code="upstream_redirect",
        )
    text = response.text
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        return response.status_code, redact_json(body, secrets)
    text = redact(text, secrets)[:500]
    if response.is_success:
        return 502, error_body(
            f"the upstream answered HTTP {response.status_code} with a body that is not a "
            f"JSON object: {text!r}",
            "upstream_error",
            code="invalid_upstream_response",
        )
    return response.status_code, error_body(text or response.reason_phrase, "upstream_error")


class Sender:
    """An httpx.AsyncClient with the concurrency, rate and retry rules above. Use as an async context."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        concurrency: int = 8,
        max_rps: float | None = None,
        max_attempts: int = 6,
        timeout: float = 600.0,
        backoff: float = 0.5,
    ):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.secrets = (api_key,) if api_key else ()
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=15.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.slots = asyncio.Semaphore(concurrency)
        self.min_interval = 1.0 / max_rps if max_rps else 0.0
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.retries = 0  # attempts beyond the first, for reports
        self._next_start = 0.0  # monotonic time the next request may start (max_rps)
        self._paused_until = 0.0  # monotonic time until which a 429's Retry-After holds every request
        self._rate_lock = asyncio.Lock()

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _wait_turn(self) -> None:
        while (pause := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        if self.min_interval:
            async with self._rate_lock:
                now = time.monotonic()
                start = max(now, self._next_start)
                self._next_start = start + self.min_interval
            if start > now:
                await asyncio.sleep(start - now)

    def _unreachable(self, error: httpx.HTTPError) -> dict:
        reason = redact(f"{type(error).__name__}: {error}".rstrip(": "), self.secrets)
        return error_body(
            f"could not reach {self.base_url}: {reason}", "upstream_error", code="upstream_unreachable"
        )

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def post(self, path: str, body: dict) -> Answer:
        return await self.request("POST", path, orjson.dumps(body))

    async def request(self, method: str, path: str, content: bytes | None = None) -> Answer:
        headers = {"Content-Type": "application/json"} if content is not None else {}
        for attempt in range(1, self.max_attempts + 1):
            await self._wait_turn()
            wait = None
            try:
                async with self.slots:
                    response = await self.client.request(method, path, content=content, headers=headers)
                    await response.aread()
            except httpx.HTTPError as e:
                status, body = 502, self._unreachable(e)
                request_id = new_id("req_")
            else:
                status, body = _json_body(response, self.secrets)
                request_id = response.headers.get("x-request-id") or new_id("req_")
                if status == 429:
                    wait = retry_after_seconds(response.headers)
                    if wait is not None:
                        wait = min(wait, MAX_RETRY_AFTER)
                        self._paused_until = max(self._paused_until, time.monotonic() + wait)
            if status not in RETRY_STATUSES or attempt == self.max_attempts:
                return Answer(status, body, request_id)
            self.retries += 1
            if wait is None:
                wait = min(30.0, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")
