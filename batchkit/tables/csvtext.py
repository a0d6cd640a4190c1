"""CSV text that reads back as the cells it was written from.

Python 3.11's csv module, which pandas writes CSV through, quotes a cell holding the separator, a quote or
a character of the line end: under "\\n" line ends a cell holding a bare carriage return is written
unquoted, and CSV readers (pandas, the csv module, spreadsheets) end the row there, so a model answer
could add rows to a merged table. Here such a cell is quoted too.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def csv_text(columns: list, sep: str, line_end: str) -> str:
    """Rows of cells, given column by column, as CSV text, each row ended by `line_end`: None is empty,
    text as it is, any other value as str() writes it; a cell holding `sep`, a quote (doubled) or a line
    break is quoted. What csv.writer writes (QUOTE_MINIMAL), bare carriage returns aside, three times
    faster: each cell is searched by str methods, where the csv module looks at one character at a time."""
    texts = []
    for column in columns:
        column = [v if type(v) is str else "" if v is None else str(v) for v in column]
        quoted = [
            '"' + v.replace('"', '""') + '"' if (sep in v or '"' in v or "\n" in v or "\r" in v) else v
            for v in column
        ]
        texts.append(quoted)
    if len(texts) == 1:  # as csv.writer: a row of one empty cell is "" (a blank line would be no row)
        texts[0] = [v or '""' for v in texts[0]]
    rows = list(map(sep.join, zip(*texts, strict=True)))
    return line_end.join(rows) + line_end if rows else ""


CSV_ROWS = 4096  # rows made text at a time


def write_frame_csv(frame: pd.DataFrame, out, sep: str, line_end: str, header: bool = True) -> None:
    """`frame` written to the text stream `out` as `frame.to_csv(out, sep=sep, lineterminator=line_end,
    index=False, header=header, quoting=pandas_quoting(...))` writes it: by `csv_text`, CSV_ROWS rows at
    a time, when that quoting is minimal and `frame_cells` can give its cells; else by pandas."""
    quoting = pandas_quoting(frame, sep, line_end)
    if quoting != csv.QUOTE_MINIMAL or frame_cells(frame.iloc[:0]) is None:
        frame.to_csv(out, sep=sep, lineterminator=line_end, index=False, header=header, quoting=quoting)
        return
    if header:
        out.write(csv_text([[str(name)] for name in frame.columns], sep, line_end))
    for start in range(0, len(frame), CSV_ROWS):
        out.write(csv_text(frame_cells(frame.iloc[start : start + CSV_ROWS]), sep, line_end))


# numpy's kinds whose values pandas writes as Python's str() writes them (a float32 it writes shorter)
NUMPY_AS_STR = frozenset("int8 int16 int32 int64 uint8 uint16 uint32 uint64 float64 bool".split())


def frame_cells(frame: pd.DataFrame) -> list[list] | None:
    """The cells of `frame`, column by column, as `csv_text` takes them and pandas' minimal-quoting CSV
    writer writes them: every missing value None, other values as they are. None when a column is of a
    kind pandas formats its own way (dates, categories), or when there is no column or several levels
    of them. (pandas writes numbers as str() writes them: a test compares every kind.) Ten times faster
    than pandas' writer on long texts, which it reads a character at a time."""
    import pandas as pd

    if frame.columns.empty or isinstance(frame.columns, pd.MultiIndex):
        return None
    cells, numbers = [], (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
    for _name, column in frame.items():
        if not (
            column.dtype == object
            or isinstance(column.dtype, pd.StringDtype)
            or isinstance(column.array, numbers)
            or str(column.dtype) in NUMPY_AS_STR
        ):
            return None
        values = column.tolist()
        if column.hasnans:  # (NaN, None, pd.NA alike: pandas writes every missing value empty)
            values = [None if missing else v for v, missing in zip(values, column.isna(), strict=True)]
        cells.append(values)
    return cells


def pandas_quoting(frame: pd.DataFrame, sep: str, line_end: str) -> int:
    """The `quoting` for `frame.to_csv(sep=sep, lineterminator=line_end)`: the csv module's minimal
    quoting, unless a column name or text cell holds a carriage return it would leave bare (see above);
    then every cell is quoted."""
    if "\r" in line_end or not any(_bare_return(texts, sep) for texts in _texts(frame)):
        return csv.QUOTE_MINIMAL
    return csv.QUOTE_ALL


def _texts(frame: pd.DataFrame):
    """The column names, then each text column's cells that are text."""
    import pandas as pd

    yield [str(name) for name in frame.columns]
    for _name, column in frame.items():
        if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
            yield [v for v in column.tolist() if type(v) is str]


def _bare_return(texts: list[str], sep: str) -> bool:
    """Whether a text holds a carriage return and nothing minimal quoting quotes (one search of all the
    text first: most hold no carriage return)."""
    if "\r" not in "".join(texts):
        return False
    return any("\r" in v and "\n" not in v and '"' not in v and sep not in v for v in texts)
