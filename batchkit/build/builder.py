"""Tables → request lines: one request per row, under one set of options.

A row's body comes from one of four body modes (`bodies`); its custom_id is the row's cell in
--id-column, or `make_id(row)`. Cells a request uses that are empty follow the `EmptyPolicy` (per column).

Row numbers are 1-based data-row numbers: row 1 is the first row under the header (see `tables`), and a
skipped row keeps its number. Generated ids are `ID_FORMAT` = "{prefix}{row}" (`row-1`, `row-2`, …), so the
same table always gets the same ids; `row_number_from_id` turns such an id back into its row number.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..atomic import same_file
from ..batchfile import WriteResult, write_numbered, write_per_model
from ..errors import InputError, UsageError, ValidationFailed
from ..findings import Report
from ..lines import source_name
from ..options import Options
from ..providers import Provider, get_provider
from ..report import counted
from ..subset import Subset, take
from ..tables import cell_text, column_texts, column_values, id_texts, iter_table
from ..tokens import advise_models
from ..validate import did_you_mean
from ..words import Option, Text, Words
from .bodies import CHAT, EMBEDDINGS, body_mode
from .native import in_line_format, line_format

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHAT", "EMBEDDINGS"]  # re-exported beside the names defined here

ID_PREFIX = "row-"
ID_FORMAT = "{prefix}{row}"
ON_EMPTY = ("error", "skip", "keep")
CHUNK_ROWS = 20_000
MAX_LISTED = 10  # problems named in one error message


def make_id(row: int, prefix: str = ID_PREFIX) -> str:
    """The generated custom_id of data row `row` (1-based): `ID_FORMAT` with `prefix`, e.g. `row-12`."""
    return ID_FORMAT.format(prefix=prefix, row=row)


def row_number_from_id(custom_id: str, prefix: str = ID_PREFIX) -> int | None:
    """The data-row number a generated custom_id stands for (`row-12` → 12), or None when the id was not
    generated with this prefix (for example when the ids came from --id-column)."""
    if type(custom_id) is not str or not custom_id.startswith(prefix):
        return None
    digits = custom_id[len(prefix) :]
    if not digits.isascii() or not digits.isdigit() or (digits.startswith("0") and digits != "0"):
        return None
    return int(digits)


# ---------------------------------------------------------------------------------------------- empty cells


@dataclass(frozen=True)
class EmptyPolicy:
    """What a row with an empty cell in a column the request uses does, per column: "error" (the build
    fails once every row is read, naming the cells), "skip" (the row is left out) or "keep" (the cell is
    inserted as "", a messages cell as no messages). An empty custom_id or model is never kept: it could
    only make an invalid request, so "keep" means "error" there unless that column is named."""

    default: str = "error"
    columns: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | Mapping[str, str] | Iterable[str] | EmptyPolicy) -> EmptyPolicy:
        """From "skip", {"rating": "keep"}, or a list of such strings: ["skip", "rating=keep"] (a bare
        choice is the default for every column not named)."""
        if isinstance(spec, EmptyPolicy):
            return spec
        if isinstance(spec, Mapping):
            pairs = list(spec.items())
        else:
            pairs = [_on_empty_pair(text) for text in ([spec] if isinstance(spec, str) else spec)]
        bare = [choice for column, choice in pairs if column is None]
        if len(bare) > 1:
            raise UsageError(
                Text(
                    Option("on_empty"),
                    f" {' and '.join(bare)}: give one choice for every column, and COLUMN=CHOICE for others",
                )
            )
        for column, choice in pairs:
            if choice not in ON_EMPTY:
                where = "" if column is None else f"{column}="
                raise UsageError(
                    Text(Option("on_empty"), f" {where}{choice!r}: choose one of {', '.join(ON_EMPTY)}")
                )
        return cls(bare[0] if bare else "error", {c: choice for c, choice in pairs if c is not None})

    def choice(self, column: str) -> str:
        return self.columns.get(column, self.default)


def on_empty_option(column: str | None, choice: str) -> Option:
    """The on_empty= argument that makes `choice` for `column` (None: every column): `on_empty="skip"`,
    `on_empty={"rating": "keep"}` (the command line's `--on-empty rating=keep`)."""
    return Option("on_empty", choice if column is None else {column: choice})


def _on_empty_pair(text: str) -> tuple[str | None, str]:
    if text in ON_EMPTY:
        return None, text
    column, sep, choice = text.rpartition("=")
    if not sep or not column:
        raise UsageError(
            Text(
                Option("on_empty"),
                f" {text!r}: choose one of {', '.join(ON_EMPTY)}, for every column, or "
                "COLUMN=CHOICE for one (for example ",
                on_empty_option("rating", "keep"),
                ")",
            )
        )
    return column, choice


# ------------------------------------------------------------------------------------------ output limit


def with_max_tokens(params: Mapping | None, max_tokens: int | None, endpoint: str) -> Mapping | None:
    """`params` with the body's output limit set to `max_tokens` (the field the endpoint names it by:
    `max_output_tokens` for Responses, else `max_tokens`); UsageError when params sets it too."""
    if max_tokens is None:
        return params
    if endpoint.endswith("/embeddings"):
        raise UsageError(Text(f"{endpoint} requests write no tokens; drop ", Option("max_tokens")))
    field_name = "max_output_tokens" if endpoint.endswith("/responses") else "max_tokens"
    if type(max_tokens) is not int or max_tokens < 1:
        raise UsageError(
            Text(Option("max_tokens"), f" is a number of tokens, at least 1, not {max_tokens!r}")
        )
    if params and field_name in params and params[field_name] != max_tokens:
        raise UsageError(
            Text(Option("max_tokens"), " and ", Option("params"), f" both set {field_name}; give one of them")
        )
    return {**(params or {}), field_name: max_tokens}


# ------------------------------------------------------------------------------------------------- chunks


class _Chunk:
    """One slice of rows: texts and raw values of its columns, from a DataFrame or from dicts."""

    def __init__(self, start: int, n: int, texts: Callable[[str], list], values: Callable[[str], list]):
        self.start = start  # row number of the first row
        self.n = n
        self.texts = texts
        self.values = values


def _frame_chunks(frames: Iterable[pd.DataFrame], first_row: int) -> Iterator[tuple[list[str], _Chunk]]:
    start = first_row
    for frame in frames:
        columns = [str(c) for c in frame.columns]
        by_name = dict(zip(columns, frame.columns, strict=True))
        yield (
            columns,
            _Chunk(
                start,
                len(frame),
                lambda name, f=frame, m=by_name: column_texts(f[m[name]]),
                lambda name, f=frame, m=by_name: column_values(f[m[name]]),
            ),
        )
        start += len(frame)


def _dict_chunks(rows: Iterable[Mapping], first_row: int) -> Iterator[tuple[list[str], _Chunk]]:
    start = first_row
    columns: list[str] | None = None
    batch: list[Mapping] = []

    def chunk(rows=None):
        rows = batch if rows is None else rows
        return _Chunk(
            start,
            len(rows),
            lambda name, rows=rows: [cell_text(r.get(name)) for r in rows],
            lambda name, rows=rows: [r.get(name) for r in rows],
        )

    for row in rows:
        if not isinstance(row, Mapping):
            raise UsageError(
                f"row {start + len(batch)} is a {type(row).__name__}, not a mapping of column → value"
            )
        batch.append(row)
        if len(batch) >= CHUNK_ROWS:
            columns = columns or list(dict.fromkeys(str(k) for r in batch for k in r))
            yield columns, chunk()
            start += len(batch)
            batch = []
    columns = columns or list(dict.fromkeys(str(k) for r in batch for k in r))
    yield columns, chunk()


def _chunks(data, first_row: int, stats: BuildStats) -> Iterator[tuple[list[str], _Chunk]]:
    """DataFrame, iterable of DataFrames (as `tables.iter_table` yields) or iterable of dicts."""
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        frame, stats.gapped = integers_with_gaps(data)
        slices = (frame.iloc[i : i + CHUNK_ROWS] for i in range(0, max(len(frame), 1), CHUNK_ROWS))
        return _frame_chunks(slices, first_row)
    iterator = iter(data)
    first = next(iterator, None)
    if first is None:  # no rows and no columns: nothing to build, nothing to check
        return iter(())
    rest = _prepend(first, iterator)
    if hasattr(first, "columns") and hasattr(first, "iloc"):
        return _frame_chunks(rest, first_row)
    return _dict_chunks(rest, first_row)


def integers_with_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(`frame` with each float column whose cells are whole numbers and gaps as the integers it holds
    (Int64), those columns' names): pandas reads an integer column with a gap as floats, and a template
    should write "5", as it does from the table's file, not "5.0"."""
    gapped = [name for name, column in frame.items() if column.dtype.kind == "f" and _whole(column)]
    return (frame.astype(dict.fromkeys(gapped, "Int64")) if gapped else frame), [str(name) for name in gapped]


def _whole(column: pd.Series) -> bool:
    """Whether a float column has gaps and whole numbers (exact in a float: under 2**53) only."""
    values = column.dropna().to_numpy()
    return len(values) < len(column) and bool((abs(values) < 2**53).all() and (values % 1 == 0).all())


def _prepend(first, rest):
    yield first
    yield from rest


# ------------------------------------------------------------------------------------------------ builder


@dataclass
class BuildStats:
    """What building saw: rows read, requests made, empty cells per column, rows skipped (by reason), and
    the problems that stop a build (row, column, what)."""

    rows: int = 0
    requests: int = 0
    empty: Counter = field(default_factory=Counter)  # column → empty cells in rows read
    skipped: Counter = field(default_factory=Counter)
    skipped_rows: list[int] = field(default_factory=list)  # the first few, for messages
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    problem_count: int = 0
    float_ids: int = 0  # ids read from whole-number floats (101.0), written as integers (101)
    gapped: list[str] = field(
        default_factory=list
    )  # float columns of whole numbers and gaps, read as integers
    read: list[str] = field(default_factory=list)  # how the table was read (a sniffed CSV separator)

    def notes(self, id_column: str | None) -> list[str]:
        """What a person should know about how rows became requests (empty when nothing)."""
        notes = list(self.read)
        if self.gapped:
            notes.append(
                f"column(s) {', '.join(map(repr, self.gapped))} held whole numbers as floats (101.0, as pandas "
                "reads an integer column with a gap): written as integers (101)"
            )
        if self.float_ids:
            notes.append(
                f"{counted(self.float_ids, 'id')} in column {id_column!r} held whole numbers as floats (101.0, "
                "as pandas reads an integer column with a gap): written as integers (101)"
            )
        return notes

    def problem(self, row: int, column: str, what: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append((row, column, what))

    def skip(self, row: int, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.skipped_rows) < MAX_LISTED:
            self.skipped_rows.append(row)


@dataclass
class _Sorted:
    """A chunk's rows sorted by their cells: skipped (index → the first empty column) and broken (a problem
    no on_empty= choice lets through), with the problems found."""

    skipped: dict[int, str] = field(default_factory=dict)
    broken: set[int] = field(default_factory=set)
    problems: list[tuple[int, str, str]] = field(default_factory=list)


class Builder:
    """Turns rows into request dicts under one set of options: `endpoint`, `id_column` / `id_prefix`,
    `on_empty` (an EmptyPolicy or what `EmptyPolicy.parse` takes), and the body options `bodies.body_mode`
    takes (model, model_column, system, user, messages_column, input, body_template, params)."""

    def __init__(
        self,
        *,
        endpoint: str = CHAT,
        id_column: str | None = None,
        id_prefix: str = ID_PREFIX,
        on_empty: str | Mapping[str, str] | Iterable[str] | EmptyPolicy = "error",
        max_tokens: int | None = None,
        **body_options,
    ):
        self.on_empty = EmptyPolicy.parse(on_empty)
        body_options["params"] = with_max_tokens(body_options.get("params"), max_tokens, endpoint)
        self.mode = body_mode(endpoint=endpoint, **body_options)
        self.endpoint = endpoint
        self.id_column = id_column
        self.id_prefix = id_prefix
        # Every column the request reads, in the order problems and skips name them.
        self.columns = list(dict.fromkeys([*self.mode.columns, *([id_column] if id_column else [])]))
        self._never_kept = {c for c in (id_column, self.mode.model_column) if c is not None}
        self._check_policy()

    def _check_policy(self) -> None:
        for column, choice in self.on_empty.columns.items():
            if column not in self.columns:
                used = ", ".join(map(repr, self.columns))
                hint = _did_you_mean(column, self.columns)
                raise UsageError(
                    Text(
                        on_empty_option(column, choice),
                        f": the request uses no column {column!r} (it uses {used}){hint}",
                    )
                )
            if choice == "keep" and column in self._never_kept:
                what = "custom_id" if column == self.id_column else "model"
                raise UsageError(
                    Text(
                        on_empty_option(column, "keep"),
                        f": an empty {what} cannot be kept; choose error or skip",
                    )
                )

    # -- columns

    def check_columns(self, columns: list[str]) -> None:
        """Fail before anything is built when an option names a column the table does not have."""
        missing = [c for c in self.columns if c not in columns]
        if missing:
            have = ", ".join(repr(c) for c in columns) or "(none)"
            first = missing[0]
            raise UsageError(
                f"no column {first!r}"
                + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
                + f"; the table's columns are: {have}"
                + (_separated(columns) or _did_you_mean(first, columns))
            )

    # -- rows

    def numbered(
        self,
        data,
        *,
        first_row: int = 1,
        stats: BuildStats | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, dict]]:
        """(row number, request) for every row that is not skipped. Rows with a problem (an empty cell
        under "error", a bad messages cell) are counted in stats.problems and, once all rows are read,
        InputError names them."""
        stats = BuildStats() if stats is None else stats
        checked = False
        for columns, chunk in _chunks(data, first_row, stats):
            if not checked:
                self.check_columns(columns)
                checked = True
            stats.rows += chunk.n  # (before its requests: a --limit may take no more of them)
            yield from self._requests(chunk, stats)
            if progress is not None and chunk.n:
                progress(chunk.n)
        if stats.problem_count:
            raise InputError(_problem_message(stats))

    def _requests(self, chunk: _Chunk, stats: BuildStats) -> Iterator[tuple[int, dict]]:
        if chunk.n == 0:
            return
        rows = _Sorted()
        cells = {column: self._cells(chunk, column, rows, stats) for column in self.columns}
        for problem in sorted(rows.problems):  # listed in row order
            stats.problem(*problem)
        if stats.problem_count:
            return  # the build will fail: only look for more problems, build nothing more
        render, url, prefix, start = self.mode.render, self.endpoint, self.id_prefix, chunk.start
        ids = cells[self.id_column] if self.id_column else None
        columns = [cells[c] for c in self.mode.columns]
        for i, row in enumerate(zip(*columns, strict=True) if columns else [()] * chunk.n):
            if i in rows.broken:
                continue
            if i in rows.skipped:
                stats.skip(start + i, f"empty {rows.skipped[i]!r}")
                continue
            custom_id = ids[i] if ids is not None else make_id(start + i, prefix)
            stats.requests += 1
            yield start + i, {"custom_id": custom_id, "method": "POST", "url": url, "body": render(row)}

    def _cells(self, chunk: _Chunk, column: str, rows: _Sorted, stats: BuildStats) -> list:
        """One column's cells for the row tuples: texts, or parsed values for a value column. Empty cells
        are counted, then kept, or their rows skipped or broken, as the policy says."""
        parse = column in self.mode.value_columns
        if column == self.id_column and not parse:
            cells, floats = id_texts(chunk.values(column))
            stats.float_ids += floats
        else:
            cells = chunk.values(column) if parse else chunk.texts(column)
        if parse:
            empty = [i for i, v in enumerate(cells) if _is_empty_value(v)]
        else:
            empty = [i for i, v in enumerate(cells) if not v]  # None or ""
        if empty:
            stats.empty[column] += len(empty)
            self._sort_empty(column, cells, empty, chunk.start, rows, parse)
        if parse:
            self._parse(column, cells, set(empty), chunk.start, rows)
        return cells

    def _sort_empty(self, column: str, cells: list, empty: list[int], start: int, rows: _Sorted, parse: bool):
        choice = self.on_empty.choice(column)
        if choice == "keep" and column not in self._never_kept:
            fill = [] if parse else ""
            for i in empty:
                cells[i] = fill
            return
        what = (
            "empty cell"
            if column not in self._never_kept
            else "empty custom_id"
            if column == self.id_column
            else "empty model"
        )
        for i in empty:
            rows.skipped.setdefault(i, column)
            if choice != "skip":
                rows.broken.add(i)
                rows.problems.append((start + i, column, what))

    def _parse(self, column: str, cells: list, empty: set[int], start: int, rows: _Sorted) -> None:
        for i, value in enumerate(cells):
            if i in empty:
                continue  # kept as no messages, or its row is skipped or broken
            cells[i], why = self.mode.parse(value)
            if why is not None:
                rows.broken.add(i)
                rows.problems.append((start + i, column, why))


def _is_empty_value(value) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value)
        or (isinstance(value, float) and value != value)
    )


def _separated(columns: list[str]) -> Text | str:
    """When the table's one column reads like a whole header line: which separator it seems to use."""
    if len(columns) != 1:
        return ""
    found = [sep for sep in (";", ",", "\t", "|") if sep in columns[0]]
    return (
        Text(f" (one column: is the file {found[0]!r}-separated? pass ", Option("delimiter", found[0]), ")")
        if found
        else ""
    )


def _did_you_mean(name: str, columns: list[str]) -> str:

    return did_you_mean(name, columns)


def _problem_message(stats: BuildStats) -> Text:
    listed = "; ".join(f"row {row} {column!r}: {what}" for row, column, what in stats.problems)
    more = stats.problem_count - len(stats.problems)
    empty = [column for _row, column, what in stats.problems if what.startswith("empty cell")]
    unkept = [column for _row, column, what in stats.problems if what in ("empty custom_id", "empty model")]
    hint = (
        Text(
            " (choose ",
            on_empty_option(None, "skip"),
            " or ",
            on_empty_option(None, "keep"),
            ", for every column, or for one: ",
            on_empty_option(empty[0], "keep"),
            ")",
        )
        if empty
        else Text(
            " (an empty one is never kept: choose ",
            on_empty_option(unkept[0], "skip"),
            " to leave its rows out)",
        )
        if unkept
        else ""
    )
    return Text(
        f"{counted(stats.problem_count, 'cell problem')}: {listed}",
        f"; and {more:,} more" if more > 0 else "",
        hint,
    )


def build_requests(
    df_or_rows,
    model: str | None = None,
    system: str | None = None,
    user: str | None = None,
    params: Mapping | None = None,
    *,
    model_column: str | None = None,
    messages_column: str | None = None,
    input: str | None = None,  # noqa: A002
    body_template: dict | str | os.PathLike | None = None,
    endpoint: str = CHAT,
    id_column: str | None = None,
    id_prefix: str = ID_PREFIX,
    on_empty: str | Mapping[str, str] | Iterable[str] = "error",
    first_row: int = 1,
    max_tokens: int | None = None,
) -> BuiltRequests:
    """One request dict per row of a DataFrame, an iterable of DataFrames (chunks) or of dicts, as a
    `BuiltRequests`: sized (`len()`) and re-iterable (see there for when rows are read).

    model / model_column: the model for every row, or a column holding each row's model.
    system, user: templates (`{column}` inserts a cell; `{{`/`}}` are literal braces) for a chat request's
    system and user messages; messages_column: a column holding a JSON list of messages instead of `user`
    (a `system` message is put before them). input + endpoint="/v1/embeddings": embeddings requests.
    body_template: a whole body (dict, or a path to a JSON file) with placeholders in any string, for any
    endpoint; `model` and `params` are set on top of it. params: extra body fields (temperature, …).
    max_tokens: the body's output limit (`max_output_tokens` for /v1/responses), as params={"max_tokens": N}.
    id_column: the column holding custom_ids; otherwise ids are `make_id(row, id_prefix)` (`row-1`, …).
    on_empty: what a row with an empty cell in a column the request uses does (see EmptyPolicy): "error"
    (InputError after all rows, naming them), "skip" (left out) or "keep" (inserted as ""), for every
    column, or per column: {"rating": "keep", "review": "skip"}.
    A column that does not exist raises UsageError before the first request is made.

        for request in batchkit.build_requests(df, model="m", user="{question}"): ...
    """
    builder = Builder(
        model=model,
        model_column=model_column,
        system=system,
        user=user,
        messages_column=messages_column,
        input=input,
        body_template=body_template,
        params=params,
        endpoint=endpoint,
        id_column=id_column,
        id_prefix=id_prefix,
        on_empty=on_empty,
        max_tokens=max_tokens,
    )
    return BuiltRequests(builder, df_or_rows, first_row)


class BuiltRequests:
    """The requests `build_requests` makes: `len()` and iterating as often as needed.

    Built lazily, so errors (a missing column, an empty cell) are raised by the first `iter()`/`len()`.
    A source that can be read again (a DataFrame, a list) is built again on each iteration, so nothing is
    held in memory; a one-shot source (a generator of chunks) is built once and its requests kept.
    `len()` counts the requests built (rows skipped by on_empty="skip" are not in it).
    """

    def __init__(self, builder: Builder, source, first_row: int) -> None:
        self._builder, self._source, self._first_row = builder, source, first_row
        self._kept: list[dict] | None = None
        self._length: int | None = None
        self._told = False

    def _build(self) -> Iterator[dict]:
        stats = BuildStats()
        for _row, request in self._builder.numbered(self._source, first_row=self._first_row, stats=stats):
            yield request
        if not self._told:  # said once, though len() and iter() each build
            self._told = True
            for note in stats.notes(self._builder.id_column):
                warnings.warn(note, stacklevel=2)

    def __iter__(self) -> Iterator[dict]:
        if self._kept is not None:
            return iter(self._kept)
        if iter(self._source) is self._source:  # read once: keep what it gives
            self._kept = list(self._build())
            self._length = len(self._kept)
            return iter(self._kept)
        return self._build()

    def __len__(self) -> int:
        if self._length is None:
            self._length = sum(1 for _ in self)
        return self._length

    def __repr__(self) -> str:
        counted = "not counted yet" if self._length is None else f"{self._length} request(s)"
        return f"<BuiltRequests: {counted}>"


# ---------------------------------------------------------------------------------------------- table → file


@dataclass
class BuildResult(WriteResult):
    """The outcome of `build_file`: what was written (see WriteResult), and what was read and skipped."""

    stats: BuildStats = field(default_factory=BuildStats)


def build_file(
    source,
    output: str | os.PathLike,
    *,
    input_format: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    provider: str | Provider | None = None,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
    progress: Callable[[int], None] | None = None,
    stats: BuildStats | None = None,
    subset: Subset | None = None,
    drop_unsupported: bool = False,
    **options,
) -> BuildResult:
    """Build a batch file from a table file (streamed in chunks), in `provider`'s line format
    (`native.in_line_format`), validating every request under its rules and sharding under its limits
    (see `shards.write_numbered`). `options` are `Builder`'s.
    `subset` (--limit / --sample) keeps only some requests. Findings name data-row numbers as their line.
    Raises ValidationFailed (nothing written) when a request is invalid, unless force=True; InputError for
    unreadable tables or cell problems. `delimiter`: a CSV's field separator (default: sniffed)."""

    if same_file(source, output):
        raise UsageError(f"{output} is the input table; write the batch file somewhere else")
    builder = Builder(**options)
    stats = BuildStats() if stats is None else stats
    name = source_name(source)
    chunks = iter_table(
        source, input_format, sheet=sheet, encoding=encoding, delimiter=delimiter, told=stats.read.append
    )
    numbered = builder.numbered(chunks, stats=stats, progress=progress)
    if subset is not None:
        numbered = take(numbered, subset)
    row = get_provider(provider)
    try:
        if row.one_model and builder.mode.model_column:  # one file per model, as `split --by model` writes
            limits = (max_requests, max_bytes, max_file_tokens)
            written = write_per_model(
                numbered, output, row, limits=limits, force=force, max_findings=max_findings, file=name
            )
        else:
            refused = Report(name, row.name)  # requests the provider's format cannot hold (native.py)
            options = Options.of(row, dialect=line_format(row), max_findings=max_findings)
            lines = in_line_format(numbered, row, refused, drop_unsupported=drop_unsupported)
            written = write_numbered(lines, output, options,
                                     max_requests=max_requests, max_bytes=max_bytes, max_file_tokens=max_file_tokens,
                                     force=force, file=name, refused=refused)  # fmt: skip
    except ValidationFailed as e:
        raise with_build_advice(e, builder, output) from None
    if written.report is not None:
        advise_models(written.report)  # a model name one typo away from one the provider serves
    return BuildResult(**vars(written), stats=stats)


# the validator's advice for a file that exists, which a build has not written
_FIX_HINT = re.compile(r"\s*\(`batchkit fix[^)]*\)")


def with_build_advice(error: ValidationFailed, builder: Builder, output) -> ValidationFailed:
    """Nothing was written, so advise what works on the table, not `fix` on a file that does not exist:
    repeated ids."""
    report = error.report
    if report is None or not any(f.code == "duplicate-custom-id" for f in report.findings):
        return error
    report.findings = [
        replace(f, message=_FIX_HINT.sub("", f.message)) if f.code == "duplicate-custom-id" else f
        for f in report.findings
    ]
    advice = Text(
        f"; custom_ids repeat in column {builder.id_column!r}: leave out ",
        Option("id_column"),
        f" to number the rows ({make_id(1, builder.id_prefix)}, {make_id(2, builder.id_prefix)}, …; ",
        Option("id_prefix"),
        " sets the prefix), or pass ",
        Option("force", True),
        f" to write {output} anyway, then ",
        Words(
            "repair it with fix_file(in_place=True, dedupe_ids=True)",
            f"run `batchkit fix --dedupe-ids --in-place {output}`",
        ),
    )
    return ValidationFailed(error.message + advice, report)
