"""A Session: one ledger and the clients opened so far, with a method per thing a user does remotely —
submit, status, watch, download, cancel, the two listings, models, forget and prune.

A batch is named by its id or by a file: the file's content (its sha256) identifies the submission, so a
copy under another name is the same batch, recorded as another name with its own downloaded files.
Requests answered from the answer cache when the file was submitted are written into its output file when
it is downloaded, and a downloaded batch's good answers go into the cache its submission used.
Nothing here prints: progress goes to the `progress` callback as `Event`s, and the CLI decides how to
show them.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from ..atomic import atomic_write
from ..cache import AnswerCache, address, remember
from ..errors import InputError, RemoteError, UsageError
from ..keys import RedactedLines
from ..ledger import ANSWERED, CREATING, Entry, Ledger, Name, file_digest
from ..providers import METADATA_MAX_KEY, METADATA_MAX_PAIRS, METADATA_MAX_VALUE, get_provider
from ..words import Text
from .apis import open_client
from .client import Client, Place, ResultFile
from .connect import resolve_target
from .records import FILE_KEY, SHA_KEY, Batch, Event, Model, OnEvent
from .sending import Sender, SubmitOptions, SubmitResult, recorded_batch
from .target import Target, split_address
from .unrun import OUTCOMES as UNRUN_OUTCOMES
from .unrun import write_unrun

FILE_SUFFIXES = (".jsonl", ".json", ".gz", ".zst")  # a reference with one names a file, never a batch
PATH_STARTS = ("/", "./", "../", "~")
# How a result file of a kind is named beside NAME (default: NAME.KIND.jsonl)
RESULT_KINDS = ("output", "errors")
RESULT_SUFFIXES = {"manifest": ".manifest.json.out"}  # Bedrock's record and token counts, which merge reads


def _ignore(event: Event) -> None:
    pass


@dataclass(frozen=True)
class Connection:
    """What the user said about where to connect (all optional); see `client.resolve_target`."""

    provider: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    place: Place = Place()

    @property
    def explicit(self) -> bool:
        return bool(self.provider or self.base_url or self.api_key_env or self.place != Place())

    def target(self) -> Target:
        return resolve_target(self.provider, self.base_url, self.api_key_env, self.place)


def _entry_target(entry: Entry) -> Target:
    # The variable is recorded only when a key was used, so a recorded one is required again.
    base_url, scope = split_address(entry.base_url)
    return Target(
        get_provider(entry.provider),
        base_url,
        entry.key_env,
        key_required=bool(entry.key_env),
        named=entry.provider != "generic",
        scope=scope,
    )


def _target_for(target: Target | None, entry: Entry | None) -> Target:
    """Where a recorded submission is asked about: the target given, but for an address given alone (no
    provider named) the provider the ledger recorded there (an Anthropic batch is not asked for in
    OpenAI's protocol); the recorded one when none was given."""
    if entry is not None and (
        target is None or (not target.named and entry.provider != target.provider.name)
    ):
        return _entry_target(entry)
    return target


@dataclass
class Ref:
    """What a BATCH_ID|FILE argument names: where the batch is, its id, its ledger row, and the name its
    results belong to (the file given; for a batch id, the name it was first submitted under)."""

    target: Target
    batch_id: str | None  # None: the file was answered whole from the answer cache, no batch was made
    entry: Entry | None
    path: Path | None

    def batch_id_or_fail(self) -> str:
        if self.batch_id is None:
            raise UsageError(
                f"{self.path} was answered whole from the answer cache when it was submitted, so it has no "
                "batch; `batchkit download` writes its answers"
            )
        return self.batch_id


@dataclass
class Forgotten:
    entries: list[Entry]  # the submissions forgotten
    removed: list[str] = field(default_factory=list)  # the staged objects deleted with them


@dataclass
class Submitted:
    """One submission of a file's content, as `status FILE` shows it: where, its batch (None when it
    never became one), and what to say about it (why there is no batch, or that the server was not
    reached and the batch is the ledger's record)."""

    ref: Ref
    batch: Batch | None
    note: str = ""


def _stopped(entry: Entry) -> Text:
    cause = Text(" (", entry.error, ")") if entry.error else ""
    return Text(f"its submission stopped at step '{entry.step}'", cause)


@dataclass
class DownloadResult:
    batch: Batch | None  # None: the file was answered whole from the answer cache
    files: dict[str, Path] = field(default_factory=dict)  # "output"/"errors" → where it was written
    lines: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # already downloaded; nothing done
    problems: list[str] = field(default_factory=list)  # line counts that disagree with request_counts
    cached: int = 0  # result lines written from the answer cache (into the output file)
    remembered: int = 0  # good answers of the batch new to the answer cache

    @property
    def result_files(self) -> list[Path]:
        """The output and error files (what merge and retry take: Bedrock's manifest, which merge reads
        beside them, left out)."""
        return [path for kind, path in self.files.items() if kind in RESULT_KINDS]


def parse_metadata(pairs: Iterable[str]) -> dict[str, str]:
    """["k=v", ...] → {k: v}, within the limits providers set for batch metadata."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"metadata {pair!r} is not KEY=VALUE")
        if len(key) > METADATA_MAX_KEY or len(value) > METADATA_MAX_VALUE:
            raise UsageError(
                f"metadata {key[:METADATA_MAX_KEY]!r}: keys may have {METADATA_MAX_KEY} characters"
                f" and values {METADATA_MAX_VALUE}"
            )
        if key in (SHA_KEY, FILE_KEY):
            raise UsageError(f"metadata key {key!r} is batchkit's own; choose another")
        metadata[key] = value
    own = len((SHA_KEY, FILE_KEY))  # the pairs batchkit adds to every batch it creates
    if len(metadata) > METADATA_MAX_PAIRS - own:
        raise UsageError(
            f"at most {METADATA_MAX_PAIRS - own} metadata pairs (batchkit uses {own} of the {METADATA_MAX_PAIRS})"
        )
    return metadata


class Session:
    """One ledger and the clients opened so far (one per server)."""

    def __init__(self, connection: Connection | None = None, ledger: Ledger | None = None):
        self.connection = connection or Connection()
        self._ledger = ledger
        self._clients: dict[Target, Client] = {}

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger()
        return self._ledger

    def client(self, target: Target) -> Client:
        """The client of `target`: one per API, address, key and staging (one server may speak several
        APIs, as `batchkit serve` does, and batches of one provider may be under two keys)."""
        client = self._clients.get(target)
        if client is None:
            client = self._clients[target] = open_client(target)
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _explicit_target(self) -> Target | None:
        return self.connection.target() if self.connection.explicit else None

    # --- naming a batch ---------------------------------------------------------------------------------

    def resolve(self, ref: str) -> Ref:
        """The batch a BATCH_ID|FILE argument names. Options the user gave win; otherwise the server the
        ledger recorded; otherwise the defaults."""
        path = Path(ref)
        target = self._explicit_target()
        if path.is_file():
            return self._resolve_file(path, target)
        # Gemini's, Vertex's and Bedrock's batch ids hold slashes (batches/…, projects/…, arn:…/…): what
        # looks like a path is one only by its suffix or its start
        if path.suffix in FILE_SUFFIXES or ref.startswith(PATH_STARTS) or "\\" in ref:
            raise InputError(f"{ref}: no such file (give a batch id or a file that was submitted)")
        entry = self.ledger.for_batch(ref, target.address if target else None)
        if target is None and entry is None:
            target = self.connection.target()
        return Ref(_target_for(target, entry), ref, entry, Path(entry.path) if entry else None)

    def _resolve_file(self, path: Path, target: Target | None) -> Ref:
        sha, _ = file_digest(path)
        entries = self.ledger.find(sha256=sha, base_url=target.address if target else None)
        # without an address given, the newest submission that became a batch (a later one that failed
        # at another address does not hide it)
        entry = next((e for e in entries if e.batch_id), entries[0] if entries else None)
        name = str(path.resolve())
        if entry is not None and entry.step == ANSWERED:
            self.ledger.add_name(entry.id, name)
            return Ref(_target_for(target, entry), None, entry, Path(name))
        if entry is None or not entry.batch_id:
            raise UsageError(self._not_submitted(path, name, sha, entry, target))
        self.ledger.add_name(entry.id, name)  # a copy of submitted content is another name for its batch
        return Ref(_target_for(target, entry), entry.batch_id, entry, Path(name))

    def _not_submitted(
        self, path: Path, name: str, sha: str, entry: Entry | None, target: Target | None
    ) -> str:
        if entry is not None:
            return Text(
                f"{path} has no batch yet: ", _stopped(entry), f"; `batchkit submit {path}` tries again"
            )
        earlier = self.ledger.for_name(name)
        if earlier is not None and earlier.batch_id and earlier.sha256 == sha and target is not None:
            return (
                f"{path} has not been submitted to {target.address}: it was submitted to {earlier.base_url} "
                f"as {earlier.batch_id} (`batchkit status {path}` without an address shows that batch)"
            )
        if earlier is not None and earlier.batch_id:
            return (
                f"{path} has changed since it was submitted as {earlier.batch_id}; `batchkit status "
                f"{earlier.batch_id}` shows that batch, `batchkit submit {path}` submits the new content"
            )
        where = f" to {target.address}" if target else ""
        return f"{path} has not been submitted{where}; submit it with `batchkit submit {path}`"

    def ref_of(self, submitted: SubmitResult) -> Ref:
        """The batch a submission made (or the answers it had from the cache), named as `resolve` names
        it, without looking its file up again."""
        batch_id = submitted.batch.id if submitted.batch is not None else None
        return Ref(self.connection.target(), batch_id, submitted.entry, submitted.path.resolve())

    def record(self, entry: Entry | None, batch: Batch) -> Entry | None:
        """Keep the ledger's view of a batch current."""
        if entry is None:
            return None
        return self.ledger.update(
            entry.id, status=batch.status, total=batch.total, completed=batch.completed, failed=batch.failed
        )

    # --- submitting and following -----------------------------------------------------------------------

    def submit(
        self, paths: Iterable[str | Path], progress: OnEvent = _ignore, **options
    ) -> Iterator[SubmitResult]:
        """Submit each file as one batch; yields each SubmitResult as it is done. `options`: the fields of
        SubmitOptions (completion_window, metadata, validate, force, model: the batch's model for APIs that
        take it on the batch, staging: where the input goes for APIs that read it from object storage,
        cache: answer what it can from there and send the rest; a file answered whole makes no batch).

        Raises ValidationFailed (with the report) for an invalid file before anything is uploaded.
        """
        return self.submit_with(paths, SubmitOptions(**options), progress)

    def submit_with(
        self, paths: Iterable[str | Path], options: SubmitOptions, progress: OnEvent = _ignore
    ) -> Iterator[SubmitResult]:
        """`submit`, its options given as SubmitOptions. Every file is checked before any is sent, so a set
        of shards is never submitted in part (an invalid one raises before the first is sent)."""
        sender = self.sender(options, progress)
        prepared = [sender.prepare(Path(path)) for path in paths]
        return (sender.send(item) for item in prepared)

    def sender(self, options: SubmitOptions, progress: OnEvent = _ignore) -> Sender:
        """The Sender of one command's files to this session's server, telling `progress` what it does."""
        return Sender(
            self, self.connection.target(), options,
            note=lambda path, message: progress(Event("note", str(path), message=message)),
            upload_progress=lambda path, done, total: progress(Event("upload", str(path), done, total)),
            warned=lambda path, report: progress(Event("findings", str(path), report=report)),
        )  # fmt: skip

    def status(self, ref: str) -> tuple[Batch, Ref]:
        return self._status_of(self.resolve(ref))

    def _status_of(self, found: Ref) -> tuple[Batch, Ref]:
        batch = self.client(found.target).batch(found.batch_id_or_fail())
        found.entry = self.record(found.entry, batch)
        return batch, found

    def statuses(self, ref: str) -> list[Submitted]:
        """Every submission a BATCH_ID|FILE names: for a FILE given without an address, its content's
        latest submission to each address, newest first (one that never became a batch says why; one
        whose server cannot be reached now shows the ledger's record and the error); else the one."""
        path = Path(ref)
        if self.connection.explicit or not path.is_file():
            found = self.resolve(ref)
            if found.batch_id is None and found.entry is not None and found.entry.step == ANSWERED:
                return [self._submitted(found.entry, found.path)]  # the cache answered it: no batch
            batch, found = self._status_of(found)
            return [Submitted(found, batch)]
        entries = self.ledger.find(sha256=file_digest(path)[0])
        latest = list({e.base_url: e for e in reversed(entries)}.values())[::-1]
        if not any(e.batch_id for e in latest):
            self.resolve(ref)  # raises the error that says what happened and what to do
        name = Path(str(path.resolve()))
        return [self._submitted(entry, name) for entry in latest]

    def _submitted(self, entry: Entry, name: Path) -> Submitted:
        found = Ref(_entry_target(entry), entry.batch_id or "", entry, name)
        if not entry.batch_id and entry.step == ANSWERED:
            said = f"done: the answer cache answered all {entry.cached or 0:,} requests, so no batch was made"
            return Submitted(found, None, Text(f"{said}; `batchkit download {name}` writes them"))
        if not entry.batch_id:
            again = f"`batchkit submit {name} --base-url {found.target.base_url}` tries again"
            return Submitted(found, None, Text(_stopped(entry), f"; {again}"))
        self.ledger.add_name(entry.id, str(name))
        try:
            batch = self.client(found.target).batch(entry.batch_id)
        except (RemoteError, UsageError) as e:
            return Submitted(found, recorded_batch(entry), f"showing the ledger's record: {e}")
        found.entry = self.record(entry, batch)
        return Submitted(found, batch)

    def watch(
        self,
        refs: Iterable[str | Ref],
        *,
        interval: float = 10.0,
        progress: OnEvent = _ignore,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[Batch]:
        """Poll each batch until all are finished; returns their final states in the order given.

        Polls quickly at first and slows down to `interval` seconds. Every new snapshot goes to `progress`.
        """
        watched = [ref if isinstance(ref, Ref) else self.resolve(ref) for ref in refs]
        for found in watched:
            found.batch_id_or_fail()
        latest: dict[int, Batch] = {}
        delay = min(0.25, interval)
        failing = _Failing(progress)
        while True:
            for index, found in enumerate(watched):
                if index in latest and latest[index].terminal:
                    continue
                try:
                    batch = self.client(found.target).batch(found.batch_id)
                except RemoteError as e:
                    failing.met(found.batch_id, e)  # raises unless it may pass
                    continue
                failing.over(found.batch_id)
                self.record(found.entry, batch)
                latest[index] = batch
                done = batch.completed + batch.failed
                progress(Event("batch", found.batch_id, done, batch.total or None, batch=batch))
            if all(b.terminal for b in latest.values()):
                return [latest[i] for i in range(len(watched))]
            sleep(delay)
            delay = min(interval, delay * 1.5)

    def cancel(self, ref: str) -> Batch:
        """Cancel the batch `ref` names (one cancelled already is left as it is); one that has ended
        otherwise is refused saying so (each API answers that in its own words, most with a 400 that tells
        nothing of the batch)."""
        found = self.resolve(ref)
        client = self.client(found.target)
        batch = client.batch(found.batch_id_or_fail())
        self.record(found.entry, batch)
        if batch.status == "cancelled":
            return batch
        if batch.terminal:
            ran = batch.completed > 0 or batch.failed > 0  # (a batch failed as a whole ran no request)
            after = (
                f"its results stay downloadable (`batchkit download {ref}`)" if ran else "it has no results"
            )
            raise UsageError(
                f"batch {batch.id} has already ended ({batch.status}): there is nothing to cancel; {after}"
            )
        batch = client.cancel(found.batch_id)
        self.record(found.entry, batch)
        return batch

    # --- downloading ------------------------------------------------------------------------------------

    def download(
        self,
        ref: str | Ref,
        *,
        out_dir: str | Path | None = None,
        force: bool = False,
        progress: OnEvent = _ignore,
    ) -> DownloadResult:
        """Write the batch's output and error files (streamed, atomic) as NAME.output.jsonl and
        NAME.errors.jsonl, next to the file named (each name of the content gets its own) unless `out_dir`
        is given. The requests answered from the answer cache are in the output file too, and the batch's
        good answers go into the cache its submission used."""
        found = ref if isinstance(ref, Ref) else self.resolve(ref)
        if found.batch_id is None:
            return self._download_cached(found, out_dir, force)
        client = self.client(found.target)
        batch = client.batch(found.batch_id)
        entry = self.record(found.entry, batch)
        if not batch.terminal:
            raise UsageError(
                f"batch {found.batch_id} is {batch.status} ({batch.completed + batch.failed} of {batch.total} "
                f"done); wait for it with `batchkit watch {ref if isinstance(ref, str) else found.batch_id}`"
            )
        folder = Path(out_dir) if out_dir else (found.path.parent if found.path else Path.cwd())
        result = DownloadResult(batch)
        name = self.ledger.name(entry.id, str(found.path)) if entry and found.path else None
        if name and not force and (earlier := _still_there(name, folder, out_dir is None)):
            result.files, result.skipped = earlier, True
            return result
        stem = found.path.stem if found.path else found.batch_id.replace("/", "-")
        cached = Path(entry.cached_path) if entry and entry.cached_path else None
        wanted = client.results(batch)
        remote_lines, sha256 = _write_results(client, wanted, result, (folder, stem), cached, progress)
        result.problems = _count_problems(wanted, remote_lines)
        if client.leaves_unrun_out and batch.status in UNRUN_OUTCOMES:
            _add_unrun(found, folder / f"{stem}.errors.jsonl", result, sha256)
        result.remembered = self._remember(found, entry, result)
        if name:
            files = {kind: str(path.resolve()) for kind, path in result.files.items()}
            self.ledger.downloaded(entry.id, name.path, files.get("output"), files.get("errors"), sha256)
        return result

    def _download_cached(self, found: Ref, out_dir, force: bool) -> DownloadResult:
        """The output file of a submission answered whole from the cache: its answers' result lines."""
        entry = found.entry
        folder = Path(out_dir) if out_dir else found.path.parent
        result = DownloadResult(None)
        name = self.ledger.name(entry.id, str(found.path))
        if name and not force and (earlier := _still_there(name, folder, out_dir is None)):
            result.files, result.skipped = earlier, True
            return result
        path = result.files["output"] = folder / f"{found.path.stem}.output.jsonl"
        result.lines["output"], sha256 = _copy(Path(entry.cached_path), path)
        result.cached = result.lines["output"]
        self.ledger.downloaded(entry.id, str(found.path), str(path.resolve()), None, {"output": sha256})
        return result

    def _remember(self, found: Ref, entry: Entry | None, result: DownloadResult) -> int:
        """Keep the downloaded batch's good answers in the cache the submission used (0 when it used none,
        or when the file that was sent has changed since)."""
        if entry is None or not entry.cache_path:
            return 0
        sent = Path(entry.sent_path) if entry.sent_path else found.path
        if (
            sent is None
            or not sent.is_file()
            or (not entry.sent_path and file_digest(sent)[0] != entry.sha256)
        ):
            return 0
        where = address(found.target.provider.remote_api or "openai", found.target.base_url)
        with AnswerCache(entry.cache_path) as cache:
            return remember(
                cache,
                where,
                sent,
                result.result_files,
                batch_model=found.target.batch_model(entry.model),
                batch_id=result.batch.id,
            )

    # --- listings and housekeeping ----------------------------------------------------------------------

    def local_batches(self, limit: int | None = None) -> list[tuple[Entry, list[Name]]]:
        """Submissions made from this machine with their names, newest first (from the ledger; no network)."""
        return [(entry, self.ledger.names(entry.id)) for entry in self.ledger.entries(limit)]

    def remote_batches(self, limit: int = 20) -> list[Batch]:
        """The provider's own list, newest first, following pages until `limit` batches."""
        client = self.client(self.connection.target())
        return list(islice(client.batches(page_size=max(1, min(limit, 100))), limit))

    def models(self) -> list[Model]:
        return self.client(self.connection.target()).models()

    def forget(self, ref: str, *, remote_files: bool = False) -> Forgotten:
        """Remove a batch's or a file's submissions from the ledger (the batches stay on their servers).
        `remote_files`: first delete the objects batchkit staged for them (refused while a batch that reads
        one may still run; an object another remembered submission names is kept)."""
        target = self._explicit_target()
        address = target.address if target else None
        path = Path(ref)
        # its content's submissions; a file edited since (or gone), those made under its name
        entries = self.ledger.find(sha256=file_digest(path)[0], base_url=address) if path.is_file() else []
        entries = entries or self.ledger.find(name=str(path.resolve()), base_url=address)
        entries = entries or (self.ledger.find(batch_id=ref, base_url=address) if not path.is_file() else [])
        if not entries:
            raise UsageError(f"{ref}: the ledger has no submission of it (`batchkit list` shows what it has)")
        removed = self._remove_staged(entries) if remote_files else []
        self.ledger.forget([entry.id for entry in entries])
        return Forgotten(entries, removed)

    def _remove_staged(self, entries: list[Entry]) -> list[str]:
        """Delete the staged input of each submission, once no batch of theirs can still read it."""
        for entry in entries:
            if not entry.batch_id and entry.step == CREATING and entry.file_id:
                # the interrupted create may have made a batch that reads it: `submit` looks for it
                raise UsageError(
                    f"{entry.path}: its create was interrupted, so a batch may be reading {entry.file_id}; "
                    "submit the file again to find that batch (or make one), then forget it with --remote-files"
                )
            if not entry.batch_id:
                continue
            batch = self.client(_entry_target(entry)).batch(entry.batch_id)
            if not batch.terminal:
                raise UsageError(
                    f"batch {entry.batch_id} is {batch.status} and may still read {entry.file_id}; cancel it or "
                    "wait for its end, then forget it with --remote-files"
                )
        forgotten, removed = {entry.id for entry in entries}, []
        for entry in entries:
            if not entry.file_id or entry.file_id in removed:
                continue
            others = [e for e in self.ledger.find() if e.file_id == entry.file_id and e.id not in forgotten]
            if not others and self.client(_entry_target(entry)).remove_file(entry.file_id):
                removed.append(entry.file_id)
        return removed

    def prune(self) -> tuple[list[Entry], list[Entry]]:
        """Forget the submissions that never became a batch (failed or abandoned uploads): (forgotten, kept).
        Kept: those another process is working on, and those whose create was interrupted (the batch may
        exist; `submit` looks for it)."""
        # (a file answered whole from the answer cache made no batch, and is complete: it stays)
        unfinished = [
            entry for entry in self.ledger.entries() if not entry.batch_id and entry.step != ANSWERED
        ]
        kept = [e for e in unfinished if e.step == CREATING or self.ledger.is_locked(e.sha256, e.base_url)]
        gone = [e for e in unfinished if e not in kept]
        if gone:
            self.ledger.forget([entry.id for entry in gone])
        return gone, kept


def _write_results(client: Client, wanted, result: DownloadResult, where, cached: Path | None, progress):
    """Each remote result file of the batch into FOLDER/STEM.KIND.jsonl (`where` = (FOLDER, STEM)), the
    answers from the cache after the batch's own in the output file (alone when the batch has no output
    file); (the remote files' lines, each written file's sha256) by kind."""
    (folder, stem), remote_lines, sha256 = where, {}, {}
    for remote in wanted:
        if remote.ref:
            path = result.files[remote.kind] = (
                folder / f"{stem}{RESULT_SUFFIXES.get(remote.kind, f'.{remote.kind}.jsonl')}"
            )
            also = cached if remote.kind == "output" else None
            remote_lines[remote.kind], added, sha256[remote.kind] = _fetch(
                client, remote, path, progress, also
            )
            result.lines[remote.kind] = remote_lines[remote.kind] + added
            result.cached += added
    if cached and "output" not in result.files:  # nothing the batch answered: the cache's answers alone
        path = result.files["output"] = folder / f"{stem}.output.jsonl"
        result.lines["output"], sha256["output"] = _copy(cached, path)
        result.cached = result.lines["output"]
    return remote_lines, sha256


def _fetch(
    client: Client, remote: ResultFile, path: Path, progress: OnEvent, also: Path | None
) -> tuple[int, int, str]:
    """Stream a remote file into `path` (whole or not at all), followed by the lines of the local file
    `also` when given; (the remote file's lines, the lines added, the sha256 of what was written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as sink:
            counter = _LineCounter(sink)
            lines = RedactedLines(counter)  # a provider may echo the key (an answer repeating a prompt)
            client.download(
                remote, lines, lambda done, total: progress(Event("download", str(path), done, total))
            )
            lines.finish()
            remote_lines = counter.total
            if also is not None:
                if counter.open_line:
                    counter.write(b"\n")
                with open(also, "rb") as lines:
                    shutil.copyfileobj(lines, counter)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    return remote_lines, counter.total - remote_lines, counter.sha256.hexdigest()


def _copy(source: Path, path: Path) -> tuple[int, str]:
    """Copy the local result file `source` to `path` (whole or not at all); its lines and sha256."""
    try:
        lines = open(source, "rb")  # noqa: SIM115 (closed below; its failure is the ledger's, not the output's)
    except OSError as e:
        raise InputError(
            f"the answers the cache gave are gone from the ledger ({source}: {e.strerror or e}); "
            "`batchkit forget` the submission and submit the file again (the cache answers it again)"
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with lines, atomic_write(path) as sink:
            counter = _LineCounter(sink)
            shutil.copyfileobj(lines, counter)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    return counter.total, counter.sha256.hexdigest()


def _add_unrun(found: Ref, path: Path, result: DownloadResult, sha256: dict[str, str]) -> None:
    """Write the requests a stopped batch never ran (its API leaves them out of its results) to `path`
    (its sha256 into `sha256`, as for a downloaded file)."""
    requests = found.path
    if (
        requests is None
        or not requests.is_file()
        or (found.entry is not None and file_digest(requests)[0] != found.entry.sha256)
    ):
        result.problems.append(
            f"the requests the batch never ran are not listed: {requests or 'its file'} is not the file submitted"
        )
        return
    outputs = [result.files["output"]] if "output" in result.files else []
    count = write_unrun(requests, outputs, path, result.batch.status)
    if count:
        result.files["errors"], result.lines["errors"] = path, count
        sha256["errors"] = file_digest(path)[0]


def _still_there(name: Name, folder: Path, default_place: bool) -> dict[str, Path] | None:
    """This name's earlier download, when its files are still in place (and in the folder asked for)."""
    if not name.downloaded_at:
        return None
    recorded = {k: Path(p) for k, p in (("output", name.output_path), ("errors", name.error_path)) if p}
    same_place = default_place or all(p.parent.resolve() == folder.resolve() for p in recorded.values())
    if same_place and all(p.is_file() for p in recorded.values()):
        return recorded
    return None


WATCH_PATIENCE = 15 * 60  # seconds a watch asks on through failures that pass (no answer, 429, 5xx)


class _Failing:
    """A watch's failures to get an answer: once the server has answered, one that may pass (the server or
    network down a while, rate limited, a server error) is said once and asked again at the next poll, for
    up to WATCH_PATIENCE; any other, one that lasts longer, or one before any answer (a wrong address)
    ends the watch."""

    def __init__(self, progress: OnEvent):
        self.progress = progress
        self.since: float | None = None
        self.answered = False

    def met(self, subject: str, error: RemoteError) -> None:
        passing = error.status is None or error.status == 429 or error.status >= 500
        now = time.monotonic()
        if not (passing and self.answered) or (self.since is not None and now - self.since > WATCH_PATIENCE):
            raise error
        if self.since is None:
            self.since = now
            minutes = WATCH_PATIENCE // 60
            said = Text(error.message, f"; asking again at each poll, for up to {minutes} minutes")
            self.progress(Event("note", subject, message=said))

    def over(self, subject: str) -> None:
        self.answered = True
        if self.since is not None:
            self.since = None
            self.progress(Event("note", subject, message="answering again; watching on"))


class _LineCounter:
    """A binary sink that counts the lines written through it, and hashes them."""

    def __init__(self, sink):
        self._sink = sink
        self.lines = 0
        self._open_line = False
        self.sha256 = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        if chunk:
            self.lines += chunk.count(b"\n")
            self._open_line = not chunk.endswith(b"\n")
            self.sha256.update(chunk)
        return self._sink.write(chunk)

    @property
    def open_line(self) -> bool:
        """Whether the last line written has no line end yet."""
        return self._open_line

    @property
    def total(self) -> int:
        return self.lines + (1 if self._open_line else 0)


def _count_problems(wanted: list[ResultFile], lines: dict[str, int]) -> list[str]:
    """Files whose line count disagrees with the provider's counts (where the counts say how many)."""
    problems = []
    for remote in wanted:
        got = lines.get(remote.kind, 0)
        if remote.expected_lines is not None and got != remote.expected_lines:
            problems.append(
                f"the {remote.kind} file has {got} line(s) but the provider counts {remote.expected_lines} "
                f"{remote.counted} request(s)"
            )
    return problems
