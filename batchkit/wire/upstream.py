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
# The most an answer's body is read to: a chat answer is kilobytes, the largest embeddings answer (2,048
# inputs of 3,072 floats) some 130 MB of JSON text; a server that sends more is not answering.
MAX_ANSWER_BYTES = 160 * 1024 * 1024


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


def _json_body(response: httpx.Response, raw: bytes, secrets: tuple[str, ...]) -> tuple[int, dict]:
    """The answer's status and JSON object from its `raw` body, redacted before anything is cut: a JSON
    body after it is decoded (an escaped key is plain by then), any other text as it is."""
    if 300 <= response.status_code < 400:  # not followed: the key would go wherever it points
        where = redact(response.headers.get("location", ""), secrets)[:300]
        return response.status_code, error_body(
            f"the upstream answered HTTP {response.status_code}, a redirect"
            + (f" to {where!r}" if where else "")
            + ", which is not followed: give the address it redirects to as the base URL",
            "upstream_error",
            code="upstream_redirect",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        return response.status_code, redact_json(body, secrets)
    text = redact(raw[:4000].decode("utf-8", errors="replace"), secrets)[:500]
    if response.is_success:
        return 502, _invalid(f"a body that is not a JSON object: {text!r}", response)
    return response.status_code, error_body(text or response.reason_phrase, "upstream_error")


def _invalid(what: str, response: httpx.Response) -> dict:
    return error_body(
        f"the upstream answered HTTP {response.status_code} with {what}",
        "upstream_error",
        code="invalid_upstream_response",
    )


class _Unread(Exception):
    """An answer's body that is not read: what it is."""


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
        max_answer_bytes: int = MAX_ANSWER_BYTES,
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
        self.timeout = timeout  # seconds for a whole try: a body that drips forever ends too
        self.max_answer_bytes = max_answer_bytes
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
        """The final answer to one request, after the retries its failures allow. An answer the upstream
        gave with a success status (it may have charged for it) is never asked for again, whatever its
        body: a body that cannot be read, is too large, or did not finish in time is a failure as it is."""
        headers = {"Accept-Encoding": "identity"}  # a body is bounded as it comes, never inflated
        if content is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(1, self.max_attempts + 1):
            await self._wait_turn()
            async with self.slots:
                status, body, request_id, answered, wait = await self._attempt(method, path, content, headers)
            if answered or status not in RETRY_STATUSES or attempt == self.max_attempts:
                return Answer(status, body, request_id)
            self.retries += 1
            if wait is None:
                wait = min(30.0, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _attempt(self, method: str, path: str, content: bytes | None, headers: dict):
        """One try: (status, body, request id, whether the upstream answered it with a success status,
        the Retry-After to wait). The whole try, body included, ends after `timeout` seconds."""
        response = None
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream(method, path, content=content, headers=headers) as response:
                    raw = await self._read(response)
        except (httpx.HTTPError, TimeoutError, _Unread) as e:
            answered = response is not None and response.is_success
            status = 502 if response is None or answered else response.status_code
            return status, self._unfinished(e, response), new_id("req_"), answered, None
        status, body = _json_body(response, raw, self.secrets)
        request_id = redact(response.headers.get("x-request-id") or "", self.secrets)[:200] or new_id("req_")
        wait = None
        if status == 429:
            wait = retry_after_seconds(response.headers)
            if wait is not None:
                wait = min(wait, MAX_RETRY_AFTER)
                self._paused_until = max(self._paused_until, time.monotonic() + wait)
        return status, body, request_id, response.is_success, wait

    async def _read(self, response: httpx.Response) -> bytes:
        """The body as it came, at most `max_answer_bytes`; never inflated (no compression was asked for)."""
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise _Unread(f"a body compressed as {encoding[:40]!r} where none was asked for")
        chunks, size = [], 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > self.max_answer_bytes:
                raise _Unread(f"a body over {self.max_answer_bytes:,} bytes, not read")
            chunks.append(chunk)
        return b"".join(chunks)

    def _unfinished(self, error: Exception, response: httpx.Response | None) -> dict:
        """Why a try gave no body: no answer (the upstream was not reached or said nothing in time), or an
        answer whose body was too large, did not come whole or not in time."""
        if response is None:
            if isinstance(error, TimeoutError):
                return error_body(f"{self.base_url} did not answer within {self.timeout:g} s", "upstream_error",
                                  code="upstream_unreachable")  # fmt: skip
            return self._unreachable(error)
        if isinstance(error, _Unread):
            return _invalid(str(error), response)
        if isinstance(error, TimeoutError):
            return _invalid(f"a body that did not end within {self.timeout:g} s", response)
        reason = redact(f"{type(error).__name__}: {error}".rstrip(": "), self.secrets)
        return _invalid(f"a body that did not come whole ({reason})", response)
