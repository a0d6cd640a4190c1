"""Mistral's batch API: /v1/batch/jobs — create (from uploaded files, or requests sent inline), list
(pages, filters), get (results inline on request), cancel, delete. Files are the shared /v1/files, whose
objects carry the fields Mistral's SDK reads.

A job names its model (lines may leave `body.model` out) and one endpoint of those the server can run
(`ENDPOINTS`); several input files run as one batch, in the order given. Each line stands alone: one
Mistral would refuse fails only its own request (an HTTP 400 in the error file).
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request

from ..lines import content_lines, open_binary
from .http import ApiError, db, json_object
from .routes import cancel, create_from_file, create_inline, ended_at, window

router = APIRouter(prefix="/v1/batch/jobs")

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")  # of Mistral's, those a custom-body line converts to
STATUS = {
    "validating": "QUEUED",
    "in_progress": "RUNNING",
    "finalizing": "RUNNING",
    "completed": "SUCCESS",
    "failed": "FAILED",
    "expired": "TIMEOUT_EXCEEDED",
    "cancelling": "CANCELLATION_REQUESTED",
    "cancelled": "CANCELLED",
}
MAX_TIMEOUT_HOURS = 168


def batch_job(record: dict, outputs: list | None = None) -> dict:
    """A batch as Mistral's BatchJob."""
    params = record["params"] or {}
    errors = [{"message": e["message"], "count": 1} for e in record["errors"] or ()]
    return {
        "id": record["id"],
        "object": "batch",
        "input_files": params.get("input_files", []),
        "metadata": record["metadata"],
        "endpoint": record["endpoint"],
        "model": record["model"],
        "agent_id": None,
        "output_file": record["output_file_id"],
        "error_file": record["error_file_id"],
        "errors": errors,
        "outputs": outputs,
        "status": STATUS[record["status"]],
        "created_at": record["created_at"],
        "total_requests": record["total"],
        "completed_requests": record["completed"] + record["failed"],
        "succeeded_requests": record["completed"],
        "failed_requests": record["failed"],
        "started_at": record["in_progress_at"],
        "completed_at": ended_at(record),
    }


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, type="invalid_request_error")


def _checked(body: dict) -> dict:
    """The job's parameters, as Mistral checks them."""
    endpoint, model = body.get("endpoint"), body.get("model")
    if endpoint not in ENDPOINTS:
        raise _invalid(f"endpoint {endpoint!r}: this server runs batches for {', '.join(ENDPOINTS)}")
    if body.get("agent_id") is not None:
        raise _invalid("agent_id: this server runs models, not agents; name a model")
    if not isinstance(model, str) or not model:
        raise _invalid("model: a batch job needs the model to run its requests with")
    files, requests = body.get("input_files"), body.get("requests")
    if bool(files) == bool(requests):
        raise _invalid("give either input_files (uploaded .jsonl files) or requests, not both or neither")
    if files and not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        raise _invalid("input_files: a list of file ids")
    if requests and not (isinstance(requests, list) and all(isinstance(r, dict) for r in requests)):
        raise _invalid("requests: a list of {custom_id, body} objects")
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise _invalid("metadata: an object of strings")
    hours = body.get("timeout_hours", 24)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= MAX_TIMEOUT_HOURS:
        raise _invalid(f"timeout_hours: a whole number of hours from 1 to {MAX_TIMEOUT_HOURS}")
    return {"endpoint": endpoint, "model": model, "files": files, "requests": requests, "hours": hours}


def _joined(store, file_ids: list[str]):
    """The lines of several input files, one after the other, as uploaded."""
    for file_id in file_ids:
        with open_binary(store.file_path(file_id)) as stream:
            for _number, raw in content_lines(stream):
                yield raw


@router.post("")
async def create(request: Request):
    body = await json_object(request)
    job = _checked(body)
    store = request.app.state.store
    for file_id in job["files"] or ():
        file = await db(store.get_file, file_id)
        if file is None or file["purpose"] != "batch":
            raise ApiError(404, f"File {file_id} not found (upload it with purpose=batch).")
    fields = dict(
        endpoint=job["endpoint"], model=job["model"], metadata=body.get("metadata"),
        params={"input_files": job["files"] or []}, window_seconds=window(request, job["hours"]),
    )  # fmt: skip
    if job["requests"]:
        record = await create_inline(
            request, "mistral", job["requests"], total=len(job["requests"]), **fields
        )
    elif len(job["files"]) == 1:
        record = await create_from_file(request, "mistral", job["files"][0], **fields)
    else:
        record = await create_inline(request, "mistral", _joined(store, job["files"]), **fields)
    return batch_job(record)


async def _record(request: Request, job_id: str) -> dict:
    record = await db(request.app.state.store.record, job_id, "mistral")
    if record is None:
        raise ApiError(404, f"Batch job {job_id} not found.", type="not_found")
    return record


@router.get("")
async def list_jobs(
    request: Request,
    page: int = 0,
    page_size: int = 100,
    model: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    order_by: str = "-created",
):
    if page < 0 or not 1 <= page_size <= 1000 or order_by not in ("created", "-created"):
        raise _invalid("page ≥ 0, page_size from 1 to 1000, order_by 'created' or '-created'")
    where = {}
    if model:
        where["model"] = [model]
    if status:
        where["status"] = [ours for ours, theirs in STATUS.items() if theirs in status] or ["-"]
    store = request.app.state.store
    records, _more = await db(
        store.list_records, "mistral", limit=page_size, offset=page * page_size,
        oldest_first=order_by == "created", where=where,
    )  # fmt: skip
    total = await db(store.count_records, "mistral", where)
    return {"object": "list", "data": [batch_job(r) for r in records], "total": total}


def _outputs(store, record: dict) -> list[dict]:
    """Every result line of an ended job, the successes first (what `inline=true` shows)."""
    lines = []
    for file_id in (record["output_file_id"], record["error_file_id"]):
        if file_id and store.file_path(file_id).exists():  # (one deleted through the Files API is gone)
            with open_binary(store.file_path(file_id)) as stream:
                lines.extend(orjson.loads(raw) for _n, raw in content_lines(stream))
    return lines


@router.get("/{job_id}")
async def get_job(request: Request, job_id: str, inline: bool | None = None):
    record = await _record(request, job_id)
    outputs = None
    if inline and ended_at(record) is not None:
        outputs = await db(_outputs, request.app.state.store, record)
    return batch_job(record, outputs)


@router.post("/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str):
    await _record(request, job_id)
    if not await cancel(request, job_id):
        record = await _record(request, job_id)
        raise _invalid(f"Batch job {job_id} has already ended ({STATUS[record['status']]}).")
    return batch_job(await _record(request, job_id))


@router.delete("/{job_id}")
async def delete_job(request: Request, job_id: str):
    await _record(request, job_id)
    if not await db(request.app.state.store.delete_batch, job_id):
        raise _invalid(f"Batch job {job_id} is still running; cancel it first.")
    return {"id": job_id, "object": "batch", "deleted": True}
