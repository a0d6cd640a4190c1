"""Submitting many shards under an enqueued-token cap: the prompt tokens of this user's in-flight batches
stay under the cap per model (and, if asked, at most K batches are in flight), and the next shard goes
when earlier ones end.

A batch the provider refused with `token_limit_exceeded` is not lost: its ledger row records the refusal,
and the shard waits (a backoff, and until one of this model's in-flight batches ends) and goes again as a
new batch. A shard is sent again only when its earlier batch has ended, so it never runs twice at once.
Everything the queue knows comes from the ledger and the server, so a run that was killed picks up where
it stopped: a batch created but not recorded is found by its sha256 (sending.py), and a batch in flight
is followed rather than sent again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..ledger import Entry
from ..tokens import closest_model, estimate
from ..words import Meta, Option, Text
from .records import Batch, Event
from .sending import Prepared, Sender, SubmitOptions, SubmitResult

TOKEN_LIMIT = "token_limit_exceeded"
QUEUED, IN_FLIGHT, DONE = "queued", "in flight", "done"
FIRST_DELAY = 0.25  # seconds between looks at first; the pause grows to `interval`
BACKOFF = 2.0  # seconds before a refused shard goes again; doubled per refusal, up to MAX_BACKOFF
MAX_BACKOFF = 300.0


@dataclass
class QueueOptions:
    max_enqueued_tokens: int | None = None  # per model; None: no cap
    max_batches: int | None = None  # in flight at once; None: no cap
    interval: float = 10.0  # the longest pause between looks, in seconds
    backoff: float = BACKOFF


@dataclass
class Shard:
    path: Path
    tokens: dict[str, int]  # prompt tokens per model
    state: str = QUEUED
    batch: Batch | None = None
    refusals: int = 0  # times the provider refused it with token_limit_exceeded
    not_before: float = 0.0
    waiting_for: set[str] = field(default_factory=set)  # in-flight batch ids, one of which must end first
    round: tuple[int, int] | None = None  # a round of --until-done: (its first submission's id, number)
    submitted: SubmitResult | None = None  # its latest submission (None until it is sent or found)
    refused: Entry | None = None  # the ledger row of its batch refused last


def shard_tokens(
    paths: Iterable[Path], provider: str, prices: str | os.PathLike | None = None, model: str | None = None
):
    """(prompt tokens per model of each file, the Estimate) from one reading of the files; `prices`: a
    prices file whose entries replace or add to the shipped ones; `model`: the batch's, for lines that
    name none (Gemini's, Bedrock's)."""
    paths = list(paths)
    counted = estimate(paths, provider=provider, prices=prices, model=model)
    return [{g.model: g.prompt_tokens for g in f.models.values()} for f in counted.files], counted


def check_countable(counted, what: str) -> None:
    """Refuse when some requests could not be read for their tokens: `what` (a cost bound, a token cap)
    would count them as nothing."""
    for counted_file in counted.files:
        if counted_file.unreadable:
            first = next((f for f in counted_file.findings if f.is_error), None)
            cause = f" (line {first.line}: {first.message})" if first else ""
            raise UsageError(
                f"{counted_file.path}: {counted_file.unreadable} line(s) could not be read for their tokens"
                f"{cause}, so {what} cannot be kept; nothing was sent"
            )


def check_cost(counted, max_cost: float, target=None) -> None:
    """Refuse (before anything is uploaded) when the estimate's upper bound exceeds `max_cost`, or when it
    cannot be bounded. `target` (a Target) names the other side as the user did: a provider, or the
    address given alone."""
    check_countable(counted, "the cost bound")
    totals = counted.totals()
    if totals["unpriced_models"]:
        unpriced = totals["unpriced_models"]
        hints = [f"{m}: did you mean {c}?" for m in unpriced if (c := closest_model(m, counted.provider)[1])]
        where = counted.provider if target is None else target.who
        unnamed = target is not None and not target.named
        raise UsageError(
            Text(
                Option("max_cost"),
                f": no price is known for {', '.join(unpriced)} at {where}, so the cost cannot be "
                f"bounded{' (' + '; '.join(hints) + ')' if hints else ''}: give their prices with ",
                Option("prices", Meta("FILE")),
                " (entries as `batchkit estimate --prices` takes them)",
                Text(", or name the provider (", Option("provider"), ") to use its published prices")
                if unnamed
                else "",
            )
        )
    if len(totals["cost"]) > 1:  # a sum of euros and yen is no cost
        raise UsageError(
            Text(
                f"the estimate is in {len(totals['cost'])} currencies ({', '.join(sorted(totals['cost']))}), "
                "which one bound cannot hold: give the models' prices in one currency (",
                Option("prices", Meta("FILE")),
                ")",
            )
        )
    high = sum(cost["high"] for cost in totals["cost"].values())
    if high > max_cost:
        currency = next(iter(totals["cost"]), "USD")
        raise UsageError(  # (digits enough that the cost shown is over the bound it is refused at)
            f"not submitted: the estimated cost is up to {high:.6g} {currency}, over --max-cost {max_cost:g} "
            "(`batchkit estimate` shows the breakdown)"
        )


class Queue:
    """The shards of one `submit` run, sent through `Sender`s of one Session."""

    def __init__(
        self,
        session,
        shards: list[Shard],
        submit: SubmitOptions,
        options: QueueOptions,
        progress: Callable,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.session, self.shards, self.options = session, shards, options
        self.progress, self.event, self.sleep, self.clock = progress, Event, sleep, clock
        target = session.connection.target()

        def note(path, message):
            progress(Event("note", str(path), message=message))

        def upload(path, done, total):
            progress(Event("upload", str(path), done, total))

        def warned(path, report):
            progress(Event("findings", str(path), report=report))

        self.sender = Sender(session, target, submit, note, upload, warned)
        again = SubmitOptions(
            submit.completion_window, submit.metadata, False, True, submit.model, submit.cache
        )
        self.resender = Sender(session, target, again, note, upload)  # a new batch for a refused shard
        self._check_fits()

    def _check_fits(self) -> None:
        cap = self.options.max_enqueued_tokens
        for shard in self.shards:
            for model, count in shard.tokens.items():
                if cap is not None and count > cap:
                    raise UsageError(
                        f"{shard.path}: {count:,} prompt tokens of {model}, more than the enqueued-token cap "
                        f"({cap:,}) allows in flight at once; split it with "
                        f"`batchkit split {shard.path} --max-file-tokens {cap}`"
                    )

    # --- the loop ---------------------------------------------------------------------------------------

    def run(self) -> list[Shard]:
        """Send and follow every shard until each has ended (completed, or failed for another reason)."""
        prepared = {shard.path: self._resume(shard) for shard in self.shards}
        delay = FIRST_DELAY
        while True:
            self._follow()
            self._send_what_fits(prepared)
            self._report()
            if all(shard.state == DONE for shard in self.shards):
                return self.shards
            self.sleep(delay)
            delay = min(self.options.interval, delay * 1.5)

    def _resume(self, shard: Shard) -> Prepared | None:
        """What the ledger knows of the shard: a batch to follow, or a Prepared to send (validated now, so
        an invalid shard stops the run before anything of it is sent)."""
        item = self.sender.prepare(shard.path, shard.round)
        if item.known is None or not item.known.batch_id or self.sender.force:
            return item  # --force: a new batch even for content submitted before
        shard.batch = self.session.client(self.sender.target).batch(item.known.batch_id)
        self.session.record(item.known, shard.batch)
        shard.submitted = SubmitResult(shard.path, item.known, shard.batch, existing=True)
        shard.state = IN_FLIGHT
        return None

    def _follow(self) -> None:
        client = self.session.client(self.sender.target)
        for shard in self.shards:
            if shard.state != IN_FLIGHT:
                continue
            if not shard.batch.terminal:
                shard.batch = client.batch(shard.batch.id)
                entry = self.session.ledger.for_batch(shard.batch.id, self.sender.target.address)
                self.session.record(entry, shard.batch)
            if shard.batch.terminal:
                self._ended(shard)

    def _ended(self, shard: Shard) -> None:
        batch = shard.batch
        refusal = next((e for e in batch.errors if e.code == TOKEN_LIMIT), None)
        if batch.status != "failed" or refusal is None:
            shard.state = DONE
            return
        entry = self.session.ledger.for_batch(batch.id, self.sender.target.address)
        if entry is not None:
            self.session.ledger.update(entry.id, error=f"{TOKEN_LIMIT}: {refusal.message}; sent again")
        shard.refused = entry
        shard.refusals += 1
        shard.state = QUEUED
        wait = min(MAX_BACKOFF, self.options.backoff * 2 ** (shard.refusals - 1))
        shard.not_before = self.clock() + wait
        shard.waiting_for = {s.batch.id for s in self._in_flight() if set(s.tokens) & set(shard.tokens)}
        self.progress(
            self.event(
                "note",
                str(shard.path),
                message=f"batch {batch.id} refused: {TOKEN_LIMIT}; sending it again in {wait:g} s "
                "or later, once an in-flight batch of its model has ended",
            )
        )

    def _in_flight(self) -> list[Shard]:
        return [s for s in self.shards if s.state == IN_FLIGHT]

    def tokens_in_flight(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for shard in self._in_flight():
            for model, count in shard.tokens.items():
                totals[model] = totals.get(model, 0) + count
        return totals

    def _fits(self, shard: Shard) -> bool:
        flying = self._in_flight()
        if self.options.max_batches is not None and len(flying) >= self.options.max_batches:
            return False
        if self.clock() < shard.not_before or shard.waiting_for & {s.batch.id for s in flying}:
            return False
        cap = self.options.max_enqueued_tokens
        if cap is None:
            return True
        now = self.tokens_in_flight()
        return all(now.get(model, 0) + count <= cap for model, count in shard.tokens.items())

    def _send_what_fits(self, prepared: dict[Path, Prepared | None]) -> None:
        for shard in self.shards:
            if shard.state != QUEUED or not self._fits(shard):
                continue
            if shard.refusals:
                item = self.resender.prepare(shard.path, shard.round)
                # Sent again only if the refused batch is still the latest of the shard: one that another
                # process made since (it saw the refusal too) is followed, never made twice.
                item.known = shard.refused or item.known
                result = self.resender.send(item)
            else:
                result = self.sender.send(prepared[shard.path])
            shard.submitted = result
            if result.batch is None:  # answered whole from the answer cache: nothing in flight
                shard.state = DONE
                continue
            shard.batch, shard.state, shard.waiting_for = result.batch, IN_FLIGHT, set()
            self.progress(self.event("submitted", str(shard.path), batch=result.batch))

    def _report(self) -> None:
        counts = {state: sum(s.state == state for s in self.shards) for state in (QUEUED, IN_FLIGHT, DONE)}
        tokens = ", ".join(f"{model} {n:,}" for model, n in sorted(self.tokens_in_flight().items()))
        message = (
            f"shards: {counts[QUEUED]} queued, {counts[IN_FLIGHT]} in flight, {counts[DONE]} done; "
            f"tokens in flight: {tokens or '0'}"
        )
        self.progress(self.event("queue", "", counts[DONE], len(self.shards), message=message))
