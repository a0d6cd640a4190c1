"""The requests a merge joins results to: one row per request line of the input files (custom_id, model
and where the line is), read in one streaming pass. Request bodies are never kept; the JSON schema a
request asked its answer to follow is kept once per distinct schema (`expected_of`). A line in any
format gives its id and model the way its format holds them (batchkit.formats)."""

from __future__ import annotations

import functools
from array import array
from collections.abc import Callable, Sequence
from typing import NamedTuple

import orjson

from ..errors import InputError
from ..findings import WARNING, Finding
from ..formats import LINE_ID, Request, read_requests
from ..ledger import line_hash as stable_line_hash
from ..lines import open_binary, source_name
from ..words import Text, Words
from .ids import Ids
from .parsed import Expected, request_schema
from .report import MergeReport

# (stage: "requests" | "results", bytes of the file read so far, its size or None): jsonl.BytesRead per stage
StageRead = Callable[[str, int, "int | None"], None]
Emit = Callable[[Finding], None]


class Indexed(NamedTuple):
    """What the index keeps of one request line (no body): small enough to travel between processes."""

    id: str
    model: str | None
    endpoint: str | None
    line: int
    line_hash: int  # the same line read twice is one request
    expected: Expected | None  # the answer the request asked for (`request_schema`)
    content_hash: int | None  # the line's hash as the ledger keeps it, when asked for (provenance)


def indexed(request: Request, hash_of: Callable[[bytes], int] = hash, content: bool = False) -> tuple:
    """The index's record of `request` (which has an id), the fields of `Indexed` as a plain tuple (a
    record object a line would cost a tenth of the reading). `hash_of` hashes the line's bytes: Python's
    `hash`, or one every process computes alike when lines are compared across processes; `content`
    adds the ledger's hash of the line."""
    raw = request.raw
    return (request.id, request.model, request.endpoint, request.line, hash_of(raw), request_schema(request),
            stable_line_hash(raw) if content else None)  # fmt: skip


class RequestIndex:
    """One row per request line of the input files: custom_id, model and where the line is.

    A line's hash lets the same line seen twice (a retry file given again as input) count once.
    """

    def __init__(self):
        self.files: list[str] = []
        self.ids = Ids()  # custom_id by row, and the first row of each
        self.models: list[str | None] = []
        self.file_index = array("H")
        self.line = array("q")
        self.line_hash = array("q")
        self.extra_rows: dict[str, list[int]] = {}  # custom_id → further rows whose line differs
        self.endpoints: set[str] = set()
        self.echoed = 0  # requests without an id, named by their line and joined by the request echoed
        self.echoes: dict[str, list[int]] = {}  # Dialect.echo_key → rows of the requests it names
        self._models: dict[str, str] = {}  # one string object per model name
        self.expected: list[Expected] = []  # distinct answer schemas the requests asked for
        self.expected_at = array("i")  # row → index into `expected`, -1 when it asked for none
        self._expected_index: dict[bytes, int] = {}
        self.dialects: list[str | None] = []  # per file: the line format of its first request
        self.content_hashes: array | None = None  # row → `line_hash` of its line, when asked for

    def __len__(self) -> int:
        return len(self.ids)

    def expected_of(self, row: int) -> Expected | None:
        """What row `row`'s request asked its answer to be (a JSON schema, a forced tool), or None."""
        at = self.expected_at[row]
        return None if at < 0 else self.expected[at]

    def _expect(self, expected: Expected | None) -> int:
        if expected is None:
            return -1
        key = expected_key(expected)
        if key not in self._expected_index:
            self._expected_index[key] = len(self.expected)
            self.expected.append(expected)
        return self._expected_index[key]

    def row_of(self, custom_id: str) -> int | None:
        """The first row of `custom_id` (or of the request it names, see `alias`), or None."""
        return self.ids.row_of(custom_id)

    def add(self, request: Request, emit: Emit) -> None:
        """One request (with an id) of the file read last; the same line again is not added twice."""
        content = self.content_hashes is not None
        self.add_line(indexed(request, content=content), len(self.files) - 1, emit)

    def add_line(self, line: Indexed | tuple, file: int, emit: Emit) -> None:
        """One request line of `files[file]`, as `indexed` keeps it; the same line again is not added
        twice, and an id already used by another line is a finding."""
        custom_id, model, endpoint, number, line_hash, expected, content_hash = line
        first = self.ids.add(custom_id)
        if first is not None:
            rows = [first, *self.extra_rows.get(custom_id, ())]
            if any(self.line_hash[r] == line_hash for r in rows):
                return  # the very same request line again: one request
            emit(self._duplicate(custom_id, first, number))
            self.extra_rows.setdefault(custom_id, []).append(self.ids.append(custom_id))
        if endpoint is not None:
            self.endpoints.add(endpoint)
        self.models.append(self._models.setdefault(model, model) if type(model) is str else None)
        self.file_index.append(file)
        self.line.append(number)
        self.line_hash.append(line_hash)
        self.expected_at.append(self._expect(expected))
        if self.content_hashes is not None:
            self.content_hashes.append(content_hash)

    def dialect_of(self, row: int) -> str | None:
        return self.dialects[self.file_index[row]]

    def add_unnamed(self, request: Request, key: str, emit) -> None:
        """A request without an id, of a format whose results echo the request: named `line-N` after its
        line, and found by `key` (Dialect.echo_key), which the result that echoes it carries."""
        request.id = LINE_ID.format(request.line)
        self.add(request, emit)
        self.echoed += 1
        self.echoes.setdefault(key, []).append(self.row_of(request.id))

    def names(self, custom_id: str, row: int) -> bool:
        """Whether a result of `custom_id` belongs to row `row`: its id, or the key of the request it echoes."""
        return self.ids[row] == custom_id or row in self.echoes.get(custom_id, ())

    def echo_row(self, key: str, holds: Callable[[int], bool]) -> int | None:
        """The row a result echoing the request `key` belongs to: the first such request that `holds`
        no result yet (the same request asked twice takes two answers in turn), else the last."""
        rows = self.echoes.get(key)
        if not rows:
            return None
        return next((row for row in rows if not holds(row)), rows[-1])

    def alias(self, id_map: dict[str, str | None]) -> int:
        """Lets results name requests by the ids a conversion wrote (`id_map`: written → original id);
        returns how many requests can now be found so."""
        found = 0
        for written, original in id_map.items():
            row = self.ids.row_of(original) if original is not None else None
            if row is not None and self.ids.row_of(written) is None:
                self.ids.alias(written, row)
                found += 1
        return found

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


def expected_key(expected: Expected) -> bytes:
    """The same bytes for the same answer schema and forced tool: one `Expected` kept for all of them."""
    return orjson.dumps([expected.schema, expected.tool], option=orjson.OPT_SORT_KEYS)


def index_requests(
    paths: Sequence, report: MergeReport, progress: StageRead | None, hash_lines: bool = False
) -> RequestIndex:
    """Every request line of `paths`; problems go to the report. A file of result lines given as
    input, or a file without one request line, is an InputError naming the file. `hash_lines` keeps
    each line's `line_hash` (to look it up among the lines a batch was submitted with)."""
    requests = RequestIndex()
    if hash_lines:
        requests.content_hashes = array("Q")
    for path in paths:
        requests.files.append(source_name(path))
        requests.dialects.append(read_input(path, report, requests.add, progress, requests.add_unnamed))
    report.requests = len(requests)
    return requests


def read_input(
    path,
    report: MergeReport,
    add: Callable[[Request, Emit], None],
    progress=None,
    add_unnamed: Callable[[Request, bytes, Emit], None] | None = None,
) -> str | None:
    """Every request line of one input file with a usable id, handed to `add(request, emit)`; with
    `add_unnamed`, a request without an id whose results echo it (Vertex) is handed to it with the key it
    is found by; lines without either and other problems go to the report. Returns the line format of its
    first request. A file of result lines, or one without a request line, is an InputError naming it."""
    name = source_name(path)

    def emit(finding: Finding) -> None:
        report.add_finding(name, finding)

    def result_line(number: int) -> None:
        counts["results"] += 1

    stats: dict = {}
    counts = {"results": 0, "requests": 0, "added": 0}
    dialect = None
    with open_binary(path, progress and functools.partial(progress, "requests")) as stream:
        for request in read_requests(stream, emit, stats=stats, results=result_line):
            counts["requests"] += 1
            key = request.format.echo_key(request.body) if request.id is None and add_unnamed else None
            if not request.id and key is None:
                absent = request.format.id_of(orjson.loads(request.raw)) is None
                code = "missing-field" if absent else "wrong-type"
                message = f"request has no usable {request.format.id_name}, so no result can be joined to it"
                emit(Finding(code, message, request.line, request.format.id_pointer))
                continue
            counts["added"] += 1
            dialect = dialect or request.format.name
            if key is None:
                add(request, emit)
            else:
                add_unnamed(request, key, emit)
    if not stats.get("content", True):
        emit(Finding("empty-file", "the input file has no requests", None, severity=WARNING))
    elif counts["results"] and not counts["requests"]:
        raise InputError(
            Text(
                f"{name}: holds result lines (response/error), not requests: ",
                Words(
                    "give the batch file as the input and the result files as the results",
                    "give the batch file first and the result files after --results "
                    "(merge BATCH.jsonl -r OUTPUT.jsonl …)",
                ),
            )
        )
    elif not counts["added"]:
        lines = stats.get("lines", 0)
        raise InputError(
            f"{name}: not a batch file: none of its {lines:,} line(s) is a request with a custom_id"
        )
    return dialect
