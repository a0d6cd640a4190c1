"""What `--until-done` sends again: of the requests of batch files, joined to every result so far (the best
per request, as `merge` takes it), those that failed for a reason that passes — a server error, a rate
limit, a timeout, an expired or cancelled batch — those with no result at all, and those whose answer
does not follow the response schema their request asked for (not JSON, cut at the token limit, or a
mismatch). A request the server refused as invalid (another 4xx) is not sent again: it would fail again.

`select_resend` says, per request, whether it has its answer, goes again, or has failed for good, with the
reasons counted, and gives the original request lines of those that go again, byte for byte.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..lines import source_name
from .join import Paths, count
from .parsed import AnswerParser
from .read import BATCH_ERROR, CANCELED, EXPIRED, MISSING, OK
from .report import MergeReport
from .requests import index_requests
from .retry import checked_join, request_lines
from .table import NA, ResultTable

# HTTP statuses that say "not now" rather than "not this request": timeout, conflict, too early, rate
# limit; and every 5xx (529: overloaded)
PASSING_STATUSES = frozenset({408, 409, 425, 429})
# error codes of result lines that carry no status, naming a failure that passes
PASSING_CODES = frozenset({
    "server_error", "internal_error", "api_error", "overloaded_error", "rate_limit_exceeded",
    "rate_limit_error", "timeout", "request_timeout", "service_unavailable",
    "INTERNAL", "UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED",
})  # fmt: skip
NO_RESULT = "no result"


@dataclass
class Resend:
    """Where the requests of the input files stand: `answered` have their answer; `again` (reason →
    count) go again, their lines from `lines()`, their ids in `ids`; `final` (reason → count) failed in a
    way that would fail again."""

    report: MergeReport
    requests: int = 0
    answered: int = 0
    again: Counter = field(default_factory=Counter)
    final: Counter = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    _inputs: list = field(default_factory=list, repr=False)
    _wanted: list[set[int]] = field(default_factory=list, repr=False)

    @property
    def done(self) -> bool:
        return self.answered == self.requests

    def lines(self) -> Iterator[bytes]:
        """The original lines of the requests that go again, byte for byte, without their line ends."""
        return request_lines(self._inputs, self._wanted)


def failure_label(status: str, status_code: int | None, error_code: str | None) -> str:
    """How a failure is named in a summary: its code and HTTP status, or its status."""
    if status == MISSING:
        return NO_RESULT
    if status in (EXPIRED, CANCELED):
        return status
    name = error_code or status
    return f"{name} ({status_code})" if status_code is not None else name


def passes(status: str, status_code: int | None, error_code: str | None) -> bool:
    """Whether a request that failed so would likely be answered when sent again."""
    if status in (EXPIRED, CANCELED, MISSING):
        return True
    if status_code is not None:
        return status_code >= 500 or status_code in PASSING_STATUSES
    return status == BATCH_ERROR and error_code in PASSING_CODES


def select_resend(inputs: Paths, results: Paths) -> Resend:
    """Where each request of `inputs` stands given every result in `results` (see the module)."""
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    results = [results] if isinstance(results, (str, os.PathLike)) else list(results)
    report, requests, table = checked_join(inputs, results) if results else _unanswered(inputs)
    found = Resend(report, len(requests), _inputs=inputs, _wanted=[set() for _ in requests.files])
    parser = AnswerParser()
    codes = table.status_code
    for row, status in enumerate(table.status):
        if status == OK:
            expected = requests.expected_of(row)
            problem = None if expected is None else parser.check(
                expected, table.content[row], table.tool_calls[row], table.finish_reason[row]
            )  # fmt: skip
            if problem is None:
                found.answered += 1
                continue
            reason, again = problem[0], True
        else:
            code = None if codes[row] == NA else codes[row]
            reason = failure_label(status, code, table.error_code[row])
            again = passes(status, code, table.error_code[row])
        if again:
            found.again[reason] += 1
            found.ids.append(requests.ids[row])
            found._wanted[requests.file_index[row]].add(requests.line[row])
        else:
            found.final[reason] += 1
    return found


def _unanswered(inputs: list):
    """(report, requests, table) when there is no result file yet: every request is missing."""
    report = MergeReport([source_name(p) for p in inputs], [])
    requests = index_requests(inputs, report, None)
    table = ResultTable(len(requests))
    count(requests, table, report)
    return report, requests, table
