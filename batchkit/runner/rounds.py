"""`batchkit run --until-done`: after a run, run again — as rounds — the requests that have no answer yet:
failures that pass (server errors, rate limits), requests with no result, and answers that do not follow
their response schema (`results.select_resend`), until every request has its answer or the rounds run out.

Each round is a `run_batch` given exactly those custom_ids: their new answers are added to OUTPUT (`merge`
takes each request's newest success) and ERRORS keeps the failures of the others. Like every run it
resumes from its part files; a run killed between rounds and started again sends, in its first round,
only what OUTPUT does not hold yet, so nothing that succeeded is sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..results import Resend, select_resend
from .batch import RunResult, default_errors_path, run_batch


@dataclass
class RunRounds:
    """The runs of `run --until-done`, one per round, and where the requests stand after the last."""

    rounds: list[RunResult] = field(default_factory=list)
    standing: Resend | None = None

    @property
    def done(self) -> bool:
        """Every request has its answer."""
        return self.standing is not None and self.standing.done


def run_until_done(
    source: str | Path,
    *,
    output: str | Path,
    errors: str | Path | None = None,
    max_rounds: int,
    on_round: Callable[[int, Resend], None] | None = None,
    **options,
) -> RunRounds:
    """`run_batch(source, output=, errors=, **options)`, then again for what has no answer, at most
    `max_rounds` runs in all. `on_round(number, standing)` hears of each round before it is sent."""
    output = Path(output)
    errors = Path(errors) if errors else default_errors_path(output)
    found = RunRounds([run_batch(source, output=output, errors=errors, **options)])
    while True:
        results = [path for path in (output, errors) if path.exists()]
        found.standing = select_resend([source], results)
        if not found.standing.again or len(found.rounds) >= max_rounds:
            return found
        if on_round is not None:
            on_round(len(found.rounds) + 1, found.standing)
        again = set(found.standing.ids)
        found.rounds.append(run_batch(source, output=output, errors=errors, resend=again, **options))
