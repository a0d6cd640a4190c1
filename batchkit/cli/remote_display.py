"""What the remote commands print: progress while they wait, times, tables, a batch's counts and end,
and the files a download wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from ..report import printable
from .common import Bars, say
from .flags import cli_words


def when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a provider's time past what a date holds
        return f"{epoch} (not a date)"


def table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def counts(batch) -> str:
    if not batch.total:
        return "no request counts"
    return f"{batch.completed}/{batch.total} completed, {batch.failed} failed"


def finished_line(batch) -> str:
    return f"{batch.id}: {batch.status} ({counts(batch)})"


class Display(Bars):
    """Progress for people: bars on a terminal, a few plain lines otherwise, nothing with -q."""

    def __init__(self, quiet: bool = False):
        super().__init__(quiet)
        self.quiet = quiet
        self.last_state: dict[str, tuple] = {}

    def __call__(self, event) -> None:
        if self.quiet:
            return
        if event.kind == "note":
            self.write(f"{event.subject}: {cli_words(event.message)}")
        elif event.kind == "findings":
            from ..report import render

            warnings = event.report.summary.warnings
            self.write(render([event.report], "text", group=True, summary=False))
            self.write(f"{event.subject}: {warnings:,} warning(s), none an error; uploading it as it is")
        elif event.kind in ("upload", "download") and self.on:
            key = f"{event.kind} {event.subject}"
            bar = self.get(key, total=event.total, unit="B", unit_scale=True, leave=True)
            bar.update(event.done - bar.n)
            if event.total is not None and event.done >= event.total:
                self.close(key)
        elif event.kind == "batch":
            self._batch(event.subject, event.batch)
        elif event.kind == "submitted":
            self.write(f"{event.subject}: submitted as {event.batch.id} ({event.batch.status})")
        elif event.kind == "queue" and self.last_state.get(f"queue {event.subject}") != event.message:
            self.last_state[f"queue {event.subject}"] = event.message
            self.write(f"{event.subject}: {event.message}" if event.subject else event.message)

    def _batch(self, subject: str, batch) -> None:
        """A batch's progress; `subject` names it (its id, or `map`'s target and its id)."""
        key = f"batch {batch.id}"
        if self.on:
            bar = self.get(key, total=batch.total or None, unit="req", leave=True)
            if batch.total and bar.total != batch.total:
                bar.total = batch.total
            bar.update(batch.completed + batch.failed - bar.n)
            bar.set_postfix_str(printable(f"{batch.status}, {batch.failed} failed"), refresh=True)
            if batch.terminal:
                self.close(key)
            return
        state = (batch.status, batch.completed, batch.failed)
        # The end is printed by the command itself; here only the way there.
        if not batch.terminal and self.last_state.get(key) != state:
            self.last_state[key] = state
            say(f"{subject}: {batch.status} ({counts(batch)})", err=True)


def print_errors(batch) -> None:
    for error in batch.errors[:20]:
        say(f"  {error}", err=True)
    if len(batch.errors) > 20:
        say(f"  … and {len(batch.errors) - 20} more", err=True)


def show_download(result) -> None:
    if result.skipped:
        for path in result.files.values():
            say(f"{path}: already downloaded (--force downloads again)")
        return
    if result.batch is not None and not result.batch.output_file_id:
        say(f"{result.batch.id}: no output file (no request succeeded)", err=True)
    for kind, path in result.files.items():
        cached = (
            f", {result.cached:,} of them from the answer cache" if kind == "output" and result.cached else ""
        )
        say(f"{path}: {kind}, {result.lines.get(kind, 0)} line(s){cached}")
    for problem in result.problems:
        say(f"warning: {result.batch.id}: {problem}", err=True)
    if result.remembered:
        say(f"answer cache: kept {result.remembered:,} new answer(s)", err=True)


def _counted(counts) -> str:
    """'7 ok, 2 server_error (500)': most first."""
    return ", ".join(f"{n:,} {what}" for what, n in counts.most_common()) or "nothing"


def round_line(one) -> str:
    """One round of --until-done: what it sent and what came back."""
    submitted = one.submitted
    parts = [f"{one.requests:,} request(s)"]
    if submitted.cached:
        parts.append(f"{submitted.cached:,} answered from the answer cache")
    if one.batch is not None:
        sent = one.batch.total or submitted.sent
        parts.append(f"{f'{sent:,} ' if sent else ''}sent as {one.batch.id} ({one.batch.status})")
    return f"round {one.number}: {', '.join(parts)}; came back: {_counted(one.came_back)}"


def rounds_summary(chain, max_rounds: int) -> list[str]:
    """Every round of a file, then whether every request has its answer and how to merge them all."""
    lines = [f"{chain.path}: {round_line(one)}" for one in chain.rounds]
    standing = chain.standing
    files = " ".join(str(p) for p in chain.result_files)
    if chain.done:
        lines.append(
            f"{chain.path}: every request has its answer ({standing.answered:,} of {standing.requests:,})"
        )
    else:
        left = []
        if standing.final:
            left.append(f"{_counted(standing.final)} (not sent again: they would fail again)")
        if standing.again:
            left.append(f"{_counted(standing.again)} (still without an answer after {len(chain.rounds)} round(s) "
                        f"of {max_rounds})")  # fmt: skip
        lines.append(
            f"{chain.path}: {standing.answered:,} of {standing.requests:,} request(s) have their answer; "
            f"without one: {'; '.join(left)}"
        )
    if files:
        lines.append(f"{chain.path}: merge with: batchkit merge {chain.path} --results {files} -o merged.csv")
    return lines
