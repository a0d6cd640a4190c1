"""Talking to a provider's Batch API: the wire client per provider (`client`), the local ledger of
what this machine submitted (`ledger`), and the session that submits, follows, downloads and cancels
(`session`). The package is not called `submit`, so that `batchkit.submit` can stay a function."""

from .client import Batch, BatchError, Client, Model, RemoteFile, Target, resolve_target
from .ledger import Entry, Ledger
from .session import (
    Connection,
    Download,
    Event,
    Session,
    Submission,
    cancel,
    download,
    file_digest,
    local_batches,
    models,
    parse_metadata,
    remote_batches,
    status,
    submit,
    watch,
)

__all__ = [
    "Batch",
    "BatchError",
    "Client",
    "Connection",
    "Download",
    "Entry",
    "Event",
    "Ledger",
    "Model",
    "RemoteFile",
    "Session",
    "Submission",
    "Target",
    "cancel",
    "download",
    "file_digest",
    "local_batches",
    "models",
    "parse_metadata",
    "remote_batches",
    "resolve_target",
    "status",
    "submit",
    "watch",
]
