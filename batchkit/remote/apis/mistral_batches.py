"""Mistral's batch jobs through the official `mistralai` SDK: the `{custom_id, body}` file uploaded with
purpose `batch`, `batch.jobs.create(input_files, model, endpoint, metadata, timeout_hours)`, status,
cancel, and the output and error files downloaded as NAME.output.jsonl / NAME.errors.jsonl. The job keeps
metadata, so batchkit's sha256 finds a batch whose create answer was lost.

Sources: mistralai/client-python `client/jobs.py`, `client/files.py`, `client/models/batchjob.py`,
`batchjobstatus.py` (QUEUED, RUNNING, SUCCESS, FAILED, TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED,
CANCELLED), `apiendpoint.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from ...errors import InputError
from ...formats.reading import read_requests
from ...lenient import as_int
from ...lines import open_binary
from ...words import Option, Text
from ..client import (
    ANSWERED,
    SHAPE_ERRORS,
    Client,
    Failure,
    Order,
    ProgressReader,
    ResultFile,
    copy_stream,
    other_failure,
    provider_words,
    transport_errors,
    transport_failure,
    upload_name,
)
from ..records import ENDED_AT, Batch, BatchError, BytesMoved, Model, RemoteFile
from .sdk import sdk

STATES = {
    "QUEUED": "validating",
    "RUNNING": "in_progress",
    "SUCCESS": "completed",
    "FAILED": "failed",
    "TIMEOUT_EXCEEDED": "expired",
    "CANCELLATION_REQUESTED": "cancelling",
    "CANCELLED": "cancelled",
}
# The endpoint a `{custom_id, body}` file's requests go to, from what its first body holds.
ENDPOINTS = (
    ("messages", "/v1/chat/completions"),
    ("input", "/v1/embeddings"),
    ("prompt", "/v1/fim/completions"),
)


def _set(value):
    """The SDK's UNSET and None both mean: not given."""
    from mistralai.client.types import UNSET

    return None if value is UNSET else value


def parse_batch(job) -> Batch:
    state = STATES.get(str(job.status), "unknown")
    times = {"created_at": job.created_at, "in_progress_at": _set(job.started_at)}
    if state in ENDED_AT:
        times[ENDED_AT[state]] = _set(job.completed_at)
    return Batch(
        id=job.id,
        status=state,
        endpoint=job.endpoint,
        input_file_id=(job.input_files or [None])[0],
        output_file_id=_set(job.output_file),
        error_file_id=_set(job.error_file),
        model=_set(job.model),
        total=job.total_requests or 0,
        completed=job.succeeded_requests or 0,
        failed=job.failed_requests or 0,
        times={name: t for name, t in times.items() if t is not None},
        errors=[BatchError(None, e.message) for e in job.errors or []],
        metadata={str(k): str(v) for k, v in (_set(job.metadata) or {}).items()},
        provider_status=str(job.status),
    )


def endpoint_of(path: Path) -> str:
    """Where the file's requests go, from its first request's body (custom-body lines name no url)."""
    with open_binary(path) as stream:
        for request in read_requests(stream, lambda finding: None):
            for field, endpoint in ENDPOINTS:
                if field in request.body:
                    return endpoint
            break
    raise InputError(
        Text(
            f"{path}: cannot tell the endpoint from the first request's body; name it with ",
            Option("endpoint"),
        )
    )


def _failure(error) -> Failure:
    from mistralai.client import errors

    if isinstance(error, errors.ResponseValidationError):  # an answer its types refuse (pydantic's words)
        return other_failure(error.cause or error)
    if isinstance(error, errors.MistralError):
        try:
            body = orjson.loads(error.body)
        except orjson.JSONDecodeError:
            body = error.body
        request = error.raw_response.request
        return Failure(
            ANSWERED, error.status_code, provider_words(body, error.message), request.url.path, error
        )
    if isinstance(error, transport_errors()):
        return transport_failure(error)
    return other_failure(error)


class MistralBatches(Client):
    api = "mistral"
    sdk_paths = ("/v1",)

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)  # no key: said before the import
        mistralai = sdk("mistralai.client", "mistral")
        self._sdk = mistralai.Mistral(
            api_key=self._key, server_url=target.base_url, timeout_ms=int(timeout * 1000)
        )

    @contextlib.contextmanager
    def _calling(self, action: str):
        from mistralai.client import errors

        try:
            yield
        except (errors.MistralError, errors.NoResponseError, *transport_errors(), *SHAPE_ERRORS) as e:
            raise _failure(e).error(self.target, action, self._key) from None

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        reader = ProgressReader(path, progress)
        try:
            with self._calling(f"uploading {path.name}"):
                uploaded = self._sdk.files.upload(
                    file={"file_name": upload_name(path), "content": reader}, purpose="batch"
                )
        finally:
            reader.close()
        return self._file(uploaded)

    @staticmethod
    def _file(found) -> RemoteFile:
        return RemoteFile(id=found.id, filename=found.filename, bytes=found.size_bytes,
                          purpose=str(found.purpose), created_at=found.created_at)  # fmt: skip

    def file(self, file_id: str) -> RemoteFile:
        with self._calling(f"looking up file {file_id}"):
            found = self._sdk.files.retrieve(file_id=file_id)
        remote = self._file(found)
        remote.status = "deleted" if getattr(found, "deleted", False) else "processed"
        return remote

    def create_batch(self, order: Order) -> Batch:
        """`completion_window` ("24h") becomes `timeout_hours`."""
        hours = as_int(order.completion_window.removesuffix("h"))
        with self._calling("creating the batch"):
            job = self._sdk.batch.jobs.create(
                input_files=[order.file_id],
                endpoint=order.endpoint or endpoint_of(order.path),
                model=order.model,
                metadata=order.metadata,
                timeout_hours=hours,
                http_headers={"Idempotency-Key": order.idempotency_key},
            )
        return parse_batch(job)

    def batch(self, batch_id: str) -> Batch:
        with self._calling(f"looking up batch {batch_id}"):
            job = self._sdk.batch.jobs.get(job_id=batch_id)
        return parse_batch(job)

    def cancel(self, batch_id: str) -> Batch:
        with self._calling(f"cancelling batch {batch_id}"):
            job = self._sdk.batch.jobs.cancel(job_id=batch_id)
        return parse_batch(job)

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Newest first, page by page (pages are numbered from 0)."""
        seen = 0
        for page in range(1 << 31):
            with self._calling("listing batches"):
                listed = self._sdk.batch.jobs.list(page=page, page_size=page_size, order_by="-created")
            rows = listed.data or []
            yield from (parse_batch(job) for job in rows)
            seen += len(rows)
            if not rows or seen >= (listed.total or 0):
                return

    def results(self, batch: Batch) -> list[ResultFile]:
        """The output and error files (which lines each holds is not documented, so no counts are checked)."""
        files = (("output", batch.output_file_id), ("errors", batch.error_file_id))
        return [ResultFile(kind, ref) for kind, ref in files if ref]

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        with self._calling(f"downloading file {result.ref}"):
            response = self._sdk.files.download(file_id=result.ref)
            try:
                return copy_stream(response, sink, progress)
            finally:
                response.close()

    def models(self) -> list[Model]:
        with self._calling("listing models"):
            listed = self._sdk.models.list()
        return [Model(id=m.id, created=_set(m.created), owned_by=_set(m.owned_by)) for m in listed.data or []]

    def close(self) -> None:
        with contextlib.suppress(AttributeError):  # older SDKs hold no client to close
            self._sdk.__exit__(None, None, None)
