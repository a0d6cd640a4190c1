"""Validating requests held in memory (dicts, or a DataFrame whose rows are request lines) with the same
checks as a file: they are serialised as the lines a batch file would hold, so limits on the file's size
apply as well, and findings number them 1, 2, … in the order given (a DataFrame's row positions + 1)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping

from ..errors import InputError
from ..findings import Report
from ..lines import request_line
from ..providers import Provider
from .files import validate_file

NAME = "<requests>"


def _is_frame(value) -> bool:
    return hasattr(value, "columns") and hasattr(value, "to_dict")  # a DataFrame, without importing pandas


def _missing(value) -> bool:
    """A DataFrame cell with nothing in it (the field is absent on that row)."""
    return (
        value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"
    )


def _rows(requests) -> Iterable:
    if _is_frame(requests):
        return ({k: v for k, v in row.items() if not _missing(v)} for row in requests.to_dict("records"))
    return requests


def validate_requests(
    requests: Iterable[Mapping] | object,
    provider: str | Provider | None = None,
    *,
    max_findings: int | None = None,
    strict: bool = False,
) -> Report:
    """Validate in-memory requests as if they were the lines of one batch file.

    `requests`: an iterable of request dicts (e.g. `build_requests(...)`), or a DataFrame whose columns are
    a request line's fields — `custom_id`, `method`, `url`, `body` (a dict per cell), as
    `pandas.DataFrame(list_of_requests)` makes; an empty cell leaves that field out of its row.
    Returns the Report (in a notebook it shows as a table; `report.to_frame()` gives the findings).
    Raises InputError when a request holds something JSON cannot represent.
    """
    return validate_file(requests_stream(requests), provider, max_findings=max_findings, strict=strict)


def requests_stream(requests: Iterable[Mapping] | object) -> io.BytesIO:
    """Requests held in memory (dicts, or a DataFrame of request lines) as the batch file they would be,
    named NAME; InputError for a request JSON cannot represent."""
    lines = []
    for number, request in enumerate(_rows(requests), 1):
        try:
            lines.append(request_line(dict(request) if isinstance(request, Mapping) else request, number))
        except TypeError as e:
            raise InputError(f"request {number}: cannot be written as JSON ({e})") from None
    stream = io.BytesIO(b"".join(lines))
    stream.name = NAME
    return stream
