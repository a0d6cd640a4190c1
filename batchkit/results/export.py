"""Writing a merged table when its cells are hostile: model answers (and source cells) are untrusted.

- CSV/TSV: a text cell (not a number) that begins with = + - @ TAB or CR is what a spreadsheet runs as a
  formula; it is escaped with a leading apostrophe (`escape_formulas`, on by default).
- XLSX: text is written as text, never as a formula (see `tables.write_table`); characters XML forbids
  (C0 controls other than TAB, LF, CR; lone surrogates; U+FFFE, U+FFFF) are removed, as no workbook can
  hold them; a cell over Excel's 32,767 characters is cut, and its full text written to a JSONL file
  beside the workbook (`NAME.xlsx.long-cells.jsonl`: data row number (the header is not a row), column, text).

Every cell changed is counted (`ExportResult`), so the summary can say so.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from ..atomic import atomic_write
from ..tables import table_format, write_table
from ..tables.cells import is_missing
from ..tables.csvtext import write_frame_csv
from ..tables.write import as_text_columns
from ..words import Option, Text, Words
from .arrow import embedding_kind, embeddings_as_text

if TYPE_CHECKING:
    import pandas as pd

TEXT_FORMATS = ("csv", "tsv", "xlsx")  # formats without arrays: embeddings become JSON text
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
EXCEL_CELL_CHARS = 32_767
LONG_CELLS_SUFFIX = ".long-cells.jsonl"


@dataclass
class ExportResult:
    """What `write_merged` wrote and which cells it had to change."""

    path: str
    rows: int
    escaped: int = 0  # CSV/TSV cells that began like a formula, prefixed with '
    as_text: int = 0  # XLSX cells that began with '=', written as text
    stripped: int = 0  # XLSX cells with characters XML forbids, removed
    cut: int = 0  # XLSX cells over 32,767 characters, cut (full text in long_cells)
    long_cells: str | None = None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "rows": self.rows,
            "cells_changed": self.escaped + self.stripped + self.cut,
            "formulas_escaped": self.escaped,
            "formulas_written_as_text": self.as_text,
            "control_characters_removed": self.stripped,
            "long_cells_cut": self.cut,
            "long_cells_file": self.long_cells,
        }

    def to_text(self) -> Text:
        where = "standard output" if self.path == "-" else self.path
        out = [f"wrote {where} ({self.rows:,} rows)"]
        if self.escaped:
            out.append(
                Text(
                    f"{self.escaped:,} cell(s) that began like a formula (= + - @ tab) escaped with a leading ' (",
                    Option("escape_formulas", False),
                    Words(" keeps them raw)", " to keep them raw)"),
                )
            )
        if self.as_text:
            out.append(f"{self.as_text:,} cell(s) beginning with '=' written as text, not formulas")
        if self.stripped:
            out.append(f"{self.stripped:,} cell(s) had control characters XML forbids removed")
        if self.cut:
            out.append(
                f"{self.cut:,} cell(s) over Excel's {EXCEL_CELL_CHARS:,} characters cut; "
                f"full text in {self.long_cells}"
            )
        return Text(*(part for i, line in enumerate(out) for part in (("\n", line) if i else (line,))))


def write_merged(
    frame: pd.DataFrame,
    path,
    stream=None,
    *,
    sheet: str | None = None,
    escape_formulas: bool = True,
    excel: bool = False,
) -> ExportResult:
    """Write a merged table by the path's extension (atomically), or as CSV to `stream` when path is '-'
    (standard output by default), with its hostile cells made safe (see the module docstring).

    Formats without arrays (CSV, TSV, XLSX) get the `embedding` column as JSON text; Parquet and JSONL
    keep it a list of numbers. `sheet` names the XLSX sheet; `excel` writes CSV/TSV with a UTF-8
    byte-order mark and CRLF lines.
    """

    fmt = "csv" if str(path) == "-" else table_format(path)
    written = ExportResult(str(path), len(frame))
    frame, long_cells = made_safe(frame, fmt, written, escape_formulas)
    if str(path) == "-":
        write_frame_csv(frame, stream if stream is not None else sys.stdout, ",", "\n")
    else:
        write_table(frame, path, sheet=sheet or "Sheet1", excel=excel)
    if long_cells:
        written.long_cells = f"{path}{LONG_CELLS_SUFFIX}"
        _write_long_cells(long_cells, written.long_cells)
    return written


def made_safe(
    frame: pd.DataFrame, fmt: str, written: ExportResult, escape_formulas: bool = True
) -> tuple[pd.DataFrame, list[dict]]:
    """The frame as format `fmt` can hold it safely (counted in `written`), and the cut long cells."""
    if fmt in TEXT_FORMATS and "embedding" in frame.columns:
        frame = frame.assign(
            embedding=[None if v is None else orjson.dumps(v).decode() for v in frame["embedding"]]
        )
    elif fmt == "parquet" and "embedding" in frame.columns:
        kinds = {embedding_kind(v) for v in frame["embedding"] if not is_missing(v)}
        if embeddings_as_text(kinds):
            frame = as_text_columns(frame, ["embedding"])  # kinds no one Arrow type holds
    if fmt == "xlsx":
        return _excel_safe(frame, written)
    if fmt in ("csv", "tsv") and escape_formulas:
        frame = _formulas_escaped(frame, written)
    return frame, []


def _text_columns(frame: pd.DataFrame):
    """(name, values) of every column that can hold text."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or str(column.dtype).startswith(("string", "str")):
            yield name, column.tolist()


def _formulas_escaped(frame: pd.DataFrame, written: ExportResult) -> pd.DataFrame:
    changed = {}
    for name, values in _text_columns(frame):
        count = escape_formulas_in(values)
        if count:
            written.escaped += count
            changed[name] = values
    return _replaced(frame, changed)


def escape_formulas_in(values: list) -> int:
    """Prefixes with ' (in place) the text cells a spreadsheet would run as a formula; how many."""
    count = 0
    for i, value in enumerate(values):
        if type(value) is str and value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
            values[i] = "'" + value
            count += 1
    return count


def _excel_safe(frame: pd.DataFrame, written: ExportResult) -> tuple[pd.DataFrame, list[dict]]:
    """The frame with forbidden characters removed and long cells cut; the full text of the cut cells."""
    changed, long_cells = {}, []
    for name, values in _text_columns(frame):
        count = 0
        for i, value in enumerate(values):
            if type(value) is not str:
                continue
            if value.startswith("="):
                written.as_text += 1
            if XML_FORBIDDEN.search(value):
                value = values[i] = XML_FORBIDDEN.sub("", value)
                written.stripped += 1
                count += 1
            if len(value) > EXCEL_CELL_CHARS:
                long_cells.append({"row": i + 1, "column": str(name), "text": value})
                values[i] = value[:EXCEL_CELL_CHARS]
                written.cut += 1
                count += 1
        if count:
            changed[name] = values
    frame = _replaced(frame, changed)
    names = {
        name: XML_FORBIDDEN.sub("", name) for name in map(str, frame.columns) if XML_FORBIDDEN.search(name)
    }
    written.stripped += len(names)
    return (frame.rename(columns=names) if names else frame), long_cells


def _replaced(frame: pd.DataFrame, changed: dict) -> pd.DataFrame:
    if not changed:
        return frame
    import pandas as pd

    frame = frame.copy(deep=False)
    for name, values in changed.items():
        frame[name] = pd.Series(values, dtype=object, index=frame.index)
    return frame


def _write_long_cells(cells: list[dict], path: str) -> None:
    with atomic_write(path) as f:
        for cell in cells:
            f.write(orjson.dumps(cell) + b"\n")
