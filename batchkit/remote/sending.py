"""Submitting one file's content to one server: validate, take the content's turn, upload, create.

Every remote step is recorded in the ledger before and after it runs, which makes a submission
idempotent (content already submitted to a server is not submitted again, under any name) and resumable
(an upload that finished is reused; a create whose answer was lost is looked for, by the content's sha256
in the batch's metadata, before it is asked for again with the same idempotency key). Two processes
submitting the same content to the same server take turns (`Ledger.lock`): the second waits, then finds
the first one's batch.

With an answer cache (`SubmitOptions.cache`), the requests it has good answers for are left out: their
result lines are written at once beside the ledger, the rest goes as the batch (`split` in the cache
package), and both are recorded on the submission's row before anything is uploaded, so a resumed run
sends what the first one decided. A file answered whole from the cache makes no batch (step `answered`).
A round of `--until-done` (`Prepared.round`) is found by its first submission and number, not by its
content, since two rounds may re-send the same requests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from ..cache import AnswerCache, address, split
from ..errors import InputError, RemoteError, UsageError, ValidationFailed
from ..formats import OPENAI, read_requests
from ..ledger import (
    ANSWERED,
    CREATE_FAILED,
    CREATED,
    CREATING,
    UPLOAD_FAILED,
    UPLOADED,
    UPLOADING,
    Entry,
    file_digest,
    line_hashes,
)
from ..lines import open_binary
from ..providers import METADATA_MAX_VALUE, PROVIDERS
from ..tokens import advise_models, closest_model
from ..validate import validate_file
from ..words import Meta, Option, Text
from .client import Client, Lookup, Order
from .records import FILE_KEY, SHA_KEY, Batch
from .target import Staging, Target

# How far back to look for a batch whose create answer was lost (allows for clock differences).
SEARCH_SLACK_SECONDS = 3600
SEARCH_MAX_BATCHES = 2000


@dataclass
class SubmitResult:
    path: Path
    entry: Entry
    batch: Batch | None  # None: every request was answered from the cache, so no batch was made
    existing: bool = False  # submitted before: nothing was sent
    first_name: str | None = None  # when existing under another name: the name it was submitted under
    notes: list[str] = field(default_factory=list)
    requests: int | None = None  # requests in the file (None: not counted, the file was not validated)

    @property
    def cached(self) -> int:
        """Requests answered from the answer cache (their result lines are written when downloading)."""
        return self.entry.cached or 0

    @property
    def sent(self) -> int | None:
        """Requests sent as the batch (None when not counted)."""
        return None if self.requests is None else self.requests - self.cached

    @property
    def failed_for_the_file(self) -> bool:
        """The batch failed because of what the file holds (errors on its lines): resubmitting it as it is
        would fail again."""
        batch = self.batch
        return (
            batch is not None and batch.status == "failed" and any(e.line is not None for e in batch.errors)
        )


@dataclass
class Prepared:
    path: Path
    sha256: str
    size: int
    known: Entry | None  # the ledger's latest submission of this content to this server, when prepared
    plan: Plan | None = None  # None when it is already submitted and will not be sent
    round: tuple[int, int] | None = None  # a round of --until-done: (its first submission's id, number)

    @property
    def subject(self) -> str:
        """What the ledger's lock is held for: the content, or a round of a submission."""
        return f"round {self.round[1]} of submission {self.round[0]}" if self.round else self.sha256


@dataclass
class Plan:
    """What the batch is made of: the endpoint its requests go to (None where the lines name none and
    the API works it out) and the model of the batch (for APIs that take it on the batch)."""

    endpoint: str | None
    model: str | None
    requests: int | None = None  # counted when the file was validated


def recorded_batch(entry: Entry) -> Batch:
    """The batch as the ledger last saw it (when its server cannot be asked)."""
    return Batch(entry.batch_id or "", entry.status or "unknown", total=entry.total or 0,
                 completed=entry.completed or 0, failed=entry.failed or 0)  # fmt: skip


def _first_format(path: Path) -> str | None:
    """The line format of the file's first request line."""
    with open_binary(path) as stream:
        for request in read_requests(stream, lambda finding: None):
            return request.format.name
    return None


def _other_format(path: Path, target: Target) -> str | None:
    """Why a file of another line format (Anthropic's `{custom_id, params}` …) cannot go to a server that
    takes OpenAI batch lines, and what to do: `convert`, or a provider that takes the format as it is;
    None when the file is in OpenAI's format (or none batchkit knows)."""
    fmt = _first_format(path)
    if fmt is None or fmt == OPENAI.name:
        return None
    rows = [p for p in PROVIDERS.values() if p.dialect == fmt]
    described = re.match(r".*? lines", rows[0].description) if rows else None
    shape = described.group() if described else f"{fmt} lines"
    takers = [f"--provider {p.name}" for p in rows if p.remote_api and p.base_url]
    elsewhere = f", or send it as it is to a provider that takes it ({', '.join(takers)})" if takers else ""
    return (
        f"{path}: not submitted: it holds {fmt} lines ({shape}), and {target.who} takes OpenAI batch "
        f"lines ({{custom_id, method, url, body}}); `batchkit convert {path} -o {path.stem}.openai.jsonl --to "
        f"openai` writes them{elsewhere}"
    )


def _first_endpoint(path: Path) -> str | None:
    with open_binary(path) as stream:
        for request in read_requests(stream, lambda finding: None):
            if request.endpoint is not None:
                return request.endpoint
    return None


def _plan(path: Path, target: Target, validate: bool, model: str | None, warned=None, served=None) -> Plan:
    """Validate the file (unless asked not to) and work out its endpoint and the batch's model. A model
    name close to one the provider serves (by its prices, or `served()`) is a warning; a report with
    warnings goes to `warned(path, report)`, before anything is sent."""
    if validate:
        report = validate_file(path, target.provider)
        if not report.valid:
            rules = f"the {target.provider.name} rules" if target.named else "the OpenAI-compatible rules"
            raise ValidationFailed(
                f"{path}: not submitted: {report.summary.errors} error(s) under {rules}", report
            )
        unknown = [m for m in report.summary.models if not closest_model(m, report.provider)[0]]
        advise_models(report, served() if unknown and served is not None else ())
        if report.summary.warnings and warned is not None:
            warned(path, report)
        endpoints, models = list(report.summary.endpoints), list(report.summary.models)
        _check_minimum(path, target, report.summary.requests)
    else:
        endpoints, models = [e for e in [_first_endpoint(path)] if e], []
    if len(endpoints) > 1:
        raise InputError(
            f"{path}: requests go to {', '.join(sorted(endpoints))}; a batch has one endpoint, so split the file"
        )
    takes_openai_lines = target.provider.dialect in (OPENAI.name, None)
    if takes_openai_lines and (why := _other_format(path, target)):
        raise InputError(why)
    if not endpoints and takes_openai_lines:
        raise InputError(f"{path}: no request line names a url; nothing to submit")
    requests = report.summary.requests if validate else None
    return Plan(endpoints[0] if endpoints else None, _batch_model(path, target, models, model), requests)


def _check_minimum(path: Path, target: Target, requests: int) -> None:
    """A provider with a fewest number of requests per batch refuses a smaller one: say so before sending."""
    least = target.provider.min_requests
    if least is not None and requests < least:
        raise InputError(
            f"{path}: {requests} request(s), and a {target.provider.name} batch holds at least {least:,} "
            "(its per-model quota's default); add requests or join files, then submit"
        )


def _batch_model(path: Path, target: Target, models: list[str], model: str | None) -> str | None:
    """The model of the batch, for APIs that take it there: the one given, else the file's only one."""
    if not target.provider.model_on_batch:
        return model
    if model:
        return model
    if len(models) == 1:
        return models[0]
    if models:
        raise InputError(
            Text(
                f"{path}: requests name {len(models)} models, and a {target.provider.name} batch runs one; "
                "split the file by model (`batchkit split --by model`) or pass ",
                Option("model", Meta("NAME")),
            )
        )
    raise UsageError(
        Text(
            f"{path}: {target.who} takes the model on the batch and no request names one; pass ",
            Option("model", Meta("NAME")),
        )
    )


def _split_kept(entry: Entry) -> bool:
    """Whether the row's answers from the cache were decided and their files are still in place."""
    if entry.cached is None:
        return False
    return all(Path(path).is_file() for path in (entry.cached_path, entry.sent_path) if path)


def idempotency_key(entry: Entry, endpoint: str, completion_window: str, metadata: dict[str, str]) -> str:
    """The same for every create of one ledger row's upload with the same parameters (so a repeated create
    returns the first batch), and new for a --force submission (a new row)."""
    material = [entry.id, entry.created_at, entry.sha256, entry.base_url, entry.file_id, endpoint,
                completion_window, sorted(metadata.items())]  # fmt: skip
    return "batchkit-" + hashlib.sha256(json.dumps(material).encode()).hexdigest()[:40]


def _outcome_unknown(error: RemoteError) -> bool:
    """No answer to a request that was sent, or a server error that may have come after the work was done."""
    return error.sent and (error.status is None or error.status >= 500)


@dataclass
class SubmitOptions:
    completion_window: str = "24h"
    metadata: dict[str, str] = field(default_factory=dict)
    validate: bool = True
    force: bool = False
    model: str | None = None  # the batch's model, for APIs that take it on the batch
    staging: Staging | None = None  # where the input is staged, for APIs that read it from object storage
    cache: AnswerCache | None = None  # answer requests from here, and send only the others
    adopt: str | None = None  # the batch an interrupted create made, where the API cannot prove which


def one_file_to_adopt(adopt: str | None, files: list) -> None:
    """`adopt` names the batch of one file's interrupted create: it goes with one file alone."""
    if adopt is not None and len(files) != 1:
        raise UsageError(Text(Option("adopt"), " names the batch of one file: give that file alone"))


class Sender:
    """One `submit` command's files to one target. `note(path, message)` and `upload_progress(path, done,
    total)` report progress."""

    def __init__(
        self, session, target: Target, options: SubmitOptions, note, upload_progress, warned=None
    ) -> None:
        if options.completion_window not in target.provider.completion_windows:
            raise UsageError(
                f"completion window {options.completion_window!r} is not offered by {target.who}; "
                f"choose {', '.join(target.provider.completion_windows)}"
            )
        target = replace(target, staging=options.staging) if options.staging else target
        self.session, self.target, self.ledger = session, target, session.ledger
        self.completion_window, self.metadata = options.completion_window, options.metadata
        self.validate, self.force, self.model = options.validate, options.force, options.model
        self.cache, self.adopt = options.cache, options.adopt
        self.where = address(target.provider.remote_api or "openai", target.base_url)  # in answer keys
        self._note: Callable[[Path, str], None] = note
        self._upload_progress = upload_progress
        self._warned = warned  # (path, the validation report): a valid file's warnings, before it is sent
        self._served: list[str] | None = None
        self.notes: list[str] = []

    @property
    def client(self) -> Client:
        return self.session.client(self.target)

    def served(self) -> list[str]:
        """The models a named provider lists (`batchkit models`), asked once; none when it does not answer."""
        if self._served is None:
            self._served = []
            if self.target.named:
                try:
                    self._served = [model.id for model in self.client.models()]
                except (RemoteError, UsageError):
                    pass  # the list is advice only: what fails here fails again, and is said, when sending
        return self._served

    def note(self, path: Path, message: str) -> None:
        self.notes.append(message)
        self._note(path, message)

    def prepare(self, path: Path, round: tuple[int, int] | None = None) -> Prepared:
        """Digest and validate (unless it was submitted before): raises before anything is sent. `round`:
        (first submission's id, number) when the file is a round of --until-done."""
        sha, size = file_digest(path)
        item = Prepared(path, sha, size, None, round=round)
        item.known = self._latest(item)
        if item.known and item.known.batch_id and not self.force:
            return item
        item.plan = _plan(path, self.target, self.validate, self.model, self._warned, self.served)
        return item

    def _latest(self, item: Prepared) -> Entry | None:
        if item.round is not None:
            return self.ledger.for_round(*item.round)
        # a batch of another model is another submission of the same content (Gemini lines name none)
        return self.ledger.for_file(item.sha256, self.target.address, self.target.batch_model(self.model))

    def send(self, item: Prepared) -> SubmitResult:
        """Submit the content, or find the batch it already is (made before, or by a process we waited for)."""
        self.notes = []
        waiting = f"another batchkit process (pid {{}}) is submitting this content to {self.target.address}; waiting"
        with self.ledger.lock(
            item.subject, self.target.address, lambda pid: self.note(item.path, waiting.format(pid))
        ):
            latest = self._latest(item)
            made_since = latest is not None and (item.known is None or latest.id != item.known.id)
            if latest and latest.batch_id and (not self.force or made_since):
                return self._already(item, latest)
            if item.plan is None:  # its batch was forgotten while we waited
                item.plan = _plan(item.path, self.target, self.validate, self.model)
            return self._submit(item, latest)

    def _already(self, item: Prepared, entry: Entry) -> SubmitResult:
        name = str(item.path.resolve())
        self.ledger.add_name(entry.id, name)
        try:
            batch = self.client.batch(entry.batch_id)
            entry = self.session.record(entry, batch)
        except RemoteError as e:
            self.note(item.path, f"showing the ledger's record: {e}")
            batch = recorded_batch(entry)
        first = entry.path if entry.path != name else None
        requests = batch.total + (entry.cached or 0) if batch.total else None
        return SubmitResult(item.path, entry, batch, existing=True, first_name=first, notes=self.notes,
                            requests=requests)  # fmt: skip

    def _submit(self, item: Prepared, latest: Entry | None) -> SubmitResult:
        # an interrupted create is looked for from when it was started (before this run touches the row)
        interrupted = (  # (--force submits anew: what an interrupted create may have made is not looked for)
            latest
            if latest is not None and not latest.batch_id and latest.step == CREATING and not self.force
            else None
        )
        entry = self._split(item, self._row(item, latest))
        if entry.step == ANSWERED:
            return SubmitResult(item.path, entry, None, notes=self.notes, requests=entry.cached)
        if self.adopt is not None and not interrupted:
            raise UsageError(
                Text(
                    Option("adopt"),
                    f" names the batch an interrupted create of {item.path} made; it has none",
                )
            )
        if interrupted and (found := self._find_created(item, interrupted)):
            self.note(
                item.path, f"found batch {found.id}, created by an interrupted run; not creating another"
            )
        else:
            entry = self._upload(item, entry)
            found = self._create(item, entry)
        entry = self.ledger.update(entry.id, step=CREATED, batch_id=found.id, error=None)
        return SubmitResult(item.path, self.session.record(entry, found), found, notes=self.notes,
                            requests=item.plan.requests)  # fmt: skip

    def _row(self, item: Prepared, latest: Entry | None) -> Entry:
        """The unfinished row to resume, or a new one."""
        cache_path = str(self.cache.path) if self.cache is not None else None
        # a file answered whole from the cache is answered so again, unless asked to send (--force, no cache)
        answered_again = self.cache is not None and not self.force
        if latest is not None and not latest.batch_id and (latest.step != ANSWERED or answered_again):
            self.ledger.add_name(latest.id, str(item.path.resolve()))
            decided = {} if latest.cached is not None else {"cache_path": cache_path}
            return self.ledger.update(
                latest.id, endpoint=item.plan.endpoint, completion_window=self.completion_window, **decided
            )
        parent, number = item.round or (None, None)
        entry = self.ledger.start(
            path=str(item.path.resolve()), sha256=item.sha256, size=item.size, provider=self.target.provider.name,
            base_url=self.target.address, key_env=self.target.key_env if self.client.uses_key else None,
            endpoint=item.plan.endpoint, completion_window=self.completion_window, cache_path=cache_path,
            model=item.plan.model, parent=parent, round=number,
        )  # fmt: skip
        # which request lines this content holds: a merge later knows which requests its results answer
        self.ledger.record_lines(entry.id, line_hashes(item.path), _first_format(item.path))
        return entry

    def _split(self, item: Prepared, entry: Entry) -> Entry:
        """Answer what the cache can, once per submission: the answered requests' result lines and the
        requests left to send are written beside the ledger and recorded on the row (whole-file answers
        end the submission: step `answered`, no batch)."""
        if entry.cache_path is None or _split_kept(entry):
            return entry
        cache = self.cache if self.cache is not None and str(self.cache.path) == entry.cache_path else None
        cache = cache or AnswerCache(entry.cache_path)
        folder = self.ledger.files_of(entry.id)
        try:
            (folder / "sent").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot write {folder}: {e.strerror or e}") from None
        send_to, cached_to = folder / "sent" / item.path.name, folder / "cached.jsonl"
        found = split(
            cache, self.where, item.path, self.target.batch_model(item.plan.model), send_to, cached_to
        )
        self._refuse_too_few(item, found, (send_to, cached_to))
        if not found.cached:
            return self.ledger.update(entry.id, cached=0, cached_path=None, sent_path=None)
        self.note(
            item.path, f"{found.cached:,} of {found.requests:,} request(s) answered from the answer cache"
        )
        return self.ledger.update(
            entry.id, cached=found.cached, cached_path=str(cached_to), file_id=None,
            sent_path=str(send_to) if found.sent else None, step=entry.step if found.sent else ANSWERED,
        )  # fmt: skip

    def _refuse_too_few(self, item: Prepared, found, written: tuple[Path, Path]) -> None:
        """A provider's fewest requests a batch holds apply to what is sent once the cache answered."""
        least = self.target.provider.min_requests
        if not found.cached or not found.sent or least is None or found.sent >= least:
            return
        for path in written:
            path.unlink(missing_ok=True)
        raise InputError(
            Text(
                f"{item.path}: the answer cache answers {found.cached:,} of its {found.requests:,} requests, "
                f"which leaves {found.sent:,} to send, and a {self.target.provider.name} batch holds at least "
                f"{least:,}: add requests, or pass ",
                Option("cache", False),
                " to send them all (the answered ones paid for again)",
            )
        )

    def sent_file(self, item: Prepared, entry: Entry) -> Path:
        """The file sent as the batch: the one given, or what of it the cache did not answer."""
        return Path(entry.sent_path) if entry.sent_path else item.path

    def _upload(self, item: Prepared, entry: Entry) -> Entry:
        if not self.client.uploads:
            return entry  # the requests go inline in the create call
        if entry.file_id:
            if self._still_uploaded(entry.file_id):
                self.note(item.path, f"reusing file {entry.file_id}, uploaded by an earlier run")
                return entry
            self.note(
                item.path, f"file {entry.file_id}, uploaded by an earlier run, is gone; uploading again"
            )
        entry = self.ledger.update(entry.id, step=UPLOADING, file_id=None, error=None)
        try:
            uploaded = self.client.upload(
                self.sent_file(item, entry), lambda done, total: self._upload_progress(item.path, done, total)
            )
        except RemoteError as e:
            self.ledger.update(entry.id, step=UPLOAD_FAILED, error=e.message)
            raise
        return self.ledger.update(entry.id, step=UPLOADED, file_id=uploaded.id)

    def _still_uploaded(self, file_id: str) -> bool:
        try:
            remote = self.client.file(file_id)
        except RemoteError as e:
            if e.status == 404:
                return False
            raise
        return remote.status not in ("error", "deleted")

    def _create(self, item: Prepared, entry: Entry) -> Batch:
        """Create the batch; a refusal is recorded (the upload stays for the next run), an unknown outcome
        leaves the row `creating` so the next run looks for the batch first."""
        metadata = {**self.metadata, SHA_KEY: item.sha256, FILE_KEY: item.path.name[:METADATA_MAX_VALUE]}
        key = idempotency_key(entry, item.plan.endpoint, self.completion_window, metadata)
        try:
            entry = self.ledger.update(entry.id, step=CREATING, newest_before=self._newest())
            return self._create_once(item, entry, metadata, key)
        except RemoteError as e:
            step = CREATING if _outcome_unknown(e) else CREATE_FAILED
            self.ledger.update(entry.id, step=step, error=e.message)
            raise

    def _create_once(self, item: Prepared, entry: Entry, metadata: dict[str, str], key: str) -> Batch:
        """One batch even when the answer to create is lost: look for it, then ask again with the same key."""
        order = Order(self.sent_file(item, entry), entry.file_id, item.plan.endpoint, self.completion_window, metadata, key,
                      item.plan.model)  # fmt: skip
        try:
            return self.client.create_batch(order)
        except RemoteError as e:
            if not _outcome_unknown(e):
                raise
            lost = e
        found = self._find_created(item, entry)
        if found:
            self.note(
                item.path, Text(f"the answer to create was lost; found batch {found.id} ", self._how_found)
            )
            return found
        self.note(
            item.path, f"the answer to create was lost ({lost}); no batch was found, so asking once more"
        )
        return self.client.create_batch(order)

    @property
    def _how_found(self) -> str:
        if self.client.keeps_metadata:
            return "carrying this file's sha256"
        return Text("(named by ", Option("adopt"), ")")

    def _newest(self) -> str | None:
        """For an API that keeps no metadata: the newest batch it lists now ("" for none), noted before the
        create so that a lost answer is looked for only among the batches made after it."""
        if self.client.keeps_metadata:
            return None
        newest = next(iter(self.client.batches(page_size=1)), None)
        return newest.id if newest else ""

    def _find_created(self, item: Prepared, entry: Entry) -> Batch | None:
        """The batch created from this entry's create, found in the provider's list: by the sha256 in its
        metadata, or (for an API that keeps none) as the only batch that fits and no other submission has."""
        lookup = Lookup(entry.sha256, entry.file_id, self.sent_file(item, entry), entry.updated_at,
                        entry.newest_before)  # fmt: skip
        since = entry.updated_at - SEARCH_SLACK_SECONDS
        fitting: list[Batch] = []
        for batch in islice(self.client.batches(), SEARCH_MAX_BATCHES):
            if lookup.newest_before and batch.id == lookup.newest_before:
                break  # this one and all after it were listed before the create
            if self.client.created_by(batch, lookup) and not self._belongs_elsewhere(batch, entry):
                fitting.append(batch)
                if self.client.keeps_metadata:
                    break
            if batch.created_at is not None and batch.created_at < since:
                break
        return self._chosen(item, fitting)

    def _chosen(self, item: Prepared, fitting: list[Batch]) -> Batch | None:
        """Of the batches that fit an interrupted create: the one carrying the file's sha256, or, for an API
        that keeps no metadata, the one `adopt` names. Such an API cannot tell a batch the create made from
        one another client made meanwhile (as many requests, created since): taking it unasked could put
        another's answers on this file's rows, so the user is asked."""
        if self.adopt is not None:
            if (found := next((b for b in fitting if b.id == self.adopt), None)) is None:
                raise UsageError(
                    f"batch {self.adopt} is not one the interrupted create of {item.path} can have made: that "
                    "is a batch created since the create was sent, with as many requests, that no other "
                    "submission has"
                )
            return found
        if self.client.keeps_metadata or not fitting:
            return fitting[0] if fitting else None
        ids = ", ".join(b.id for b in fitting)
        raise RemoteError(
            Text(
                f"{item.path}: its create was interrupted, and {ids} (created since, with as many requests) "
                f"may be the batch it made, but {self.target.who} keeps no metadata to tell it from one "
                "another client made; `batchkit status ID` shows a batch: if it is this file's, ",
                Option("adopt", Meta("ID")),
                " takes it, else ",
                Option("force", True),
                " creates another",
            )
        )

    def _belongs_elsewhere(self, batch: Batch, entry: Entry) -> bool:
        other = self.ledger.for_batch(batch.id, self.target.address)
        return other is not None and other.id != entry.id
