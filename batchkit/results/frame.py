"""The merged table as a pandas DataFrame: the result table's columns beside the requests' ids and
models (`to_frame`), optionally after the rows of the source table the requests were built from
(`attach_source`)."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from ..build import row_number_from_id
from ..errors import UsageError
from ..lines import source_name
from ..tables import column_texts, iter_table, read_table, sheet_name, table_files, table_format
from .parsed import ANSWER, PARSE_ERROR, AnswerParser
from .read import OK
from .report import MergeReport
from .requests import RequestIndex
from .table import NA, ResultTable

if TYPE_CHECKING:
    import pandas as pd


def to_frame(
    requests: RequestIndex,
    table: ResultTable,
    *,
    parse_json: bool | None = None,
    flatten: int = 1,
    report: MergeReport | None = None,
    choices: int | None = None,
    embedding: bool | None = None,
) -> pd.DataFrame:
    """One row per request, in input order: custom_id, status, answer, usage and error columns (see
    `columns`); with parse_json (None: when a request asked for a JSON schema) each answer's fields as
    `answer.FIELD` columns (nested `flatten` levels deep) and `parse_error`, counted in `report`."""
    import pandas as pd

    data = {name: _integers(v) if isinstance(v, array) else _text(v) for name, v in columns(
        requests, table, choices=choices, embedding=embedding).items()}  # fmt: skip
    if parse_json or (parse_json is None and requests.expected):
        parsed = _parsed_columns(requests, table, AnswerParser(flatten), report)
        at = list(data).index("finish_reason")  # after the answers, before the rest
        data = dict([*list(data.items())[:at], *parsed.items(), *list(data.items())[at:]])
    return pd.DataFrame(data)


def columns(
    requests: RequestIndex, table: ResultTable, *, choices: int | None = None, embedding: bool | None = None
) -> dict[str, list | array]:
    """The merged table's columns by name: lists of text (or embeddings), and arrays of integers with NA
    where there is no value. The one place the columns are made, for a frame and for a streamed file.

    `choices` (the most answers any row has) and `embedding` (whether there is an embedding column) fix
    the columns when the table is one slice of a larger one; by default this table decides them.
    """
    # the model asked for (the response may name a dated snapshot of it), else the one that answered
    models = requests.models
    if table.answered_by and None in models:
        models = [table.answered_by.get(row) if m is None else m for row, m in enumerate(models)]
    data = {
        "custom_id": requests.ids,
        "status": table.status,
        "status_code": table.status_code,
        "model": models,
        "content": table.content,
    }
    more = table.more_contents
    extra = max(map(len, more.values()), default=0) if choices is None else max(choices - 1, 0)
    for i in range(extra):
        data[f"content_{i + 2}"] = [
            more[row][i] if row in more and len(more[row]) > i else None for row in range(table.rows)
        ]
    data["finish_reason"] = table.finish_reason
    data["tool_calls"] = table.tool_calls
    data["prompt_tokens"] = table.prompt_tokens
    data["completion_tokens"] = table.completion_tokens
    data["total_tokens"] = table.total_tokens
    # parts of prompt_tokens, where the provider reports them (read from a cache, written to one)
    data["cached_tokens"] = table.cached_tokens
    data["cache_write_tokens"] = table.cache_write_tokens
    data["error_code"] = table.error_code
    data["error_message"] = table.error_message
    if embedding is None:
        embedding = table.embedding is not None or any(
            url.rstrip("/").endswith("embeddings") for url in requests.endpoints
        )
    if embedding:
        data["embedding"] = table.embedding if table.embedding is not None else [None] * table.rows
    return data


def _parsed_columns(requests: RequestIndex, table: ResultTable, parser: AnswerParser, report) -> dict:
    """`answer.FIELD` and `parse_error` columns of the answered rows (typed: numbers, booleans, text)."""
    import pandas as pd

    columns: dict[str, list] = {}
    for expected in requests.expected:  # the schema's fields are columns even when no answer has them
        properties = (expected.schema or {}).get("properties")
        for name in properties if type(properties) is dict else ():
            columns.setdefault(f"{ANSWER}.{name}", [None] * table.rows)
    errors = [None] * table.rows
    for row in range(table.rows):
        if table.status[row] != OK:
            continue
        expected = requests.expected_of(row)
        schema, tool = (expected.schema, expected.tool) if expected is not None else (None, None)
        values = parser.row(schema, table.content[row], table.tool_calls[row], table.finish_reason[row], tool)
        errors[row] = values.pop(PARSE_ERROR)
        for name, value in values.items():
            if name not in columns:  # (not setdefault: its default would be built on every call)
                columns[name] = [None] * table.rows
            columns[name][row] = value
    if report is not None:
        report.parsed, report.parse_errors = parser.parsed, parser.counts
    out = {name: pd.Series(values, dtype=object).convert_dtypes() for name, values in sorted(columns.items())}
    out[PARSE_ERROR] = _text(errors)
    return out


def _text(values: list) -> pd.Series:
    import pandas as pd

    # object columns hold the strings already read: no copy, however long the answers are
    return pd.Series(values, dtype=object)


def _integers(values) -> pd.arrays.IntegerArray:
    import numpy as np
    import pandas as pd

    numbers = np.frombuffer(values, dtype=np.int64)
    missing = numbers == NA
    return pd.arrays.IntegerArray(np.where(missing, 0, numbers), missing)


def attach_source(frame, source, id_column, id_prefix, report: MergeReport, sheet=None, encoding=None):
    """The source table's rows with the result columns after them (left join, source order kept).

    `source` is a table file (any format `tables` reads; typed columns) or a DataFrame. Requests find
    their row by the id column's cell text (exactly as build made ids from it) or by the row number
    encoded in a generated id.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        table = source.reset_index(drop=True)
        report.source = "<DataFrame>"
    elif str(source) == "-":
        raise UsageError("source= must be a file: it is read twice (cells as build saw them, then typed)")
    else:
        table = read_table(source, sheet=sheet, encoding=encoding)
        report.source = source_name(source)
        if table_format(table_files(source)[0]) == "xlsx":
            report.source_sheet = sheet_name(source, sheet)
    report.source_rows = len(table)
    if id_column is not None:
        positions = _positions_by_id(frame, table, source, id_column, report, sheet, encoding)
    else:
        positions = _positions_by_row_number(frame, len(table), id_prefix)
    positions = pd.Series(positions, dtype="int64")
    matched = (positions >= 0).to_numpy()
    report.requests_without_source_row = frame["custom_id"][~matched].tolist()
    results = frame[matched]
    results.index = pd.Index(positions[matched].to_numpy())
    report.source_rows_without_request = len(table) - results.index.nunique()
    results = results.rename(columns=result_column_names(list(results.columns), set(map(str, table.columns))))
    return table.join(results, how="left")


def _positions_by_id(frame, table, source, id_column, report, sheet, encoding) -> list[int]:
    """The source row of every request (-1 for none), by the id column's cell text."""
    import pandas as pd

    if id_column not in table.columns:
        raise UsageError(
            f"id_column= {id_column!r} is not a column of {report.source}; its columns are: "
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
    return [position_of.get(cid, -1) for cid in frame["custom_id"]]


def _positions_by_row_number(frame, rows: int, id_prefix: str) -> list[int]:
    """The source row of every request (-1 for none), by the row number in a generated id."""

    positions = []
    for cid in frame["custom_id"]:
        number = row_number_from_id(cid, id_prefix)
        positions.append(number - 1 if number is not None and 0 < number <= rows else -1)
    return positions


def result_column_names(columns: list[str], taken: set[str]) -> dict[str, str]:
    """New names for result columns that clash with source columns: `content` → `content_result` (the
    Dask merge names them the same way)."""
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
