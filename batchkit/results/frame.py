"""The merged table as a pandas DataFrame: the result table's columns beside the requests' ids and
models (`to_frame`), optionally after the rows of the source table the requests were built from
(`attach_source`)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..build import make_id, row_number_from_id
from ..errors import MergeRefused, UsageError
from ..formats import REPEAT_SEPARATORS
from ..lines import source_name
from ..tables import column_values, id_texts, iter_table, read_table, sheet_name, table_files, table_format
from ..tables.cells import mixed_kinds
from ..words import Option, Text
from .parsed import ANSWER, PARSE_ERROR, AnswerParser
from .read import OK
from .report import MergeReport
from .requests import RequestIndex
from .table import NA, ResultTable

if TYPE_CHECKING:
    import pandas as pd

MAX_COLUMNS_TRIED = 200  # source columns looked at for a better id column


def to_frame(
    requests: RequestIndex,
    table: ResultTable,
    *,
    parse_json: bool | None = None,
    flatten: int = 1,
    report: MergeReport | None = None,
    answers: AnswerColumns | None = None,
    **fixed: int | bool | None,
) -> pd.DataFrame:
    """One row per request, in input order: custom_id, status, answer, usage and error columns (see
    `columns`, which takes `fixed`: the columns of a slice of a larger table); with parse_json (None: when
    a request asked for a JSON schema) each answer's fields as `answer.FIELD` columns (nested `flatten`
    levels deep) and `parse_error`, counted in `report`. `answers` fixes those columns and their types
    for a slice of a larger table (`answer_columns`)."""
    import pandas as pd

    data = {name: _integers(v) if isinstance(v, array) else _text(v)
            for name, v in columns(requests, table, **fixed).items()}  # fmt: skip
    if answers is not None or parse_json or (parse_json is None and requests.expected):
        parsed = _parsed_columns(requests, table, AnswerParser(flatten), report, answers)
        at = list(data).index("finish_reason")  # after the answers, before the rest
        data = dict([*list(data.items())[:at], *parsed.items(), *list(data.items())[at:]])
    return pd.DataFrame(data)


def columns(
    requests: RequestIndex,
    table: ResultTable,
    *,
    choices: int | None = None,
    embedding: bool | None = None,
    cached: bool | None = None,
    stale: bool | None = None,
) -> dict[str, list | array]:
    """The merged table's columns by name: lists of text (or embeddings), and arrays of integers with NA
    where there is no value. The one place the columns are made, for a frame and for a streamed file.

    `choices` (the most answers any row has), `embedding` (whether there is an embedding column) and
    `cached` (whether there are the `cached` and `cached_batch_id` columns: some answer came from the
    answer cache) and `stale` (whether there is a stale column: answers merged with allow_stale=True) fix
    the columns when the table is one slice of a larger one; by default this table decides them.
    """
    # the model asked for (the response may name a dated snapshot of it), else the one that answered
    models = requests.models
    if table.answered_by and None in models:
        models = [table.answered_by.get(row) if m is None else m for row, m in enumerate(models)]
    data = {
        "custom_id": list(requests.ids),
        "status": table.status,
        "status_code": table.status_code,
        "model": models,
        "content": table.content,
    }
    more = table.more_contents
    extra = further_answers(table) if choices is None else max(choices - 1, 0)
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
    if cached if cached is not None else table.has_cached():
        data["cached"] = [origin is not None for origin in table.cached_from]
        data["cached_batch_id"] = [origin or None for origin in table.cached_from]
    if embedding is None:
        embedding = has_embedding(requests, table)
    if embedding:
        data["embedding"] = table.embedding if table.embedding is not None else [None] * table.rows
    data["batch_id"] = [table.batch_id(row) for row in range(table.rows)]
    if stale or (stale is None and table.stale):
        data["stale"] = [table.stale.get(row) for row in range(table.rows)]
    return data


def further_answers(table: ResultTable) -> int:
    """How many answers beyond the first the row with the most has: the `content_N` columns."""
    return max(map(len, table.more_contents.values()), default=0)


def has_embedding(requests: RequestIndex, table: ResultTable) -> bool:
    """Whether the table has an embedding column: a result held one, or a request went to embeddings."""
    return table.embedding is not None or any(
        url.rstrip("/").endswith("embeddings") for url in requests.endpoints
    )


def _parsed_columns(
    requests: RequestIndex, table: ResultTable, parser: AnswerParser, report, answers: AnswerColumns | None
) -> dict:
    """`answer.FIELD` and `parse_error` columns of the answered rows (typed: numbers, booleans, text, as
    `convert_dtypes` types each whole column, or as `answers` says)."""
    names = answers.dtypes if answers is not None else _schema_fields(requests)
    columns: dict[str, list] = {name: [None] * table.rows for name in names}
    errors = [None] * table.rows
    for row, values, error in _answers(requests, table, parser):
        errors[row] = error
        for name, value in values.items():
            if name not in columns:  # (not setdefault: its default would be built on every call)
                columns[name] = [None] * table.rows
            columns[name][row] = value
    if report is not None:
        report.parsed, report.parse_errors = parser.parsed, parser.counts
    dtypes = answers.dtypes if answers is not None else {}
    out = {name: _typed(values, dtypes.get(name)) for name, values in sorted(columns.items())}
    out[PARSE_ERROR] = _text(errors)
    return out


def _typed(values: list, dtype=None) -> pd.Series:
    """A column of parsed values with the dtype `convert_dtypes` gives its values present (`dtype`, when
    the whole table's is known), each value converted exactly: `convert_dtypes` takes integers beside a
    missing value through floats (2**53 + 1 became 2**53, and 2**63 - 512 made the column Float64),
    `astype` does not."""
    import pandas as pd

    if dtype is None:
        seen: dict = {}
        for value in values:
            if value is not None:
                _note(seen, value)
        dtype = _dtype(seen)
    return pd.Series(values, dtype=object).astype(dtype)


def _schema_fields(requests: RequestIndex) -> list[str]:
    """The answer columns the requests' schemas name: columns even when no answer has them."""
    names = []
    for expected in requests.expected:
        properties = (expected.schema or {}).get("properties")
        names.extend(f"{ANSWER}.{name}" for name in (properties if type(properties) is dict else ()))
    return names


def _answers(requests: RequestIndex, table: ResultTable, parser: AnswerParser):
    """(row, {answer.FIELD: value}, parse error) of every answered row."""
    for row in range(table.rows):
        if table.status[row] != OK:
            continue
        expected = requests.expected_of(row)
        schema, tool = (expected.schema, expected.tool) if expected is not None else (None, None)
        values = parser.row(schema, table.content[row], table.tool_calls[row], table.finish_reason[row], tool)
        yield row, values, values.pop(PARSE_ERROR)


@dataclass
class AnswerColumns:
    """The `answer.FIELD` columns of a whole merge, fixed before it is written a slice at a time: each
    one's dtype as `convert_dtypes` gives the whole column, and (for Parquet, where that dtype is Python
    objects) the first values, strings emptied to keep them small, or the column is one of `mixed`: values
    of kinds no one Parquet type holds (text beside numbers), written as text."""

    dtypes: dict[str, object]
    samples: dict[str, list]
    mixed: set[str]


SAMPLES = 1000  # first values kept per column, as many as `tables.write` looks at for a Parquet type


def answer_columns(slices, flatten: int, report: MergeReport) -> AnswerColumns:
    """Pass one of a merge written a slice at a time: every answer of the (requests, result table) slices
    parsed to learn the columns and their types (and counted in `report`); no value is kept but what
    decides a type. `convert_dtypes` decides by the kinds of values a column holds and their extremes
    (whole floats become integers when they fit), so one of each kind, the least and greatest of each
    number type and a float that is not whole type a column as all its values do."""
    parser = AnswerParser(flatten)
    deciding: dict[str, dict] = {}
    samples: dict[str, list] = {}
    for requests, table in slices:
        for name in _schema_fields(requests):
            deciding.setdefault(name, {})
        for _row, values, _error in _answers(requests, table, parser):
            for name, value in values.items():
                seen = deciding.setdefault(name, {})
                if value is not None:
                    _note(seen, value)
                    kept = samples.setdefault(name, [])
                    if len(kept) < SAMPLES:
                        kept.append("" if type(value) is str else value)
    report.parsed, report.parse_errors = parser.parsed, parser.counts
    return AnswerColumns(
        {name: _dtype(seen) for name, seen in deciding.items()},
        samples,
        {
            name for name, seen in deciding.items() if mixed_kinds(seen.values()) or _wide(seen)
        },  # text in Parquet
    )


def _wide(seen: dict) -> bool:
    """Whether a column holds an integer wider than 64 bits (no integer dtype, nor Arrow type, holds it)."""
    return any(type(v) is int and not -(2**63) <= v < 2**63 for v in seen.values())


def _dtype(seen: dict):
    """The dtype `convert_dtypes` gives a column whose deciding values (`_note`) are `seen`; Python objects
    for integers wider than 64 bits, which it would make floats (every integer of the column then lost
    its exactness: 42 became 42.0)."""
    import pandas as pd

    if _wide(seen):
        return pd.Series([], dtype=object).dtype
    return pd.Series([*seen.values()] or [None], dtype=object).convert_dtypes().dtype


def _note(seen: dict, value) -> None:
    """Adds `value` (not None) to a column's deciding values."""
    kind = type(value)
    if kind is int or kind is float:
        if (kind, "least") not in seen or value < seen[(kind, "least")]:
            seen[(kind, "least")] = value
        if (kind, "greatest") not in seen or value > seen[(kind, "greatest")]:
            seen[(kind, "greatest")] = value
        if kind is float and not value.is_integer():
            seen.setdefault((kind, "fraction"), value)
    else:
        seen.setdefault(kind, value)


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
    joined = table.join(results, how="left")
    if isinstance(source, pd.DataFrame):  # its rows keep their labels (the join's index is their position)
        joined.index = source.index.take(joined.index.to_numpy())
    return joined


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
    positions, ambiguous = _by_key(frame["custom_id"], rows_of)
    if ambiguous:
        sample = ", ".join(map(repr, ambiguous[:3])) + (", …" if len(ambiguous) > 3 else "")
        report.notes.append(
            f"{id_column!r} repeats {sample} on more rows than there are requests of that id (rows build "
            "skipped, sampled out or left past its limit): which row each answer belongs to cannot be told, so "
            "they are on no row; give every row its own id, or build without an id column (ids then carry the "
            "row number)"
        )
    return positions


def _by_key(custom_ids, rows_of: dict[str, list[int]]) -> tuple[list[int], list[str]]:
    """(the source row of every custom_id, -1 for none; the ids whose rows cannot be told apart).

    The requests of one id take its rows in turn: the id's own first, then those `fix --dedupe-ids`
    renamed from it (`A-003~2`, `A-003~3`, … numbered in the order of the file, never reused; `A-003-2`
    where the provider's ids take no `~`) by their number, whatever order the inputs come in (a split by
    model reorders them). A request past the rows of its id has none. An id on several rows with fewer
    requests than rows is ambiguous (which rows did build skip?): its requests get none."""
    requests_of: dict[str, list[tuple[int, int]]] = {}  # id → (number of its use, request)
    for index, cid in enumerate(custom_ids):
        base, use = (cid, 1) if cid in rows_of else _renamed_from(cid, rows_of)
        if base is not None:
            requests_of.setdefault(base, []).append((use, index))
    positions, ambiguous = [-1] * len(custom_ids), []
    for base, requests in requests_of.items():
        rows = rows_of[base]
        if len(requests) < len(rows):
            ambiguous.append(base)
            continue
        for row, (_use, index) in zip(rows, sorted(requests), strict=False):
            positions[index] = row
    return positions, ambiguous


def _renamed_from(cid: str, rows_of: dict[str, list[int]]) -> tuple[str | None, int]:
    """(the id `fix --dedupe-ids` renamed `cid` from, the number of that use), or (None, 0)."""
    for separator in REPEAT_SEPARATORS:
        base, sep, number = cid.rpartition(separator)
        if sep and number.isdigit() and base in rows_of:
            return base, int(number)
    return None, 0


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
