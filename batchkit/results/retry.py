"""`batchkit retry`: the original request lines of what did not succeed, byte for byte, as a new batch."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..batchfile import write_numbered
from ..errors import InputError, UsageError, ValidationFailed
from ..lines import content_lines, open_binary
from ..options import Options
from ..words import Option, Text
from .join import Paths, join_inputs
from .read import MISSING, STATUSES
from .report import FAILED, MergeReport
from .requests import StageRead

STALE = "stale"  # a chosen request whose only answer was produced for another line (see provenance)


@dataclass
class RetryResult:
    """What `retry` wrote: the files (none when nothing needed a retry), the requests chosen per
    status, the write's validation report and the merge report they were chosen from."""

    paths: list
    selected: Counter
    report: MergeReport
    validation: object = None  # findings.Report of the written lines, when validated
    left: str | None = None  # with nothing to retry: an output file already there, left as it was

    @property
    def requests(self) -> int:
        return sum(self.selected.values())

    def to_dict(self) -> dict:
        return {
            "files": [str(p) for p in self.paths],
            "requests": self.requests,
            "selected": dict(self.selected),
            "validation": None if self.validation is None else self.validation.to_dict(),
            "left": self.left,
        }

    def to_text(self) -> str:
        chosen = ", ".join(f"{s} {n:,}" for s, n in sorted(self.selected.items()))
        lines = list(self.report.notes)
        if not self.paths:
            lines.append(
                f"nothing to retry: no request has a chosen status ({self.report.requests:,} requests read)"
            )
            if self.left is not None:
                lines.append(f"{self.left} is not this retry's: it was there before and is left as it was")
            return "\n".join(lines)
        files = ", ".join(str(p) for p in self.paths)
        lines.append(f"retry: {self.requests:,} request(s) ({chosen}) written to {files}")
        if self.validation is not None and self.validation.summary.warnings:
            lines.append(f"{self.validation.summary.warnings:,} warning(s) in the written lines")
        return "\n".join(lines)


def checked_join(inputs: list, results: Paths, progress: StageRead | None = None, id_map=None):
    """(report, requests, table) of a join whose chosen requests will be sent, and paid for, again:
    refused when no result answers any request (the wrong results file) or when a result line could not
    be read (its request would be chosen though it has an answer)."""
    if any(str(p) == "-" for p in inputs):
        raise UsageError("retry reads the input files twice, so they cannot come from standard input")
    report, requests, table = join_inputs(inputs, results, progress, id_map)
    if report.requests and not report.joined and report.orphans:
        # every request would be sent again, and paid for, because of a wrong results file
        raise InputError(
            f"none of the {len(report.orphans):,} result(s) in {', '.join(report.results)} answers a request "
            f"of {', '.join(report.inputs)}: are these the results of this batch? nothing written"
        )
    unread = [
        (file, f) for file, f in report.findings if f.code == "line-too-long" and file in report.results
    ]
    if unread:
        # the requests answered on a line that could not be read would be sent, and paid for, again
        file, finding = unread[0]
        raise ValidationFailed(
            f"{file}:{finding.line}: a result line could not be read ({finding.message}); nothing written"
        )
    return report, requests, table


def select_retry(
    inputs: Paths,
    results: Paths,
    only: Iterable[str] | None = None,
    *,
    progress: StageRead | None = None,
    id_map=None,
):
    """(report, count selected per status, iterator of the original request lines, byte for byte and
    without their line ends, of every request whose status is in `only`; default every status but ok).
    `id_map`: the map `convert` wrote, when the results answer a converted file (see `join_inputs`)."""
    only = parse_only(only)
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    report, requests, table = checked_join(inputs, results, progress, id_map)
    wanted: list[set[int]] = [set() for _ in requests.files]
    selected = Counter()
    for row, status in enumerate(table.status):
        # an answer produced for another version of the line (merge refuses it) is none: as missing
        stale = row in table.stale and MISSING in only
        if stale or status in only:
            wanted[requests.file_index[row]].add(requests.line[row])
            selected[STALE if stale else status] += 1
    return report, selected, request_lines(inputs, wanted)


def request_lines(inputs: Sequence, wanted: list[set[int]]):
    """The wanted lines of every input file, re-read in a second streaming pass."""
    for path, lines in zip(inputs, wanted, strict=True):
        if not lines:
            continue
        with open_binary(path) as stream:
            for number, raw in content_lines(stream):
                if number in lines:
                    yield raw


def retry(
    inputs: Paths,
    results: Paths,
    output,
    only: Iterable[str] | None = None,
    *,
    provider=None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    force: bool = False,
    progress: StageRead | None = None,
    id_map=None,
) -> RetryResult:
    """Write the original request lines of every request whose status is in `only` (default: every
    status but ok) to `output`, validated and sharded under the provider's limits like `build` (lines
    of another dialect as that dialect, under its home provider unless `provider` is given)."""
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    results = [results] if isinstance(results, (str, os.PathLike)) else list(results)
    report, selected, lines = select_retry(inputs, results, only, progress=progress, id_map=id_map)
    if not sum(selected.values()):
        there = isinstance(output, (str, os.PathLike)) and os.path.lexists(output)
        return RetryResult([], selected, report, left=str(output) if there else None)
    with open_binary(inputs[0]) as stream:
        options = Options.for_copies(stream, provider, max_requests=max_requests, max_bytes=max_bytes)
    written = write_numbered(enumerate(lines, 1), output, options, force=force, sources=[*inputs, *results])
    return RetryResult(list(written.paths), selected, report, written.report)


def parse_only(only: Iterable[str] | str | None) -> set[str]:
    if only is None:
        return set(FAILED)
    if isinstance(only, str):
        only = only.split(",")
    chosen = {s.strip() for s in only if s.strip()}
    unknown = chosen - set(STATUSES)
    if unknown:
        raise UsageError(f"unknown status {', '.join(sorted(unknown))}; choose from {', '.join(STATUSES)}")
    if not chosen:
        raise UsageError(Text(Option("only"), f" needs at least one status of {', '.join(STATUSES)}"))
    return chosen
