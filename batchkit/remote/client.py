"""The remote protocol: what batchkit asks of a provider's Batch API, whichever API it is.

`Client` is the abstract class; each API has one implementation in `apis/` (OpenAI's Files + Batches,
Anthropic's Message Batches, Gemini's Batch API, Mistral's batch jobs), chosen by the provider row's
`remote_api` (`apis.open_client`). Each implementation talks through the provider's official SDK and answers in
the records of `records.py`, so the ledger, the queue, the session and the Python handles never know which
API they are talking to. Every SDK failure becomes one `RemoteError` line with the provider's own words and
what to do next (`Failure.error`). The API key lives only inside the SDK client: it is never stored,
logged or put into a message.
"""

from __future__ import annotations

import contextlib
import io
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import RemoteError, UsageError
from ..keys import redact
from ..lenient import as_int
from ..wire import missing_v1_hint
from ..words import Option, Text
from .records import SHA_KEY, Batch, BytesMoved, Model, RemoteFile
from .target import PLACEHOLDER_KEY, Target, api_key


@dataclass(frozen=True)
class Place:
    """Where an API keeps its batches, for those that keep them in a project or region: what the user
    named (None: the SDK's own default, read from its environment variables or configuration)."""

    project: str | None = None
    location: str | None = None
    region: str | None = None


@dataclass
class Order:
    """One batch to create: the file (read by APIs that take requests inline), what was uploaded of it, and
    the batch's parameters. `model` is the batch's model where the API puts it on the batch."""

    path: Path
    file_id: str | None
    endpoint: str | None
    completion_window: str
    metadata: dict[str, str]
    idempotency_key: str
    model: str | None = None


@dataclass
class Lookup:
    """What identifies the batch a submission created, for finding it when the create's answer was lost:
    the content's sha256, the uploaded file, the file itself, and when the create was started."""

    sha256: str
    file_id: str | None
    path: Path
    started_at: int
    newest_before: str | None = None  # the provider's newest batch before the create ("": none), if noted
    facts: dict = field(default_factory=dict)  # what an implementation worked out once (a request count)


@dataclass
class ResultFile:
    """One file of a finished batch's results: its kind ("output" / "errors"), where the API keeps it (None:
    nowhere, though the counts say it has lines), and how many lines the provider's counts say it has (None:
    the counts do not say) and of which requests."""

    kind: str
    ref: str | None
    expected_lines: int | None = None
    counted: str = "completed"


class Client(ABC):
    """One provider's Batch API. Implementations set the class attributes and the abstract methods; the
    session calls nothing else."""

    api: ClassVar[str]  # the name provider rows use in `remote_api`
    sdk_paths: ClassVar[tuple[str, ...]] = ()  # version paths the SDK adds to the address itself
    uploads: ClassVar[bool] = True  # the file is uploaded before the create; False: requests go inline
    # whether a created batch carries the metadata batchkit gives it (then a lost create is found by the
    # sha256 in it; otherwise by what `created_by` can tell, and only when one batch fits)
    keeps_metadata: ClassVar[bool] = True
    # whether a batch stopped before its end leaves no result line for the requests it never ran (then the
    # download writes them, as `batch_canceled` / `batch_expired`, so that they merge as such)
    leaves_unrun_out: ClassVar[bool] = False

    def __init__(self, target: Target, *, max_retries: int = 2, timeout: float = 600.0):
        self.target = target
        self._key = api_key(target)
        self.uses_key = self._key != PLACEHOLDER_KEY
        self.max_retries, self.timeout = max_retries, timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target.label})"

    # --- the protocol -----------------------------------------------------------------------------------

    @abstractmethod
    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        """Upload the batch file (only called when `uploads`)."""

    @abstractmethod
    def file(self, file_id: str) -> RemoteFile:
        """An uploaded file, to check that an earlier run's upload is still there."""

    @abstractmethod
    def create_batch(self, order: Order) -> Batch:
        """Create once, without the SDK's automatic retry: a lost answer must be looked for before trying
        again (see `sending.Sender`), or the provider could run and bill the batch twice."""

    @abstractmethod
    def batch(self, batch_id: str) -> Batch: ...

    @abstractmethod
    def cancel(self, batch_id: str) -> Batch: ...

    @abstractmethod
    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Every batch the provider lists, newest first, page by page."""

    @abstractmethod
    def results(self, batch: Batch) -> list[ResultFile]:
        """The files a finished batch's results are in."""

    @abstractmethod
    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        """Stream one result file into the open binary `sink`; the number of bytes written."""

    @abstractmethod
    def models(self) -> list[Model]: ...

    @abstractmethod
    def close(self) -> None: ...

    @classmethod
    def scope(cls, place: Place) -> tuple[str, str | None]:
        """(the scope the batches live in, the API's own address there) for a place; APIs without one
        answer ("", None)."""
        if place != Place():
            raise UsageError(f"{cls.api}'s batches have no project, location or region; leave those out")
        return "", None

    def remove_file(self, file_id: str) -> bool:
        """Remove a file batchkit put where the provider reads it (False: it was already gone)."""
        raise UsageError(
            Text(
                f"{self.target.who} keeps uploaded files itself; ",
                Option("remote_files", True),
                " removes the objects batchkit staged in a bucket (vertex, bedrock)",
            )
        )

    def created_by(self, batch: Batch, lookup: Lookup) -> bool:
        """Whether a listed batch is the one this submission created (by the sha256 in its metadata)."""
        return batch.metadata.get(SHA_KEY) == lookup.sha256 and (
            not lookup.file_id or batch.input_file_id in (None, lookup.file_id)
        )

    # --- shared by the implementations ------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refuse_metadata(self, metadata: dict[str, str], own: tuple[str, ...]) -> None:
        """APIs that keep no metadata cannot take the user's."""
        extra = sorted(set(metadata) - set(own))
        if extra:
            raise UsageError(
                f"{self.target.who} keeps no batch metadata, so {', '.join(extra)} cannot be sent; "
                "leave out metadata="
            )


# --- errors ----------------------------------------------------------------------------------------------

TIMEOUT, UNREACHABLE, ANSWERED, UNREADABLE, OTHER = (
    "timeout",
    "unreachable",
    "answered",
    "unreadable",
    "other",
)
MAX_SAID = 1000  # characters of a provider's words an error repeats
# what an SDK raises reading an answer of a shape it does not expect (pydantic's ValidationError is a ValueError)
SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError)

# What a provider that answers a refused key with 400, not 401, says (Gemini: API_KEY_INVALID)
KEY_REFUSED = ("API key not valid", "API_KEY_INVALID")
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


@dataclass
class Failure:
    """An SDK failure in terms every API shares: no answer in time, no connection, an HTTP status with
    the provider's words, or something else. `path` is the request path asked (for the /v1 hint)."""

    kind: str
    status: int | None = None
    message: str = ""
    path: str = ""
    cause: BaseException | None = None

    def error(self, target: Target, action: str, secret: str | None = None) -> RemoteError:
        """One line: what failed, the server's words, what to do. Its `status` is the HTTP status, or None
        when no answer arrived at all (then the request may or may not have taken effect)."""
        secrets = (secret,) if secret and secret != PLACEHOLDER_KEY else ()

        def said(text: str) -> str:  # a key is taken out before the text is cut: a cut key would not match
            return redact(text, secrets)[:MAX_SAID]

        if self.kind == TIMEOUT:
            text = f"{action}: {target.base_url} did not answer in time; check the network and run the command again"
        elif self.kind == UNREACHABLE:
            cause = self.cause
            text = (
                f"{action}: cannot reach {target.base_url} ({type(cause).__name__}: {said(str(cause))}); "
                "check the address and the network, then run the same command again"
            )
        elif self.kind == ANSWERED:
            text = Text(
                f"{action}: {target.who} answered {self.status}: {said(self.message)}; ", self._advice(target)
            )
        elif self.kind == UNREADABLE:
            # pydantic's run to many lines: what failed, where, and why are its first three
            first = ": ".join(line.strip() for line in str(self.cause).splitlines()[:3] if line.strip())
            text = (
                f"{action}: the {target.provider.name} SDK cannot read what {target.base_url} answered "
                f"({type(self.cause).__name__}: {said(first)}); check that the address serves "
                f"{target.provider.name}'s API"
            )
        else:
            text = f"{action}: {type(self.cause).__name__}: {said(str(self.cause))}"
        redacted = Text(*(redact(p, secrets) if type(p) is str else p for p in Text(text).parts))
        return RemoteError(redacted, self.status, sent=not self.never_connected)

    @property
    def never_connected(self) -> bool:
        """The connection itself failed (refused, no route, no such host): the request was never sent."""
        return self.kind == UNREACHABLE and type(self.cause).__name__ in (
            "ConnectError",
            "ConnectTimeout",
            "EndpointConnectionError",
            "ConnectTimeoutError",
        )  # httpx's and botocore's

    def _advice(self, target: Target) -> str | Text:
        status = self.status or 0
        if status == 400 and any(words in self.message for words in KEY_REFUSED):
            status = 401  # Gemini refuses a key with a 400
        if status == 404 and (hint := self._missing_v1(target)):
            return hint
        if status in (401, 403) and not target.key_env and (credentials := target.provider.credentials):
            return f"check the {credentials}" if status == 401 else f"check what the {credentials} may do"
        advice = _ADVICE.get(status) or (
            "the provider had a problem; try again later" if status >= 500 else "see the provider's message"
        )
        if target.key_env or "{key}" not in advice:
            return advice.format(key=target.key_env, url=target.base_url)
        before, after = advice.format(key="\0", url=target.base_url).split("\0")
        return Text(before, "the ", Option("api_key_env"), " variable", after)

    def _missing_v1(self, target: Target) -> Text | None:
        """A 404 from an OpenAI-protocol address without /v1 most often means the /v1 was left out."""
        if target.provider.api_version or target.provider.remote_api != "openai":
            return None  # Azure's addresses have no /v1; the other SDKs add their own version path
        base_path = urllib.parse.urlsplit(target.base_url).path.rstrip("/")
        asked = self.path
        route = asked[len(base_path) :] if asked.startswith(base_path) else asked
        return missing_v1_hint(target.base_url, route or "/")


def provider_words(body, fallback: str) -> str:
    """The provider's own words from an error body ({"error": {...}}, {"message"}, {"detail"}, or text)."""
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
        return body.strip()  # cut once the key is out of it (Failure.error)
    return fallback


def stainless_failure(error, sdk) -> Failure:
    """A failure of the `openai` or `anthropic` SDK (`sdk`, the module): both raise the same kinds, and
    their HTTP library's own errors while a streamed body is read (a connection dropped mid-download)."""
    if isinstance(error, transport_errors()):
        return transport_failure(error)
    if isinstance(error, sdk.APITimeoutError):
        return Failure(TIMEOUT, cause=error)
    if isinstance(error, sdk.APIConnectionError):
        return Failure(UNREACHABLE, cause=error.__cause__ or error)
    if isinstance(error, sdk.APIStatusError):
        request = getattr(error, "request", None)
        message = provider_words(getattr(error, "body", None), str(getattr(error, "message", "") or error))
        path = request.url.path if request is not None else ""
        return Failure(ANSWERED, error.status_code, message, path, error)
    return other_failure(error)


def other_failure(error: BaseException) -> Failure:
    """A failure that is neither an HTTP status nor the connection: most often an answer the SDK cannot read."""
    return Failure(UNREADABLE if isinstance(error, SHAPE_ERRORS) else OTHER, cause=error)


def copy_stream(response, sink, progress: BytesMoved | None) -> int:
    """Copy a streamed HTTP response's body into `sink` a megabyte at a time; the bytes written."""

    total = as_int(response.headers.get("content-length"))
    written = 0
    for chunk in response.iter_bytes(1 << 20):
        sink.write(chunk)
        written += len(chunk)
        if progress:
            progress(written, total)
    return written


def transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP libraries' connection-level errors (the SDKs use httpx or its successor httpx2)."""
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        with contextlib.suppress(ImportError):
            module = __import__(name)
            found.append(module.TransportError)
    return tuple(found)


def transport_failure(error: BaseException) -> Failure:
    """A connection-level error of httpx/httpx2 as a Failure (a timeout or no connection)."""
    kind = TIMEOUT if "Timeout" in type(error).__name__ else UNREACHABLE
    return Failure(kind, cause=error.__cause__ or error)


# --- upload progress -------------------------------------------------------------------------------------


class ProgressReader(io.RawIOBase):
    """A file that reports how much of it has been read (rewinds reset the count, as on an SDK retry)."""

    def __init__(self, path: Path, progress: BytesMoved | None):
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
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


def upload_name(path: Path) -> str:
    """Providers refuse batch uploads whose name does not end in .jsonl."""
    return path.name if path.suffix == ".jsonl" else f"{path.stem}.jsonl"
