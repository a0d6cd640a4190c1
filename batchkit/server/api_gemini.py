"""The Gemini API's batch mode and Files API, as `google-genai` speaks them (under `v1beta` and `v1`):

    POST   {v}/models/{model}:batchGenerateContent    a batch of an uploaded file's {key, request} lines, or
                                                      of inline requests; answered with its operation
    GET    {v}/batches, {v}/batches/{id}              the operation(s): metadata.state BATCH_STATE_*, stats,
                                                      output.responsesFile or output.inlinedResponses
    POST   {v}/batches/{id}:cancel    DELETE {v}/batches/{id}
    POST   upload/{v}/files                           Google's resumable upload: `start` gives an upload
                                                      URL; `upload`, `finalize` (and `query`) send bytes
    GET    {v}/files, {v}/files/{id}   DELETE {v}/files/{id}
    GET    {v}/models, {v}/models/{model}             the backend's models
    GET    {v}/files/{id}:download?alt=media, download/{v}/files/{id}:download?alt=media

Routes live under `GEMINI_ROOT`, where `surfaces.route` sends Gemini's requests. The results file has one
line per request in input order: `{key, response: GenerateContentResponse}` or `{key, error: Status}`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from ..lenient import as_list
from ..lines import content_lines, open_binary
from .http import ApiError, capped, db, json_object, limit_param
from .routes import (
    cancel,
    create_from_file,
    create_inline,
    ended_at,
    found_record,
    google_page,
    rfc3339,
    root_url,
    window,
)
from .surfaces import GEMINI_ROOT, GEMINI_VERSIONS

router = APIRouter(prefix=GEMINI_ROOT)

STATE = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "cancelling": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
TYPES = "type.googleapis.com/google.ai.generativelanguage.v1beta."
STAMPS = ("created_at", "in_progress_at", "finalizing_at", "cancelling_at", *(
    "completed_at", "failed_at", "expired_at", "cancelled_at"))  # fmt: skip
FILE_HOURS = 48  # how long Gemini keeps a file
CHUNK_GRANULARITY = 8 * 1024 * 1024


def _version(version: str) -> None:
    if version not in GEMINI_VERSIONS:
        raise ApiError(
            404, f"Unknown API version {version!r}; this server speaks {', '.join(GEMINI_VERSIONS)}."
        )


# ---- batches ---------------------------------------------------------------------------------------------


def _stats(record: dict) -> dict:
    done = record["completed"] + record["failed"]
    counts = (record["total"], record["completed"], record["failed"], max(record["total"] - done, 0))
    names = ("requestCount", "successfulRequestCount", "failedRequestCount", "pendingRequestCount")
    return {name: str(count) for name, count in zip(names, counts, strict=True)}  # int64 as JSON strings


def _inlined(store, record: dict) -> list[dict]:
    """The results of a batch of inline requests, as inlinedResponses (in request order)."""
    responses = []
    path = store.file_path(record["output_file_id"])
    if not path.exists():  # deleted through the Files API: the batch has no results to show any more
        return responses
    with open_binary(path) as stream:
        for _number, raw in content_lines(stream):
            line = orjson.loads(raw)
            item = {k: line[k] for k in ("response", "error") if k in line}
            responses.append(item | {"metadata": line.get("metadata", {})})
    return responses


def operation(record: dict, store) -> dict:
    """A batch as the long-running operation Gemini answers with (its GenerateContentBatch in metadata)."""
    params, name = record["params"] or {}, f"batches/{record['id']}"
    ended = ended_at(record)
    batch = {
        "@type": TYPES + "GenerateContentBatch",
        "name": name,
        "model": record["model"],
        "displayName": params.get("display_name") or name,
        "createTime": rfc3339(record["created_at"]),
        "updateTime": rfc3339(max(record[s] or 0 for s in STAMPS)),
        "batchStats": _stats(record),
        "state": STATE[record["status"]],
    }
    if params.get("file_name"):
        batch["inputConfig"] = {"fileName": params["file_name"]}
    result = {"name": name, "metadata": batch, "done": ended is not None}
    if ended is not None:
        batch["endTime"] = rfc3339(ended)
    if ended is not None and record["output_file_id"]:
        if params.get("inline"):
            output = {"inlinedResponses": {"inlinedResponses": _inlined(store, record)}}
        else:
            output = {"responsesFile": f"files/{record['output_file_id']}"}
        batch["output"] = output
        result["response"] = {"@type": TYPES + "GenerateContentBatchOutput", **output}
    if record["errors"]:
        result["error"] = {"code": 3, "message": record["errors"][0]["message"]}
    return result


def _input(batch: dict) -> tuple[str | None, list | None]:
    """(file name, inline requests) of a create request's inputConfig: exactly one of them."""
    config = batch.get("inputConfig") or batch.get("input_config")
    if not isinstance(config, dict):
        raise ApiError(400, "batch.input_config is required: a file_name or inline requests.")
    file_name = config.get("fileName", config.get("file_name"))
    requests = config.get("requests")
    requests = requests.get("requests") if isinstance(requests, dict) else None
    if (file_name is None) == (requests is None):
        raise ApiError(400, "batch.input_config: give exactly one of file_name and requests.requests.")
    if file_name is not None and not (isinstance(file_name, str) and file_name.startswith("files/")):
        raise ApiError(
            400, f"batch.input_config.file_name: expected 'files/…', got {str(file_name)[:100]!r}."
        )
    if requests is not None and not (
        isinstance(requests, list) and requests and all(isinstance(r, dict) for r in requests)
    ):
        raise ApiError(400, "batch.input_config.requests.requests: a non-empty list of {request, metadata}.")
    return file_name, requests


def _inline_line(item: dict) -> dict:
    """An inline request as a line of the batch's input file ({key, request, metadata})."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    line = {"request": item.get("request"), "metadata": metadata}
    if isinstance(metadata.get("key"), str):
        line["key"] = metadata["key"]
    return line


@router.post("/{version}/models/{model}:batchGenerateContent")
async def create(request: Request, version: str, model: str):
    _version(version)
    body = await json_object(request)
    batch = body.get("batch") if isinstance(body.get("batch"), dict) else None
    if batch is None:
        raise ApiError(400, "batch is required: {batch: {display_name, input_config}}.")
    file_name, requests = _input(batch)
    display = batch.get("displayName", batch.get("display_name"))
    fields = dict(
        endpoint="generateContent", model=f"models/{model}", metadata=None, window_seconds=window(request),
        params={"display_name": display, "file_name": file_name, "inline": requests is not None},
    )  # fmt: skip
    if requests is not None:
        lines = [_inline_line(r) for r in requests]
        record = await create_inline(request, "gemini", lines, total=len(lines), **fields)
    else:
        file_id = file_name.removeprefix("files/")
        if await db(request.app.state.store.get_file, file_id) is None:
            raise ApiError(404, f"File {file_name} not found.")
        record = await create_from_file(request, "gemini", file_id, **fields)
    return operation(record, request.app.state.store)


async def _record(request: Request, version: str, batch_id: str) -> dict:
    _version(version)
    return await found_record(request, batch_id, "gemini", f"Batch batches/{batch_id} not found.")


@router.get("/{version}/models")
async def list_models(request: Request, version: str):
    """The backend's models as the Gemini API lists them (one page)."""
    _version(version)
    return {"models": [_model(model) for model in await _model_ids(request)]}


@router.get("/{version}/models/{model}")
async def get_model(request: Request, version: str, model: str):
    _version(version)
    if model not in await _model_ids(request):
        raise ApiError(404, f"models/{model} is not found for API version {version}.")
    return _model(model)


async def _model_ids(request: Request) -> list[str]:
    answer = await request.app.state.backend.models()
    if answer.status_code != 200:
        raise ApiError(502, f"the backend could not list its models (HTTP {answer.status_code})")
    listed = as_list(answer.body.get("data")) if isinstance(answer.body, dict) else []
    return [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _model(model: str) -> dict:
    methods = ["generateContent", "batchGenerateContent", "countTokens"]
    return {"name": f"models/{model}", "displayName": model, "supportedGenerationMethods": methods}


@router.get("/{version}/batches")
async def list_batches(
    request: Request, version: str, pageSize: str | None = None, pageToken: str | None = None
):  # noqa: N803
    _version(version)
    store = request.app.state.store
    listed = await db(
        store.list_records, "gemini", limit=limit_param(pageSize, 50, 1000), after=pageToken or None
    )
    return await db(
        google_page, listed, "operations", lambda r: operation(r, store)
    )  # inline results: file reads


@router.get("/{version}/batches/{batch_id}")
async def get_batch(request: Request, version: str, batch_id: str):
    return await db(operation, await _record(request, version, batch_id), request.app.state.store)


@router.post("/{version}/batches/{batch_id}:cancel")
async def cancel_batch(request: Request, version: str, batch_id: str):
    await _record(request, version, batch_id)
    if not await cancel(request, batch_id):
        raise ApiError(400, f"Batch batches/{batch_id} has already ended.", type="FAILED_PRECONDITION")
    return {}


@router.delete("/{version}/batches/{batch_id}")
async def delete_batch(request: Request, version: str, batch_id: str):
    await _record(request, version, batch_id)
    if not await db(request.app.state.store.delete_batch, batch_id):
        raise ApiError(
            400, f"Batch batches/{batch_id} is still running; cancel it first.", type="FAILED_PRECONDITION"
        )
    return {}


# ---- files -----------------------------------------------------------------------------------------------


@dataclass
class Upload:
    """A resumable upload under way (in memory: a restarted server forgets it, as the client re-uploads)."""

    file_id: str
    part: Path
    size: int | None
    mime_type: str
    display_name: str | None
    received: int = 0


def file_object(record: dict, root: str, version: str) -> dict:
    """A file as Gemini's File."""
    generated = record["purpose"] == "batch_output"
    created = rfc3339(record["created_at"])
    answer = {
        "name": f"files/{record['id']}",
        "displayName": record["filename"],
        "mimeType": record["mime_type"] or "application/jsonl",
        "sizeBytes": str(record["bytes"]),
        "createTime": created,
        "updateTime": created,
        "expirationTime": rfc3339(record["expires_at"] or record["created_at"] + FILE_HOURS * 3600),
        "uri": f"{root}/{version}/files/{record['id']}",
        "state": "ACTIVE",
        "source": "GENERATED" if generated else "UPLOADED",
    }
    if generated:
        answer["downloadUri"] = f"{root}/download/{version}/files/{record['id']}:download?alt=media"
    return answer


def _camel(obj: dict) -> dict:
    """size_bytes → sizeBytes: Google's JSON reads both spellings of a field."""
    return {k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:]): v for k, v in obj.items()}


def _start(request: Request, body: dict) -> Upload:
    file = _camel(body["file"]) if isinstance(body.get("file"), dict) else {}
    declared = request.headers.get("x-goog-upload-header-content-length", file.get("sizeBytes"))
    try:
        size = int(declared) if declared is not None else None
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid upload size {str(declared)[:40]!r}.") from None
    mime = (
        request.headers.get("x-goog-upload-header-content-type")
        or file.get("mimeType")
        or "application/jsonl"
    )
    file_id, part = request.app.state.store.upload_path()
    part.write_bytes(b"")
    return Upload(file_id.removeprefix("file-"), part, size, mime, file.get("displayName"))


def _append(upload: Upload, data: bytes) -> None:
    with open(upload.part, "ab") as out:
        out.write(data)
        out.flush()
    upload.received += len(data)


async def _finalize(request: Request, upload: Upload, version: str) -> dict:
    if upload.size is not None and upload.received != upload.size:
        raise ApiError(400, f"The upload has {upload.received} bytes, not the {upload.size} it announced.")
    store = request.app.state.store
    await asyncio.to_thread(_sync, upload.part)
    name = upload.display_name or f"{upload.file_id}.jsonl"
    await db(store.add_file, upload.file_id, upload.part, name, "batch", None, upload.mime_type)
    return file_object(await db(store.file_record, upload.file_id), root_url(request), version)


def _sync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@router.post("/upload/{version}/files")
async def upload(request: Request, version: str, upload_id: str | None = None):
    _version(version)
    uploads: dict[str, Upload] = request.app.state.uploads
    command = request.headers.get("x-goog-upload-command", "").replace(" ", "").split(",")
    if upload_id is None:
        if request.headers.get("x-goog-upload-protocol") != "resumable" or "start" not in command:
            raise ApiError(
                400, "Start a resumable upload: X-Goog-Upload-Protocol: resumable, Command: start."
            )
        token = secrets.token_urlsafe(24)
        uploads[token] = _start(request, await json_object(request, missing={}))
        url = f"{root_url(request)}/upload/{version}/files?upload_id={token}&upload_protocol=resumable"
        headers = {"x-goog-upload-url": url, "x-goog-upload-status": "active",
                   "x-goog-upload-chunk-granularity": str(CHUNK_GRANULARITY)}  # fmt: skip
        return Response(status_code=200, headers=headers)
    session = uploads.get(upload_id)
    if session is None:
        raise ApiError(404, "No such upload session (it finished, or the server restarted): start again.")
    return await _upload_step(request, uploads, upload_id, session, command, version)


async def _upload_step(request: Request, uploads, token: str, session: Upload, command, version) -> Response:
    if "query" in command:
        return Response(
            headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(session.received)}
        )
    offset = request.headers.get("x-goog-upload-offset")
    if offset is not None and offset != str(session.received):
        raise ApiError(
            400, f"Upload offset {offset[:20]} does not follow the {session.received} bytes received."
        )
    if "upload" in command:
        room = request.app.state.config.max_file_size - session.received  # the whole file, not each chunk

        def too_large() -> ApiError:
            uploads.pop(token, None)
            session.part.unlink(missing_ok=True)
            return ApiError(
                413, f"The file is larger than this server accepts ({room + session.received:,} bytes)."
            )

        await asyncio.to_thread(_append, session, await capped(request, room, too_large).body())
    if "finalize" not in command:
        return Response(headers={"x-goog-upload-status": "active"})
    del uploads[token]
    try:
        file = await _finalize(request, session, version)
    finally:
        session.part.unlink(missing_ok=True)
    return Response(
        orjson.dumps({"file": file}), media_type="application/json", headers={"x-goog-upload-status": "final"}
    )


async def _file(request: Request, version: str, file_id: str) -> dict:
    _version(version)
    record = await db(request.app.state.store.file_record, file_id)
    if record is None:
        raise ApiError(403, f"You do not have permission to access the File {file_id} or it may not exist.")
    return record


@router.get("/{version}/files")
async def list_files(
    request: Request, version: str, pageSize: str | None = None, pageToken: str | None = None
):  # noqa: N803
    _version(version)
    listed = await db(
        request.app.state.store.list_files,
        purpose=None, limit=limit_param(pageSize, 10, 100), order="desc", after=pageToken or None, records=True,
    )  # fmt: skip
    root = root_url(request)
    return google_page(listed, "files", lambda r: file_object(r, root, version))


async def _download(request: Request, version: str, file_id: str, alt: str | None):
    record = await _file(request, version, file_id)
    if alt != "media":
        return file_object(record, root_url(request), version)
    path = request.app.state.store.file_path(file_id)
    # the type the uploader chose, as Google gives it, but never shown as a page of this server's origin
    # (whose pages the Origin check trusts): a download, and not sniffed
    headers = {"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=record["mime_type"] or "application/jsonl", headers=headers)


@router.get("/{version}/files/{file_id}:download")
async def download(request: Request, version: str, file_id: str, alt: str | None = None):
    return await _download(request, version, file_id, alt)


@router.get("/download/{version}/files/{file_id}:download")
async def download_media(request: Request, version: str, file_id: str, alt: str | None = None):
    return await _download(request, version, file_id, alt)


@router.get("/{version}/files/{file_id}")
async def get_file(request: Request, version: str, file_id: str):
    return file_object(await _file(request, version, file_id), root_url(request), version)


@router.delete("/{version}/files/{file_id}")
async def delete_file(request: Request, version: str, file_id: str):
    await _file(request, version, file_id)
    await db(request.app.state.store.delete_file, file_id)
    return {}
