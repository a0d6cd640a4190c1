"""Cells as text: what a template inserts for a cell of any type, and a column's cells as plain values."""

from __future__ import annotations

import math
import numbers
from datetime import timedelta
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import pandas as pd


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return False
    return value is pd.NA or value is pd.NaT


def mixed_kinds(values) -> bool:
    """Whether `values` (missing ones aside) are of kinds no one Arrow column holds together: numbers of
    either type go together, any other type only with itself."""
    return len({_kind(v) for v in values if not is_missing(v)}) > 1


def _kind(value) -> type:
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return numbers.Number  # Python's and numpy's ints and floats alike
    return type(value)


def cell_text(value) -> str | None:
    """The text a template inserts for a cell, or None for a missing cell (None, NaN, <NA>, NaT).

    Strings as they are; whole numbers without a decimal point ("3"); floats as Python writes them
    ("2.5", "3.0", "1e+20"); booleans "True"/"False"; lists and dicts as compact JSON; dates ISO-like;
    durations as hours, minutes and seconds.
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
    if is_missing(value):
        return None
    if isinstance(value, timedelta):
        return duration_text(value)
    return str(value)


def duration_text(value: timedelta) -> str:
    """A duration in hours, minutes and seconds, as a spreadsheet shows one ([h]:mm:ss): 25 hours is
    "25:00:00" (Python writes "1 day, 1:00:00"); fractions of a second after a point."""
    micro = value // timedelta(microseconds=1)
    sign, micro = ("-", -micro) if micro < 0 else ("", micro)
    seconds, fraction = divmod(micro, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}".rstrip("0") if fraction else text


def column_texts(column: pd.Series) -> list[str | None]:
    """`cell_text` of every cell of a column, fast for the common all-strings column."""
    values = column.tolist()
    if column.dtype == object or str(column.dtype) in ("str", "string", "string[pyarrow]"):
        if all(type(v) is str for v in values):
            return values
    return [cell_text(v) for v in values]


def column_values(column: pd.Series) -> list:
    """The cells of a column as plain Python values (None for missing), e.g. for a messages column."""
    return [None if is_missing(v) else (v.tolist() if hasattr(v, "tolist") else v) for v in column.tolist()]


def id_texts(values: list) -> tuple[list[str | None], int]:
    """The custom_id texts of a column's cells (see `column_values`) and how many were whole-number floats:
    a float that holds a whole number is written as the integer it is (`101.0` → "101": pandas reads an
    integer column with a gap as floats), every other cell as `cell_text` writes it."""
    texts, floats = [], 0
    for value in values:
        if isinstance(value, float) and value.is_integer():
            texts.append(str(int(value)))
            floats += 1
        else:
            texts.append(cell_text(value))
    return texts, floats
