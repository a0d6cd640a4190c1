"""The wire client: the official `openai` SDK pointed at a provider, answering in records batchkit controls.

Providers differ in small ways (kluster.ai sends timestamps as strings, adds paging fields to lists and
may answer `/models` with a bare array), so every answer is read as plain JSON and normalised into the
records below; SDK model classes never leak out. Every SDK failure becomes one `RemoteError` line that
carries the provider's own message and what to do next. The API key lives only inside the SDK client: it
is never stored, logged or put into a message.
"""

from __future__ import annotations

import contextlib
import io
import os
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import RemoteError, UsageError
from ..keys import check_variable, redact
from ..lenient import as_int, timestamp
from ..providers import Provider, get_provider

# Sent when a server needs no key (a local `batchkit serve`, vLLM): the SDK insists on some value.
PLACEHOLDER_KEY = "batchkit-no-key"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
BytesMoved = Callable[[int, int | None], None]  # (bytes done, bytes total or None)


# --- records ---------------------------------------------------------------------------------------------


@dataclass
class Model:
    id: str
    created: int | None = None
    owned_by: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RemoteFile:
    id: str
    filename: str | None = None
    bytes: int | None = None
    purpose: str | None = None
    status: str | None = None
    created_at: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchError:
    code: str | None
    message: str
    line: int | None = None
    param: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        param = f" ({self.param})" if self.param else ""
        return f"{where}{self.code or 'error'}{param}: {self.message}"


@dataclass
class Batch:
    id: str
    status: str
    endpoint: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    completion_window: str | None = None
    model: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    times: dict[str, int] = field(default_factory=dict)  # the timestamps that are set, as epoch seconds
    errors: list[BatchError] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def created_at(self) -> int | None:
        return self.times.get("created_at")

    def to_dict(self) -> dict:
        record = asdict(self)
        record["request_counts"] = {
            "total": record.pop("total"),
            "completed": record.pop("completed"),
            "failed": record.pop("failed"),
        }
        return record


def _text(value) -> str | None:
    return None if value is None else str(value)


def parse_model(raw: dict) -> Model:
    return Model(
        id=str(raw.get("id")), created=timestamp(raw.get("created")), owned_by=_text(raw.get("owned_by"))
    )


def parse_file(raw: dict) -> RemoteFile:
    return RemoteFile(
        id=str(raw.get("id")),
        filename=_text(raw.get("filename")),
        bytes=as_int(raw.get("bytes")),
        purpose=_text(raw.get("purpose")),
        status=_text(raw.get("status")),
        created_at=timestamp(raw.get("created_at")),
    )


def parse_batch(raw: dict) -> Batch:
    counts = raw.get("request_counts") or {}
    errors = raw.get("errors") or {}
    error_rows = errors.get("data") if isinstance(errors, dict) else errors
    times = {name: t for name in TIMESTAMPS if (t := timestamp(raw.get(name))) is not None}
    return Batch(
        id=str(raw.get("id")),
        status=str(raw.get("status") or "unknown"),
        endpoint=_text(raw.get("endpoint")),
        input_file_id=_text(raw.get("input_file_id")),
        output_file_id=_text(raw.get("output_file_id")) or None,
        error_file_id=_text(raw.get("error_file_id")) or None,
        completion_window=_text(raw.get("completion_window")),
        model=_text(raw.get("model")),
        total=as_int(counts.get("total")) or 0,
        completed=as_int(counts.get("completed")) or 0,
        failed=as_int(counts.get("failed")) or 0,
        times=times,
        errors=[
            BatchError(
                code=_text(e.get("code")),
                message=str(e.get("message") or ""),
                line=as_int(e.get("line")),
                param=_text(e.get("param")),
            )
            for e in (error_rows or [])
            if isinstance(e, dict)
        ],
        metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
    )


# --- where to send ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A provider profile (for validation) and the server to talk to. Holds the key's variable, not the key."""

    provider: Provider
    base_url: str
    key_env: str | None
    key_required: bool
    named: bool = True  # the provider was chosen by name, not implied by a bare --base-url

    @property
    def label(self) -> str:
        return f"{self.provider.name} ({self.base_url})"

    @property
    def who(self) -> str:
        """How messages name the other side: the provider, or the address the user gave."""
        return self.provider.name if self.named else f"the server at {self.base_url}"


def resolve_target(
    provider: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
) -> Target:
    """Where commands go: --provider / --base-url / --api-key-env, else $BATCHKIT_PROVIDER /
    $BATCHKIT_BASE_URL, else kluster. A base URL without a named provider gets the generic profile."""
    if api_key_env:
        check_variable(api_key_env)
    base_url = base_url or os.environ.get("BATCHKIT_BASE_URL") or None
    name = provider or os.environ.get("BATCHKIT_PROVIDER") or ("generic" if base_url else None)
    profile = get_provider(name)
    if not base_url:
        if not profile.base_url:
            raise UsageError(f"provider {profile.name!r} has no known address; pass base_url=URL")
        base_url = profile.base_url
    base_url = base_url.rstrip("/")
    # A key is required when the variable was named, when talking to the provider's own service, or for a
    # provider that has only per-customer addresses (Azure); another address with no key variable set is a
    # local server that needs none.
    own_service = base_url == (profile.base_url or "").rstrip("/")
    key_required = (
        bool(api_key_env) or own_service or (profile.base_url is None and profile.key_env is not None)
    )
    return Target(profile, base_url, api_key_env or profile.key_env, key_required, named=name != "generic")


def _api_key(target: Target) -> str:
    key = os.environ.get(target.key_env) if target.key_env else None
    if key:
        return key
    if target.key_required:
        if not target.key_env:
            raise UsageError("no API key: name the variable that holds it with api_key_env=VAR")
        if target.base_url == (target.provider.base_url or "").rstrip("/"):
            raise UsageError(
                f"no API key: set {target.key_env} to your {target.provider.name} API key "
                "(or name another variable with api_key_env=)"
            )
        raise UsageError(f"no API key: set {target.key_env} to the API key for {target.base_url}")
    return PLACEHOLDER_KEY


# --- errors ----------------------------------------------------------------------------------------------

_ADVICE = {
    400: "the provider rejected the request; check the file and options",
    401: "check that {key} holds a valid key for {url}",
    403: "the key is not allowed to do this; check its permissions or project",
    404: "check the id (`batchkit list` shows the batches submitted from here) and the provider",
    409: "the batch is not in a state that allows this (`batchkit status` shows it)",
    413: "the file is larger than the provider accepts; split it with `batchkit split`",
    422: "the provider could not process the request; check the file and options",
    429: "rate limited or over quota; wait a while and run the same command again",
}


def _provider_message(error) -> str:
    """The provider's own words from an error body ({"error": {...}}, {"message"}, {"detail"}, or text)."""
    body = getattr(error, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), (dict, str)):
        body = body["error"]
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail")
        if isinstance(message, list):  # FastAPI-style validation errors
            return "; ".join(
                f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" if isinstance(d, dict) else str(d)
                for d in message
            )
        if message:
            return str(message)
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return str(getattr(error, "message", "") or error)


def remote_error(error: Exception, target: Target, action: str, secret: str | None = None) -> RemoteError:
    """One line for an SDK failure: what failed, the server's words, what to do. Its `status` is the HTTP
    status, or None when no answer arrived at all (then the request may or may not have taken effect)."""
    import openai

    status = getattr(error, "status_code", None)
    if isinstance(error, openai.APITimeoutError):
        text = (
            f"{action}: {target.base_url} did not answer in time; check the network and run the command again"
        )
    elif isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        text = (
            f"{action}: cannot reach {target.base_url} ({type(cause).__name__}: {cause}); "
            "check the address and the network, then run the same command again"
        )
    elif isinstance(error, openai.APIStatusError):
        text = (
            f"{action}: {target.who} answered {status}: {_provider_message(error)}; {_advice(error, target)}"
        )
    else:
        text = f"{action}: {type(error).__name__}: {error}"
    secrets = (secret,) if secret and secret != PLACEHOLDER_KEY else ()
    return RemoteError(redact(text, secrets), status)


def _advice(error, target: Target) -> str:
    status = error.status_code
    if status == 404 and (hint := _missing_v1(error, target)):
        return hint
    advice = _ADVICE.get(status) or (
        "the provider had a problem; try again later" if status >= 500 else "see the provider's message"
    )
    return advice.format(key=target.key_env or "the api_key_env= variable", url=target.base_url)


def _missing_v1(error, target: Target) -> str | None:
    """A 404 from an address without /v1 most often means the /v1 was left out: say so."""
    if target.provider.api_version:  # Azure's addresses have no /v1
        return None
    base_path = urllib.parse.urlsplit(target.base_url).path.rstrip("/")
    if base_path.endswith("/v1"):
        return None
    request = getattr(error, "request", None)
    asked = request.url.path if request is not None else ""
    route = asked[len(base_path) :] if asked.startswith(base_path) else asked
    return f"the server answered 404 for {route or '/'}; did you mean base_url={target.base_url}/v1?"


# --- the client ------------------------------------------------------------------------------------------


class _ProgressReader(io.RawIOBase):
    """A file that reports how much of it has been read (rewinds reset the count, as on an SDK retry)."""

    def __init__(self, path: Path, progress: BytesMoved | None):
        self._file = open(path, "rb")
        self._total = path.stat().st_size
        self._progress = progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()  # lets the HTTP client send a Content-Length instead of chunks

    def seek(self, offset, whence=0):
        position = self._file.seek(offset, whence)
        if self._progress:
            self._progress(position, self._total)
        return position

    def tell(self):
        return self._file.tell()

    def readinto(self, buffer) -> int:
        count = self._file.readinto(buffer)
        if count and self._progress:
            self._progress(self._file.tell(), self._total)
        return count

    def close(self):
        self._file.close()
        super().close()


class Client:
    """The provider's Files, Batches and Models endpoints through the `openai` SDK."""

    def __init__(self, target: Target, *, max_retries: int = 2, timeout: float = 600.0):
        import openai

        self.target = target
        self._key = _api_key(target)
        self.uses_key = self._key != PLACEHOLDER_KEY
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

    def __repr__(self) -> str:
        return f"Client({self.target.label})"

    @contextlib.contextmanager
    def _calling(self, action: str):
        import openai

        try:
            yield
        except openai.OpenAIError as e:
            raise remote_error(e, self.target, action, self._key) from None

    def _json(self, raw, action: str):
        try:
            return raw.http_response.json()
        except ValueError:
            raise RemoteError(
                f"{action}: {self.target.base_url} answered something that is not JSON; "
                "check that the address is an OpenAI-compatible API (it usually ends in /v1)"
            ) from None

    def models(self) -> list[Model]:
        action = "listing models"
        with self._calling(action):
            body = self._json(self._sdk.models.with_raw_response.list(), action)
        rows = body.get("data", []) if isinstance(body, dict) else body
        return [parse_model(row) for row in rows or [] if isinstance(row, dict)]

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        action = f"uploading {path.name}"
        # Providers refuse batch uploads whose name does not end in .jsonl.
        name = path.name if path.suffix == ".jsonl" else f"{path.stem}.jsonl"
        reader = _ProgressReader(path, progress)
        try:
            with self._calling(action):
                raw = self._sdk.files.with_raw_response.create(file=(name, reader), purpose="batch")
                return parse_file(self._json(raw, action))
        finally:
            reader.close()

    def file(self, file_id: str) -> RemoteFile:
        action = f"looking up file {file_id}"
        with self._calling(action):
            return parse_file(self._json(self._sdk.files.with_raw_response.retrieve(file_id), action))

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str],
        idempotency_key: str | None = None,
    ) -> Batch:
        """Create once, without the SDK's automatic retry: a lost answer must be looked for before trying
        again (see `Session.submit`), or the provider could run and bill the batch twice.

        `idempotency_key` goes in the body (servers that honour it return the batch created before with the
        same key) and as the `Idempotency-Key` header; a server that refuses the unknown body field is
        asked again without it."""
        action = "creating the batch"
        sdk = self._sdk.with_options(max_retries=0)
        options = {}
        if idempotency_key:
            options["extra_headers"] = {"Idempotency-Key": idempotency_key}
            if self._body_key:
                options["extra_body"] = {"idempotency_key": idempotency_key}
        try:
            with self._calling(action):
                raw = sdk.batches.with_raw_response.create(
                    input_file_id=input_file_id,
                    endpoint=endpoint,
                    completion_window=completion_window,
                    metadata=metadata,
                    **options,
                )
                return parse_batch(self._json(raw, action))
        except RemoteError as e:
            if "extra_body" in options and e.status == 400 and "idempotency_key" in str(e):
                self._body_key = False  # a refusal creates nothing, so asking again is safe
                return self.create_batch(
                    input_file_id, endpoint, completion_window, metadata, idempotency_key
                )
            raise

    def batch(self, batch_id: str) -> Batch:
        action = f"looking up batch {batch_id}"
        with self._calling(action):
            return parse_batch(self._json(self._sdk.batches.with_raw_response.retrieve(batch_id), action))

    def cancel(self, batch_id: str) -> Batch:
        action = f"cancelling batch {batch_id}"
        with self._calling(action):
            return parse_batch(self._json(self._sdk.batches.with_raw_response.cancel(batch_id), action))

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Every batch the provider lists, newest first, page by page (`after` = the last id seen)."""
        action = "listing batches"
        after = None
        while True:
            with self._calling(action):
                options = {"limit": page_size} | ({"after": after} if after else {})
                body = self._json(self._sdk.batches.with_raw_response.list(**options), action)
            rows = body.get("data", []) if isinstance(body, dict) else body
            batches = [parse_batch(row) for row in rows or [] if isinstance(row, dict)]
            yield from batches
            has_more = body.get("has_more") if isinstance(body, dict) else False
            last = (body.get("last_id") if isinstance(body, dict) else None) or (
                batches[-1].id if batches else None
            )
            if not has_more or not batches or last == after:
                return
            after = last

    def download(self, file_id: str, sink, progress: BytesMoved | None = None) -> int:
        """Stream file `file_id`'s content into the open binary `sink`; the number of bytes written."""
        action = f"downloading file {file_id}"
        written = 0
        with self._calling(action):
            with self._sdk.files.with_streaming_response.content(file_id) as response:
                total = as_int(response.headers.get("content-length"))
                for chunk in response.iter_bytes(1 << 20):
                    sink.write(chunk)
                    written += len(chunk)
                    if progress:
                        progress(written, total)
        return written

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
