"""Request lines read as `Request`s: the one place a line becomes a request, for every job."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from typing import BinaryIO

from ..findings import Finding
from ..lines import MAX_LINE_BYTES, Emit, open_binary, read_objects, too_deep, too_deep_finding
from .base import Dialect, Request
from .registry import DIALECTS, detect, is_result_line

UNKNOWN = "this line is in no known batch format ({}); it holds no request"
RESULT_LINE = "this is a result line (an answer), not a request: give the batch file that was sent"


def read_requests(
    stream: BinaryIO,
    emit: Emit,
    *,
    dialect: Dialect | None = None,
    stats: dict | None = None,
    max_line: int = MAX_LINE_BYTES,
    holder: str | None = None,
    results: Callable[[int], None] | None = None,
) -> Iterator[Request]:
    """Every request of a stream in line order, each read by its format: `dialect` for every line when
    given, else each line's own (a file is in one format, so the line before's is tried first). Lines
    that hold no object, or no request of a known format, become findings through `emit` and reading goes
    on; lines past `max_line` bytes too, never held (`holder` names whose limit that is), and lines nested
    past MAX_DEPTH, which no job reads. A result line (an answer, not a request) goes to
    `results(line number)` when given, else is a finding. `stats` as for `lines.read_objects`."""
    stats = {} if stats is None else stats
    current = dialect
    for number, obj, raw in read_objects(stream, emit, stats, max_line, holder):
        if is_result_line(obj):
            if results is not None:
                results(number)
            else:
                emit(Finding("unknown-dialect", RESULT_LINE, number))
            continue
        if too_deep(obj, raw):
            emit(too_deep_finding(number))
            continue
        if dialect is None and (current is None or not current.looks_like(obj)):
            current = detect(obj)
        if current is None:
            emit(Finding("unknown-dialect", UNKNOWN.format(", ".join(DIALECTS)), number))
            continue
        request = current.read(obj, number, stats["start"], stats["bytes"])
        request.raw = raw
        yield request


def requests_of(
    path: str | os.PathLike, dialect: Dialect, skip_ids: Collection[str] = frozenset()
) -> Iterator[Request]:
    """The requests of a file already found valid, leaving out the ids in `skip_ids` (those answered
    before, when a run resumes). A line that is no request here is a bug of the caller's: it raises."""

    def invalid(finding: Finding) -> None:
        if finding.is_error:
            raise ValueError(f"line {finding.line} of a file found valid: {finding.message}")

    with open_binary(path) as stream:
        for request in read_requests(stream, invalid, dialect=dialect):
            if request.id not in skip_ids:
                yield request
