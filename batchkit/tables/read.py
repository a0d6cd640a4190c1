"""Reading tables: `iter_table` streams chunks of exact cells, `read_table` a whole typed DataFrame."""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import math
import re
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ..errors import InputError, UsageError
from ..lines import MAX_SKIP_BYTES, READ_CHUNK, LineBound, loads_exact, source_name
from ..words import Option, Text
from .cells import is_missing
from .sources import Source, compression_of, decode_error, is_url, open_source, table_files, table_format

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 50_000


def iter_table(
    source: Source,
    fmt: str | None = None,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    delimiter: str | None = None,
    told: Callable[[str], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Chunks of a table as DataFrames of exact cells (see the module docstring), at most `chunk_rows` rows
    each, in row order. Always yields at least one frame, so a table with a header and no rows still tells
    its columns. Rows are numbered 1, 2, … across the chunks in order (see the module docstring).

    source: a path, '-' (CSV on standard input) or an open binary file; fmt: one of FORMATS (default: by
    extension); sheet: an Excel sheet name or 0-based index (default the first); encoding: the text
    encoding of CSV/TSV/JSON/JSONL (default UTF-8, a byte-order mark is skipped); delimiter: the CSV field
    separator (default: a tab for TSV; for CSV the one the first lines use of , ; tab | — what Excel writes
    where the decimal mark is a comma is ;-separated — and `told(message)` hears which, when not a comma).
    A folder of Parquet files or a file pattern is one table (see `table_files`), read file after file.
    Raises InputError for a file that cannot be read as that format, UsageError for bad arguments.
    """
    files = table_files(source)
    if len(files) > 1 or files[0] is not source:
        for file in files:
            yield from iter_table(file, fmt, sheet=sheet, encoding=encoding, chunk_rows=chunk_rows,
                                  delimiter=delimiter, told=told)  # fmt: skip
        return
    fmt = table_format(source, fmt)
    opened = open_source(source)
    if fmt in ("csv", "tsv"):
        head = _head(opened)
        sep = _separator(head, source, fmt, encoding, delimiter, told)
        chunks = _csv_chunks(opened, source, fmt, encoding, chunk_rows, sep)
        if told is not None:
            chunks = _telling_renamed(chunks, _header(head, encoding, sep), source, told)
    elif fmt == "jsonl":
        chunks = _jsonl_chunks(opened, source, encoding, chunk_rows)
    elif fmt == "json":
        chunks = _slices(_json_array(opened, source, encoding), chunk_rows)
    elif fmt == "parquet":
        chunks = _parquet_chunks(opened, source, chunk_rows)
    else:
        chunks = _excel_chunks(opened, source, sheet, chunk_rows, told)
    try:
        yield from chunks
    finally:
        if is_url(source):  # a file opened here for an fsspec URL (paths and streams are the caller's)
            opened.close()


def read_table(
    source: Source,
    fmt: str | None = None,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    typed: bool = True,
    delimiter: str | None = None,
    told: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The whole table as one DataFrame, with a fresh RangeIndex (position i is row i + 1).

    typed=True (default): nullable pandas dtypes inferred without loss: Int64 for whole numbers even with
    empty cells, Float64, boolean, string; a CSV column is converted only when every non-empty cell reads
    back as written ("007", "1.50" or "1e3" keep the column text), and empty cells become <NA>.
    typed=False: the exact cells `iter_table` gives (CSV cells as strings, "" for empty).
    Other arguments as for `iter_table`.
    """
    import pandas as pd

    fmt = table_format(table_files(source)[0], fmt)
    chunks = list(iter_table(source, fmt, sheet=sheet, encoding=encoding, chunk_rows=1_000_000,
                             delimiter=delimiter, told=told))  # fmt: skip
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    frame = frame.reset_index(drop=True)
    if not typed:
        return frame
    if fmt in ("csv", "tsv"):
        return _typed_text_columns(frame)
    if fmt == "parquet":
        return _typed_arrow_columns(frame)
    return _typed_object_columns(frame)


SEPARATORS = (",", ";", "\t", "|")  # the field separators a CSV is sniffed for, the usual first
SNIFF_BYTES = 64 * 1024
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


def _separator(head: bytes, source, fmt: str, encoding, delimiter: str | None, told) -> str:
    """The field separator: `delimiter` when given; a tab for TSV; for CSV the one its first lines use."""
    if delimiter is not None:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise UsageError(
                Text(Option("delimiter"), f" takes one character (such as ; or |), not {delimiter!r}")
            )
        return delimiter
    if fmt == "tsv":
        return "\t"
    sep = sniff_separator(head, encoding)
    if sep != "," and told is not None:
        name = _SEPARATOR_NAMES[sep]
        told(f"read {source_name(source)} as {name}-separated (what its first lines use)")
    return sep


def _header(head: bytes, encoding: str | None, sep: str) -> list[str]:
    """The names a CSV's header row writes, as written (empty when its first bytes cannot be seen)."""
    try:
        text = head.decode(_python_encoding(encoding), errors="replace").removeprefix("\ufeff")
    except LookupError:
        return []
    return next(csv.reader(text.splitlines()[:1], delimiter=sep), [])


def _telling_renamed(chunks, header: list[str], source, told):
    """The chunks, after telling which header names pandas renamed (a repeated one `q.2`, a blank one
    `Unnamed: 2`): a template's {q} reads the first, and the merged table has the new names."""
    first = True
    for chunk in chunks:
        if first:
            _tell_renamed(header, list(map(str, chunk.columns)), source, told)
        first = False
        yield chunk


def _tell_renamed(header: list[str], columns: list[str], source, told) -> None:
    if told is None or len(header) != len(columns):
        return
    renamed = [f"{old!r} as {new!r}" for old, new in zip(header, columns, strict=True) if old != new]
    if renamed:
        told(
            f"{source_name(source)}: repeated or blank column names were read as others: {', '.join(renamed)}"
        )


def _head(opened) -> bytes:
    """The first bytes of a table, leaving it unread: a plain file is opened again, a stream peeked."""
    if isinstance(opened, Path):
        if compression_of(opened):
            return b""
        with open(opened, "rb") as f:
            return f.read(SNIFF_BYTES)
    peek = getattr(opened, "peek", None)
    return peek(SNIFF_BYTES)[:SNIFF_BYTES] if peek is not None else b""


def sniff_separator(head: bytes, encoding: str | None = None) -> str:
    """The separator the first lines of a CSV use: of , ; tab | the first that splits every line of the
    sample into the same number (more than one) of fields; else the one that splits the header most;
    a comma when none splits it."""
    try:
        text = head.decode(_python_encoding(encoding), errors="replace")
    except LookupError:
        return ","
    if len(head) >= SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # whole lines only
    lines = text.splitlines(keepends=True)[:50]
    widths = {sep: [len(row) for row in csv.reader(lines, delimiter=sep) if row] for sep in SEPARATORS}
    for sep in SEPARATORS:
        found = widths[sep]
        if found and found[0] > 1 and all(n == found[0] for n in found):
            return sep
    best = max(SEPARATORS, key=lambda sep: widths[sep][0] if widths[sep] else 0)
    return best if widths[best] and widths[best][0] > 1 else ","


def _csv_chunks(opened, source, fmt, encoding, chunk_rows, sep=","):
    import pandas as pd

    # pandas reads zstd itself; anything else through `_binary`, which refuses an endless line
    zstd = isinstance(opened, Path) and compression_of(opened) == "zstd"
    stream = opened if zstd else _binary(opened, source)
    try:
        reader = pd.read_csv(
            stream,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            encoding=encoding or "utf-8",
            compression="zstd" if zstd else None,
            chunksize=chunk_rows,
        )
        yielded = False
        with reader:
            while True:
                # A row with more fields than the header would silently lose data: make it an error.
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(reader, None)
                if chunk is None:
                    break
                yielded = True
                yield chunk
        if not yielded:  # only reachable for a file without a header
            yield pd.DataFrame()
    except UnicodeDecodeError as e:
        raise decode_error(source, encoding, e) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{source_name(source)}: the table is empty (no header row)") from None
    except pd.errors.ParserError as e:
        other = sniff_separator(_head(opened), encoding)
        hint = (
            Text(f" (is the file {other!r}-separated? pass ", Option("delimiter", other), ")")
            if other != sep
            else ""
        )
        raise InputError(
            Text(f"{source_name(source)}: cannot read as {fmt.upper()}: {_first_line(e)}", hint)
        ) from None
    except pd.errors.ParserWarning:
        raise InputError(
            f"{source_name(source)}: cannot read as {fmt.upper()}: a row has more fields than the header"
        ) from None
    except LookupError:
        raise UsageError(f"unknown encoding {encoding!r}") from None
    finally:
        if stream is not opened:
            stream.close()


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _binary(opened, source, bounded: bool = True) -> io.BufferedReader:
    """A binary stream over a path (decompressed; closed with the stream) or the caller's stream (left
    open), that refuses an endless line (`LineBound`) unless not `bounded`."""
    binary = opened
    if isinstance(opened, Path):
        compression = compression_of(opened)
        if compression:
            import bz2
            import gzip
            import lzma

            openers = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
            if compression not in openers:
                raise UsageError(f"{opened}: {compression} compression is read for CSV only")
            binary = openers[compression](opened, "rb")
        else:
            binary = open(opened, "rb")  # noqa: SIM115 (closed with the stream returned)
    limit = MAX_SKIP_BYTES if bounded else None
    return io.BufferedReader(
        LineBound(binary, source_name(source), owned=binary is not opened, limit=limit), READ_CHUNK
    )


def _text_stream(opened, source, encoding, bounded: bool = True) -> io.TextIOBase:
    """A text stream over a path or binary stream (see `_binary`); a UTF-8 byte-order mark is skipped."""
    codec = _python_encoding(encoding)
    try:
        codecs.lookup(codec)
    except LookupError:
        raise UsageError(f"unknown encoding {encoding!r}") from None
    return io.TextIOWrapper(_binary(opened, source, bounded), encoding=codec, newline=None)


def _python_encoding(encoding: str | None) -> str:
    if encoding is None or encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return "utf-8-sig"
    return encoding


def _records_frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    # dtype=object keeps each value as parsed (no float widening of integer columns with nulls).
    rows = [[record.get(c) for c in columns] for record in records]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _jsonl_chunks(opened, source, encoding, chunk_rows):
    stream = _text_stream(opened, source, encoding)
    columns: list[str] | None = None
    records: list[dict] = []
    try:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                record = loads_exact(line)  # an integer past 64 bits as written (orjson: a float)
            except orjson.JSONDecodeError as e:
                raise InputError(f"{source_name(source)}: line {number} is not valid JSON: {e.msg}") from None
            if type(record) is not dict:
                raise InputError(
                    f"{source_name(source)}: line {number} is not a JSON object; each line must be one row"
                )
            records.append(record)
            if len(records) >= chunk_rows:
                columns = columns or _union_keys(records)
                yield _records_frame(records, columns)
                records = []
        columns = columns or _union_keys(records)
        if records or not columns:
            yield _records_frame(records, columns)
    except UnicodeDecodeError as e:
        raise decode_error(source, encoding, e) from None
    finally:
        stream.close()  # (a stream of the caller's is left open: see `_binary`)


def _union_keys(records: list[dict]) -> list[str]:
    """Column names in order of first appearance (the first chunk decides the columns of the table)."""
    return list(dict.fromkeys(key for record in records for key in record))


def _json_array(opened, source, encoding) -> pd.DataFrame:
    stream = _text_stream(opened, source, encoding, bounded=False)  # one value, often on one line
    try:
        text = stream.read()
    except UnicodeDecodeError as e:
        raise decode_error(source, encoding, e) from None
    finally:
        stream.close()  # (a stream of the caller's is left open: see `_binary`)
    try:
        value = loads_exact(text)
    except orjson.JSONDecodeError as e:
        raise InputError(
            Text(
                f"{source_name(source)}: not valid JSON ({e.msg}); a .json table is one array of objects; for "
                "one object per line name the file .jsonl or pass ",
                Option("input_format", "jsonl"),
            )
        ) from None
    if type(value) is not list or not all(type(v) is dict for v in value):
        raise InputError(
            f"{source_name(source)}: a .json table must be one JSON array of objects (one per row)"
        )
    return _records_frame(value, _union_keys(value))


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if len(frame) == 0:
        yield frame
        return
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start : start + chunk_rows]


@contextlib.contextmanager
def _parquet_errors(source) -> Iterator[None]:
    """A damaged or cut-short Parquet file (its footer or a row group) as an InputError naming it."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{source_name(source)}: cannot read as Parquet: {_first_line(e)}") from None


def parquet_file(opened, source):
    """`opened` (a path or a binary file) as a pyarrow ParquetFile; InputError naming `source` when it is no
    Parquet file."""
    import pyarrow.parquet as pq

    with _parquet_errors(source):
        return pq.ParquetFile(opened)


def _parquet_chunks(opened, source, chunk_rows):
    import pandas as pd

    parquet = parquet_file(opened if isinstance(opened, Path) else io.BytesIO(opened.read()), source)
    yielded = False
    # ArrowDtype columns keep integers with nulls as integers, and every other Arrow type as it is.
    for batch in _parquet_batches(parquet, source, chunk_rows):
        yielded = True
        yield batch.to_pandas(types_mapper=pd.ArrowDtype)
    if not yielded:
        yield parquet.schema_arrow.empty_table().to_pandas(types_mapper=pd.ArrowDtype)


def _parquet_batches(parquet, source, chunk_rows: int):
    """The file's record batches; a damaged row group is an InputError naming the file."""
    batches = parquet.iter_batches(batch_size=chunk_rows)
    while True:
        with _parquet_errors(source):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _excel_rows(opened, source, sheet, told=None) -> tuple[list[str], Iterator[tuple]]:
    """Column names and an iterator of value rows, read by openpyxl in read-only (streaming) mode;
    `told(message)` hears which header names were read as others."""
    import openpyxl

    target = opened if isinstance(opened, Path) else io.BytesIO(opened.read())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about workbook features it does not read
            book = openpyxl.load_workbook(target, read_only=True, data_only=True)
    except Exception as e:  # zipfile, KeyError and openpyxl's own errors for a broken workbook
        raise InputError(
            f"{source_name(source)}: cannot read as an Excel workbook: {_first_line(e)}"
        ) from None
    try:
        sheet_name = _choose_sheet(book, sheet, source)
    except InputError:
        book.close()
        raise
    rows = (tuple(map(_shown, row)) for row in book[sheet_name].iter_rows())
    header = next(rows, None)
    if header is None:
        book.close()
        raise InputError(f"{source_name(source)}: sheet {sheet_name!r} is empty (no header row)")
    while header and header[-1] is None:
        header = header[:-1]
    names = ["" if h is None else str(h) for h in header]
    columns = _unique_names(names)
    _tell_renamed(names, columns, source, told)
    width = len(columns)

    def values():
        formulas = _Formulas(target, sheet_name, source)
        try:
            for number, row in enumerate(rows, 2):
                row = tuple(None if v == "" else v for v in row[:width])
                if all(v is None for v in row):
                    continue  # blank rows are skipped, as pandas skips blank CSV lines
                if None in row:
                    formulas.refuse_unsaved(number, row)
                yield row + (None,) * (width - len(row))
        finally:
            book.close()
            formulas.close()

    return columns, values()


def _shown(cell):
    """A cell's value as the sheet shows it: a date and time under a format of the date alone (openpyxl
    gives every date as a datetime) is the date."""
    value = cell.value
    if type(value) is datetime and _date_only(getattr(cell, "number_format", "")):
        return value.date()
    return value


@functools.lru_cache(maxsize=256)
def _date_only(number_format: str) -> bool:
    """Whether an Excel number format shows no time of day (no hours or seconds outside quotes and
    brackets: 'yyyy-mm-dd', not 'yyyy-mm-dd hh:mm')."""
    shown = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", number_format).lower()
    return "h" not in shown and "s" not in shown


class _Formulas:
    """The sheet's formulas, read (a second time, in step with the values) only from the first empty cell
    on: a formula whose value no program saved (a workbook written by a script) reads as empty, and
    would be sent as an empty prompt."""

    def __init__(self, target, sheet_name: str, source):
        self.target, self.sheet_name, self.source = target, sheet_name, source
        self.book, self.rows = None, None
        self.at, self.formulas = 0, ()  # the number of the row read last, and its cells' formulas

    def refuse_unsaved(self, number: int, row: tuple) -> None:
        """InputError when an empty cell of row `number` (1-based, the header's is 1) holds a formula."""
        if self.rows is None:
            import openpyxl

            if hasattr(self.target, "seek"):
                self.target.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.book = openpyxl.load_workbook(self.target, read_only=True)
            self.rows = self.book[self.sheet_name].iter_rows(values_only=True)
        while self.at < number:
            self.formulas, self.at = next(self.rows, ()), self.at + 1
        for column, (value, formula) in enumerate(zip(row, self.formulas, strict=False), 1):
            if value is None and type(formula) is str and formula.startswith("="):
                from openpyxl.utils import get_column_letter

                raise InputError(
                    f"{source_name(self.source)}: cell {get_column_letter(column)}{number} holds the formula "
                    f"{formula[:80]!r} but no value for it: the workbook was saved by a program that does not "
                    "calculate; open and save it in Excel or LibreOffice, which save each formula's value"
                )

    def close(self) -> None:
        if self.book is not None:
            self.book.close()


def _unique_names(names: list[str]) -> list[str]:
    """Header names as pandas' CSV reader makes them: blank → 'Unnamed: i'; a repeat → 'name.1', 'name.2',
    … passing over a name the header has (['q', 'q', 'q.1'] → ['q', 'q.2', 'q.1']: a column headed 'q.1'
    keeps its name)."""
    names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]
    present, taken, out = set(names), set(), []
    for name in names:
        new, n = name, 0
        while new in taken or (n and new in present):
            n += 1
            new = f"{name}.{n}"
        taken.add(new)
        out.append(new)
    return out


def _excel_chunks(opened, source, sheet, chunk_rows, told=None) -> Iterator[pd.DataFrame]:
    import pandas as pd

    columns, rows = _excel_rows(opened, source, sheet, told)
    batch: list[tuple] = []
    yielded = False
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk_rows:
            yielded = True
            yield pd.DataFrame(batch, columns=columns, dtype=object)
            batch = []
    if batch or not yielded:
        yield pd.DataFrame(batch, columns=columns, dtype=object)


def _choose_sheet(book, sheet, source) -> str:
    """The name of the sheet `sheet` names (a name or 0-based index), by default the first worksheet; a
    chart sheet holds no table: an InputError."""
    names = book.sheetnames
    tables = [ws.title for ws in book.worksheets]
    if sheet is None or sheet == "":
        if not tables:
            raise InputError(f"{source_name(source)}: the workbook has no worksheet, only chart sheets")
        return tables[0]
    name = None
    if str(sheet) in names:
        name = str(sheet)
    elif isinstance(sheet, int) or str(sheet).isdigit():
        index = int(sheet)
        if 0 <= index < len(names):
            name = names[index]
    if name is None:
        raise InputError(
            f"{source_name(source)}: no sheet {sheet!r}; the workbook has: {', '.join(map(repr, names))}"
        )
    if name not in tables:
        raise InputError(
            f"{source_name(source)}: sheet {name!r} is a chart sheet, which holds no table; name a worksheet: "
            f"{', '.join(map(repr, tables)) or 'the workbook has none'}"
        )
    return name


def sheet_name(source: Source, sheet: str | int | None = None) -> str:
    """The name of the Excel sheet `read_table(source, sheet=sheet)` reads (the first by default)."""
    import openpyxl

    opened = open_source(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(opened, read_only=True)
    except Exception as e:  # as in _excel_rows
        raise InputError(
            f"{source_name(source)}: cannot read as an Excel workbook: {_first_line(e)}"
        ) from None
    try:
        return _choose_sheet(book, sheet, source)
    finally:
        book.close()


# ------------------------------------------------------------------------------------- typing whole frames

_INT_TEXT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # as an integer writes back ("-0" does not: it stays text)


def _typed_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV text columns → nullable dtypes when every non-empty cell reads back exactly as written."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        column = frame[name]
        filled = column[column != ""]
        converted = None
        if len(filled):
            if filled.str.fullmatch(_INT_TEXT.pattern).all():
                converted = pd.array([int(v) if v else None for v in column], dtype="Int64")
            elif filled.isin(("True", "False")).all():
                converted = pd.array([None if not v else v == "True" for v in column], dtype="boolean")
            else:
                try:
                    floats = [float(v) for v in filled]
                except ValueError:
                    floats = None
                # (not "nan" nor "inf": in a float column NaN is a missing cell, and JSON has no infinity,
                # so such a cell would come back empty or null)
                if floats is not None and all(
                    repr(f) == v and math.isfinite(f) for f, v in zip(floats, filled, strict=True)
                ):
                    converted = pd.array([float(v) if v else None for v in column], dtype="Float64")
        if converted is None:
            converted = pd.array([v if v else None for v in column], dtype="string")
        out[name] = converted
    return pd.DataFrame(out, columns=frame.columns)


def _typed_object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (JSON, Excel values) → the nullable dtype pandas infers for their values."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        values = [None if is_missing(v) else v for v in frame[name].tolist()]
        kinds = {type(v) for v in values}
        if int in kinds and float in kinds:  # as written: a Float64 column makes 1 "1.0", 2**53 + 1 another
            out[name] = pd.array(values, dtype=object)
            continue
        try:
            out[name] = pd.array(values)
        except (TypeError, ValueError):
            out[name] = pd.array(values, dtype=object)
    return pd.DataFrame(out, columns=frame.columns)


def _typed_arrow_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed columns → pandas' nullable dtypes where one exists (others stay Arrow-backed)."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        column = frame[name]
        try:
            out[name] = column.convert_dtypes(dtype_backend="numpy_nullable")
        except (TypeError, ValueError, KeyError, NotImplementedError):  # (pandas: KeyError for a date type)
            out[name] = column
    return pd.DataFrame(out, columns=frame.columns)
