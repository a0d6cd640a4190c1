"""Writing tables by extension (CSV, TSV, XLSX, Parquet, JSON, JSONL), atomically."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ..atomic import atomic_path, cannot_write
from ..errors import InputError, UsageError
from .cells import cell_text, is_missing, mixed_kinds
from .csvtext import write_frame_csv
from .sources import compression_of, table_format

if TYPE_CHECKING:
    import pandas as pd

EXACT_IN_EXCEL = 2**53  # the widest integer a double (Excel's number) holds exactly
WRITE_ROWS = 10_000  # rows converted at a time when writing JSONL or Parquet (one row group each)


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
    compression = compression_of(path)
    if compression and fmt not in ("csv", "tsv", "jsonl"):
        raise UsageError(f"{path}: compression is supported for CSV, TSV and JSONL only")
    try:
        with atomic_path(path) as tmp:
            if fmt in ("csv", "tsv"):
                encoding = "utf-8-sig" if excel else "utf-8"
                with io.TextIOWrapper(_opened(tmp, compression), encoding=encoding, newline="") as out:
                    sep = "\t" if fmt == "tsv" else ","
                    write_frame_csv(nested_as_json(df), out, sep, "\r\n" if excel else "\n")
            elif fmt == "xlsx":
                _write_xlsx(df, tmp, sheet)
            elif fmt == "parquet":
                _write_parquet(df, tmp)
            elif fmt == "jsonl":
                with _opened(tmp, compression) as out:
                    out.writelines(jsonl_rows(df))
            else:
                text = ",\n".join(line.decode().rstrip("\n") for line in jsonl_rows(df))
                tmp.write_text(f"[\n{text}\n]\n" if text else "[]\n", encoding="utf-8")
    except OSError as e:
        raise cannot_write(path, e) from None
    return path


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet in row groups of WRITE_ROWS, so Arrow never holds a second copy of the whole frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The schema from the dtypes alone: inferring it from the whole frame would convert every cell. A column
    # of Python objects has no dtype to tell, so its type comes from its first non-empty values.
    # Values of different kinds (text beside numbers) fit no one Arrow type: such a column is text.
    schema = pa.Schema.from_pandas(df.head(0), preserve_index=False)
    mixed = []
    for i, column in enumerate(schema):
        if pa.types.is_null(column.type):
            values = df[column.name].dropna().tolist()
            kind = _arrow_type(values)
            if kind is None:
                mixed.append(column.name)
                schema = schema.set(i, column.with_type(pa.string()))
            elif values:
                schema = schema.set(i, column.with_type(kind))
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(df), 1), WRITE_ROWS):
            part = as_text_columns(df.iloc[start : start + WRITE_ROWS], mixed)
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def _arrow_type(values: list):
    """The one Arrow type of a column's values, None for values no one type holds (text beside numbers, a
    field a list in one row and text in another)."""
    import pyarrow as pa

    if mixed_kinds(values):
        return None
    try:
        return pa.array(values, from_pandas=True).type
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        TypeError,
        ValueError,
        OverflowError,
    ):
        return None


def nested_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the lists and objects of its columns of Python objects written as JSON text (as a
    template inserts them), where CSV would write Python's own repr (`{'k': [1, 2]}`)."""
    nested = [
        name
        for name, dtype in frame.dtypes.items()
        if _may_nest(dtype) and any(_nests(v) for v in frame[name].tolist())
    ]
    import pandas as pd

    # each cell as `tolist` gives it: an Arrow list or struct's values exactly (iterating the column gave
    # numpy arrays, an integer list with a null became [1.0, NaN, 2.0], which is no JSON)
    return frame.assign(
        **{
            str(name): pd.Series([as_text(v) for v in frame[name].tolist()], index=frame.index, dtype=object)
            for name in nested
        }
    )


def _nests(value) -> bool:
    """Whether a cell holds a list or object (an array of numpy or Arrow among them); text and numbers,
    most cells, are answered without looking for an attribute."""
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return False
    return isinstance(value, dict | list | tuple) or hasattr(value, "tolist")


def _may_nest(dtype) -> bool:
    """Whether a column of this dtype may hold lists or objects: Python objects, or Arrow's nested types."""
    if getattr(dtype, "kind", None) == "O":
        return True
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if arrow is None:
        return False
    import pyarrow as pa

    return pa.types.is_nested(arrow)


def as_text_columns(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """`frame` with the columns `names` as text: strings as they are, other values as JSON, missing ones
    missing (a column of mixed kinds, for Parquet)."""
    if not names:
        return frame
    return frame.assign(**{name: frame[name].map(as_text, na_action="ignore") for name in names})


def as_text(value) -> str | None:
    """A cell of a text column: strings as they are, other values as JSON, None for a missing one."""
    if is_missing(value):
        return None
    if type(value) is str:
        return value
    if hasattr(value, "tolist"):  # an array of numpy (a list from Arrow) or one of its scalars
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def jsonl_rows(df: pd.DataFrame) -> Iterator[bytes]:
    """Each row of `df` as one JSON line: keys in column order, every number as it is (pandas' own writer
    keeps 10 digits of a float), dates and times in ISO 8601, a missing cell null; '/' escaped as pandas
    writes it (`\\/`), so that every path of a merge writes the same bytes."""
    names = [str(name) for name in df.columns]
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_APPEND_NEWLINE
    for row in df.itertuples(index=False, name=None):
        record = dict(zip(names, row, strict=True))
        try:
            line = orjson.dumps(record, default=_json_value, option=option)
        except orjson.JSONEncodeError:  # an integer wider than 64 bits: Python's json writes it exactly
            exact = {k: None if is_missing(v) else v for k, v in record.items()}
            line = (
                json.dumps(exact, default=_json_value, ensure_ascii=False, separators=(",", ":")) + "\n"
            ).encode()
        yield line.replace(b"/", b"\\/")


def _json_value(value):
    """What orjson does not write itself: missing values, dates and times, decimals, other objects."""
    if is_missing(value):
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "tolist"):  # an array (or scalar) of numpy or arrow
        return value.tolist()
    return str(value)


def _opened(path: Path, compression: str | None):
    """`path` open for writing bytes, through `compression` (by the output's extension) when named."""
    if compression == "gzip":
        import gzip

        return gzip.open(path, "wb")
    if compression == "bz2":
        import bz2

        return bz2.open(path, "wb")
    if compression == "xz":
        import lzma

        return lzma.open(path, "wb")
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise UsageError(
                "writing a .zst file needs the zstandard package: pip install zstandard"
            ) from None
        return zstandard.open(path, "wb")
    return open(path, "wb")


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
        book.save(path)
    except IllegalCharacterError:
        _abandon(worksheet)
        raise InputError(f"{path}: a cell holds a character XML forbids (control characters)") from None
    except BaseException:
        _abandon(worksheet)
        raise


def _abandon(worksheet) -> None:
    """Close what a failed write-only sheet keeps open (its rows and its XML stream), so nothing tries to
    write it again (and fails again, on a full disk) when it is collected."""
    for close in (worksheet.close, lambda: worksheet._writer.xf.close()):
        with contextlib.suppress(Exception):
            close()


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
    if kind is int and abs(value) > EXACT_IN_EXCEL:
        return str(value)  # Excel's numbers are doubles: a wider integer is kept exact as text
    if kind in (str, int, float, bool):
        return None if kind is float and math.isnan(value) else value
    if is_missing(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return str(value)  # Excel has no time zones
    if isinstance(value, (datetime, date)):
        return value
    import numpy as np

    if isinstance(value, np.generic):
        return _xlsx_value(value.item())
    return cell_text(value)  # lists, dicts, arrays and anything else as text
