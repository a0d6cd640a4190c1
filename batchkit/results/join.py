"""Join batch results back to the requests they answer (`batchkit merge`; the module is named for what it
does, so that `batchkit.merge` stays the function).

The join is by custom_id, never by position. Input files are streamed once for each request's
custom_id, model and line number (their bodies are dropped at once); result files are streamed through
`read_results`, which keeps only the extracted columns. So memory follows the merged table, not the
request or response bodies.

Problems are reported, never silently resolved:

- an orphan is a result whose custom_id no input request has (it is listed and left out);
- a duplicate is a second result for one custom_id. Which one wins (`DUPLICATE_RULE`): a successful
  result beats a failed one; among results of the same kind the one with the latest `created`
  timestamp wins, and when timestamps are equal or absent the one read last (the later file on the
  command line, then the later line). So merging again with a retry's results gives one row per
  request, the newest success winning. Every duplicate is listed with the result kept and those not;
- a request with no result at all gets the status `missing`.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from ..errors import InputError, UsageError
from ..findings import WARNING, Finding
from ..jsonl import open_binary, read_objects, source_name
from .digest import DigestEntry, digest
from .read import (
    BATCH_ERROR,
    EXPIRED,
    HTTP_ERROR,
    MISSING,
    OK,
    STATUSES,
    ResultRecord,
    read_results,
)

if TYPE_CHECKING:
    import pandas as pd

DUPLICATE_RULE = (
    "a successful result wins over a failed one; among results of the same kind the newest wins "
    "(latest `created` timestamp, else the one read last)"
)
FAILED = (HTTP_ERROR, BATCH_ERROR, EXPIRED, MISSING)
RESULT_COLUMNS = (
    "custom_id",
    "status",
    "status_code",
    "model",
    "content",
    "finish_reason",
    "tool_calls",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
)
INT_COLUMNS = ("status_code", "prompt_tokens", "completion_tokens", "total_tokens")
MAX_FINDINGS = 1000  # reading problems kept (all are counted): a wrong file can have a million

Paths = str | os.PathLike | Iterable[str | os.PathLike]
Progress = Callable[[str, int], None]  # (stage: "requests" | "results", lines just read)


@dataclass(frozen=True, slots=True)
class Located:
    """Where one result line came from, and what it said."""

    file: str
    line: int
    status: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.status})"


@dataclass(slots=True)
class Duplicate:
    custom_id: str
    kept: Located
    dropped: list[Located]


@dataclass(slots=True)
class Orphan:
    custom_id: str
    result: Located


@dataclass(slots=True)
class MergeReport:
    """What a merge found besides the table: counts, tokens, problems and the error digest."""

    inputs: list[str]
    results: list[str]
    requests: int = 0
    counts: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    orphans: list[Orphan] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    findings: list[tuple[str, Finding]] = field(default_factory=list)
    findings_count: int = 0
    digest: list[DigestEntry] = field(default_factory=list)
    source: str | None = None
    source_rows: int = 0
    requests_without_source_row: list[str] = field(default_factory=list)
    source_rows_without_request: int = 0

    def add_finding(self, file: str, finding: Finding) -> None:
        self.findings_count += 1
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append((file, finding))

    @property
    def failed(self) -> int:
        return sum(self.counts[s] for s in FAILED)

    def to_dict(self, limit: int | None = None) -> dict:
        """The report as plain data; `limit` cuts each list (orphans, duplicates, missing …) to that many
        entries, the `*_count` fields still count them all."""
        cut = slice(limit)
        return {
            "inputs": self.inputs,
            "results": self.results,
            "requests": self.requests,
            "counts": {s: self.counts[s] for s in STATUSES},
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
            },
            "orphans": [
                {"custom_id": o.custom_id, "file": o.result.file, "line": o.result.line}
                for o in self.orphans[cut]
            ],
            "orphans_count": len(self.orphans),
            "duplicates": [
                {
                    "custom_id": d.custom_id,
                    "kept": {"file": d.kept.file, "line": d.kept.line, "status": d.kept.status},
                    "dropped": [{"file": x.file, "line": x.line, "status": x.status} for x in d.dropped],
                }
                for d in self.duplicates[cut]
            ],
            "duplicates_count": len(self.duplicates),
            "duplicate_rule": DUPLICATE_RULE,
            "missing": self.missing[cut],
            "missing_count": len(self.missing),
            "findings": [{"file": f, **finding.to_dict()} for f, finding in self.findings[cut]],
            "findings_count": self.findings_count,
            "digest": [d.to_dict() for d in self.digest],
            "source": None
            if self.source is None
            else {
                "file": self.source,
                "rows": self.source_rows,
                "rows_without_request": self.source_rows_without_request,
                "requests_without_row": self.requests_without_source_row[cut],
                "requests_without_row_count": len(self.requests_without_source_row),
            },
        }

    def to_text(self, limit: int = 10) -> str:
        """The summary a person reads after a merge; lists are cut at `limit` entries."""
        out = []
        for file, f in self.findings[:limit]:
            where = f"{file}:{f.line}" if f.line else file
            path = f" {f.path}" if f.path else ""
            out.append(f"{where}: {f.severity}[{f.code}]{path}: {f.message}")
        if self.findings_count > limit:
            out.append(f"… and {self.findings_count - limit:,} more reading problem(s)")
        counts = ", ".join(f"{s} {self.counts[s]:,}" for s in STATUSES if self.counts[s])
        out.append(f"requests: {self.requests:,} ({counts or 'none'})")
        out.append(
            f"tokens: {self.prompt_tokens:,} in, {self.completion_tokens:,} out, {self.total_tokens:,} total"
        )
        if self.source is not None:
            line = f"source: {self.source}, {self.source_rows:,} rows"
            if self.source_rows_without_request:
                line += f", {self.source_rows_without_request:,} without a request (result columns empty)"
            out.append(line)
            if self.requests_without_source_row:
                out.append(
                    f"requests with no row in the source (left out of the table): "
                    f"{len(self.requests_without_source_row):,}: {_sample(self.requests_without_source_row)}"
                )
        if self.orphans:
            out.append(f"orphan results (custom_id not in the input; left out): {len(self.orphans):,}")
            out.extend(f"  {o.custom_id} at {o.result}" for o in self.orphans[:limit])
            if len(self.orphans) > limit:
                out.append(f"  … and {len(self.orphans) - limit:,} more")
        if self.duplicates:
            out.append(f"duplicate results: {len(self.duplicates):,} custom_id(s); {DUPLICATE_RULE}")
            for d in self.duplicates[:limit]:
                dropped = ", ".join(str(x) for x in d.dropped)
                out.append(f"  {d.custom_id}: kept {d.kept}; not used {dropped}")
            if len(self.duplicates) > limit:
                out.append(f"  … and {len(self.duplicates) - limit:,} more")
        if self.missing:
            out.append(f"requests with no result: {len(self.missing):,}: {_sample(self.missing)}")
        if self.digest:
            out.append("error digest:")
            for d in self.digest[:limit]:
                code = "" if d.code == d.status else f" {d.code}"
                out.append(f"  {d.count:,} × {d.status}{code}: {d.pattern}")
                out.append(f"      e.g. {', '.join(d.examples)}")
                if d.hint:
                    out.append(f"      hint: {d.hint}")
            if len(self.digest) > limit:
                out.append(f"  … and {len(self.digest) - limit} more group(s)")
        return "\n".join(out)


@dataclass
class MergeOutcome:
    frame: pd.DataFrame
    report: MergeReport


# ---------------------------------------------------------------- reading inputs


class _Requests:
    """One row per request line of the input files: custom_id, model and where the line is.

    Request bodies are never kept; a line's hash lets the same line seen twice (a retry file
    given again as input) count once.
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

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, custom_id: str) -> list[int]:
        first = self.index.get(custom_id)
        if first is None:
            return []
        return [first, *self.extra_rows.get(custom_id, ())]


def _read_requests(paths: Sequence, report: MergeReport, progress: Progress | None) -> _Requests:
    requests = _Requests()
    models: dict[str, str] = {}
    for path in paths:
        name = source_name(path)
        file_number = len(requests.files)
        requests.files.append(name)

        def emit(finding: Finding, name=name) -> None:
            report.add_finding(name, finding)

        stats: dict = {}
        done = 0
        with open_binary(path) as stream:
            for number, obj, raw in read_objects(stream, emit, stats):
                if progress is not None and number - done >= 4096:
                    progress("requests", number - done)
                    done = number
                custom_id = obj.get("custom_id")
                if type(custom_id) is not str or not custom_id:
                    code = "missing-field" if custom_id is None else "wrong-type"
                    emit(
                        Finding(
                            code,
                            "request has no usable custom_id, so no result can be joined to it",
                            number,
                            "/custom_id",
                        )
                    )
                    continue
                line_hash = hash(raw)
                rows = requests.rows_of(custom_id)
                if rows:
                    if any(requests.line_hash[r] == line_hash for r in rows):
                        continue  # the very same request line again: one request
                    first = rows[0]
                    emit(
                        Finding(
                            "duplicate-custom-id",
                            f"custom_id {custom_id!r} is also used by another request (first on "
                            f"{requests.files[requests.file_index[first]]}:{requests.line[first]}); results "
                            "cannot tell them apart, so every such row gets the same result",
                            number,
                            "/custom_id",
                            related_lines=(requests.line[first],),
                        )
                    )
                    requests.extra_rows.setdefault(custom_id, []).append(len(requests.ids))
                else:
                    requests.index[custom_id] = len(requests.ids)
                body = obj.get("body")
                model = body.get("model") if type(body) is dict else None
                if type(model) is str:
                    model = models.setdefault(model, model)
                else:
                    model = None
                url = obj.get("url")
                if type(url) is str and url not in requests.endpoints:
                    requests.endpoints.add(url)
                requests.ids.append(custom_id)
                requests.models.append(model)
                requests.file_index.append(file_number)
                requests.line.append(number)
                requests.line_hash.append(line_hash)
        if progress is not None:
            progress("requests", stats.get("lines", 0) - done)
        if not stats.get("content", True):
            emit(Finding("empty-file", "the input file has no requests", None, severity=WARNING))
    report.requests = len(requests)
    return requests


# ---------------------------------------------------------------- joining results


NA = -(2**63)  # "no value" in the integer columns


class _Results:
    """The winning result of every request row, column by column.

    Only the columns a merged table needs are kept, in arrays and lists indexed by row (about a hundred
    bytes a row besides the answers' own text), so a million rows do not cost a million objects.
    """

    def __init__(self, rows: int):
        self.rows = rows
        self.status: list[str] = [MISSING] * rows
        self.status_code = array("q", [NA]) * rows
        self.created = array("q", [NA]) * rows
        self.prompt_tokens = array("q", [NA]) * rows
        self.completion_tokens = array("q", [NA]) * rows
        self.total_tokens = array("q", [NA]) * rows
        self.content: list[str | None] = [None] * rows
        self.more_contents: dict[int, tuple] = {}  # row → choices 2… when n > 1
        self.finish_reason: list[str | None] = [None] * rows
        self.tool_calls: list[str | None] = [None] * rows
        self.error_code: list[str | None] = [None] * rows
        self.error_message: list[str | None] = [None] * rows
        self.embedding: list | None = None  # made on the first embedding
        self.answered_by: dict[int, str] = {}  # row → the response's model, for requests that name none
        self.files: list[str] = []
        self.file = array("H", [0]) * rows  # where the winning line is: index into files, line number
        self.line = array("q", [0]) * rows

    def is_newer(self, row: int, record: ResultRecord) -> bool:
        """Whether `record` (read after the row's current result) replaces it: see DUPLICATE_RULE."""
        created = NA if record.created is None else record.created
        return (record.status == OK, created) >= (self.status[row] == OK, self.created[row])

    def put(self, row: int, record: ResultRecord, file_number: int) -> None:
        self.status[row] = record.status
        self.status_code[row] = _or_na(record.status_code)
        self.created[row] = _or_na(record.created)
        self.prompt_tokens[row] = _or_na(record.prompt_tokens)
        self.completion_tokens[row] = _or_na(record.completion_tokens)
        self.total_tokens[row] = _or_na(record.total_tokens)
        contents = record.contents
        self.content[row] = contents[0] if contents else None
        if len(contents) > 1:
            self.more_contents[row] = contents[1:]
        else:
            self.more_contents.pop(row, None)
        self.finish_reason[row] = record.finish_reason
        self.tool_calls[row] = record.tool_calls
        self.error_code[row] = record.error_code
        self.error_message[row] = record.error_message
        if record.embedding is not None or self.embedding is not None:
            if self.embedding is None:
                self.embedding = [None] * self.rows
            self.embedding[row] = record.embedding
        if record.model is not None:
            self.answered_by[row] = record.model
        self.file[row] = file_number
        self.line[row] = record.line

    def copy_row(self, source: int, target: int) -> None:
        for name in (
            "status",
            "status_code",
            "created",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "content",
            "finish_reason",
            "tool_calls",
            "error_code",
            "error_message",
            "file",
            "line",
        ):
            column = getattr(self, name)
            column[target] = column[source]
        if source in self.more_contents:
            self.more_contents[target] = self.more_contents[source]
        if self.embedding is not None:
            self.embedding[target] = self.embedding[source]
        if source in self.answered_by:
            self.answered_by[target] = self.answered_by[source]

    def located(self, row: int) -> Located:
        return Located(self.files[self.file[row]], self.line[row], self.status[row])


def _or_na(value: int | None) -> int:
    return NA if value is None else value


def _join(requests: _Requests, result_paths: Sequence, report: MergeReport, progress: Progress | None):
    """The winning result of every row (status `missing` where there is none), with orphans and
    duplicates recorded in the report."""
    table = _Results(len(requests))
    seen: dict[int, list[Located]] = {}  # row → every result read for it, only once there are two
    file_numbers: dict[str, int] = {}

    def emit(file: str, finding: Finding) -> None:
        report.add_finding(file, finding)

    index = requests.index
    read = 0
    for record in read_results(result_paths, emit):
        read += 1
        if progress is not None and read % 4096 == 0:
            progress("results", 4096)
        file_number = file_numbers.get(record.file)
        if file_number is None:
            file_number = file_numbers[record.file] = len(table.files)
            table.files.append(record.file)
        row = index.get(record.custom_id)
        if row is None:
            report.orphans.append(Orphan(record.custom_id, Located(record.file, record.line, record.status)))
            continue
        if table.status[row] == MISSING:
            table.put(row, record, file_number)
            continue
        located = seen.get(row)
        if located is None:
            seen[row] = located = [table.located(row)]
        located.append(Located(record.file, record.line, record.status))
        if table.is_newer(row, record):
            table.put(row, record, file_number)
    if progress is not None:
        progress("results", read % 4096)
    for row, located in sorted(seen.items()):
        kept = table.located(row)
        report.duplicates.append(Duplicate(requests.ids[row], kept, [x for x in located if x != kept]))
    # rows that share a custom_id with an earlier, different request line get its result too
    for custom_id, rows in requests.extra_rows.items():
        first = index[custom_id]
        for row in rows:
            table.copy_row(first, row)
    return table


def _count(requests: _Requests, table: _Results, report: MergeReport) -> None:
    report.counts.update(table.status)
    report.missing = [requests.ids[i] for i, s in enumerate(table.status) if s == MISSING]
    report.prompt_tokens = _total(table.prompt_tokens)
    report.completion_tokens = _total(table.completion_tokens)
    report.total_tokens = _total(table.total_tokens)
    ids, status, codes, messages, status_codes = (
        requests.ids,
        table.status,
        table.error_code,
        table.error_message,
        table.status_code,
    )
    report.digest = digest(
        (ids[r], s, codes[r], messages[r], None if status_codes[r] == NA else status_codes[r])
        for r, s in enumerate(status)
        if s != OK
    )


def _total(column: array) -> int:
    return sum(v for v in column if v != NA)


# ---------------------------------------------------------------- the table


def _frame(requests: _Requests, table: _Results) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    def text(values: list) -> pd.Series:
        # object columns hold the strings already read: no copy, however long the answers are
        return pd.Series(values, dtype=object)

    def integers(values: array) -> pd.arrays.IntegerArray:
        numbers = np.frombuffer(values, dtype=np.int64)
        missing = numbers == NA
        return pd.arrays.IntegerArray(np.where(missing, 0, numbers), missing)

    # the model asked for (the response may name a dated snapshot of it), else the one that answered
    models = requests.models
    if table.answered_by and None in models:
        models = [table.answered_by.get(row) if m is None else m for row, m in enumerate(models)]
    data = {
        "custom_id": text(requests.ids),
        "status": text(table.status),
        "status_code": integers(table.status_code),
        "model": text(models),
        "content": text(table.content),
    }
    more = table.more_contents
    for i in range(max(map(len, more.values()), default=0)):
        data[f"content_{i + 2}"] = text(
            [more[row][i] if row in more and len(more[row]) > i else None for row in range(table.rows)]
        )
    data["finish_reason"] = text(table.finish_reason)
    data["tool_calls"] = text(table.tool_calls)
    data["prompt_tokens"] = integers(table.prompt_tokens)
    data["completion_tokens"] = integers(table.completion_tokens)
    data["total_tokens"] = integers(table.total_tokens)
    data["error_code"] = text(table.error_code)
    data["error_message"] = text(table.error_message)
    if table.embedding is not None or any(
        url.rstrip("/").endswith("embeddings") for url in requests.endpoints
    ):
        data["embedding"] = text(table.embedding if table.embedding is not None else [None] * table.rows)
    return pd.DataFrame(data)


def _attach_source(frame, source, id_column, id_prefix, report: MergeReport, sheet=None, encoding=None):
    """The source table's rows with the result columns after them (left join, source order kept).

    `source` is a table file (any format `tables` reads; typed columns) or a DataFrame. Requests find
    their row by the id column's cell text (exactly as build made ids from it) or by the row number
    encoded in a generated id.
    """
    import pandas as pd

    from ..build import row_number_from_id
    from ..tables import column_texts, iter_table, read_table

    if isinstance(source, pd.DataFrame):
        table = source.reset_index(drop=True)
        report.source = "<DataFrame>"
    elif str(source) == "-":
        raise UsageError("--source must be a file: it is read twice (cells as build saw them, then typed)")
    else:
        table = read_table(source, sheet=sheet, encoding=encoding)
        report.source = source_name(source)
    report.source_rows = len(table)
    if id_column is not None:
        if id_column not in table.columns:
            raise UsageError(
                f"--id-column {id_column!r} is not a column of {report.source}; its columns are: "
                + ", ".join(map(str, table.columns))
            )
        if isinstance(source, pd.DataFrame):
            keys = column_texts(table[id_column])
        else:
            # the exact cells, as build read them, so "007" stays "007" and 3 is "3"
            keys = [
                key
                for chunk in iter_table(source, sheet=sheet, encoding=encoding)
                for key in column_texts(chunk[id_column])
            ]
        position_of: dict[str, int] = {}
        for position, key in enumerate(keys):
            if key is not None:
                position_of.setdefault(key, position)
        positions = [position_of.get(cid, -1) for cid in frame["custom_id"]]
    else:
        rows = len(table)
        positions = []
        for cid in frame["custom_id"]:
            number = row_number_from_id(cid, id_prefix)
            positions.append(number - 1 if number is not None and 0 < number <= rows else -1)
    positions = pd.Series(positions, dtype="int64")
    matched = (positions >= 0).to_numpy()
    report.requests_without_source_row = frame["custom_id"][~matched].tolist()
    results = frame[matched]
    results.index = pd.Index(positions[matched].to_numpy())
    report.source_rows_without_request = len(table) - results.index.nunique()
    results = results.rename(columns=_suffixes(list(results.columns), set(map(str, table.columns))))
    return table.join(results, how="left")


def _suffixes(columns: list[str], taken: set[str]) -> dict[str, str]:
    """New names for result columns that clash with source columns: `content` → `content_result`."""
    renames = {}
    for name in columns:
        if name not in taken:
            continue
        candidate, n = f"{name}_result", 2
        while candidate in taken or candidate in columns:
            candidate, n = f"{name}_result{n}", n + 1
        renames[name] = candidate
        taken.add(candidate)
    return renames


# ---------------------------------------------------------------- public API


TEXT_FORMATS = ("csv", "tsv", "xlsx")


def write_merged(frame: pd.DataFrame, path, stream=None) -> None:
    """Write a merged table by the path's extension (atomically), or as CSV to `stream` when path is '-'.

    Formats without arrays (CSV, TSV, XLSX) get the `embedding` column as JSON text; Parquet and JSONL
    keep it a list of numbers.
    """
    from ..tables import table_format, write_table

    fmt = "csv" if str(path) == "-" else table_format(path)
    if fmt in TEXT_FORMATS and "embedding" in frame.columns:
        frame = frame.assign(
            embedding=[None if v is None else orjson.dumps(v).decode() for v in frame["embedding"]]
        )
    if str(path) == "-":
        frame.to_csv(stream if stream is not None else sys.stdout, index=False)
    else:
        write_table(frame, path)


def join_inputs(inputs: Paths, results: Paths, progress: Progress | None = None):
    """(report, requests, results table): every input request with the result that won for it."""
    inputs, results = _paths(inputs, "input"), _paths(results, "result")
    report = MergeReport([source_name(p) for p in inputs], [source_name(p) for p in results])
    requests = _read_requests(inputs, report, progress)
    table = _join(requests, results, report, progress)
    _count(requests, table, report)
    return report, requests, table


def merge_results(
    inputs: Paths,
    results: Paths,
    source=None,
    id_column: str | None = None,
    *,
    id_prefix: str = "row-",
    sheet: str | int | None = None,
    encoding: str | None = None,
    progress: Progress | None = None,
) -> MergeOutcome:
    """Join `results` (output, error and shard files, any shape) to the requests of `inputs`.

    Returns the table (one row per request in input order, or the `source` table's rows with the
    result columns after them) and the report (counts, tokens, orphans, duplicates, missing, digest).
    """
    report, requests, table = join_inputs(inputs, results, progress)
    frame = _frame(requests, table)
    del table
    if source is not None:
        frame = _attach_source(frame, source, id_column, id_prefix, report, sheet, encoding)
    elif id_column is not None:
        raise UsageError("--id-column needs --source: it names the source table's id column")
    return MergeOutcome(frame, report)


def merge(
    inputs: Paths, results: Paths, source=None, id_column: str | None = None, **options
) -> pd.DataFrame:
    """The merged table: see `merge_results`, which also returns the report."""
    return merge_results(inputs, results, source, id_column, **options).frame


def _paths(value, what: str) -> list:
    if isinstance(value, (str, os.PathLike)) or hasattr(value, "read"):
        value = [value]
    value = list(value)
    if not value:
        raise UsageError(f"give at least one {what} file")
    if sum(1 for v in value if str(v) == "-") > 1:
        raise InputError("standard input ('-') can be read only once")
    return value


def _sample(ids: list[str], k: int = 5) -> str:
    shown = ", ".join(ids[:k])
    return shown + (f", … ({len(ids) - k:,} more)" if len(ids) > k else "")
