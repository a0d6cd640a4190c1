"""Talking to a provider's Batch API: the remote protocol (`client.Client`) with one implementation per API
(`apis/`: OpenAI's Files + Batches, Anthropic's Message Batches, Gemini's batch mode, Mistral's batch jobs,
Vertex AI's and Bedrock's jobs over object storage),
the records every API answers in (`records`), where to send (`target`), the local ledger of what this
machine submitted (`ledger`), submitting one file (`sending`), many shards under an enqueued-token cap
(`queue`), and the `Session` whose methods are what a user does remotely: submit, status, watch, download,
cancel, the listings, forget and prune; rounds of batches until every request has its answer (`rounds`:
--until-done); the Python handles over it (`jobs`: submit → Submission/BatchJob) and a ready-made
progress bar."""

from ..ledger import STATES, TERMINAL, Entry, Ledger, Name, file_digest, line_hash, line_hashes
from .apis import open_client
from .client import Client, Lookup, Order, Place, ResultFile
from .connect import resolve_target
from .jobs import BatchJob, Submission, requests_file, submit
from .progress import tqdm_progress
from .queue import Queue, QueueOptions, Shard, check_cost, check_countable, shard_tokens
from .records import Batch, BatchError, Model, RemoteFile
from .rounds import Round, Rounds, UntilDone
from .sending import SubmitOptions, SubmitResult
from .session import Connection, DownloadResult, Event, Forgotten, Ref, Session, Submitted, parse_metadata
from .target import Staging, Target

__all__ = [
    "STATES",
    "TERMINAL",
    "Batch",
    "BatchJob",
    "BatchError",
    "Client",
    "Connection",
    "DownloadResult",
    "Entry",
    "Event",
    "Forgotten",
    "Ledger",
    "Lookup",
    "Model",
    "Name",
    "Order",
    "Place",
    "Queue",
    "QueueOptions",
    "Ref",
    "RemoteFile",
    "ResultFile",
    "Round",
    "Rounds",
    "Session",
    "Shard",
    "Staging",
    "Submission",
    "SubmitOptions",
    "SubmitResult",
    "Submitted",
    "Target",
    "UntilDone",
    "check_cost",
    "check_countable",
    "file_digest",
    "line_hash",
    "line_hashes",
    "open_client",
    "parse_metadata",
    "requests_file",
    "resolve_target",
    "shard_tokens",
    "submit",
    "tqdm_progress",
]
