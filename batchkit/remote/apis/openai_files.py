"""OpenAI's Files + Batches protocol through the official `openai` SDK: OpenAI, Azure OpenAI, kluster.ai,
Groq, Together, DeepInfra, Doubleword, vLLM and `batchkit serve`.

Providers differ in small ways (kluster.ai sends timestamps as strings, adds paging fields to lists and
may answer `/models` with a bare array; Together wraps a batch in `job` and writes states in capitals), so
every answer is read as plain JSON and normalised into batchkit's records; SDK model classes never leak out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ...errors import RemoteError
from ...lenient import as_dict, as_int, as_list, timestamp
from ..client import (
    Client,
    Failure,
    Order,
    ProgressReader,
    ResultFile,
    copy_stream,
    stainless_failure,
    transport_errors,
    upload_name,
)
from ..records import TIMESTAMPS, Batch, BatchError, BytesMoved, Model, RemoteFile, text_or_none


def parse_model(raw: dict) -> Model:
    return Model(
        id=str(raw.get("id")),
        created=timestamp(raw.get("created")),
        owned_by=text_or_none(raw.get("owned_by")),
    )


def parse_file(raw: dict) -> RemoteFile:
    return RemoteFile(
        id=str(raw.get("id")),
        filename=text_or_none(raw.get("filename")),
        bytes=as_int(raw.get("bytes")),
        purpose=text_or_none(raw.get("purpose")),
        status=text_or_none(raw.get("status")),
        created_at=timestamp(raw.get("created_at")),
    )


def _errors(raw: dict) -> list[BatchError]:
    errors = raw.get("errors") or {}
    rows = as_list(errors.get("data") if isinstance(errors, dict) else errors)
    return [
        BatchError(
            code=text_or_none(e.get("code")),
            message=str(e.get("message") or ""),
            line=as_int(e.get("line")),
            param=text_or_none(e.get("param")),
        )
        for e in rows
        if isinstance(e, dict)
    ]


def parse_batch(raw: dict) -> Batch:
    if "id" not in raw and isinstance(raw.get("job"), dict):
        raw = raw["job"]  # Together answers {"job": {...}, "warning": ...}
    counts = as_dict(raw.get("request_counts"))
    status = str(raw.get("status") or "unknown")
    times = {name: t for name in TIMESTAMPS if (t := timestamp(raw.get(name))) is not None}
    return Batch(
        id=str(raw.get("id")),
        status=status.lower(),
        endpoint=text_or_none(raw.get("endpoint")),
        input_file_id=text_or_none(raw.get("input_file_id")),
        output_file_id=text_or_none(raw.get("output_file_id")) or None,
        error_file_id=text_or_none(raw.get("error_file_id")) or None,
        completion_window=text_or_none(raw.get("completion_window")),
        model=text_or_none(raw.get("model")),
        total=as_int(counts.get("total")) or 0,
        completed=as_int(counts.get("completed")) or 0,
        failed=as_int(counts.get("failed")) or 0,
        times=times,
        errors=_errors(raw),
        metadata={str(k): str(v) for k, v in as_dict(raw.get("metadata")).items()},
        provider_status=status if status != status.lower() else None,
    )


def _failure(error) -> Failure:
    import openai

    return stainless_failure(error, openai)


class OpenAIFiles(Client):
    """The provider's Files, Batches and Models endpoints through the `openai` SDK."""

    api = "openai"

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)  # no key: said before the import
        import openai

        self._body_key = True  # send idempotency_key in the create body until the server refuses it
        options = {"api_key": self._key, "max_retries": max_retries, "timeout": timeout}
        version = target.provider.api_version
        if version:
            # Azure: the SDK sends the key as `api-key` and the version as `?api-version=`; the address is
            # the resource's endpoint (https://NAME.openai.azure.com). OPENAI_API_VERSION overrides.
            self._sdk = openai.AzureOpenAI(
                azure_endpoint=target.base_url,
                api_version=os.environ.get("OPENAI_API_VERSION") or version,
                **options,
            )
        else:
            self._sdk = openai.OpenAI(base_url=target.base_url, **options)

    @contextlib.contextmanager
    def _calling(self, action: str):
        import openai

        try:
            yield
        except (openai.OpenAIError, *transport_errors()) as e:
            raise _failure(e).error(self.target, action, self._key) from None

    def _json(self, raw, action: str):
        try:
            return raw.http_response.json()
        except ValueError:
            raise RemoteError(
                f"{action}: {self.target.base_url} answered something that is not JSON; "
                "check that the address is an OpenAI-compatible API (it usually ends in /v1)"
            ) from None

    def _object(self, raw, action: str) -> dict:
        """The answer of an endpoint that returns one object (a file, a batch)."""
        body = self._json(raw, action)
        if not isinstance(body, dict):
            raise RemoteError(
                f"{action}: {self.target.base_url} answered JSON that is not an object where a file or "
                "batch belongs; check that the address is an OpenAI-compatible Batch API"
            )
        return body

    def models(self) -> list[Model]:
        action = "listing models"
        with self._calling(action):
            body = self._json(self._sdk.models.with_raw_response.list(), action)
        rows = as_list(body.get("data") if isinstance(body, dict) else body)
        return [parse_model(row) for row in rows if isinstance(row, dict)]

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        action = f"uploading {path.name}"
        reader = ProgressReader(path, progress)
        purpose = self.target.provider.upload_purpose
        try:
            with self._calling(action):
                raw = self._sdk.files.with_raw_response.create(
                    file=(upload_name(path), reader), purpose=purpose
                )
                return parse_file(self._object(raw, action))
        finally:
            reader.close()

    def file(self, file_id: str) -> RemoteFile:
        action = f"looking up file {file_id}"
        with self._calling(action):
            return parse_file(self._object(self._sdk.files.with_raw_response.retrieve(file_id), action))

    def create_batch(self, order: Order) -> Batch:
        """`idempotency_key` goes in the body (servers that honour it return the batch created before with
        the same key) and as the `Idempotency-Key` header; a server that refuses the unknown body field is
        asked again without it."""
        action = "creating the batch"
        sdk = self._sdk.with_options(max_retries=0)
        options = {"extra_headers": {"Idempotency-Key": order.idempotency_key}}
        if self._body_key:
            options["extra_body"] = {"idempotency_key": order.idempotency_key}
        try:
            with self._calling(action):
                raw = sdk.batches.with_raw_response.create(
                    input_file_id=order.file_id,
                    endpoint=order.endpoint,
                    completion_window=order.completion_window,
                    metadata=order.metadata,
                    **options,
                )
                return parse_batch(self._object(raw, action))
        except RemoteError as e:
            if "extra_body" in options and e.status == 400 and "idempotency_key" in str(e):
                self._body_key = False  # a refusal creates nothing, so asking again is safe
                return self.create_batch(order)
            raise

    def batch(self, batch_id: str) -> Batch:
        action = f"looking up batch {batch_id}"
        with self._calling(action):
            return parse_batch(self._object(self._sdk.batches.with_raw_response.retrieve(batch_id), action))

    def cancel(self, batch_id: str) -> Batch:
        action = f"cancelling batch {batch_id}"
        with self._calling(action):
            return parse_batch(self._object(self._sdk.batches.with_raw_response.cancel(batch_id), action))

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Page by page (`after` = the last id seen)."""
        action = "listing batches"
        after = None
        while True:
            with self._calling(action):
                options = {"limit": page_size} | ({"after": after} if after else {})
                body = self._json(self._sdk.batches.with_raw_response.list(**options), action)
            rows = as_list(body.get("data") if isinstance(body, dict) else body)
            batches = [parse_batch(row) for row in rows if isinstance(row, dict)]
            yield from batches
            has_more = body.get("has_more") if isinstance(body, dict) else False
            last = (body.get("last_id") if isinstance(body, dict) else None) or (
                batches[-1].id if batches else None
            )
            if not has_more or not batches or last == after:
                return
            after = last

    def results(self, batch: Batch) -> list[ResultFile]:
        """Successes in the output file, failures in the error file, as the counts say."""
        if not batch.total:
            return [ResultFile(kind, ref) for kind, ref in (("output", batch.output_file_id),
                    ("errors", batch.error_file_id)) if ref]  # fmt: skip
        return [
            ResultFile("output", batch.output_file_id, batch.completed, "completed"),
            ResultFile("errors", batch.error_file_id, batch.failed, "failed"),
        ]

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        action = f"downloading file {result.ref}"
        with self._calling(action), self._sdk.files.with_streaming_response.content(result.ref) as response:
            return copy_stream(response, sink, progress)

    def close(self) -> None:
        self._sdk.close()
