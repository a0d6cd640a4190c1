"""What batchkit knows of remote things, whatever API it came from: models, files, batches and their
errors, in one vocabulary.

Every API's states map to OpenAI's eight (`STATES`); the provider's own word is kept beside it in
`Batch.provider_status`, so nothing the provider said is lost. Counts map to total / completed / failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..keys import redact
from ..ledger import TERMINAL

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
# The timestamp of each way a batch can end
ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
# The metadata batchkit puts on every batch it creates (where the API keeps metadata): the content's sha256
# finds a batch whose create answer was lost; the file name helps a person reading the provider's list.
SHA_KEY = "batchkit_sha256"
FILE_KEY = "batchkit_file"
BytesMoved = Callable[[int, int | None], None]  # (bytes done, bytes total or None)


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


MAX_ERROR_TEXT = 1000  # characters of a batch error's words kept (a provider may send megabytes)


@dataclass
class BatchError:
    """An error a provider reports on a batch: its words are data from outside, kept without a key in
    use and bounded."""

    code: str | None
    message: str
    line: int | None = None
    param: str | None = None

    def __post_init__(self) -> None:
        self.message = _bounded(self.message)
        self.code = None if self.code is None else _bounded(self.code)
        self.param = None if self.param is None else _bounded(self.param)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        param = f" ({self.param})" if self.param else ""
        return f"{where}{self.code or 'error'}{param}: {self.message}"


def _bounded(text: str) -> str:
    return redact(str(text))[:MAX_ERROR_TEXT]  # the key out before the cut: a cut key would not match


@dataclass
class Batch:
    id: str
    status: str  # one of STATES (or "unknown")
    endpoint: str | None = None
    input_file_id: str | None = None
    # where the results are, in terms the API's own client understands (a file id, a file name, a batch id)
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
    provider_status: str | None = None  # the provider's own word for the state, when it differs

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


def text_or_none(value) -> str | None:
    return None if value is None else str(value)


@dataclass
class Event:
    """Progress for the caller to show. kinds: upload, download (bytes `done` of `total`), batch (a new
    snapshot in `batch`), note (a sentence in `message`), findings (the warnings of a file about to be
    sent, in `report`: a validation Report); from queue.py also submitted (a new batch in `batch`) and
    queue (shards `done` of `total`, the counts in `message`)."""

    kind: str
    subject: str
    done: int = 0
    total: int | None = None
    batch: Batch | None = None
    message: str = ""
    report: object = None  # kind "findings": a valid file's validation Report, before it is uploaded


OnEvent = Callable[[Event], None]  # each upload, download, batch status or note as it happens
