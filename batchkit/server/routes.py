"""What the batch routes of every API share: creating a batch (from an uploaded file, or from requests sent
inline, written to a file of the batch's own in the same transaction), the one cancel transition, the end
a batch reached, timestamps and absolute URLs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from datetime import UTC, datetime

from fastapi import Request

from ..errors import RemoteError, UsageError
from ..lines import dumps_line
from . import buckets
from .http import ApiError, db
from .store import UNFINISHED
from .worker import window_seconds

AWS_NOT_FOUND = "ResourceNotFoundException"
CANCELLABLE = ("validating", "in_progress", "finalizing")
ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}


def rfc3339(seconds: int | None) -> str | None:
    """Seconds since the epoch as RFC 3339 in UTC ('2026-01-02T03:04:05Z')."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ended_at(record: dict) -> int | None:
    """When a batch ended (None while it runs)."""
    stamp = ENDED_AT.get(record["status"])
    return record[stamp] if stamp else None


def root_url(request: Request) -> str:
    """This server's address as the client reached it ('http://127.0.0.1:8000')."""
    return str(request.base_url).rstrip("/")


def window(request: Request, hours: float = 24) -> float:
    """Seconds a batch may run: `hours`, scaled by `--window-scale`."""
    return window_seconds(f"{hours}h") * request.app.state.config.window_scale


def _write(path, lines: Iterable[dict | bytes]) -> None:
    """Write request lines: objects, or lines as read (a line of an uploaded file, kept byte for byte)."""
    with open(path, "wb") as out:
        for line in lines:
            out.write(dumps_line(line) if isinstance(line, dict) else line.rstrip(b"\r\n") + b"\n")
        out.flush()
        os.fsync(out.fileno())


async def create_inline(request: Request, surface: str, lines: Iterable[dict | bytes], **fields) -> dict:
    """A batch of requests sent in the create call (or gathered from several files): written as the lines
    of its own input file first, then recorded with it in one transaction, then started. `fields`:
    create_batch's (endpoint, model, …); without `total`, the validating stage counts the lines."""
    store = request.app.state.store
    file_id, part = store.upload_path()
    status = "in_progress" if "total" in fields else "validating"
    try:
        await asyncio.to_thread(_write, part, lines)
        record = await db(
            store.create_batch,
            surface=surface,
            input_file_id=file_id,
            written=part,
            status=status,
            completion_window="24h",
            **fields,
        )
    finally:
        part.unlink(missing_ok=True)
    request.app.state.manager.launch(record["id"])
    return record


async def create_from_file(request: Request, surface: str, input_file_id: str, **fields) -> dict:
    """A batch of an uploaded file's lines (counted and checked by the worker's validating stage)."""
    store = request.app.state.store
    record = await db(
        store.create_batch, surface=surface, input_file_id=input_file_id, completion_window="24h", **fields
    )
    request.app.state.manager.launch(record["id"])
    return record


async def cancel(request: Request, batch_id: str) -> bool:
    """Ask a running batch to stop (it ends `cancelled` with what finished). False when it had already
    ended; a batch already cancelling stays so."""
    state = request.app.state
    if await db(state.store.transition, batch_id, "cancelling", when=CANCELLABLE):
        state.manager.request_cancel(batch_id)
        return True
    record = await db(state.store.record, batch_id)
    return record is not None and record["status"] in UNFINISHED


def google_page(listed, field: str, render) -> dict:
    """A Google list page (Gemini, Vertex): `field` holds the items, `nextPageToken` the cursor when more follow."""
    if listed is None:
        raise ApiError(400, "Invalid page token.")
    records, more = listed
    answer: dict = {field: [render(r) for r in records]}
    if more:
        answer["nextPageToken"] = records[-1]["id"]
    return answer


async def create_from_object(request: Request, surface: str, url: str, refuse, **fields) -> dict:
    """A batch of an object in a bucket (Vertex, Bedrock): read into a file of its own when the job is
    created, recorded with it in one transaction, then started. `refuse(reason)`: the API's error for an
    input that cannot be read."""
    store = request.app.state.store
    file_id, part = store.upload_path()
    try:
        try:
            await asyncio.to_thread(buckets.fetch, url, part, request.app.state.config.max_file_size)
        except (RemoteError, UsageError, buckets.TooLarge) as e:  # UsageError: no credentials for it
            raise refuse(str(e)) from None
        record = await db(store.create_batch, surface=surface, input_file_id=file_id, written=part, metadata=None,
                          **fields)  # fmt: skip
    finally:
        part.unlink(missing_ok=True)
    request.app.state.manager.launch(record["id"])
    return record


async def found_record(request: Request, batch_id: str, surface: str, missing: str) -> dict:
    """A surface's batch record, or the API's 404 (`missing`, its words) when it has no such batch."""
    record = await db(request.app.state.store.record, batch_id, surface)
    if record is None:
        raise ApiError(404, missing, type=AWS_NOT_FOUND if surface == "bedrock" else "invalid_request_error")
    return record
