"""One target's round trip, each step the public one: the requests built (`build_requests`) and written in
the target's line format (`build.native`), validated (`validate_requests`), their cost bounded
(`estimate`), written and sharded (`remote.requests_file`), submitted (`batchkit.submit`, or the queue under
an enqueued-token cap or a batch limit), waited for, downloaded and merged (`merge_results`).

The files are named by their content in batchkit's own folder, so the same call again finds its batches in
the ledger: nothing is sent twice, and downloads already made are not made again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..build import build_requests, response_schema
from ..build.native import in_line_format
from ..errors import BatchkitError, InputError, JobFailed, ValidationFailed
from ..findings import Report
from ..providers import Provider
from ..remote import (
    Batch,
    Connection,
    Event,
    Queue,
    QueueOptions,
    Session,
    Shard,
    Submission,
    SubmitOptions,
    check_cost,
    check_countable,
    requests_file,
    shard_tokens,
    submit,
)
from ..results import MergeResult, merge_results
from ..tokens import Estimate, load_prices
from ..validate import validate_requests
from ..words import Text
from .targets import MapTarget


def _quiet(event: Event) -> None:
    """Progress nobody shows."""


@dataclass
class Steps:
    """What every target's round trip shares: how rows become requests, and how they are sent.
    `submit_options` go to `batchkit.submit` as they are."""

    user: str | None = None
    system: str | None = None
    params: Mapping = field(default_factory=dict)
    response_schema: dict | None = None
    schema_name: str = "answer"
    max_tokens: int | None = None
    max_cost: float | None = None
    prices: str | os.PathLike | None = None
    max_enqueued_tokens: int | None = None
    max_batches: int | None = None
    interval: float = 10.0
    completion_window: str = "24h"
    metadata: dict | None = None
    on_empty: str | Mapping[str, str] = "error"
    submit_options: dict = field(default_factory=dict)
    progress: Callable[[Event], None] = _quiet


@dataclass
class TargetResult:
    """What one target's round trip gave: its requests' validation report, cost estimate (with max_cost or
    a cap), batches, the merge (one row per input row, in order) and each row's cost; or `error`, why it
    gave no answers."""

    target: MapTarget
    requests: int = 0
    validation: Report | None = None
    estimate: Estimate | None = None
    files: list[Path] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    merged: MergeResult | None = None
    cost: list[float | None] = field(default_factory=list)
    error: BatchkitError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def round_trip(rows, target: MapTarget, steps: Steps) -> TargetResult:
    """Every step for one target; a BatchkitError from any of them is the target's `error`."""
    result = TargetResult(target)
    steps = replace(steps, progress=_labelled(steps.progress, target.label))
    try:
        with Session(Connection(target.provider, target.base_url, target.api_key_env)) as session:
            _run(rows, target, steps, session, result)
    except BatchkitError as e:
        result.error = e
        _tell(steps, Text("failed: ", e.message))  # the command line names its flags in it
    return result


def _tell(steps: Steps, message: str) -> None:
    steps.progress(Event("note", "", message=message))


def _labelled(progress: Callable[[Event], None], label: str) -> Callable[[Event], None]:
    """`progress` hearing every event of one target under its label (targets run at once: a batch id or a
    file name alone would not say whose it is)."""

    def tell(event: Event) -> None:
        progress(replace(event, subject=f"{label}: {event.subject}" if event.subject else label))

    return tell


def _run(rows, target: MapTarget, steps: Steps, session: Session, result: TargetResult) -> None:
    provider = session.connection.target().provider
    requests = requests_for(rows, target, steps, provider)
    if not requests:
        raise InputError(
            "every row has an empty cell its request uses, and each was skipped: nothing to send"
            if len(rows)
            else "the table has no rows: nothing to send"
        )
    result.requests = len(requests)
    # one file's limits do not apply: requests_file shards under them
    result.validation = validate_requests(requests, replace(provider, max_requests=None, max_bytes=None))
    if not result.validation.valid:
        first = next(f for f in result.validation.findings if f.is_error)
        where = f"the first on row {first.line}" if first.line is not None else "the first"
        raise ValidationFailed(
            f"{result.validation.summary.errors:,} error(s) under the {provider.name} rules, {where}: "
            f"{first.message}; nothing sent",
            result.validation,
        )
    _tell(steps, f"{len(requests):,} requests built and valid for {provider.name}")
    result.files = requests_file(requests, provider)
    result.batches, outputs, result.estimate = _send(session, result.files, target, steps)
    for batch in result.batches:
        _tell(steps, f"batch {batch.id}: {batch.status} ({batch.completed}/{batch.total} completed)")
    failed = [b for b in result.batches if b.status == "failed"]
    if failed:
        causes = "; ".join(f"{b.id}: {b.errors[0] if b.errors else 'no cause given'}" for b in failed)
        raise JobFailed(f"{len(failed)} batch(es) failed: {causes}")
    result.merged = merge_results(result.files, outputs)
    result.cost = row_costs(result.merged.frame, provider, target.model, steps.prices)
    counts = ", ".join(f"{status} {n:,}" for status, n in sorted(result.merged.report.counts.items()))
    _tell(steps, f"merged {result.merged.report.requests:,} answers ({counts})")


def requests_for(rows, target: MapTarget, steps: Steps, provider: Provider) -> list[dict]:
    """The rows' requests for this target, in its provider's line format (ids `row-1`, `row-2`, …)."""
    params = {**steps.params, **target.params}
    if steps.response_schema is not None:
        params.update(
            response_schema(steps.response_schema, steps.schema_name, "/v1/chat/completions").fields
        )
    built = list(build_requests(rows, model=target.model, system=steps.system, user=steps.user,
                                params=params, max_tokens=steps.max_tokens, on_empty=steps.on_empty))  # fmt: skip
    report = Report("requests", provider.name)
    lines = [line for _number, line in in_line_format(enumerate(built, 1), provider, report)]
    if len(lines) < len(built):
        raise ValidationFailed(
            f"{len(built) - len(lines):,} of {len(built):,} requests cannot be written as {provider.dialect} "
            f"lines: {report.findings[0].message if report.findings else ''}",
            report,
        )
    return lines


def _send(session: Session, files: list[Path], target: MapTarget, steps: Steps):
    """Submit the files (a queue under a cap or a batch limit) and wait: (the batches, every result file,
    the estimate when one was made)."""
    where = session.connection.target()
    cap = steps.max_enqueued_tokens or where.provider.enqueued_tokens
    queued = cap is not None or steps.max_batches is not None
    tokens, counted = None, None
    if queued or steps.max_cost is not None:
        tokens, counted = shard_tokens(files, where.provider.name, steps.prices, target.model)
        if steps.max_cost is not None:
            check_cost(counted, steps.max_cost, where)
        _tell(steps, _estimated(counted))
        if cap is not None:
            check_countable(counted, "the enqueued-token cap")
    if not queued:
        jobs = submit(files, provider=target.provider, base_url=target.base_url, api_key_env=target.api_key_env,
                      wait=False, completion_window=steps.completion_window, metadata=steps.metadata,
                      model=target.model, progress=steps.progress, session=session,
                      **steps.submit_options)  # fmt: skip
        return *_ended(jobs, steps.interval), counted
    options = SubmitOptions(steps.completion_window, dict(steps.metadata or {}), True, False, target.model)
    shards = [Shard(path, count) for path, count in zip(files, tokens, strict=True)]
    queue = Queue(
        session, shards, options, QueueOptions(cap, steps.max_batches, steps.interval), steps.progress
    )
    ended = [shard.batch for shard in queue.run()]
    outputs = [
        path
        for file, batch in zip(files, ended, strict=True)
        if batch is None or batch.output_file_id or batch.error_file_id  # None: the cache answered it whole
        for path in session.download(str(file), progress=steps.progress).result_files
    ]
    return [batch for batch in ended if batch is not None], outputs, counted


def _ended(jobs: Submission, interval: float) -> tuple[list[Batch], list[Path]]:
    """Each file's last batch (its last round's with until_done; none for a file the answer cache
    answered whole) and every result file (every round's, the cache's answers among them)."""
    if jobs.done is None:
        ended = jobs.wait(interval)
    else:
        ended = [job.rounds.rounds[-1].batch for job in jobs]
    return [batch for batch in ended if batch is not None], jobs.results(interval=interval)


def _estimated(counted: Estimate) -> str:
    totals = counted.totals()
    costs = ", ".join(f"{c['low']:.4f}–{c['high']:.4f} {currency}" for currency, c in totals["cost"].items())
    return f"estimated {totals['prompt_tokens']:,} prompt tokens; cost {costs or 'unknown (no price)'}"


def row_costs(frame, provider: Provider, model: str, prices=None) -> list[float | None]:
    """Each merged row's cost from its usage at the provider's batch price (None: unpriced or no usage)."""
    price = load_prices(prices).get((provider.name, model))
    if price is None:
        return [None] * len(frame)
    return [
        None if _missing(p) or _missing(c) else price.cost(int(p), int(c))
        for p, c in zip(frame["prompt_tokens"], frame["completion_tokens"], strict=True)
    ]


def _missing(value) -> bool:
    import pandas as pd

    return value is None or value is pd.NA
