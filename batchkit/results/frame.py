"""The merged table as a pandas DataFrame: the result table's columns beside the requests' ids and
models (`to_frame`), optionally after the rows of the source table the requests were built from
(`attach_source`)."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from ..build import make_id, row_number_from_id
from ..errors import MergeRefused, UsageError
from ..lines import source_name
from ..tables import column_values, id_texts, iter_table, read_table, sheet_name, table_files, table_format
from ..words import Option, Text
from .parsed import ANSWER, PARSE_ERROR, AnswerParser
from .read import OK
from .report import MergeReport
from .requests import RequestIndex
from .table import NA, ResultTable

if TYPE_CHECKING:
    import pandas as pd

DEDUPE_MARK = "~"  # `fix --dedupe-ids` renames a repeated id ID~2, ID~3, …
MAX_COLUMNS_TRIED = 200  # source columns looked at for a better id column


def to_frame(
    requests: RequestIndex,
    table: ResultTable,
    *,
    parse_json: bool | None = None,
    flatten: int = 1,
    report: MergeReport | None = None,
    choices: int | None = None,
    embedding: bool | None = None,
    stale: bool | None = None,
) -> pd.DataFrame:
    """One row per request, in input order: custom_id, status, answer, usage and error columns (see
    `columns`); with parse_json (None: when a request asked for a JSON schema) each answer's fields as
    `answer.FIELD` columns (nested `flatten` levels deep) and `parse_error`, counted in `report`."""
    import pandas as pd

    data = {name: _integers(v) if isinstance(v, array) else _text(v) for name, v in columns(
        requests, table, choices=choices, embedding=embedding, stale=stale).items()}  # fmt: skip
    if parse_json or (parse_json is None and requests.expected):
        parsed = _parsed_columns(requests, table, AnswerParser(flatten), report)
        at = list(data).index("finish_reason")  # after the answers, before the rest
        data = dict([*list(data.items())[:at], *parsed.items(), *list(data.items())[at:]])
    return pd.DataFrame(data)


def columns(
    requests: RequestIndex,
    table: ResultTable,
    *,
    choices: int | None = None,
    embedding: bool | None = None,
    stale: bool | None = None,
) -> dict[str, list | array]:
    """The merged table's columns by name: lists of text (or embeddings), and arrays of integers with NA
    where there is no value. The one place the columns are made, for a frame and for a streamed file.

    `choices` (the most answers any row has), `embedding` (whether there is an embedding column) and
    `stale` (whether there is a stale column: answers merged with allow_stale=True) fix the columns when
    the table is one slice of a larger one; by default this table decides them.
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
    data["error_code"] = table.error_code
    data["error_message"] = table.error_message
    if embedding is None:
        embedding = table.embedding is not None or any(
            url.rstrip("/").endswith("embeddings") for url in requests.endpoints
        )
    if embedding:
        data["embedding"] = table.embedding if table.embedding is not None else [None] * table.rows
    data["batch_id"] = [table.batch_id(row) for row in range(table.rows)]
    if stale or (stale is None and table.stale):
        data["stale"] = [table.stale.get(row) for row in range(table.rows)]
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


def attach_source(
    frame, source, id_column, id_prefix, report: MergeReport, sheet=None, encoding=None, delimiter=None
):
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
        raise UsageError(
            Text(Option("source"), " must be a file: it is read twice (cells as build saw them, then typed)")
        )
    else:
        table = read_table(
            source, sheet=sheet, encoding=encoding, delimiter=delimiter, told=report.notes.append
        )
        report.source = source_name(source)
        if table_format(table_files(source)[0]) == "xlsx":
            report.source_sheet = sheet_name(source, sheet)
    report.source_rows = len(table)
    if id_column is not None:
        read = {"sheet": sheet, "encoding": encoding, "delimiter": delimiter}
        positions = _positions_by_id(frame, table, source, id_column, report, read)
    else:
        positions = _positions_by_row_number(frame, len(table), id_prefix)
    positions = pd.Series(positions, dtype="int64")
    matched = (positions >= 0).to_numpy()
    report.requests_without_source_row = frame["custom_id"][~matched].tolist()
    results = frame[matched]
    results.index = pd.Index(positions[matched].to_numpy())
    report.source_rows_without_request = len(table) - results.index.nunique()
    if report.requests_without_source_row or report.source_rows_without_request:
        report.better_id_column = _better_id_column(frame["custom_id"], table, id_column, int(matched.sum()))
    if len(frame) and not matched.any():
        raise MergeRefused(_nothing_joined(frame["custom_id"].tolist(), report, id_column, id_prefix), report)
    results = results.rename(columns=result_column_names(list(results.columns), set(map(str, table.columns))))
    return table.join(results, how="left")


def _positions_by_id(frame, table, source, id_column, report, read: dict) -> list[int]:
    """The source row of every request (-1 for none), by the id column's cell text."""
    import pandas as pd

    if id_column not in table.columns:
        raise UsageError(
            Text(
                Option("id_column"),
                f" {id_column!r} is not a column of {report.source}; its columns are: "
                + ", ".join(map(str, table.columns)),
            )
        )
    if isinstance(source, pd.DataFrame):
        keys = id_texts(column_values(table[id_column]))[0]
    else:
        # the exact cells, as build read them, so "007" stays "007", 3 is "3" and 101.0 is "101"
        keys = [
            key
            for chunk in iter_table(source, **read)
            for key in id_texts(column_values(chunk[id_column]))[0]
        ]
    rows_of: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        if key is not None:
            rows_of.setdefault(key, []).append(position)
    return _by_key(frame["custom_id"], rows_of)


def _by_key(custom_ids, rows_of: dict[str, list[int]]) -> list[int]:
    """The source row of every custom_id (-1 for none): the first row whose id it is. An id that
    `fix --dedupe-ids` renamed (`A-003~2`, `A-003~3`, … in the order of the file) takes the next row
    with the id it was renamed from, so each renamed request's answer lands on the row it was built from."""
    renamed: dict[str, int] = {}  # id renamed from → rows its renamed ids took (the first is the id's own)
    positions = []
    for cid in custom_ids:
        rows = rows_of.get(cid)
        if rows is not None:
            positions.append(rows[0])
            continue
        base, sep, number = cid.rpartition(DEDUPE_MARK)
        rows = rows_of.get(base) if sep and number.isdigit() else None
        taken = renamed.get(base, 1)
        if rows is not None and taken < len(rows):
            positions.append(rows[taken])
            renamed[base] = taken + 1
        else:
            positions.append(-1)
    return positions


def _better_id_column(custom_ids, table, id_column: str | None, matched: int) -> str | None:
    """A column of the source whose cells are more of the custom_ids than the rows matched (the id
    column a merge should have been given), or None."""
    wanted = set(custom_ids)
    best, best_hits = None, matched
    for name in list(table.columns)[:MAX_COLUMNS_TRIED]:
        if name == id_column:
            continue
        hits = len(wanted.intersection(id_texts(column_values(table[name]))[0]))
        if hits > best_hits:
            best, best_hits = str(name), hits
    return best


def _nothing_joined(custom_ids: list[str], report: MergeReport, id_column, id_prefix: str) -> Text:
    """Why no source row got a result, and what to pass instead."""
    sample = ", ".join(custom_ids[:3]) + (", …" if len(custom_ids) > 3 else "")
    if id_column is not None:
        why = f"none of the {len(custom_ids):,} custom_ids ({sample}) is a value of its column {id_column!r}"
    else:
        generated = f"{make_id(1, id_prefix)}, {make_id(2, id_prefix)}, …"
        why = Text(
            "without ",
            Option("id_column"),
            f" its rows are found by the row number in generated ids ({generated}), "
            f"and none of the {len(custom_ids):,} custom_ids ({sample}) is one",
        )
    if report.better_id_column is not None:
        hint = Text(
            "did you mean ", Option("id_column", report.better_id_column), "? (its values are the custom_ids)"
        )
    else:
        hint = Text("give ", Option("id_column"), " the column build took the custom_ids from")
    return Text(f"no row of {report.source} got a result: ", why, "; ", hint, ". Nothing merged")


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
