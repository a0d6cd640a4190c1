"""`--until-done`: after a batch ends, send again as a new batch what has no answer yet — failures that
pass (server errors, rate limits, expired, cancelled), requests with no result, answers that do not follow
their response schema (`results.select_resend`) — until every request has its answer or the rounds run out.

Round 1 is the file itself, submitted as `submit` submits it. Round N re-sends the original lines of what
rounds 1…N-1 left without an answer, as `NAME.round-N.jsonl` beside the file (or in the output folder);
its results are `NAME.round-N.output.jsonl` / `.errors.jsonl`, so merging the file with every round's
result files gives each request its best answer. Each round is a submission in the ledger, found again
by its first submission and number (two rounds may re-send the same lines), so a run killed at any point
and started again follows what exists instead of sending it twice: what already succeeded is never sent
again, and the file of a round is the same however often it is written (its content follows from the
rounds before it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..atomic import atomic_write
from ..errors import InputError
from ..results import OK, Resend, select_resend
from .queue import Queue, QueueOptions, Shard, shard_tokens
from .records import Batch, Event, OnEvent
from .sending import SubmitOptions, SubmitResult
from .session import DownloadResult, Session


def _ignore(event: Event) -> None:
    pass


@dataclass
class Round:
    """One round of a file: the file it sent, the submission, how its batch ended, its downloaded
    results, and what came back for its requests (`OK`, or a failure's label → count)."""

    number: int
    path: Path
    submitted: SubmitResult
    batch: Batch | None = None  # None: answered whole from the answer cache
    downloaded: DownloadResult | None = None
    came_back: Counter = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.came_back.values())

    @property
    def files(self) -> list[Path]:
        return self.downloaded.result_files if self.downloaded else []


@dataclass
class Rounds:
    """A file's rounds and where its requests stand after the last one (`standing`)."""

    path: Path
    rounds: list[Round]
    standing: Resend | None = None

    @property
    def done(self) -> bool:
        """Every request has its answer."""
        return self.standing is not None and self.standing.done

    @property
    def result_files(self) -> list[Path]:
        """Every round's result files, in round order (what `merge` takes with the file)."""
        return [path for one in self.rounds for path in one.files]


class UntilDone:
    """Rounds of batches for the files of one `submit --until-done`, through one Session: each round sent
    at once and followed to its end, or, given `queue` options (an enqueued-token cap, --max-batches),
    as a queue (queue.py)."""

    def __init__(
        self,
        session: Session,
        options: SubmitOptions,
        *,
        max_rounds: int,
        interval: float = 10.0,
        out_dir: str | Path | None = None,
        progress: OnEvent = _ignore,
        queue: QueueOptions | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session, self.max_rounds, self.interval = session, max_rounds, interval
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress, self.queue, self.sleep = progress, queue, sleep
        self.options = options
        self.again = replace(options, force=False)  # a round is found again, never forced anew

    def run(self, files: Iterable[str | Path]) -> list[Rounds]:
        """Submit the files (all checked before any is sent), then follow and re-send, round by round."""
        chains = [Rounds(Path(path), []) for path in files]
        pending, number = chains, 1
        while pending:
            paths = [chain.path if number == 1 else self._write(chain, number) for chain in pending]
            roots = [
                None if number == 1 else (chain.rounds[0].submitted.entry.id, number) for chain in pending
            ]
            ended = self._queued(paths, roots, number) if self.queue else self._sent(paths, roots, number)
            for chain, one in zip(pending, ended, strict=True):
                chain.rounds.append(one)
                one.downloaded = self.session.download(
                    self.session.ref_of(one.submitted), out_dir=self.out_dir, progress=self.progress
                )
                self._judge(chain)
            number += 1
            pending = [chain for chain in pending if chain.standing.again and number <= self.max_rounds]
        return chains

    def _sent(self, paths: list[Path], roots: list, number: int) -> list[Round]:
        """Send each file of a round as a batch, then wait for the batches to end."""
        sender = self.session.sender(self.options if number == 1 else self.again, self.progress)
        prepared = [sender.prepare(path, root) for path, root in zip(paths, roots, strict=True)]
        rounds = [Round(number, item.path, sender.send(item)) for item in prepared]
        refs = [self.session.ref_of(one.submitted) for one in rounds]
        sent = [(one, ref) for one, ref in zip(rounds, refs, strict=True) if ref.batch_id is not None]
        if sent:
            ended = self.session.watch([ref for _, ref in sent], interval=self.interval, progress=self.progress,
                                       sleep=self.sleep)  # fmt: skip
            for (one, _ref), batch in zip(sent, ended, strict=True):
                one.batch = batch
        return rounds

    def _queued(self, paths: list[Path], roots: list, number: int) -> list[Round]:
        """Send a round's files as a queue under the caps; each has ended when it returns."""
        options = self.options if number == 1 else self.again
        tokens, _counted = shard_tokens(
            paths, self.session.connection.target().provider.name, model=options.model
        )
        shards = [
            Shard(path, counted, round=root) for path, counted, root in zip(paths, tokens, roots, strict=True)
        ]
        Queue(self.session, shards, options, self.queue, self.progress, sleep=self.sleep).run()
        return [Round(number, shard.path, shard.submitted, shard.batch) for shard in shards]

    def _judge(self, chain: Rounds) -> None:
        """What came back in the last round, and where the file's requests stand after it."""
        last = chain.rounds[-1]
        standing = select_resend([last.path], last.files)
        last.came_back = Counter({OK: standing.answered}) + standing.again + standing.final
        if len(chain.rounds) > 1:
            standing = select_resend([chain.path], chain.result_files)
        lines = [str(e) for e in (last.batch.errors if last.batch else ()) if e.line is not None]
        if last.batch is not None and last.batch.status == "failed" and lines:
            # the server refused the file's lines: sent again as they are, they would be refused again
            standing.final[f"the batch failed on its lines ({lines[0]})"] += standing.again.total()
            standing.again.clear()
        provider = self.session.connection.target().provider
        if provider.min_requests is not None and 0 < standing.again.total() < provider.min_requests:
            # a batch that small would be refused: `retry` writes them, to send with other requests
            why = f"fewer than the {provider.min_requests:,} requests a {provider.name} batch holds: not sent again"
            standing.final[why] += standing.again.total()
            standing.again.clear()
        chain.standing = standing

    def _write(self, chain: Rounds, number: int) -> Path:
        """Round `number`'s file: the original lines of what goes again."""
        folder = self.out_dir or chain.path.parent
        path = folder / f"{chain.path.stem}.round-{number}{chain.path.suffix or '.jsonl'}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as out:
                for line in chain.standing.lines():
                    out.write(line + b"\n")
        except OSError as e:
            raise InputError(f"cannot write {path}: {e.strerror or e}") from None
        again = ", ".join(f"{n:,} {reason}" for reason, n in chain.standing.again.most_common())
        self.progress(Event("note", str(chain.path), message=f"round {number}: sending again {again}"))
        return path
