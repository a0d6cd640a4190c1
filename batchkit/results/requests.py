"""The requests a merge joins results to: one row per request line of the input files (custom_id, model
and where the line is), read in one streaming pass. Request bodies are never kept."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

from ..errors import InputError
from ..findings import WARNING, Finding
from ..jsonl import open_binary, read_objects, source_name
from .report import MergeReport

LinesRead = Callable[[str, int], None]  # (stage: "requests" | "results", lines just read)
PROGRESS_LINES = 4096  # lines between progress calls


class RequestIndex:
    """One row per request line of the input files: custom_id, model and where the line is.

    A line's hash lets the same line seen twice (a retry file given again as input) count once.
    """

    def __init__(self):
        self.files: list[str] = []
        self.ids: list[str] = []
        self.models: list[str | None] = []
        self.file_index = array("H")
        self.line = array("q")
        self.line_hash = array("q")
        self.index: dict[str, int] = {}
        self.extra_rows: dict[str, list[int]] = {}  # custom_id → further rows whose line differs
        self.endpoints: set[str] = set()
        self._models: dict[str, str] = {}  # one string object per model name

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, custom_id: str) -> list[int]:
        first = self.index.get(custom_id)
        if first is None:
            return []
        return [first, *self.extra_rows.get(custom_id, ())]

    def add(self, obj: dict, custom_id: str, number: int, raw: bytes, emit) -> None:
        """One request line (its custom_id checked already); the same line again is not added twice."""
        line_hash = hash(raw)
        rows = self.rows_of(custom_id)
        if rows:
            if any(self.line_hash[r] == line_hash for r in rows):
                return  # the very same request line again: one request
            emit(self._duplicate(custom_id, rows[0], number))
            self.extra_rows.setdefault(custom_id, []).append(len(self.ids))
        else:
            self.index[custom_id] = len(self.ids)
        body = obj.get("body")
        model = body.get("model") if type(body) is dict else None
        url = obj.get("url")
        if type(url) is str:
            self.endpoints.add(url)
        self.ids.append(custom_id)
        self.models.append(self._models.setdefault(model, model) if type(model) is str else None)
        self.file_index.append(len(self.files) - 1)
        self.line.append(number)
        self.line_hash.append(line_hash)

    def _duplicate(self, custom_id: str, first: int, number: int) -> Finding:
        return Finding(
            "duplicate-custom-id",
            f"custom_id {custom_id!r} is also used by another request (first on "
            f"{self.files[self.file_index[first]]}:{self.line[first]}); results "
            "cannot tell them apart, so every such row gets the same result",
            number,
            "/custom_id",
            related_lines=(self.line[first],),
        )


def read_requests(paths: Sequence, report: MergeReport, progress: LinesRead | None) -> RequestIndex:
    """Every request line of `paths`; problems go to the report. A file of result lines given as
    input, or a file without one request line, is an InputError naming the file."""
    requests = RequestIndex()
    for path in paths:
        name = source_name(path)
        requests.files.append(name)
        _read_file(path, name, requests, report, progress)
    report.requests = len(requests)
    return requests


def _read_file(path, name: str, requests: RequestIndex, report: MergeReport, progress) -> None:
    def emit(finding: Finding) -> None:
        report.add_finding(name, finding)

    stats: dict = {}
    done = request_shaped = result_shaped = added = 0
    with open_binary(path) as stream:
        for number, obj, raw in read_objects(stream, emit, stats):
            if progress is not None and number - done >= PROGRESS_LINES:
                progress("requests", number - done)
                done = number
            if "body" in obj or "url" in obj or "method" in obj:
                request_shaped += 1
            elif "response" in obj or "error" in obj:
                result_shaped += 1
            custom_id = obj.get("custom_id")
            if type(custom_id) is not str or not custom_id:
                code = "missing-field" if custom_id is None else "wrong-type"
                message = "request has no usable custom_id, so no result can be joined to it"
                emit(Finding(code, message, number, "/custom_id"))
                continue
            added += 1
            requests.add(obj, custom_id, number, raw, emit)
    if progress is not None:
        progress("requests", stats.get("lines", 0) - done)
    if not stats.get("content", True):
        emit(Finding("empty-file", "the input file has no requests", None, severity=WARNING))
    elif result_shaped and not request_shaped:
        raise InputError(
            f"{name}: holds result lines (response/error), not requests: give the batch file as the "
            "input and the result files as the results"
        )
    elif not added:
        lines = stats.get("lines", 0)
        raise InputError(
            f"{name}: not a batch file: none of its {lines:,} line(s) is a request with a custom_id"
        )
