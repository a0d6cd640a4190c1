"""/v1/files: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from .http import ApiError, capped, db, found, invalid, limit_param, listed_page, not_found

router = APIRouter(prefix="/v1")

FILE_EXPIRY_RANGE = (3600, 2_592_000)  # seconds, for expires_after (CreateFileRequest)
FORM_ROOM = 64 * 1024  # bytes of multipart framing and fields an upload's body may have beside its file
TOO_LARGE = "File is too large."  # OpenAI's answer (HTTP 400) to a batch file over its limit


def _too_large() -> ApiError:
    return ApiError(400, TOO_LARGE)


def _copy_to_disk(source, target: Path) -> None:
    """Copy an upload (spooled by the form parser) to disk in 1 MB chunks, synced before it counts."""
    source.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


def _expires_at(form) -> int | None:
    """`expires_after[anchor]` and `expires_after[seconds]` of an upload → expires_at (or None)."""
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise invalid(
            "expires_after.anchor", "Invalid value for 'expires_after.anchor': expected 'created_at'."
        )
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise invalid(
            "expires_after.seconds",
            "Invalid type for 'expires_after.seconds': expected an integer.",
            "invalid_type",
        ) from None
    low, high = FILE_EXPIRY_RANGE
    if not low <= value <= high:
        raise invalid(
            "expires_after.seconds",
            f"Invalid value for 'expires_after.seconds': must be between {low} and {high}.",
        )
    return int(time.time()) + value


def _checked_upload(form) -> tuple[UploadFile, str]:
    """The uploaded file and its safe name, or the 400 OpenAI gives."""
    upload, purpose = form.get("file"), form.get("purpose")
    if purpose is None:
        raise invalid("purpose", "Missing required parameter: 'purpose'.", "missing_required_parameter")
    if not isinstance(upload, UploadFile):
        raise invalid("file", "Missing required parameter: 'file'.", "missing_required_parameter")
    if purpose != "batch":
        raise invalid(
            "purpose", f"Invalid value for 'purpose': {purpose!r}; this server accepts only 'batch'."
        )
    filename = os.path.basename(upload.filename or "")
    if not filename.endswith(".jsonl"):
        raise invalid("file", f"Invalid file format for Batch API: {filename!r}. Must be .jsonl")
    return upload, filename


@router.post("/files")
async def upload_file(request: Request):
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise invalid(
            "file", "Upload the file as multipart/form-data with fields `file` and `purpose`.", "invalid_type"
        )
    store, limit = request.app.state.store, request.app.state.config.max_file_size
    async with capped(request, limit + FORM_ROOM, _too_large).form(max_files=1, max_fields=16) as form:
        upload, filename = _checked_upload(form)
        if upload.size is not None and upload.size > limit:
            raise _too_large()
        expires_at = _expires_at(form)
        file_id, part = store.upload_path()
        try:
            await asyncio.to_thread(_copy_to_disk, upload.file, part)
            return await db(store.add_file, file_id, part, filename, "batch", expires_at)
        finally:
            part.unlink(missing_ok=True)


@router.get("/files")
async def list_files(
    request: Request,
    purpose: str | None = None,
    limit: str | None = None,
    order: str = "desc",
    after: str | None = None,
    page: int | None = None,
    page_size: int | None = None,
):
    if order not in ("asc", "desc"):
        raise invalid("order", f"Invalid value for 'order': {order!r}; expected 'asc' or 'desc'.")
    if page is not None or page_size is not None:  # Mistral's files.list pages by number
        return await _numbered_page(request, purpose, order, page or 0, page_size or 100)
    listed = await db(
        request.app.state.store.list_files,
        purpose=purpose,
        limit=limit_param(limit, 10_000, 10_000),
        order=order,
        after=after,
    )
    return listed_page(listed, "file", after)


async def _numbered_page(request: Request, purpose: str | None, order: str, page: int, size: int) -> dict:
    """Page `page` of `size` files, with the `total` Mistral's list gives (of the first 10,000 files)."""
    if page < 0 or not 1 <= size <= 1000:
        raise invalid("page_size", "page must be 0 or more and page_size from 1 to 1000.")
    files, _ = await db(
        request.app.state.store.list_files, purpose=purpose, limit=10_000, order=order, after=None
    )
    shown = files[page * size : (page + 1) * size]
    return {"object": "list", "data": shown, "total": len(files), "has_more": (page + 1) * size < len(files)}


async def _file(request: Request, file_id: str) -> dict:
    return await found(request.app.state.store.get_file, file_id, "file")


@router.get("/files/{file_id}")
async def get_file(request: Request, file_id: str):
    return await _file(request, file_id)


@router.get("/files/{file_id}/content")
async def file_content(request: Request, file_id: str):
    file = await _file(request, file_id)
    path = request.app.state.store.file_path(file_id)
    return FileResponse(path, media_type="application/octet-stream", filename=file["filename"])


@router.delete("/files/{file_id}")
async def delete_file(request: Request, file_id: str):
    if not await db(request.app.state.store.delete_file, file_id):
        raise not_found("file", file_id, "file_id")
    return {"id": file_id, "object": "file", "deleted": True}
