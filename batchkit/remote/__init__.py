"""Talking to a provider's Batch API: the wire client per provider (`client`), the local ledger of
what this machine submitted (`ledger`), submitting one file (`sending`), and the `Session` whose methods
are what a user does remotely: submit, status, watch, download, cancel, the listings, forget and prune."""

from .client import Batch, BatchError, Client, Model, RemoteFile, Target, resolve_target
from .ledger import Entry, Ledger, Name
from .sending import SubmitResult, file_digest
from .session import Connection, DownloadResult, Event, Ref, Session, parse_metadata

__all__ = [
    "Batch",
    "BatchError",
    "Client",
    "Connection",
    "DownloadResult",
    "Entry",
    "Event",
    "Ledger",
    "Model",
    "Name",
    "Ref",
    "RemoteFile",
    "Session",
    "SubmitResult",
    "Target",
    "file_digest",
    "parse_metadata",
    "resolve_target",
]
