"""Anthropic's Message Batches API: /v1/messages/batches — create (requests sent inline), list, retrieve,
cancel, delete, and results as JSONL from the batch's `results_url`.

As on Anthropic: the create call checks the list (ids: the provider row's pattern, unique; at most the row's
request count and bytes), each request's `params` are checked as it runs (a bad one is `errored` with an
`invalid_request_error`), `request_counts` other than `processing` stay zero until the batch has ended,
and every request that never ran is `canceled` or `expired` in the results. Each call needs the
`anthropic-version` header.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from ..providers import get_provider
from .http import ApiError, capped, db, json_object, limit_param
from .routes import cancel, create_inline, ended_at, rfc3339, root_url, window

ROW = get_provider("anthropic")
PROCESSING_STATUS = {
    "cancelling": "canceling",
    **dict.fromkeys(("completed", "failed", "expired", "cancelled"), "ended"),
}
LIST_LIMIT = 1000


async def _version(request: Request) -> None:
    if not request.headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required")


router = APIRouter(prefix="/v1/messages/batches", dependencies=[Depends(_version)])


def message_batch(record: dict, root: str) -> dict:
    """A batch as Anthropic's MessageBatch."""
    ended = ended_at(record)
    succeeded, failed = record["completed"], record["failed"]
    counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
    if ended is None:
        counts["processing"] = record["total"]
    else:
        counts |= {
            "succeeded": succeeded,
            "errored": failed - record["canceled"] - record["expired"],
            "canceled": record["canceled"],
            "expired": record["expired"],
        }
    return {
        "id": record["id"],
        "type": "message_batch",
        "processing_status": PROCESSING_STATUS.get(record["status"], "in_progress"),
        "request_counts": counts,
        "ended_at": rfc3339(ended),
        "created_at": rfc3339(record["created_at"]),
        "expires_at": rfc3339(record["expires_at"]),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(record["cancelling_at"]),
        "results_url": f"{root}/v1/messages/batches/{record['id']}/results" if ended is not None else None,
    }


def _checked_requests(body: dict) -> list[dict]:
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "requests: Input should be a non-empty list of requests")
    if len(requests) > ROW.max_requests:
        raise ApiError(400, f"requests: a batch holds at most {ROW.max_requests:,} requests")
    seen: set[str] = set()
    for i, item in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(item, dict) or set(item) - {"custom_id", "params"}:
            raise ApiError(400, f"{where}: Input should be an object with custom_id and params only")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not ROW.custom_id_re.match(custom_id):
            raise ApiError(400, f"{where}.custom_id: String should match pattern '{ROW.custom_id_pattern}'")
        if custom_id in seen:
            raise ApiError(
                400, f"{where}.custom_id: {custom_id!r} is used by more than one request; ids must be unique"
            )
        seen.add(custom_id)
        if not isinstance(item.get("params"), dict):
            raise ApiError(400, f"{where}.params: Input should be a valid dictionary")
    return requests


@router.post("")
async def create(request: Request):
    def too_large() -> ApiError:
        return ApiError(413, f"Request exceeds the maximum size of {ROW.max_bytes:,} bytes")

    requests = _checked_requests(await json_object(capped(request, ROW.max_bytes, too_large)))
    record = await create_inline(
        request, "anthropic", requests, endpoint="/v1/messages", metadata=None, params={},
        window_seconds=window(request), total=len(requests),
    )  # fmt: skip
    return message_batch(record, root_url(request))


async def _record(request: Request, batch_id: str) -> dict:
    record = await db(request.app.state.store.record, batch_id, "anthropic")
    if record is None:
        raise ApiError(404, f"No message batch found with id '{batch_id}'")
    return record


@router.get("")
async def list_batches(
    request: Request, limit: str | None = None, after_id: str | None = None, before_id: str | None = None
):
    listed = await db(
        request.app.state.store.list_records,
        "anthropic",
        limit=limit_param(limit, 20, LIST_LIMIT),
        after=after_id,
        before=before_id,
    )
    if listed is None:
        raise ApiError(400, f"No message batch found with id '{after_id or before_id}'")
    records, has_more = listed
    root = root_url(request)
    data = [message_batch(r, root) for r in records]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


@router.get("/{batch_id}")
async def retrieve(request: Request, batch_id: str):
    return message_batch(await _record(request, batch_id), root_url(request))


@router.post("/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str):
    await _record(request, batch_id)
    if not await cancel(request, batch_id):
        record = await _record(request, batch_id)
        raise ApiError(400, f"Batch '{batch_id}' cannot be canceled: it ended ({record['status']}).")
    return message_batch(await _record(request, batch_id), root_url(request))


@router.delete("/{batch_id}")
async def delete_batch(request: Request, batch_id: str):
    await _record(request, batch_id)
    if not await db(request.app.state.store.delete_batch, batch_id):
        raise ApiError(
            400, f"Batch '{batch_id}' is still processing; cancel it and wait for it to end first."
        )
    return {"id": batch_id, "type": "message_batch_deleted"}


@router.get("/{batch_id}/results")
async def results(request: Request, batch_id: str):
    record = await _record(request, batch_id)
    if ended_at(record) is None or record["output_file_id"] is None:
        raise ApiError(
            404, f"Batch '{batch_id}' has no results yet: they are ready once processing has ended."
        )
    path = request.app.state.store.file_path(record["output_file_id"])
    if not path.exists():  # deleted through the Files API
        raise ApiError(404, f"The results of batch '{batch_id}' were deleted.")
    return FileResponse(path, media_type="application/binary", filename=f"{batch_id}_results.jsonl")
