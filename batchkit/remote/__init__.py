"""Talking to a provider's Batch API: the wire client per provider (`client`), the local ledger of
what this machine submitted (`ledger`), submitting one file (`sending`), many shards under an
enqueued-token cap (`queue`), and the `Session` whose methods
are what a user does remotely: submit, status, watch, download, cancel, the listings, forget and prune;
the Python handles over it (`jobs`: submit → Submission/BatchJob) and a ready-made progress bar."""

from .client import TERMINAL, Batch, BatchError, Client, Model, RemoteFile, Target, resolve_target
from .jobs import BatchJob, Submission, submit
from .ledger import Entry, Ledger, Name, line_hash, line_hashes
from .progress import tqdm_progress
from .queue import Queue, QueueOptions, Shard, check_cost, shard_tokens
from .sending import SubmitOptions, SubmitResult, file_digest
from .session import Connection, DownloadResult, Event, Ref, Session, Submitted, parse_metadata

__all__ = [
    "TERMINAL",
    "Batch",
    "BatchJob",
    "BatchError",
    "Client",
    "Connection",
    "DownloadResult",
    "Entry",
    "Event",
    "Ledger",
    "Model",
    "Name",
    "Queue",
    "QueueOptions",
    "Ref",
    "RemoteFile",
    "Session",
    "Shard",
    "Submission",
    "SubmitOptions",
    "SubmitResult",
    "Submitted",
    "Target",
    "check_cost",
    "file_digest",
    "line_hash",
    "line_hashes",
    "parse_metadata",
    "resolve_target",
    "shard_tokens",
    "submit",
    "tqdm_progress",
]
