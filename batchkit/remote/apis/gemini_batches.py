"""The Gemini API's batch mode through the official `google-genai` SDK.

The `{key, request}` file is uploaded with the Files API (a resumable upload), the batch is created with
`batches.create(model=…, src=<file name>)`, and its results are the destination file, downloaded as
NAME.output.jsonl (one `{key, response}` or `{key, error}` line per request). A Gemini batch keeps no
metadata, but it has a display name: batchkit writes the content's sha256 there, which finds a batch whose
create answer was lost. The model is the batch's, not the lines' (`Order.model`). The API's answers carry
a batch's request counts (`metadata.batchStats`), which the SDK's types leave out (they hold Vertex's):
`BatchStats` reads them from each answer as the SDK's HTTP client receives it.

Sources: googleapis/python-genai `google/genai/batches.py` (create/get/list/cancel; JobState), `files.py`
(upload, download to a stream), `types.py` (BatchJob, JobState, File).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import orjson

from ...errors import UsageError
from ...keys import redact
from ...words import Meta, Option, Text
from ..client import (
    ANSWERED,
    MAX_SAID,
    SHAPE_ERRORS,
    Client,
    Failure,
    Order,
    ProgressReader,
    ResultFile,
    other_failure,
    transport_errors,
    transport_failure,
    upload_name,
)
from ..records import ENDED_AT, FILE_KEY, SHA_KEY, Batch, BatchError, BytesMoved, Model, RemoteFile
from .sdk import sdk

STATES = {
    "JOB_STATE_UNSPECIFIED": "validating",
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
MARKER = re.compile(r"^batchkit:([0-9a-f]{64})(?::(.*))?$", re.DOTALL)
DISPLAY_NAME_MAX = 128
API_VERSION = "v1beta"  # where the Gemini API serves batch mode (the SDK's default may be another)
MIME_TYPE = "jsonl"  # what the Gemini batch guide uploads JSONL files as


class _OwnKeyChoice(logging.Filter):
    """The SDK says which of GOOGLE_API_KEY and GEMINI_API_KEY it would read when both are set; batchkit
    gives it the key it chose itself (GEMINI_API_KEY first), so the line would be wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "GEMINI_API_KEY are set" not in record.getMessage()


_OWN_KEY_CHOICE = _OwnKeyChoice()


def _epoch(moment) -> int | None:
    return None if moment is None else int(moment.timestamp())


def display_name(metadata: dict[str, str]) -> str:
    """batchkit:<sha256>:<file name>, within the display name's length."""
    return f"batchkit:{metadata[SHA_KEY]}:{metadata.get(FILE_KEY, '')}"[:DISPLAY_NAME_MAX]


def _metadata(name: str | None) -> dict[str, str]:
    found = MARKER.match(name or "")
    if not found:
        return {}
    return {SHA_KEY: found.group(1)} | ({FILE_KEY: found.group(2)} if found.group(2) else {})


class BatchStats:
    """The request counts of each batch an answer of the API describes, by batch name: an httpx response
    hook on the SDK's client (a GET of one batch, or of a page of them), read before the SDK reads the
    answer into its types, which have no place for them."""

    def __init__(self):
        self.by_name: dict[str, tuple[int, int, int]] = {}  # name → (total, succeeded, failed)

    def __call__(self, response) -> None:
        if response.request.method != "GET" or not BATCHES_PATH.search(response.url.path):
            return  # (a file's download is never read here)
        response.read()
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return  # the SDK says what is wrong with it
        jobs = body.get("operations", [body]) if type(body) is dict else None
        for job in jobs if type(jobs) is list else ():
            metadata = job.get("metadata") if type(job) is dict else None
            stats = metadata.get("batchStats") if type(metadata) is dict else None
            if type(stats) is dict and type(job.get("name")) is str:
                counts = [_count(stats.get(key)) for key in STATS_KEYS]
                if None not in counts:
                    self.by_name[job["name"]] = tuple(counts)

    def counted(self, batch: Batch) -> Batch:
        """`batch` with the counts its last answer carried, when the SDK's reading has none."""
        counts = self.by_name.get(batch.id)
        if counts is not None and not batch.total:
            batch.total, batch.completed, batch.failed = counts
        return batch


BATCHES_PATH = re.compile(r"/batches(/[^/:]+)?$")  # one batch, or a page of them
STATS_KEYS = ("requestCount", "successfulRequestCount", "failedRequestCount")  # int64 fields: JSON strings


def _count(value) -> int | None:
    """A request count as the API writes it (an int64 as a JSON string; a zero left out), or None."""
    if value is None:
        return 0
    if type(value) not in (int, str):
        return None
    try:
        count = int(value)
    except ValueError:
        return None
    return count if 0 <= count < 2**63 else None


def parse_batch(job) -> Batch:
    raw_state = getattr(job.state, "value", None) or str(job.state or "JOB_STATE_UNSPECIFIED")
    state = STATES.get(raw_state, "unknown")
    times = {"created_at": _epoch(job.create_time), "in_progress_at": _epoch(job.start_time)}
    if state in ENDED_AT:
        times[ENDED_AT[state]] = _epoch(job.end_time or job.update_time)
    error = job.error
    errors = (
        [BatchError(str(error.code) if error.code is not None else None, error.message or "")]
        if error
        else []
    )
    output = job.dest.file_name if job.dest is not None else None
    return Batch(
        id=str(job.name),
        status=state,
        output_file_id=output,
        model=(job.model or "").removeprefix("models/") or None,
        times={name: t for name, t in times.items() if t is not None},
        errors=errors,
        metadata=_metadata(job.display_name),
        provider_status=raw_state,
    )


def _failure(error) -> Failure:
    from google.auth import exceptions
    from google.genai import errors

    if isinstance(error, exceptions.GoogleAuthError):  # Vertex's credentials refused (a revoked key)
        return Failure(ANSWERED, 401, redact(str(error))[:MAX_SAID], "", error)
    if isinstance(error, errors.APIError):
        response = getattr(error, "response", None)
        request = getattr(response, "request", None)
        path = request.url.path if request is not None and hasattr(request, "url") else ""
        return Failure(ANSWERED, error.code, error.message or str(error.status or ""), path, error)
    if isinstance(error, transport_errors()):
        return transport_failure(error)
    return other_failure(error)


class _Sink:
    """A writable stream that reports the bytes written through it."""

    def __init__(self, sink, progress: BytesMoved | None):
        self._sink, self._progress, self.written = sink, progress, 0

    def write(self, chunk: bytes) -> int:
        self._sink.write(chunk)
        self.written += len(chunk)
        if self._progress:
            self._progress(self.written, None)
        return len(chunk)


class GeminiBatches(Client):
    api = "gemini"
    sdk_paths = ("/v1beta", "/v1")  # the SDK adds its api_version, v1beta unless told

    extra = "gemini"  # the extra that installs the SDK
    batch_name, batch_name_form = re.compile(r"batches/[^/]+"), "batches/ID"  # as the SDK checks them
    _parse = staticmethod(parse_batch)

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)  # no key: said before the import
        genai = sdk("google.genai", self.extra)
        logging.getLogger("google_genai._api_client").addFilter(_OWN_KEY_CHOICE)
        self._stats = BatchStats()
        self._sdk = self._client(genai, max_retries + 1)
        self._once = self._client(genai, 1)  # creates are never repeated by the SDK

    def _client(self, genai, attempts: int):
        options = {"base_url": self.target.base_url + "/", "api_version": API_VERSION,
                   "timeout": int(self.timeout * 1000), "retry_options": {"attempts": attempts},
                   "client_args": {"event_hooks": {"response": [self._stats]}}}  # fmt: skip
        return genai.Client(api_key=self._key, http_options=options)

    @contextlib.contextmanager
    def _calling(self, action: str):
        """Around the SDK's calls alone: it reads the answers into its types, and an answer of another
        shape fails there (batchkit's own reading of them is outside)."""
        from google.auth import exceptions
        from google.genai import errors

        try:
            yield
        except exceptions.DefaultCredentialsError:
            raise  # none found: `storage.google_credentials` says how to give them
        except (errors.APIError, exceptions.GoogleAuthError, *transport_errors(), *SHAPE_ERRORS) as e:
            raise _failure(e).error(self.target, action, self._key) from None

    def _name(self, batch_id: str) -> str:
        """A batch name the SDK takes (it refuses others before asking)."""
        if not self.batch_name.fullmatch(batch_id):
            raise UsageError(
                f"{batch_id}: not a {self.target.provider.name} batch name ({self.batch_name_form})"
            )
        return batch_id

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        action = f"uploading {path.name}"
        reader = ProgressReader(path, progress)
        config = {"mime_type": MIME_TYPE, "display_name": upload_name(path)}
        try:
            with self._calling(action):
                uploaded = self._sdk.files.upload(file=reader, config=config)
        finally:
            reader.close()
        return self._file(uploaded)

    def _file(self, found) -> RemoteFile:
        state = getattr(found.state, "value", None) or ""
        return RemoteFile(
            id=str(found.name),
            filename=found.display_name,
            bytes=found.size_bytes,
            purpose="batch",
            status="error" if state == "FAILED" else state.lower() or None,
            created_at=_epoch(found.create_time),
        )

    def file(self, file_id: str) -> RemoteFile:
        with self._calling(f"looking up file {file_id}"):
            found = self._sdk.files.get(name=file_id)
        return self._file(found)

    def create_batch(self, order: Order) -> Batch:
        if not order.model:
            raise UsageError(
                Text(
                    f"{self.target.who} takes the model on the batch, not on each line: pass ",
                    Option("model", Meta("NAME")),
                )
            )
        self.refuse_metadata(order.metadata, (SHA_KEY, FILE_KEY))
        with self._calling("creating the batch"):
            job = self._once.batches.create(
                model=order.model, src=order.file_id, config={"display_name": display_name(order.metadata)}
            )
        return self._stats.counted(self._parse(job))

    def batch(self, batch_id: str) -> Batch:
        name = self._name(batch_id)
        with self._calling(f"looking up batch {batch_id}"):
            job = self._sdk.batches.get(name=name)
        return self._stats.counted(self._parse(job))

    def cancel(self, batch_id: str) -> Batch:
        name = self._name(batch_id)
        with self._calling(f"cancelling batch {batch_id}"):
            self._sdk.batches.cancel(name=name)
            job = self._sdk.batches.get(name=name)
        return self._stats.counted(self._parse(job))

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        with self._calling("listing batches"):
            jobs = iter(self._sdk.batches.list(config={"page_size": page_size}))
        while True:
            with self._calling("listing batches"):  # the pager asks for the next page as it runs out
                job = next(jobs, None)
            if job is None:
                return
            yield self._stats.counted(self._parse(job))

    def results(self, batch: Batch) -> list[ResultFile]:
        """The destination file, successes and failures in one (its lines are not checked against the counts)."""
        return [ResultFile("output", batch.output_file_id)] if batch.output_file_id else []

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        counted = _Sink(sink, progress)
        with self._calling(f"downloading file {result.ref}"):
            self._sdk.files.download(file=result.ref, destination=counted)
        return counted.written

    def models(self) -> list[Model]:
        with self._calling("listing models"):
            found = list(self._sdk.models.list())
        return [Model(id=str(m.name).removeprefix("models/")) for m in found]

    def close(self) -> None:
        self._sdk.close()
        self._once.close()
