"""Submit batch files and follow them: submit, status, watch, download, cancel, list, models.

Every remote step is recorded in the ledger before and after it runs, which makes a submission
idempotent (a file already submitted to a server is not submitted again) and resumable (an upload that
finished is reused; a create whose answer was lost is looked for, by the file's sha256 in the batch's
metadata, before another batch is created). Nothing here prints: progress goes to the `progress`
callback as `Event`s, and the CLI decides how to show them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from ..errors import InputError, RemoteError, UsageError, ValidationFailed
from ..jsonl import atomic_write, open_binary, read_objects
from ..providers import get_provider
from .client import Batch, Client, Model, Target, resolve_target
from .ledger import CREATED, CREATING, UPLOADED, UPLOADING, Entry, Ledger

SHA_KEY = "batchkit_sha256"
FILE_KEY = "batchkit_file"
MAX_METADATA = 16  # pairs a provider accepts (OpenAI's limit)
# How far back to look for a batch whose create answer was lost (allows for clock differences).
SEARCH_SLACK_SECONDS = 3600
SEARCH_MAX_BATCHES = 2000


@dataclass
class Event:
    """Progress for the caller to show. kinds: upload, download (bytes `done` of `total`), batch (a new
    snapshot in `batch`), note (a sentence in `message`)."""

    kind: str
    subject: str
    done: int = 0
    total: int | None = None
    batch: Batch | None = None
    message: str = ""


Progress = Callable[[Event], None]


def _ignore(event: Event) -> None:
    pass


@dataclass(frozen=True)
class Connection:
    """What the user said about where to connect (all optional); see `client.resolve_target`."""

    provider: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None

    @property
    def explicit(self) -> bool:
        return bool(self.provider or self.base_url or self.api_key_env)

    def target(self) -> Target:
        return resolve_target(self.provider, self.base_url, self.api_key_env)


def _entry_target(entry: Entry) -> Target:
    # The variable is recorded only when a key was used, so a recorded one is required again.
    return Target(
        get_provider(entry.provider), entry.base_url, entry.key_env, key_required=bool(entry.key_env)
    )


@dataclass
class Submission:
    path: Path
    entry: Entry
    batch: Batch
    existing: bool = False  # submitted before: nothing was done
    notes: list[str] = field(default_factory=list)


@dataclass
class Download:
    batch: Batch
    files: dict[str, Path] = field(default_factory=dict)  # "output"/"errors" → where it was written
    lines: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # already downloaded; nothing done
    problems: list[str] = field(default_factory=list)  # line counts that disagree with request_counts


# --- helpers ---------------------------------------------------------------------------------------------


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes), streamed."""
    digest = hashlib.sha256()
    size = 0
    with open_binary(path) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _first_endpoint(path: Path) -> str | None:
    with open_binary(path) as stream:
        for _, obj, _ in read_objects(stream, lambda finding: None):
            url = obj.get("url")
            if isinstance(url, str):
                return url
    return None


def parse_metadata(pairs: Iterable[str]) -> dict[str, str]:
    """["k=v", ...] → {k: v}, within the limits providers set for batch metadata."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"metadata {pair!r} is not KEY=VALUE")
        if len(key) > 64 or len(value) > 512:
            raise UsageError(f"metadata {key[:64]!r}: keys may have 64 characters and values 512")
        if key in (SHA_KEY, FILE_KEY):
            raise UsageError(f"metadata key {key!r} is batchkit's own; choose another")
        metadata[key] = value
    if len(metadata) > MAX_METADATA - 2:
        raise UsageError(f"at most {MAX_METADATA - 2} metadata pairs (batchkit uses 2 of the {MAX_METADATA})")
    return metadata


class Session:
    """One ledger and the clients opened so far (one per server)."""

    def __init__(self, connection: Connection | None = None, ledger: Ledger | None = None):
        self.connection = connection or Connection()
        self._ledger = ledger
        self._clients: dict[str, Client] = {}

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger()
        return self._ledger

    def client(self, target: Target) -> Client:
        client = self._clients.get(target.base_url)
        if client is None:
            client = self._clients[target.base_url] = Client(target)
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def resolve(self, ref: str) -> tuple[Target, str, Entry | None]:
        """(target, batch id, ledger entry or None) for a batch id or a submitted file.

        Options the user gave win; otherwise the server the ledger recorded; otherwise the defaults.
        """
        path = Path(ref)
        explicit = self.connection.explicit
        if path.is_file():
            sha, _ = file_digest(path)
            target = self.connection.target() if explicit else None
            entry = self.ledger.for_file(sha, target.base_url if target else None)
            if entry is None or not entry.batch_id:
                where = f" to {target.base_url}" if target else ""
                raise UsageError(
                    f"{path} has not been submitted{where}; submit it with `batchkit submit {path}`"
                )
            return target or _entry_target(entry), entry.batch_id, entry
        if path.suffix in (".jsonl", ".json") or "/" in ref or "\\" in ref:
            raise InputError(f"{ref}: no such file (give a batch id or a file that was submitted)")
        target = self.connection.target() if explicit else None
        entry = self.ledger.for_batch(ref, target.base_url if target else None)
        if target is None:
            target = _entry_target(entry) if entry else self.connection.target()
        return target, ref, entry

    def record(self, entry: Entry | None, batch: Batch) -> Entry | None:
        """Keep the ledger's view of a batch current."""
        if entry is None:
            return None
        return self.ledger.update(
            entry.id, status=batch.status, total=batch.total, completed=batch.completed, failed=batch.failed
        )


# --- submit ----------------------------------------------------------------------------------------------


def submit(
    paths: Iterable[str | Path],
    session: Session,
    *,
    completion_window: str = "24h",
    metadata: dict[str, str] | None = None,
    validate: bool = True,
    force: bool = False,
    progress: Progress = _ignore,
) -> Iterator[Submission]:
    """Submit each file as one batch; yields each Submission as it is done.

    Raises ValidationFailed (with the report) for an invalid file before anything is uploaded.
    """
    target = session.connection.target()
    if completion_window not in target.provider.completion_windows:
        raise UsageError(
            f"completion window {completion_window!r} is not offered by {target.provider.name}; "
            f"choose {', '.join(target.provider.completion_windows)}"
        )
    # Check every file before sending any, so a set of shards is never submitted in part.
    prepared = [_prepare(Path(path), target, session, validate, force) for path in paths]
    for item in prepared:
        if item.existing is not None:
            yield _already_submitted(item)
        else:
            yield _send(item, target, session, completion_window, dict(metadata or {}), force, progress)


def _endpoint(path: Path, target: Target, validate: bool) -> str:
    if validate:
        from ..validate import validate_file

        report = validate_file(path, target.provider)
        if not report.valid:
            raise ValidationFailed(
                f"{path}: not submitted: {report.summary.errors} error(s) under the {target.provider.name} rules",
                report,
            )
        endpoints = list(report.summary.endpoints)
    else:
        endpoints = [e for e in [_first_endpoint(path)] if e]
    if not endpoints:
        raise InputError(f"{path}: no request line names a url; nothing to submit")
    if len(endpoints) > 1:
        raise InputError(
            f"{path}: requests go to {', '.join(sorted(endpoints))}; a batch has one endpoint, so split the file"
        )
    return endpoints[0]


@dataclass
class _Prepared:
    path: Path
    sha256: str
    size: int
    endpoint: str | None = None
    existing: Entry | None = None  # submitted before, and not --force


def _prepare(path: Path, target: Target, session: Session, validate: bool, force: bool) -> _Prepared:
    sha, size = file_digest(path)
    entry = session.ledger.for_file(sha, target.base_url)
    if entry and entry.batch_id and not force:
        return _Prepared(path, sha, size, existing=entry)
    return _Prepared(path, sha, size, endpoint=_endpoint(path, target, validate))


def _already_submitted(item: _Prepared) -> Submission:
    entry = item.existing
    batch = Batch(
        id=entry.batch_id,
        status=entry.status or "unknown",
        total=entry.total or 0,
        completed=entry.completed or 0,
        failed=entry.failed or 0,
    )
    return Submission(item.path, entry, batch, existing=True)


def _send(item: _Prepared, target, session, completion_window, metadata, force, progress) -> Submission:
    path, sha, size, endpoint = item.path, item.sha256, item.size, item.endpoint
    ledger = session.ledger
    # The latest row for this file and server: an unfinished one is resumed, unless --force.
    entry = ledger.for_file(sha, target.base_url)
    if entry and entry.batch_id and not force:  # the same file named twice in one command
        return _already_submitted(_Prepared(path, sha, size, existing=entry))
    client = session.client(target)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        progress(Event("note", str(path), message=message))

    if entry is None or entry.batch_id or force:
        entry = ledger.start(
            path=str(path.resolve()), sha256=sha, size=size, provider=target.provider.name,
            base_url=target.base_url, key_env=target.key_env if client.uses_key else None,
            endpoint=endpoint, completion_window=completion_window,
        )  # fmt: skip
    elif entry.step == CREATING:
        found = _find_created(client, entry)
        if found:
            note(f"found batch {found.id}, created by an interrupted run; not creating another")
            entry = ledger.update(entry.id, step=CREATED, batch_id=found.id)
            return Submission(path, session.record(entry, found), found, notes=notes)

    file_id = entry.file_id
    if file_id:
        file_id = _still_uploaded(client, file_id)
        if file_id:
            note(f"reusing file {file_id}, uploaded by an interrupted run")
        else:
            note(f"file {entry.file_id}, uploaded by an interrupted run, is gone; uploading again")
    if not file_id:
        entry = ledger.update(entry.id, step=UPLOADING, file_id=None)
        uploaded = client.upload(path, lambda done, total: progress(Event("upload", str(path), done, total)))
        file_id = uploaded.id
        entry = ledger.update(entry.id, step=UPLOADED, file_id=file_id)

    metadata = {**metadata, SHA_KEY: sha, FILE_KEY: path.name[:512]}
    entry = ledger.update(entry.id, step=CREATING)
    try:
        batch = _create(client, entry, endpoint, completion_window, metadata, note)
    except RemoteError as e:
        if not _outcome_unknown(e):
            ledger.update(entry.id, step=UPLOADED)  # the provider said no: nothing to look for next time
        raise
    entry = ledger.update(entry.id, step=CREATED, batch_id=batch.id)
    entry = session.record(entry, batch)
    return Submission(path, entry, batch, notes=notes)


def _still_uploaded(client: Client, file_id: str) -> str | None:
    try:
        remote = client.file(file_id)
    except RemoteError as e:
        if getattr(e, "http_status", None) == 404:
            return None
        raise
    return None if remote.status in ("error", "deleted") else file_id


def _outcome_unknown(error: RemoteError) -> bool:
    """No answer, or a server error that may have come after the work was done."""
    status = getattr(error, "http_status", None)
    return status is None or status >= 500


def _create(client: Client, entry: Entry, endpoint, completion_window, metadata, note) -> Batch:
    try:
        return client.create_batch(entry.file_id, endpoint, completion_window, metadata)
    except RemoteError as e:
        if not _outcome_unknown(e):
            raise
        lost = e
    # The batch may exist: look for it before creating it again, once.
    found = _find_created(client, entry)
    if found:
        note(f"the answer to create was lost; found batch {found.id} carrying this file's sha256")
        return found
    note(f"the answer to create was lost ({lost}); no batch was created, so trying once more")
    return client.create_batch(entry.file_id, endpoint, completion_window, metadata)


def _find_created(client: Client, entry: Entry) -> Batch | None:
    """The batch created from this entry's upload, found by the sha256 in its metadata."""
    since = entry.updated_at - SEARCH_SLACK_SECONDS
    for batch in islice(client.batches(), SEARCH_MAX_BATCHES):
        if batch.metadata.get(SHA_KEY) == entry.sha256 and (
            not entry.file_id or batch.input_file_id in (None, entry.file_id)
        ):
            return batch
        if batch.created_at is not None and batch.created_at < since:
            return None
    return None


# --- follow ----------------------------------------------------------------------------------------------


def status(ref: str, session: Session) -> tuple[Batch, Entry | None]:
    target, batch_id, entry = session.resolve(ref)
    batch = session.client(target).batch(batch_id)
    return batch, session.record(entry, batch)


def watch(
    refs: Iterable[str],
    session: Session,
    *,
    interval: float = 10.0,
    progress: Progress = _ignore,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Batch]:
    """Poll each batch until all are finished; returns their final states in the order given.

    Polls quickly at first and slows down to `interval` seconds. Every new snapshot goes to `progress`.
    """
    watched = [session.resolve(ref) for ref in refs]
    latest: dict[int, Batch] = {}
    delay = min(0.25, interval)
    while True:
        for index, (target, batch_id, entry) in enumerate(watched):
            if index in latest and latest[index].terminal:
                continue
            batch = session.client(target).batch(batch_id)
            session.record(entry, batch)
            latest[index] = batch
            progress(
                Event("batch", batch_id, batch.completed + batch.failed, batch.total or None, batch=batch)
            )
        if all(b.terminal for b in latest.values()):
            return [latest[i] for i in range(len(watched))]
        sleep(delay)
        delay = min(interval, delay * 1.5)


def download(
    ref: str,
    session: Session,
    *,
    out_dir: str | Path | None = None,
    force: bool = False,
    progress: Progress = _ignore,
) -> Download:
    """Write the batch's output and error files (streamed, atomic) as NAME.output.jsonl and
    NAME.errors.jsonl, next to the submitted file unless `out_dir` is given."""
    target, batch_id, entry = session.resolve(ref)
    client = session.client(target)
    batch = client.batch(batch_id)
    entry = session.record(entry, batch)
    if not batch.terminal:
        raise UsageError(
            f"batch {batch_id} is {batch.status} ({batch.completed + batch.failed} of {batch.total} done); "
            f"wait for it with `batchkit watch {ref}`"
        )
    source = Path(entry.path) if entry else None
    folder = Path(out_dir) if out_dir else (source.parent if source else Path.cwd())
    stem = source.stem if source else batch_id
    wanted = {"output": folder / f"{stem}.output.jsonl", "errors": folder / f"{stem}.errors.jsonl"}
    result = Download(batch)

    if entry and entry.downloaded_at and not force:
        recorded = {k: Path(p) for k, p in (("output", entry.output_path), ("errors", entry.error_path)) if p}
        same_place = out_dir is None or all(p.parent.resolve() == folder.resolve() for p in recorded.values())
        if same_place and all(p.is_file() for p in recorded.values()):
            result.files = recorded
            result.skipped = True
            return result

    folder.mkdir(parents=True, exist_ok=True)
    for kind, file_id in (("output", batch.output_file_id), ("errors", batch.error_file_id)):
        if not file_id:
            continue
        path = wanted[kind]
        with atomic_write(path) as sink:
            counter = _LineCounter(sink)
            client.download(
                file_id, counter, lambda done, total, p=path: progress(Event("download", str(p), done, total))
            )
        result.files[kind] = path
        result.lines[kind] = counter.total
    result.problems = _count_problems(batch, result.lines)
    if entry:
        session.ledger.update(
            entry.id,
            output_path=str(result.files["output"]) if "output" in result.files else None,
            error_path=str(result.files["errors"]) if "errors" in result.files else None,
            downloaded_at=int(time.time()),
        )
    return result


class _LineCounter:
    """A binary sink that counts the lines written through it."""

    def __init__(self, sink):
        self._sink = sink
        self.lines = 0
        self._open_line = False

    def write(self, chunk: bytes) -> int:
        if chunk:
            self.lines += chunk.count(b"\n")
            self._open_line = not chunk.endswith(b"\n")
        return self._sink.write(chunk)

    @property
    def total(self) -> int:
        return self.lines + (1 if self._open_line else 0)


def _count_problems(batch: Batch, lines: dict[str, int]) -> list[str]:
    if not batch.total:
        return []  # the provider gave no counts to check against
    problems = []
    for kind, expected, label in (
        ("output", batch.completed, "completed"),
        ("errors", batch.failed, "failed"),
    ):
        got = lines.get(kind, 0)
        if got != expected:
            problems.append(
                f"the {kind} file has {got} line(s) but the provider counts {expected} {label} request(s)"
            )
    return problems


def cancel(ref: str, session: Session) -> Batch:
    target, batch_id, entry = session.resolve(ref)
    batch = session.client(target).cancel(batch_id)
    session.record(entry, batch)
    return batch


# --- listings --------------------------------------------------------------------------------------------


def local_batches(session: Session, limit: int | None = None) -> list[Entry]:
    """Submissions made from this machine, newest first (from the ledger; no network)."""
    return session.ledger.entries(limit)


def remote_batches(session: Session, limit: int = 20) -> list[Batch]:
    """The provider's own list, newest first, following pages until `limit` batches."""
    client = session.client(session.connection.target())
    return list(islice(client.batches(page_size=max(1, min(limit, 100))), limit))


def models(session: Session) -> list[Model]:
    return session.client(session.connection.target()).models()
