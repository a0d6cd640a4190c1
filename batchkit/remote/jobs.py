"""The remote workflow for Python users: `submit` a batch file (or a list of requests) and follow it with
a `BatchJob` handle per file — status, wait, download, cancel, results — through the same `remote.Session`,
ledger and resume rules as `batchkit submit/status/watch/download/cancel`.

Requests given as a list are written to a batch file first: to `batch_file` when given, otherwise to
`<BATCHKIT_HOME>/requests/<sha256 of the requests>.jsonl`. That folder is the ledger's own, so the file
outlives the notebook that wrote it, and its name comes from its content, so submitting the same requests
again names the same file and finds the same batch in the ledger instead of submitting it twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..batchfile import write_batch
from ..cache import CacheArg, open_cache
from ..lines import request_line
from ..providers import Provider
from .client import Place
from .progress import tqdm_progress
from .records import Batch
from .rounds import Rounds, UntilDone
from .sending import SubmitOptions, SubmitResult, one_file_to_adopt
from .session import Connection, DownloadResult, Event, Session
from .target import Staging

REQUESTS_FOLDER = "requests"

ProgressArg = Callable[[Event], None] | bool | None


def _quiet(event: Event) -> None:
    """Progress nobody shows."""


def _progress(progress: ProgressArg) -> Callable[[Event], None]:
    """The callback to use: the one given, a notebook/terminal bar for True (`tqdm.auto`), or none."""
    if progress is True:
        return tqdm_progress()
    if callable(progress):
        return progress
    return _quiet


@dataclass
class BatchJob:
    """One submitted batch file and its batch. Every method asks the server (through the shared Session,
    which keeps the ledger current) and names the batch by its file, as the CLI does."""

    session: Session
    path: Path
    submitted: SubmitResult
    progress: Callable[[Event], None] = field(default=_quiet, repr=False)
    rounds: Rounds | None = None  # with until_done=True: every round, and where the requests stand

    @property
    def batch_id(self) -> str | None:
        """The batch's id; None when every request was answered from the answer cache (no batch)."""
        return self.submitted.batch.id if self.submitted.batch is not None else None

    @property
    def done(self) -> bool | None:
        """With until_done=True: whether every request has its answer (None without it)."""
        return self.rounds.done if self.rounds is not None else None

    def status(self) -> Batch:
        """The batch as the server sees it now (a UsageError when there is none: the answer cache answered
        every request)."""
        return self.session.status(str(self.path))[0]

    def wait(self, interval: float = 10.0) -> Batch | None:
        """Poll until the batch is finished (completed, failed, expired or cancelled); polls quickly at
        first and slows down to `interval` seconds. None when there is no batch to wait for."""
        if not self.batch_id:
            return None
        return self.session.watch([str(self.path)], interval=interval, progress=self.progress)[0]

    def download(self, out_dir: str | os.PathLike | None = None, *, force: bool = False) -> DownloadResult:
        """Write the output and error files as NAME.output.jsonl / NAME.errors.jsonl next to the batch
        file, or in `out_dir` (the answers from the answer cache in the output); done once (again with
        force=True). The batch must be finished."""
        return self.session.download(str(self.path), out_dir=out_dir, force=force, progress=self.progress)

    def cancel(self) -> Batch:
        """Ask the server to cancel the batch; returns its state (usually `cancelling`)."""
        return self.session.cancel(str(self.path))

    def results(self, out_dir: str | os.PathLike | None = None, *, interval: float = 10.0) -> list[Path]:
        """The downloaded result files (output first, then errors): waits for the batch and downloads
        what was not downloaded yet. With until_done=True, every round's files (merge takes them all)."""
        if self.rounds is not None:
            return self.rounds.result_files
        self.wait(interval)
        return self.download(out_dir).result_files


@dataclass
class Submission:
    """What `submit` returns: one `BatchJob` per file (a sharded batch is several files). Iterate it,
    index it, or use the methods, which apply to every job."""

    jobs: list[BatchJob]

    def __iter__(self) -> Iterator[BatchJob]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> BatchJob:
        return self.jobs[index]

    @property
    def paths(self) -> list[Path]:
        """The batch files submitted."""
        return [job.path for job in self.jobs]

    def status(self) -> list[Batch]:
        """Every batch as the server sees it now, in file order."""
        return [job.status() for job in self.jobs]

    def wait(self, interval: float = 10.0) -> list[Batch | None]:
        """Wait until every batch is finished; their final states in file order (None for a file the
        answer cache answered whole)."""
        sent = [job for job in self.jobs if job.batch_id]
        if not sent:
            return [None] * len(self.jobs)
        first = sent[0]
        ended = iter(
            first.session.watch([str(j.path) for j in sent], interval=interval, progress=first.progress)
        )
        return [next(ended) if job.batch_id else None for job in self.jobs]

    @property
    def done(self) -> bool | None:
        """With until_done=True: whether every request of every file has its answer (None without it)."""
        states = [job.done for job in self.jobs]
        return None if any(state is None for state in states) else all(states)

    def download(
        self, out_dir: str | os.PathLike | None = None, *, force: bool = False
    ) -> list[DownloadResult]:
        """Download every job's result files (see `BatchJob.download`)."""
        return [job.download(out_dir, force=force) for job in self.jobs]

    def cancel(self) -> list[Batch]:
        """Ask the server to cancel every batch."""
        return [job.cancel() for job in self.jobs]

    def results(self, out_dir: str | os.PathLike | None = None, *, interval: float = 10.0) -> list[Path]:
        """Every job's result files (waits for all, downloads what is not downloaded yet); with
        until_done=True, every round's (known already: nothing is asked)."""
        if any(job.rounds is None for job in self.jobs):
            self.wait(interval)
        return [path for job in self.jobs for path in job.results(out_dir, interval=interval)]


def requests_file(requests: Iterable[Mapping], provider: str | Provider | None = None) -> list[Path]:
    """Write in-memory requests (validated) to `<BATCHKIT_HOME>/requests/<sha256>.jsonl`, sharded under the
    provider's limits; the files written."""
    lines = [request_line(dict(request), number) for number, request in enumerate(requests, 1)]
    digest = hashlib.sha256(b"".join(lines)).hexdigest()[:32]
    folder = paths.home() / REQUESTS_FOLDER
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise paths.unwritable(folder, e) from None
    return write_batch(lines, folder / f"{digest}.jsonl", provider)


def _batch_files(path_or_requests, batch_file, provider) -> list[Path]:
    if isinstance(path_or_requests, (str, os.PathLike)):
        return [Path(path_or_requests)]
    items = list(path_or_requests)
    if items and all(isinstance(item, (str, os.PathLike)) for item in items):
        return [Path(item) for item in items]  # shards
    if batch_file is not None:
        return write_batch(items, batch_file, provider)
    return requests_file(items, provider)


def submit(
    path_or_requests: str | os.PathLike | Iterable[str | os.PathLike] | Iterable[Mapping],
    *,
    provider: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    wait: bool = True,
    interval: float = 10.0,
    batch_file: str | os.PathLike | None = None,
    completion_window: str = "24h",
    metadata: dict[str, str] | None = None,
    validate: bool = True,
    force: bool = False,
    model: str | None = None,
    project: str | None = None,
    location: str | None = None,
    region: str | None = None,
    stage: str | None = None,
    role_arn: str | None = None,
    progress: ProgressArg = None,
    session: Session | None = None,
    cache: CacheArg = True,
    until_done: bool = False,
    max_rounds: int = 5,
    adopt: str | None = None,
) -> Submission:
    """Submit a batch file, its shards (a list of paths), or a list of request dicts, and return a
    `Submission` with a `BatchJob` per file.

    Like `batchkit submit`: every file is validated before any is uploaded (ValidationFailed carries the
    report); content already submitted to that server is not submitted again (the ledger finds its batch);
    an interrupted submission resumes where it stopped. Request dicts are written to `batch_file`, or to a
    file named by their content in batchkit's state folder (see the module docstring). With `wait` (the
    default) it returns once every batch is finished. `progress`: a callable taking `remote.Event`s, or
    True for a bar that suits notebooks and terminals (`tqdm.auto`). The key is read from the environment
    variable `api_key_env` (or the provider's), never passed as a value. `model`
    is the batch's model for APIs that take it on the batch (Gemini, Mistral; default: the one model the
    requests name). Vertex AI and Bedrock: `project`/`location` or `region` name where the job runs, `stage`
    the bucket prefix the file is staged under, `role_arn` Bedrock's service role.

    `cache` (True: the default one; a path: another; False: none): requests it answers are not sent, and
    their answers go into the downloaded output file (a file answered whole makes no batch: `batch_id` is
    None). `until_done`: send again, at most `max_rounds` rounds, what failed for a reason that passes, has
    no result or does not follow its schema (each job's `rounds`, `done`). `adopt`: the batch an interrupted
    create of the one file made, where the API cannot prove it is (Anthropic's).

        jobs = batchkit.submit("batch.jsonl", base_url="http://127.0.0.1:8000/v1")
        files = jobs.results()
    """
    files = _batch_files(path_or_requests, batch_file, provider)
    report = _progress(progress)
    place = Place(project, location, region)
    session = session or Session(Connection(provider, base_url, api_key_env, place))
    staging = Staging(stage, role_arn) if stage or role_arn else None
    options = SubmitOptions(completion_window, dict(metadata or {}), validate, force, model, staging,
                            open_cache(cache), adopt)  # fmt: skip
    jobs = _jobs(session, files, options, report, (max_rounds, interval) if until_done else None)
    if wait and not until_done:  # rounds wait for each batch themselves
        jobs.wait(interval)
    return jobs


def _jobs(
    session: Session, files, options: SubmitOptions, report, rounds: tuple[int, float] | None
) -> Submission:
    """A BatchJob per file: its submission, or with `rounds` (max_rounds, interval) its --until-done rounds."""
    one_file_to_adopt(options.adopt, files)
    if rounds is not None:
        chains = UntilDone(session, options, max_rounds=rounds[0], interval=rounds[1], progress=report)
        return Submission(
            [BatchJob(session, c.path, c.rounds[0].submitted, report, c) for c in chains.run(files)]
        )
    return Submission(
        [BatchJob(session, r.path, r, report) for r in session.submit_with(files, options, report)]
    )
