"""Anthropic's Message Batches through the official `anthropic` SDK.

Nothing is uploaded: the file's `{custom_id, params}` lines go inline in the create call (the provider row
keeps a file under 100,000 requests and 256 MB, Anthropic's limits for one batch). Results are streamed from
the batch's results URL into NAME.output.jsonl as Anthropic writes them (successes, errors, cancellations
and expiries in one file, any order). A Message Batch keeps no metadata, so a batch whose create answer was
lost is recognised by its request count and creation time (see `created_by`).

Sources: anthropics/anthropic-sdk-python `resources/messages/batches.py`, `types/messages/message_batch.py`
and `message_batch_request_counts.py` (states in_progress | canceling | ended; counts processing,
succeeded, errored, canceled, expired).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from ...errors import InputError, RemoteError
from ...formats import read_requests as read_request_lines
from ...lenient import as_dict, as_int, as_list, timestamp
from ...lines import open_binary, read_objects
from ..client import (
    SHAPE_ERRORS,
    Client,
    Failure,
    Lookup,
    Order,
    ResultFile,
    copy_stream,
    stainless_failure,
    transport_errors,
)
from ..records import FILE_KEY, SHA_KEY, Batch, BytesMoved, Model, RemoteFile
from .sdk import sdk

# A created batch is looked for among those created at most this long before the create was started (the
# machine's clock and the provider's may differ a little).
CLOCK_SLACK_SECONDS = 120
COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")


def _state(raw: dict, counts: dict[str, int]) -> str:
    """processing_status → batchkit's vocabulary. An ended batch is cancelled when a cancel was asked for,
    expired when requests ran out of time, completed otherwise (errored requests are counted as failed,
    as OpenAI counts them in a completed batch)."""
    status = raw.get("processing_status")
    if status == "in_progress":
        return "in_progress"
    if status == "canceling":
        return "cancelling"
    if status != "ended":
        return "unknown"
    if raw.get("cancel_initiated_at"):
        return "cancelled"
    return "expired" if counts["expired"] else "completed"


def parse_batch(raw: dict) -> Batch:
    counts = {name: as_int(as_dict(raw.get("request_counts")).get(name)) or 0 for name in COUNTS}
    state = _state(raw, counts)
    times = {"created_at": timestamp(raw.get("created_at")), "expires_at": timestamp(raw.get("expires_at")),
             "cancelling_at": timestamp(raw.get("cancel_initiated_at"))}  # fmt: skip
    ended = timestamp(raw.get("ended_at"))
    if ended is not None:
        times[{"cancelled": "cancelled_at", "expired": "expired_at"}.get(state, "completed_at")] = ended
    return Batch(
        id=str(raw.get("id")),
        status=state,
        output_file_id=str(raw.get("id")) if raw.get("results_url") else None,
        total=sum(counts.values()),
        completed=counts["succeeded"],
        failed=counts["errored"] + counts["canceled"] + counts["expired"],
        times={name: t for name, t in times.items() if t is not None},
        provider_status=str(raw.get("processing_status")),
    )


def count_requests(path: Path) -> int:
    with open_binary(path) as stream:
        return sum(1 for _ in read_objects(stream, lambda finding: None))


def read_requests(path: Path) -> list[dict]:
    """The file's requests as the create call takes them: {custom_id, params} each."""
    requests, broken = [], []
    with open_binary(path) as stream:
        for request in read_request_lines(stream, broken.append):
            if request.format.name != "anthropic":
                raise InputError(
                    f"{path}: line {request.line} is not an Anthropic request ({{custom_id, params}})"
                )
            requests.append({"custom_id": request.id, "params": request.body})
    if broken:
        raise InputError(f"{path}: line {broken[0].line}: {broken[0].message}; nothing was sent")
    return requests


def _failure(error) -> Failure:
    import anthropic

    return stainless_failure(error, anthropic)


class AnthropicBatches(Client):
    api = "anthropic"
    sdk_paths = ("/v1",)
    uploads = False
    keeps_metadata = False

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)  # no key: said before the import
        anthropic = sdk("anthropic", "anthropic")
        self._sdk = anthropic.Anthropic(
            api_key=self._key, base_url=target.base_url, max_retries=max_retries, timeout=timeout
        )

    @contextlib.contextmanager
    def _calling(self, action: str):
        import anthropic

        try:
            yield
        except (anthropic.AnthropicError, *SHAPE_ERRORS, *transport_errors()) as e:
            raise _failure(e).error(self.target, action, self._key) from None

    def _json(self, raw, action: str) -> dict:
        try:
            body = orjson.loads(raw.http_response.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise RemoteError(
                f"{action}: {self.target.base_url} answered something that is not a JSON object; "
                "check that the address is Anthropic's API (https://api.anthropic.com)"
            )
        return body

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        raise NotImplementedError("Message Batches take their requests inline; nothing is uploaded")

    def file(self, file_id: str) -> RemoteFile:
        raise NotImplementedError("Message Batches take their requests inline; nothing is uploaded")

    def create_batch(self, order: Order) -> Batch:
        self.refuse_metadata(order.metadata, (SHA_KEY, FILE_KEY))
        requests = read_requests(order.path)
        action = "creating the batch"
        sdk = self._sdk.with_options(max_retries=0)
        with self._calling(action):
            raw = sdk.messages.batches.with_raw_response.create(
                requests=requests, extra_headers={"Idempotency-Key": order.idempotency_key}
            )
            return parse_batch(self._json(raw, action))

    def batch(self, batch_id: str) -> Batch:
        action = f"looking up batch {batch_id}"
        with self._calling(action):
            raw = self._sdk.messages.batches.with_raw_response.retrieve(batch_id)
            return parse_batch(self._json(raw, action))

    def cancel(self, batch_id: str) -> Batch:
        action = f"cancelling batch {batch_id}"
        with self._calling(action):
            raw = self._sdk.messages.batches.with_raw_response.cancel(batch_id)
            return parse_batch(self._json(raw, action))

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Newest first, page by page (`after_id` = the last id seen)."""
        action = "listing batches"
        after = None
        while True:
            options = {"limit": page_size} | ({"after_id": after} if after else {})
            with self._calling(action):
                body = self._json(self._sdk.messages.batches.with_raw_response.list(**options), action)
            batches = [parse_batch(row) for row in as_list(body.get("data")) if isinstance(row, dict)]
            yield from batches
            last = body.get("last_id") or (batches[-1].id if batches else None)
            if not body.get("has_more") or not batches or last == after:
                return
            after = last

    def created_by(self, batch: Batch, lookup: Lookup) -> bool:
        """No metadata to go by: a batch with as many requests as the file, created since the create was
        started (the session takes it only when exactly one batch fits and the ledger knows no other use)."""
        if "requests" not in lookup.facts:
            lookup.facts["requests"] = count_requests(lookup.path)
        created = batch.created_at
        return (
            batch.total == lookup.facts["requests"]
            and created is not None
            and created >= lookup.started_at - CLOCK_SLACK_SECONDS
        )

    def results(self, batch: Batch) -> list[ResultFile]:
        """One file: every request's result line, whatever its type."""
        if not batch.output_file_id:
            return []
        return [ResultFile("output", batch.output_file_id, batch.total or None, "finished")]

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        action = f"downloading the results of batch {result.ref}"
        with (
            self._calling(action),
            self._sdk.messages.batches.with_streaming_response.results(result.ref) as response,
        ):
            return copy_stream(response, sink, progress)

    def models(self) -> list[Model]:
        action = "listing models"
        with self._calling(action):
            body = self._json(self._sdk.models.with_raw_response.list(limit=1000), action)
        return [
            Model(id=str(row.get("id")), created=timestamp(row.get("created_at")), owned_by="anthropic")
            for row in as_list(body.get("data"))
            if isinstance(row, dict)
        ]

    def close(self) -> None:
        self._sdk.close()
