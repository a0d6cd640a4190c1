"""Reading and writing tables (CSV, TSV, Excel, Parquet, JSON array, JSONL) through pandas, pyarrow and openpyxl.

Two ways to read, because the builder and the merger need different things:

- `iter_table(...)` streams a table in chunks of at most `chunk_rows` rows with *exact* cells: CSV and TSV
  cells are the strings in the file ("" for an empty cell; "007", "3", "NA" stay as written), every other
  format gives its own values without pandas' float-for-int widening (an integer column with gaps keeps
  Python ints, a JSON `3.0` stays a float). `cell_text(value)` turns such a cell into the text a template
  inserts. CSV and JSONL are read in chunks and Parquet by record batches, so memory stays bounded; an Excel
  sheet or a JSON array file is read whole (openpyxl and JSON arrays cannot stream) and then chunked.
- `read_table(...)` reads a whole table into one DataFrame, by default with *typed* columns: pandas'
  nullable dtypes (Int64, Float64, boolean, string) inferred without loss, so an integer column with an
  empty cell stays integer and a CSV column of ids such as "007" stays text.

Row numbers: the n-th data row read (1-based, the header is not a row; pandas skips blank CSV lines) is
row n, in both ways of reading, so `iter_table` and `read_table` agree on which row is which.

`write_table(df, path)` writes CSV, TSV, XLSX, Parquet, JSON or JSONL by the path's extension (a trailing
.gz/.bz2/.xz/.zst compresses CSV, TSV and JSONL), atomically. Writing '-' (standard output) is the caller's
job: `df.to_csv(sys.stdout, index=False)`.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import warnings
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from .errors import InputError, UsageError
from .jsonl import atomic_path, source_name

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "tsv", "xlsx", "parquet", "json", "jsonl")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
CHUNK_ROWS = 50_000
WRITE_ROWS = 10_000  # rows converted at a time when writing JSONL or Parquet (one row group each)

Source = str | os.PathLike | BinaryIO


def _compression(path: Path) -> str | None:
    return COMPRESSIONS.get(path.suffix.lower())


def table_format(source: Source, fmt: str | None = None) -> str:
    """The format to read or write `source` as: `fmt` when given, else by extension; '-' is CSV."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS:
            raise UsageError(f"unknown table format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    if hasattr(source, "read") or str(source) == "-":
        return "csv"
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in COMPRESSIONS:
        suffix = Path(path.stem).suffix.lower()
    try:
        return EXTENSIONS[suffix]
    except KeyError:
        known = ", ".join(sorted(EXTENSIONS))
        raise UsageError(
            f"{path}: cannot tell the table format from the extension {path.suffix or '(none)'!r}; "
            f"use one of {known} or pass input_format="
        ) from None


def _open_source(source: Source):
    """A path (checked to exist) or an open binary stream for '-' / a file object / an fsspec URL."""
    if hasattr(source, "read"):
        return source
    if str(source) == "-":
        return sys.stdin.buffer
    if is_url(source):
        return open_url(source)
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a table")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return path


def _decode_error(source: Source, encoding: str | None, error: UnicodeDecodeError) -> InputError:
    used = encoding or "utf-8"
    return InputError(
        f"{source_name(source)}: cannot decode the file as {used} (found byte 0x{error.object[error.start]:02x}); "
        "pass encoding= with the file's encoding, for example encoding=cp1252 or encoding=latin-1"
    )


# ---------------------------------------------------------------------------------------------------- reading


def is_url(source) -> bool:
    """Whether `source` names a file through fsspec (s3://, gs://, file://, …)."""
    return isinstance(source, (str, os.PathLike)) and "://" in os.fspath(source)


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"{url}: reading URLs needs fsspec (pip install fsspec, and the backend, e.g. s3fs)"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise UsageError(f"{url}: {e}") from None


def open_url(url: str):
    """An open binary file for an fsspec URL (the caller closes it)."""
    fs, path = _filesystem(os.fspath(url))
    try:
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{url}: no such file") from None
    except OSError as e:
        raise InputError(f"{url}: cannot read: {e}") from None


def _url_files(url: str) -> list[str]:
    fs, path = _filesystem(url)
    if any(c in path for c in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.lower().endswith((".parquet", ".pq")))
    else:
        return [url]
    if not found:
        raise InputError(f"{url}: no file matches")
    return [fs.unstrip_protocol(p) for p in found]


def table_files(source: Source) -> list:
    """The files one table is made of, in row order: a folder holds a partitioned dataset (its Parquet
    files, sorted by path), a pattern with * ? or [ names the files it matches (sorted); anything else is
    itself."""
    if hasattr(source, "read") or str(source) == "-":
        return [source]
    text = os.fspath(source)
    if is_url(text):
        return _url_files(text)
    if any(c in text for c in "*?["):
        import glob

        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise InputError(f"{text}: no file matches")
        return files
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise InputError(
                f"{path}: a folder, but it holds no Parquet files (a partitioned table is a folder of them)"
            )
        return files
    return [source]


def iter_table(
    source: Source,
    fmt: str | None = None,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Chunks of a table as DataFrames of exact cells (see the module docstring), at most `chunk_rows` rows
    each, in row order. Always yields at least one frame, so a table with a header and no rows still tells
    its columns. Rows are numbered 1, 2, … across the chunks in order (see the module docstring).

    source: a path, '-' (CSV on standard input) or an open binary file; fmt: one of FORMATS (default: by
    extension); sheet: an Excel sheet name or 0-based index (default the first); encoding: the text
    encoding of CSV/TSV/JSON/JSONL (default UTF-8, a byte-order mark is skipped).
    A folder of Parquet files or a file pattern is one table (see `table_files`), read file after file.
    Raises InputError for a file that cannot be read as that format, UsageError for bad arguments.
    """
    files = table_files(source)
    if len(files) > 1 or files[0] is not source:
        for file in files:
            yield from iter_table(file, fmt, sheet=sheet, encoding=encoding, chunk_rows=chunk_rows)
        return
    fmt = table_format(source, fmt)
    opened = _open_source(source)
    if fmt in ("csv", "tsv"):
        chunks = _csv_chunks(opened, source, fmt, encoding, chunk_rows)
    elif fmt == "jsonl":
        chunks = _jsonl_chunks(opened, source, encoding, chunk_rows)
    elif fmt == "json":
        chunks = _slices(_json_array(opened, source, encoding), chunk_rows)
    elif fmt == "parquet":
        chunks = _parquet_chunks(opened, source, chunk_rows)
    else:
        chunks = _excel_chunks(opened, source, sheet, chunk_rows)
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
    chunks = list(iter_table(source, fmt, sheet=sheet, encoding=encoding, chunk_rows=1_000_000))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    frame = frame.reset_index(drop=True)
    if not typed:
        return frame
    if fmt in ("csv", "tsv"):
        return _typed_text_columns(frame)
    if fmt == "parquet":
        return _typed_arrow_columns(frame)
    return _typed_object_columns(frame)


def _csv_chunks(opened, source, fmt, encoding, chunk_rows):
    import pandas as pd

    compression = _compression(opened) if isinstance(opened, Path) else None
    try:
        reader = pd.read_csv(
            opened,
            sep="\t" if fmt == "tsv" else ",",
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            encoding=encoding or "utf-8",
            compression=compression,
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
        raise _decode_error(source, encoding, e) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{source_name(source)}: the table is empty (no header row)") from None
    except pd.errors.ParserError as e:
        raise InputError(f"{source_name(source)}: cannot read as {fmt.upper()}: {_first_line(e)}") from None
    except pd.errors.ParserWarning:
        raise InputError(
            f"{source_name(source)}: cannot read as {fmt.upper()}: a row has more fields than the header"
        ) from None
    except LookupError:
        raise UsageError(f"unknown encoding {encoding!r}") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _text_stream(opened, source, encoding) -> io.TextIOBase:
    """A text stream over a path or binary stream; a UTF-8 byte-order mark is skipped."""
    if isinstance(opened, Path):
        compression = _compression(opened)
        if compression:
            import bz2
            import gzip
            import lzma

            openers = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
            if compression not in openers:
                raise UsageError(f"{opened}: {compression} compression is read for CSV only")
            binary = openers[compression](opened, "rb")
        else:
            binary = open(opened, "rb")
    else:
        binary = opened
    try:
        return io.TextIOWrapper(binary, encoding=_python_encoding(encoding), newline=None)
    except LookupError:
        raise UsageError(f"unknown encoding {encoding!r}") from None


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
                record = orjson.loads(line)
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
        raise _decode_error(source, encoding, e) from None
    finally:
        if isinstance(opened, Path):
            stream.close()
        else:
            stream.detach()


def _union_keys(records: list[dict]) -> list[str]:
    """Column names in order of first appearance (the first chunk decides the columns of the table)."""
    return list(dict.fromkeys(key for record in records for key in record))


def _json_array(opened, source, encoding) -> pd.DataFrame:
    stream = _text_stream(opened, source, encoding)
    try:
        text = stream.read()
    except UnicodeDecodeError as e:
        raise _decode_error(source, encoding, e) from None
    finally:
        if isinstance(opened, Path):
            stream.close()
        else:
            stream.detach()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InputError(
            f"{source_name(source)}: not valid JSON ({e.msg}); a .json table is one array of objects; for one "
            "object per line name the file .jsonl or pass input_format=jsonl"
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


def _parquet_chunks(opened, source, chunk_rows):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(opened if isinstance(opened, Path) else io.BytesIO(opened.read()))
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{source_name(source)}: cannot read as Parquet: {_first_line(e)}") from None
    yielded = False
    # ArrowDtype columns keep integers with nulls as integers, and every other Arrow type as it is.
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        yielded = True
        yield batch.to_pandas(types_mapper=pd.ArrowDtype)
    if not yielded:
        yield parquet.schema_arrow.empty_table().to_pandas(types_mapper=pd.ArrowDtype)


def _excel_rows(opened, source, sheet) -> tuple[list[str], Iterator[tuple]]:
    """Column names and an iterator of value rows, read by openpyxl in read-only (streaming) mode."""
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
    sheet_name = _choose_sheet(book.sheetnames, sheet, source)
    rows = book[sheet_name].iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        book.close()
        raise InputError(f"{source_name(source)}: sheet {sheet_name!r} is empty (no header row)")
    while header and header[-1] is None:
        header = header[:-1]
    columns = _unique_names(["" if h is None else str(h) for h in header])
    width = len(columns)

    def values():
        try:
            for row in rows:
                row = tuple(None if v == "" else v for v in row[:width])
                if all(v is None for v in row):
                    continue  # blank rows are skipped, as pandas skips blank CSV lines
                yield row + (None,) * (width - len(row))
        finally:
            book.close()

    return columns, values()


def _unique_names(names: list[str]) -> list[str]:
    """Header names as pandas makes them: blank → 'Unnamed: i', repeats → 'name.1', 'name.2'."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"Unnamed: {i}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def _excel_chunks(opened, source, sheet, chunk_rows) -> Iterator[pd.DataFrame]:
    import pandas as pd

    columns, rows = _excel_rows(opened, source, sheet)
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


def _choose_sheet(names: list[str], sheet, source) -> str:
    if sheet is None or sheet == "":
        return names[0]
    if str(sheet) in names:
        return str(sheet)
    if isinstance(sheet, int) or str(sheet).isdigit():
        index = int(sheet)
        if 0 <= index < len(names):
            return names[index]
    raise InputError(
        f"{source_name(source)}: no sheet {sheet!r}; the workbook has: {', '.join(map(repr, names))}"
    )


def sheet_name(source: Source, sheet: str | int | None = None) -> str:
    """The name of the Excel sheet `read_table(source, sheet=sheet)` reads (the first by default)."""
    import openpyxl

    opened = _open_source(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(opened, read_only=True)
    except Exception as e:  # as in _excel_rows
        raise InputError(
            f"{source_name(source)}: cannot read as an Excel workbook: {_first_line(e)}"
        ) from None
    try:
        return _choose_sheet(book.sheetnames, sheet, source)
    finally:
        book.close()


# ------------------------------------------------------------------------------------- typing whole frames

_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")


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
                if floats is not None and all(repr(f) == v for f, v in zip(floats, filled, strict=True)):
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
        values = [None if _missing(v) else v for v in frame[name].tolist()]
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
        except (TypeError, ValueError, NotImplementedError):
            out[name] = column
    return pd.DataFrame(out, columns=frame.columns)


# ----------------------------------------------------------------------------------------------- cells


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return False
    return value is pd.NA or value is pd.NaT


def cell_text(value) -> str | None:
    """The text a template inserts for a cell, or None for a missing cell (None, NaN, <NA>, NaT).

    Strings as they are; whole numbers without a decimal point ("3"); floats as Python writes them
    ("2.5", "3.0", "1e+20"); booleans "True"/"False"; lists and dicts as compact JSON; dates ISO-like.
    """
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return None
    if kind is bool:
        return "True" if value else "False"
    if kind is int:
        return str(value)
    if kind is float:
        return None if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    import numpy as np

    if isinstance(value, np.bool_):
        return "True" if value else "False"
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return None if np.isnan(value) else repr(float(value))
    if isinstance(value, np.ndarray):
        return orjson.dumps(value.tolist(), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    if _missing(value):
        return None
    if isinstance(value, (datetime, date)):
        return str(value)
    return str(value)


def column_texts(column: pd.Series) -> list[str | None]:
    """`cell_text` of every cell of a column, fast for the common all-strings column."""
    values = column.tolist()
    if column.dtype == object or str(column.dtype) in ("str", "string", "string[pyarrow]"):
        if all(type(v) is str for v in values):
            return values
    return [cell_text(v) for v in values]


def column_values(column: pd.Series) -> list:
    """The cells of a column as plain Python values (None for missing), e.g. for a messages column."""
    return [None if _missing(v) else (v.tolist() if hasattr(v, "tolist") else v) for v in column.tolist()]


# ----------------------------------------------------------------------------------------------- writing


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    sheet: str = "Sheet1",
    excel: bool = False,
) -> Path:
    """Write `df` (without its index) to `path` as CSV, TSV, XLSX, Parquet, JSON (array) or JSONL, chosen by
    `fmt` or the extension; atomic (the file appears whole or not at all). Returns the path written.
    UTF-8 throughout; JSON/JSONL keep non-ASCII characters as they are. '-' is not accepted here: write
    `df.to_csv(sys.stdout, index=False)` instead.

    XLSX cells that hold text are written as text, never as formulas (a cell "=1+1" stays those
    characters); characters XML forbids raise InputError (clean them first, see results.export).
    excel=True writes CSV/TSV as Excel opens them without asking: a UTF-8 byte-order mark and CRLF lines.
    """
    path = Path(path)
    if str(path) == "-":
        raise UsageError("write_table cannot write to standard output; use df.to_csv(sys.stdout)")
    fmt = table_format(path, fmt)
    compression = _compression(path)
    if compression and fmt not in ("csv", "tsv", "jsonl"):
        raise UsageError(f"{path}: compression is supported for CSV, TSV and JSONL only")
    try:
        with atomic_path(path) as tmp:
            if fmt in ("csv", "tsv"):
                df.to_csv(
                    tmp,
                    sep="\t" if fmt == "tsv" else ",",
                    index=False,
                    encoding="utf-8-sig" if excel else "utf-8",
                    lineterminator="\r\n" if excel else "\n",
                    compression=compression,
                )
            elif fmt == "xlsx":
                _write_xlsx(df, tmp, sheet)
            elif fmt == "parquet":
                _write_parquet(df, tmp)
            elif fmt == "jsonl":
                # In slices: pandas builds the whole text of what it writes, a second copy of every cell.
                for start in range(0, len(df), WRITE_ROWS):
                    df.iloc[start : start + WRITE_ROWS].to_json(
                        tmp,
                        orient="records",
                        lines=True,
                        mode="a",
                        force_ascii=False,
                        date_format="iso",
                        compression=compression,
                    )
            else:
                df.to_json(tmp, orient="records", force_ascii=False, date_format="iso", indent=1)
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror or e}") from None
    return path


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet in row groups of WRITE_ROWS, so Arrow never holds a second copy of the whole frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The schema from the dtypes alone: inferring it from the whole frame would convert every cell. A column
    # of Python objects has no dtype to tell, so its type comes from its first non-empty values.
    schema = pa.Schema.from_pandas(df.head(0), preserve_index=False)
    for i, column in enumerate(schema):
        if pa.types.is_null(column.type):
            values = df[column.name].dropna()
            if len(values):
                schema = schema.set(
                    i, column.with_type(pa.infer_type(values.iloc[:1000].tolist(), from_pandas=True))
                )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(df), 1), WRITE_ROWS):
            part = df.iloc[start : start + WRITE_ROWS]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def _write_xlsx(df: pd.DataFrame, path: Path, sheet: str) -> None:
    """One sheet, streamed (openpyxl's write-only mode); text is text, never a formula."""
    import openpyxl
    from openpyxl.utils.exceptions import IllegalCharacterError

    book = openpyxl.Workbook(write_only=True)
    worksheet = book.create_sheet(title=sheet)
    text = _xlsx_text(worksheet)
    try:
        worksheet.append([text(str(name)) for name in df.columns])
        columns = [[_xlsx_value(v) for v in df[name].tolist()] for name in df.columns]
        for row in zip(*columns, strict=True):
            worksheet.append([text(v) if type(v) is str else v for v in row])
    except IllegalCharacterError:
        raise InputError(f"{path}: a cell holds a character XML forbids (control characters)") from None
    book.save(path)


def _xlsx_text(worksheet):
    from openpyxl.cell import WriteOnlyCell

    def text(value: str):
        if not value.startswith("="):
            return value
        cell = WriteOnlyCell(worksheet, value)
        cell.data_type = "s"  # openpyxl takes a leading '=' for a formula; this is text
        return cell

    return text


def _xlsx_value(value):
    """A cell value openpyxl writes: missing values empty, lists and other objects as their text."""
    kind = type(value)
    if kind in (str, int, float, bool):
        return None if kind is float and math.isnan(value) else value
    if _missing(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return str(value)  # Excel has no time zones
    if isinstance(value, (datetime, date)):
        return value
    import numpy as np

    if isinstance(value, np.generic):
        return _xlsx_value(value.item())
    return cell_text(value)  # lists, dicts, arrays and anything else as text
