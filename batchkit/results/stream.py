"""A merge written in bounded memory: `batchkit merge` to CSV, TSV, JSONL or Parquet.

The join is the same as `merge_results`' (`join_inputs`: the same report, statuses and digest), into an
`offsets.OffsetTable`, which keeps where each winning answer is rather than the answer. Then the rows are
written in input order a slice at a time: the slice's answers are read back by offset into a small
`ResultTable`, made the columns `frame.columns` makes (the one place columns are made, for a DataFrame
too) and appended: CSV/TSV through `csvtext`, JSONL through orjson, Parquet through pyarrow from the
columns' buffers (`arrow`: pandas is not imported), each exactly as pandas writes the same frame (a test
compares them on every fixture). JSONL with embeddings goes through pandas, for its number format. So
memory follows one slice, not the answers. Result lines of the common shape are read, in the join and when
read back, by one strict msgspec struct (`read.common_record`).

A column added in `frame.columns` (one hook per row, e.g. parsed JSON answers) is written by both paths;
its set of columns must not depend on rows of other slices.
"""

from __future__ import annotations

import os
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..atomic import atomic_path, cannot_write
from ..lines import is_compressed, open_binary, source_name
from ..tables import COMPRESSIONS, table_format
from ..tables.csvtext import csv_text, write_frame_csv
from ..tables.write import as_text, as_text_columns, jsonl_rows, nested_as_json
from . import arrow
from .export import ExportResult, escape_formulas_in, made_safe
from .frame import AnswerColumns, answer_columns, columns, to_frame
from .join import Paths, join_inputs, refuse_stale
from .offsets import LineFiles, OffsetTable, read_back
from .report import MergeReport
from .requests import RequestIndex, StageRead
from .table import NA

SLICE_ROWS = 4096  # rows read back and written at a time: ~8 MB of 2 kB answers
# rows a DataFrame at a time where answers are parsed into columns: pandas and its CSV writer hold a
# few copies of each (~13 kB a row of 2 kB answers)
FRAME_ROWS = 1024
STREAMED_FORMATS = ("csv", "tsv", "jsonl", "parquet")


@dataclass
class _SliceRequests:
    """The request columns `to_frame` reads, for one slice of rows (from row `start` of the whole)."""

    ids: list[str]
    models: list
    endpoints: set[str]
    whole: RequestIndex
    start: int

    @property
    def expected(self) -> list:
        return self.whole.expected

    def expected_of(self, row: int):
        return self.whole.expected_of(self.start + row)


def streamable(results: Paths, output) -> bool:
    """Whether a merge of `results` into `output` can stream: plain result files that can be read back
    by offset, and an uncompressed CSV, TSV, JSONL or Parquet output (or '-', CSV)."""

    if str(output) != "-":
        try:
            fmt = table_format(output)
        except Exception:
            return False  # the frame path says what is wrong with the name
        if fmt not in STREAMED_FORMATS or Path(output).suffix.lower() in COMPRESSIONS:
            return False
    paths = [results] if isinstance(results, (str, os.PathLike)) or hasattr(results, "read") else results
    for path in paths:
        if not isinstance(path, (str, os.PathLike)) or str(path) == "-":
            return False
        if os.path.isfile(path):
            with open_binary(path) as stream:
                if is_compressed(stream):
                    return False
    return True


class StreamedMerge:
    """A merge joined but not yet written: its report now, its rows when `write` is called. `answers`,
    when answers are parsed into columns, fixes those columns for every slice (`frame.answer_columns`)."""

    def __init__(self, report: MergeReport, requests: RequestIndex, table: OffsetTable, paths: dict):
        self.report, self.requests, self.table, self.paths = report, requests, table, paths
        self.answers: AnswerColumns | None = None
        self.flatten = 1

    def write(self, path, stream=None, *, escape_formulas: bool = True, excel: bool = False) -> ExportResult:
        """Write the merged rows as `write_merged` does (by the path's extension, atomically; CSV to
        `stream`, standard output by default, when path is '-'), a slice at a time."""
        fmt = "csv" if str(path) == "-" else _format(path)
        written = ExportResult(str(path), self.table.rows)
        if str(path) == "-":
            out = stream if stream is not None else sys.stdout
            if self.answers is not None:
                _write_frames_csv(self.frames(), out, fmt, written, escape_formulas, ",", "\n")
            else:
                out.writelines(_csv_chunks(self.slices(), written, escape_formulas, ",", "\n"))
            return written
        try:
            with atomic_path(path) as tmp:
                self._write_file(tmp, fmt, written, escape_formulas, excel)
        except OSError as e:
            raise cannot_write(path, e) from None
        return written

    def _write_file(self, tmp: Path, fmt: str, written: ExportResult, escape_formulas: bool, excel: bool):
        if self.answers is not None:
            return self._write_frames(tmp, fmt, written, escape_formulas, excel)
        slices = self.slices()
        if fmt == "parquet":
            _write_parquet(slices, tmp, self._first_embedding(), self._embeddings_as_text())
        elif fmt == "jsonl" and _has_embedding_column(self.table, self.requests):
            _write_jsonl((to_frame(r, t, parse_json=False, **options) for r, t, options in slices), tmp)
        elif fmt == "jsonl":
            with open(tmp, "wb") as f:
                f.writelines(_jsonl_lines(slices))
        else:
            sep, line_end = "\t" if fmt == "tsv" else ",", "\r\n" if excel else "\n"
            with open(tmp, "w", encoding="utf-8-sig" if excel else "utf-8", newline="") as f:
                f.writelines(_csv_chunks(slices, written, escape_formulas, sep, line_end))

    def _write_frames(self, tmp: Path, fmt: str, written: ExportResult, escape_formulas: bool, excel: bool):
        """A merge with answers parsed into columns, through a DataFrame a slice (pandas types them)."""
        if fmt == "parquet":
            text = set(self.answers.mixed) | ({"embedding"} if self._embeddings_as_text() else set())
            _write_frames_parquet(self.frames(), tmp, self._first_embedding(), self.answers, text)
        elif fmt == "jsonl":
            _write_jsonl(self.frames(), tmp)
        else:
            with open(tmp, "w", encoding="utf-8-sig" if excel else "utf-8", newline="") as f:
                sep, line_end = "\t" if fmt == "tsv" else ",", "\r\n" if excel else "\n"
                _write_frames_csv(self.frames(), f, fmt, written, escape_formulas, sep, line_end)

    def frames(self):
        """The rows as DataFrames, a slice at a time, answers parsed into the columns `answers` fixes."""
        for requests, table, options in self.slices(min(SLICE_ROWS, FRAME_ROWS)):
            yield to_frame(requests, table, flatten=self.flatten, answers=self.answers, **options)

    def _embeddings_as_text(self) -> bool:
        """Whether the table's embeddings are of kinds no one Arrow type holds (Parquet takes them as text)."""
        return arrow.embeddings_as_text(self.table.embedding_kinds())

    def _first_embedding(self):
        """The first embedding of the table (its type is the Parquet column's), or None: none, or the
        embeddings go as text."""
        row = self.table.first_embedding_row()
        if row < 0 or self._embeddings_as_text():
            return None
        files = LineFiles([self.paths[name] for name in self.table.files])
        try:
            part = read_back(self.table, self.requests, files, row, row + 1)
        finally:
            files.close()
        return part.embedding[0]

    def slices(self, rows: int | None = None):
        """(requests, result table, `to_frame` options) of `rows` rows at a time, in input order."""
        table, requests, rows = self.table, self.requests, rows or SLICE_ROWS
        choices, embedding = table.most_choices(), _has_embedding_column(table, requests)
        cached, stale = table.has_cached(), bool(table.stale)
        files = LineFiles([self.paths[name] for name in table.files])
        try:
            for start in range(0, max(table.rows, 1), rows):
                stop = min(start + rows, table.rows)
                part = read_back(table, requests, files, start, stop)
                ids, models = requests.ids[start:stop], requests.models[start:stop]
                part_requests = _SliceRequests(ids, models, requests.endpoints, requests, start)
                options = {"choices": choices, "embedding": embedding, "cached": cached, "stale": stale}
                yield part_requests, part, options
        finally:
            files.close()


def stream_merge(
    inputs: Paths,
    results: Paths,
    progress: StageRead | None = None,
    allow_stale: bool = False,
    parse_json: bool | None = None,
    flatten: int = 1,
) -> StreamedMerge:
    """Join `results` to the requests of `inputs` as `merge_results` does (StaleResults as there, unless
    allow_stale=True), keeping where each winning answer is instead of the answer; `write` then writes
    the rows in bounded memory. Answers are parsed into columns as `merge_results` parses them
    (`parse_json`, `flatten`): read once here to fix the columns and their types, again when written.
    (An id map and a source table take the frame.)"""
    report, requests, table = join_inputs(inputs, results, progress, make_table=OffsetTable)
    table.let_counts_go()
    refuse_stale(report, allow_stale)
    merge = StreamedMerge(report, requests, table, _paths_by_name(results))
    if parse_json or (parse_json is None and requests.expected):
        merge.flatten = flatten
        slices = ((part_requests, part) for part_requests, part, _options in merge.slices())
        merge.answers = answer_columns(slices, flatten, report)
    return merge


def _paths_by_name(results: Paths) -> dict:
    """The result paths by the names the table's files are known by."""

    given = [results] if isinstance(results, (str, os.PathLike)) else list(results)
    return {source_name(p): p for p in given}


def _has_embedding_column(table: OffsetTable, requests: RequestIndex) -> bool:
    """The rule of `to_frame` for the whole table."""
    return table.has_embeddings() or any(u.rstrip("/").endswith("embeddings") for u in requests.endpoints)


def _format(path) -> str:

    return table_format(path)


def _csv_chunks(slices, written: ExportResult, escape_formulas: bool, sep: str, line_end: str):
    """The CSV text of the header, then of each slice's rows, with the cells pandas writes (made safe as
    `export` does): text as it is, integers in digits, no value empty, embeddings as JSON text. No frame
    is made."""
    for i, (requests, table, options) in enumerate(slices):
        data = columns(requests, table, **options)
        if i == 0:
            yield csv_text([[name] for name in data], sep, line_end)
        if data.get("embedding") is not None:
            data["embedding"] = [None if v is None else orjson.dumps(v).decode() for v in data["embedding"]]
        cells = _cells(data)
        if escape_formulas:
            for name, values in zip(data, cells, strict=True):
                if not isinstance(data[name], array):
                    written.escaped += escape_formulas_in(values)
        yield csv_text(cells, sep, line_end)


def _cells(data: dict) -> list[list]:
    """The columns as lists of cells: integers with None where there is no value."""
    return [
        [None if v == NA else v for v in values] if isinstance(values, array) else values
        for values in data.values()
    ]


def _jsonl_lines(slices):
    """Every row as the JSON line `tables.write.jsonl_rows` writes of the frame path's table: compact, keys
    in column order, '/' escaped as \\/ (embeddings, arrays, go through the frames)."""
    for requests, table, options in slices:
        data = columns(requests, table, **options)
        names = list(data)
        for row in zip(*_cells(data), strict=True):
            yield orjson.dumps(dict(zip(names, row, strict=True))).replace(b"/", b"\\/") + b"\n"


def _write_frames_csv(
    frames, f, fmt: str, written: ExportResult, escape_formulas: bool, sep: str, line_end: str
):
    """DataFrames written one after another as one CSV/TSV (the header once), each made safe as `export`
    makes a whole frame."""
    for i, frame in enumerate(frames):
        frame, _ = made_safe(nested_as_json(frame), fmt, written, escape_formulas)
        write_frame_csv(frame, f, sep, line_end, header=i == 0)


def _write_jsonl(slices, tmp: Path) -> None:
    with open(tmp, "wb") as out:
        for frame in slices:
            out.writelines(jsonl_rows(frame))


def _write_frames_parquet(frames, tmp: Path, embedding, answers: AnswerColumns, text: set) -> None:
    """DataFrames as one row group each, under the schema `tables.write_table` gives the whole frame: from
    the dtypes, and for columns of Python objects from their first values (text, the first embedding,
    a parsed column's samples); the columns `text` (of mixed kinds) as text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = schema = None
    mixed = sorted(text)
    try:
        for frame in frames:
            if writer is None:
                schema = pa.Schema.from_pandas(frame.head(0), preserve_index=False)
                for i, field in enumerate(schema):
                    first = _first_values(field.name, answers, embedding)
                    if field.name in text:
                        schema = schema.set(i, field.with_type(pa.string()))
                    elif pa.types.is_null(field.type) and first:
                        schema = schema.set(i, field.with_type(pa.infer_type(first, from_pandas=True)))
                writer = pq.ParquetWriter(tmp, schema)
            frame = as_text_columns(frame, mixed)
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
    finally:
        if writer is not None:
            writer.close()


def _first_values(name: str, answers: AnswerColumns, embedding) -> list:
    """The first values of a column of Python objects: a parsed column's samples, the first embedding,
    text for the rest (none: the type stays null, as for a column with no value)."""
    if name in answers.dtypes:
        return answers.samples.get(name, [])
    if name == "embedding":
        return [] if embedding is None else [embedding]
    return [""]


def _write_parquet(slices, tmp: Path, embedding, embeddings_text: bool) -> None:
    """One row group a slice, from the slice's columns (no DataFrame, no pandas: see `arrow`), under the
    schema of the first slice: integers as int64; other columns (text, embeddings) of the type of their
    first values, as `tables.write_table` gives it, text where this slice has no value and, for
    `embedding`, the type of the table's first embedding (None when `embeddings_text`: text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = schema = None
    try:
        for requests, table, options in slices:
            data = columns(requests, table, **options)
            if embeddings_text and "embedding" in data:
                data["embedding"] = [as_text(v) for v in data["embedding"]]
            if writer is None:
                kinds = [arrow.kind_of(v, embedding if n == "embedding" else None) for n, v in data.items()]
                schema = pa.schema([pa.field(name, kind) for name, kind in zip(data, kinds, strict=True)])
                writer = pq.ParquetWriter(tmp, schema)
            arrays = [
                arrow.column(values, field.type) for values, field in zip(data.values(), schema, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    finally:
        if writer is not None:
            writer.close()
