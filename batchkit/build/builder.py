"""Tables → request lines: templates, ids and parameters, one request per row.

Templates: `{column}` inserts the text of that row's cell (the whole text between the braces names the
column, spaces and dots included); `{{` and `}}` are literal braces. A cell's text is
`tables.cell_text(value)`: CSV cells as written, whole numbers without ".0", missing cells empty.

Row numbers are 1-based data-row numbers: row 1 is the first row under the header (see `tables`), and a
skipped row keeps its number. Generated ids are `ID_FORMAT` = "{prefix}{row}" (`row-1`, `row-2`, …), so the
same table always gets the same ids; `row_number_from_id` turns such an id back into its row number.
"""

from __future__ import annotations

import difflib
import os
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import InputError, UsageError
from ..findings import Report
from ..jsonl import source_name
from ..providers import Provider
from ..tables import cell_text, column_texts, column_values

if TYPE_CHECKING:
    import pandas as pd

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
ID_PREFIX = "row-"
ID_FORMAT = "{prefix}{row}"
ON_EMPTY = ("error", "skip", "keep")
CHUNK_ROWS = 20_000
MAX_LISTED = 10  # problems named in one error message


def make_id(row: int, prefix: str = ID_PREFIX) -> str:
    """The generated custom_id of data row `row` (1-based)."""
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


# ----------------------------------------------------------------------------------------------- templates


class Template:
    """A text with `{column}` placeholders (`{{`/`}}` are literal braces), compiled once."""

    def __init__(self, text: str, option: str = "template"):
        self.text = text
        self.option = option
        literals: list[str] = [""]
        self.columns: list[str] = []
        try:
            for literal, name, spec, conversion in string.Formatter().parse(text):
                literals[-1] += literal
                if name is None:
                    continue
                # The whole text between the braces is the column name ("{Q: text}" is column "Q: text").
                name += (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                if not name:
                    raise UsageError(
                        f"{option}: empty placeholder {{}} in {text[:60]!r}; name a column inside the braces, "
                        "or write {{}} for literal braces"
                    )
                self.columns.append(name)
                literals.append("")
        except ValueError as e:
            raise UsageError(
                f"{option}: {e} in {text[:60]!r}; write {{{{ and }}}} for literal braces"
            ) from None
        self.literals = literals
        # A positional format string: str.format does the joining in C.
        escaped = [part.replace("{", "{{").replace("}", "}}") for part in literals]
        self._format = "".join(f"{part}{{{i}}}" for i, part in enumerate(escaped[:-1])) + escaped[-1]

    @property
    def constant(self) -> str | None:
        return None if self.columns else self.literals[0]

    def render(self, values: Iterable[str]) -> str:
        return self._format.format(*values)

    def render_column(self, texts: Mapping[str, list[str]], n: int) -> list[str]:
        """The template rendered for n rows, given each referenced column's texts."""
        if not self.columns:
            return [self.literals[0]] * n
        if len(self.columns) == 1 and self.literals == ["", ""]:
            return texts[self.columns[0]]
        columns = [texts[c] for c in self.columns]
        fmt = self._format.format
        return [fmt(*values) for values in zip(*columns, strict=True)]


class BodyTemplate:
    """A JSON body whose strings (at any depth) may hold `{column}` placeholders, and whose values may be
    `{"$column": "name"}`: the cell as a JSON value (a number stays a number, `true` a boolean, a JSON
    array or object is parsed), or as its text when it is not JSON — the rule `--param` follows."""

    def __init__(self, body: dict, option: str = "--body-template"):
        if type(body) is not dict:
            raise UsageError(f"{option}: the body template must be a JSON object")
        self.templates: list[Template] = []
        self._render = self._compile(body, option)
        self.columns = list(dict.fromkeys(c for t in self.templates for c in t.columns))

    def _compile(self, node, option) -> Callable[[list[str]], Any]:
        if isinstance(node, str):
            template = Template(node, option)
            if template.constant is not None:
                return lambda values, text=template.constant: text
            index = len(self.templates)
            self.templates.append(template)
            return lambda values: values[index]
        if isinstance(node, dict) and set(node) == {"$column"} and isinstance(node["$column"], str):
            index = len(self.templates)
            self.templates.append(
                Template("{" + node["$column"].replace("{", "{{").replace("}", "}}") + "}", option)
            )
            return lambda values: json_or_text(values[index])
        if isinstance(node, dict):
            parts = [(key, self._compile(value, option)) for key, value in node.items()]
            return lambda values: {key: render(values) for key, render in parts}
        if isinstance(node, list):
            items = [self._compile(value, option) for value in node]
            return lambda values: [render(values) for render in items]
        return lambda values, constant=node: constant

    def render(self, rendered_strings: list[str]) -> dict:
        """The body for one row, given each placeholder string already rendered (in `templates` order)."""
        return self._render(rendered_strings)


def load_body_template(path: str | os.PathLike) -> dict:
    """Read a --body-template file (one JSON object)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (given as --body-template)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if type(body) is not dict:
        raise InputError(f"{path}: the body template must be one JSON object")
    return body


def text_argument(value: str | None, option: str) -> str | None:
    """A command-line text that may be `@path` (the file's text, without one trailing newline); `@@…` is
    a literal text starting with '@'."""
    if value is None or not value.startswith("@"):
        return value
    if value.startswith("@@"):
        return value[1:]
    path = Path(value[1:])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{option} {value}: no such file {path} (write @@ for a text starting with @)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{option} {value}: cannot read {path} as UTF-8 text: {e}") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def json_or_text(text: str):
    """The JSON value a text spells, else the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def parse_params(pairs: Iterable[str]) -> dict:
    """`KEY=VALUE` pairs → a dict; a value that parses as JSON is that JSON, else the string itself
    (`temperature=0.2` → 0.2, `stop=["\\n"]` → a list, `user=alice` → "alice")."""
    params: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: write it as KEY=VALUE, for example --param temperature=0.2")
        params[key] = json_or_text(value)
    return params


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


def _chunks(data, first_row: int) -> Iterator[tuple[list[str], _Chunk]]:
    """DataFrame, iterable of DataFrames (as `tables.iter_table` yields) or iterable of dicts."""
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        frame = data
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


def _prepend(first, rest):
    yield first
    yield from rest


# ------------------------------------------------------------------------------------------------ builder


@dataclass
class BuildStats:
    """What building saw: rows read, requests made, rows skipped (by reason), and the problems that stop a
    build under --on-empty error (row, column, what)."""

    rows: int = 0
    requests: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_rows: list[int] = field(default_factory=list)  # the first few, for messages
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    problem_count: int = 0


def _did_you_mean(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Builder:
    """Turns rows into request dicts under one set of options (see `build_requests` for them)."""

    def __init__(
        self,
        *,
        model: str | None = None,
        model_column: str | None = None,
        system: str | None = None,
        user: str | None = None,
        messages_column: str | None = None,
        input: str | None = None,  # noqa: A002  (the embeddings field is called input)
        body_template: dict | str | os.PathLike | None = None,
        params: Mapping | None = None,
        endpoint: str = CHAT,
        id_column: str | None = None,
        id_prefix: str = ID_PREFIX,
        on_empty: str = "error",
    ):
        if on_empty not in ON_EMPTY:
            raise UsageError(f"--on-empty {on_empty!r}: choose one of {', '.join(ON_EMPTY)}")
        if model is not None and model_column is not None:
            raise UsageError("give --model or --model-column, not both")
        self.endpoint = endpoint
        self.on_empty = on_empty
        self.id_column = id_column
        self.id_prefix = id_prefix
        self.model = model
        self.model_column = model_column
        self.messages_column = messages_column
        self.params = dict(params or {})
        # Mutable parameter values are copied per request, so changing one request never changes another.
        self._param_bytes = orjson.dumps(self.params)
        self._params_mutable = any(isinstance(v, (list, dict)) for v in self.params.values())

        self.body: BodyTemplate | None = None
        self.system = self.user = self.input = None
        if body_template is not None:
            if isinstance(body_template, (str, os.PathLike)):
                body_template = load_body_template(body_template)
            if any(v is not None for v in (system, user, messages_column, input)):
                raise UsageError(
                    "--body-template makes the whole body; drop --system/--user/--input/--messages-column"
                )
            self.body = BodyTemplate(body_template)
        elif endpoint.endswith("/embeddings") or input is not None:
            if input is None:
                raise UsageError(f"{endpoint} requests need --input TEMPLATE (the text to embed)")
            if not endpoint.endswith("/embeddings"):
                raise UsageError(f"--input builds {EMBEDDINGS} requests; pass --endpoint {EMBEDDINGS}")
            if any(v is not None for v in (system, user, messages_column)):
                raise UsageError("embeddings take --input only; drop --system/--user/--messages-column")
            self.input = Template(input, "--input")
        elif endpoint.endswith("chat/completions"):
            if user is None and messages_column is None:
                raise UsageError("give --user TEMPLATE or --messages-column COL (or a --body-template)")
            if user is not None and messages_column is not None:
                raise UsageError("give --user or --messages-column, not both")
            self.user = Template(user, "--user") if user is not None else None
            self.system = Template(system, "--system") if system is not None else None
        else:
            raise UsageError(f"building {endpoint} requests needs --body-template FILE.json")
        if self.body is None and model is None and model_column is None:
            raise UsageError("give --model NAME or --model-column COL")
        composed = (
            {"model"}
            | ({"messages"} if self.user or messages_column else set())
            | ({"input"} if self.input else set())
        )
        if self.body is None and composed & self.params.keys():
            raise UsageError(
                f"--param {sorted(composed & self.params.keys())[0]} is composed by the builder; use the "
                "matching option instead"
            )

        self.templates = [t for t in (self.system, self.user, self.input) if t is not None]
        if self.body is not None:
            self.templates += self.body.templates
        self.text_columns = list(dict.fromkeys(c for t in self.templates for c in t.columns))
        for column in (model_column, id_column):
            if column is not None and column not in self.text_columns:
                self.text_columns.append(column)
        # Columns whose empty cells --on-empty governs (a messages cell is checked as a value).
        self.required = list(self.text_columns) + ([messages_column] if messages_column else [])

    # -- columns

    def check_columns(self, columns: list[str]) -> None:
        """Fail before anything is built when an option names a column the table does not have."""
        missing = [c for c in self.required if c not in columns]
        if missing:
            have = ", ".join(repr(c) for c in columns) or "(none)"
            first = missing[0]
            raise UsageError(
                f"no column {first!r}{_did_you_mean(first, columns)}"
                + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
                + f"; the table's columns are: {have}"
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
        """(row number, request) for every row that is not skipped. Under on_empty="error", rows with empty
        cells are counted in stats.problems and, once all rows are read, InputError names them."""
        stats = BuildStats() if stats is None else stats
        checked = False
        for columns, chunk in _chunks(data, first_row):
            if not checked:
                self.check_columns(columns)
                checked = True
            yield from self._chunk(chunk, stats)
            stats.rows += chunk.n
            if progress is not None and chunk.n:
                progress(chunk.n)
        if stats.problem_count:
            raise InputError(self._problem_message(stats))

    def _problem_message(self, stats: BuildStats) -> str:
        listed = "; ".join(f"row {row} {column!r}: {what}" for row, column, what in stats.problems)
        more = stats.problem_count - len(stats.problems)
        hint = any(what.startswith("empty cell") for _row, _column, what in stats.problems)
        return (
            f"{stats.problem_count:,} cell problem(s): {listed}"
            + (f"; and {more:,} more" if more > 0 else "")
            + (" (choose --on-empty skip or --on-empty keep for empty cells)" if hint else "")
        )

    def _problem(self, stats: BuildStats, row: int, column: str, what: str) -> None:
        stats.problem_count += 1
        if len(stats.problems) < MAX_LISTED:
            stats.problems.append((row, column, what))

    def _skip(self, stats: BuildStats, row: int, reason: str) -> None:
        stats.skipped[reason] += 1
        if len(stats.skipped_rows) < MAX_LISTED:
            stats.skipped_rows.append(row)

    def _chunk(self, chunk: _Chunk, stats: BuildStats) -> Iterator[tuple[int, dict]]:
        n, start = chunk.n, chunk.start
        if n == 0:
            return
        texts = {c: chunk.texts(c) for c in self.text_columns}
        problems: list[tuple[int, str, str]] = []
        empty_rows: dict[int, str] = {}  # index in chunk → the first empty column it has
        broken_rows: set[int] = set()  # rows with a problem that no --on-empty choice lets through

        for column in self.text_columns:
            values = texts[column]
            empty = [i for i, v in enumerate(values) if not v]
            if not empty:
                continue
            # An empty id or model cannot be kept: it would only make an invalid request.
            if self.on_empty == "keep" and column not in (self.id_column, self.model_column):
                texts[column] = ["" if v is None else v for v in values]
                continue
            for i in empty:
                empty_rows.setdefault(i, column)
                if self.on_empty != "skip":
                    broken_rows.add(i)
                    what = "empty custom_id" if column == self.id_column else "empty cell"
                    problems.append((start + i, column, what))

        messages = None
        if self.messages_column:
            messages = self._messages(
                chunk.values(self.messages_column), start, empty_rows, broken_rows, problems
            )
        for problem in sorted(problems):  # listed in row order
            self._problem(stats, *problem)
        if stats.problem_count:
            return  # the build will fail: only look for more problems, build nothing more

        rendered = [t.render_column(texts, n) for t in self.templates]
        ids = texts[self.id_column] if self.id_column else None
        models = texts[self.model_column] if self.model_column else None
        prefix = self.id_prefix
        method_url = self.endpoint
        params = self.params
        copy_params = self._params_mutable
        param_bytes = self._param_bytes
        body_template = self.body
        system_i = 0 if self.system is not None else None
        user_i = (1 if self.system is not None else 0) if self.user is not None else None
        n_templates = len(self.templates)
        body_offset = n_templates - (len(body_template.templates) if body_template else 0)

        for i in range(n):
            row = start + i
            if i in broken_rows:
                continue
            if i in empty_rows:
                self._skip(stats, row, f"empty {empty_rows[i]!r}")
                continue
            model = models[i] if models is not None else self.model
            if body_template is not None:
                body = body_template.render([rendered[k][i] for k in range(body_offset, n_templates)])
                if model is not None:
                    body["model"] = model
                if params:
                    body.update(orjson.loads(param_bytes) if copy_params else params)
            else:
                body = {"model": model}
                if self.input is not None:
                    body["input"] = rendered[0][i]
                else:
                    if messages is not None:
                        chat = list(messages[i])
                    else:
                        chat = [{"role": "user", "content": rendered[user_i][i]}]
                    if system_i is not None:
                        chat.insert(0, {"role": "system", "content": rendered[system_i][i]})
                    body["messages"] = chat
                if params:
                    body.update(orjson.loads(param_bytes) if copy_params else params)
            custom_id = ids[i] if ids is not None else prefix + str(row)
            stats.requests += 1
            yield row, {"custom_id": custom_id, "method": "POST", "url": method_url, "body": body}

    def _messages(
        self, values: list, start: int, empty_rows: dict[int, str], broken_rows: set[int], problems: list
    ) -> list:
        column = self.messages_column
        out: list = [None] * len(values)
        for i, value in enumerate(values):
            if value is None or value == "" or (isinstance(value, float) and value != value):
                if self.on_empty == "keep":
                    out[i] = []
                    continue
                empty_rows.setdefault(i, column)
                if self.on_empty == "error":
                    broken_rows.add(i)
                    problems.append((start + i, column, "empty cell"))
                continue
            if isinstance(value, str):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError as e:
                    broken_rows.add(i)
                    problems.append((start + i, column, f"not valid JSON ({e.msg})"))
                    continue
            if type(value) is not list or not all(isinstance(m, dict) for m in value):
                broken_rows.add(i)
                problems.append((start + i, column, "not a JSON list of message objects"))
                continue
            out[i] = value
        return out


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
    on_empty: str = "error",
    first_row: int = 1,
) -> Iterator[dict]:
    """Yield one request dict per row of a DataFrame, an iterable of DataFrames (chunks) or of dicts.

    model / model_column: the model for every row, or a column holding each row's model.
    system, user: templates (`{column}` inserts a cell; `{{`/`}}` are literal braces) for a chat request's
    system and user messages; messages_column: a column holding a JSON list of messages instead of `user`
    (a `system` message is put before them). input + endpoint="/v1/embeddings": embeddings requests.
    body_template: a whole body (dict, or a path to a JSON file) with placeholders in any string, for any
    endpoint; `model` and `params` are set on top of it. params: extra body fields (max_tokens, …).
    id_column: the column holding custom_ids; otherwise ids are id_prefix + the row number (`row-1`, …).
    on_empty: what a row with an empty cell in a column the request uses does: "error" (InputError after
    all rows, naming them), "skip" (left out) or "keep" (inserted as "").
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
    )
    for _row, request in builder.numbered(df_or_rows, first_row=first_row):
        yield request


# ---------------------------------------------------------------------------------------------- table → file


@dataclass
class BuildResult:
    """The outcome of `build_file`: what was read, skipped and written, and the validation report."""

    stats: BuildStats
    paths: list[Path]
    report: Report | None
    bytes: int = 0
    shard_requests: list[int] = field(default_factory=list)
    shard_bytes: list[int] = field(default_factory=list)


def build_file(
    source,
    output: str | os.PathLike,
    *,
    input_format: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    provider: str | Provider | None = None,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    force: bool = False,
    max_findings: int | None = None,
    progress: Callable[[int], None] | None = None,
    stats: BuildStats | None = None,
    **options,
) -> BuildResult:
    """Build a batch file from a table file (streamed in chunks), validating every request under
    `provider` and sharding under its limits (see `shards.write_numbered`). `options` are `Builder`'s.
    Findings name data-row numbers as their line. Raises ValidationFailed (nothing written) when a request
    is invalid, unless force=True; InputError for unreadable tables or cell problems."""
    from ..tables import iter_table
    from .shards import write_numbered

    if isinstance(source, (str, os.PathLike)) and str(source) != "-" and str(output) != "-":
        if Path(source).resolve() == Path(output).resolve():
            raise UsageError(f"{output} is the input table; write the batch file somewhere else")
    builder = Builder(**options)
    stats = BuildStats() if stats is None else stats
    name = source_name(source)
    chunks = iter_table(source, input_format, sheet=sheet, encoding=encoding)
    written = write_numbered(
        builder.numbered(chunks, stats=stats, progress=progress),
        output,
        provider,
        max_requests=max_requests,
        max_bytes=max_bytes,
        force=force,
        max_findings=max_findings,
        file=name,
    )
    return BuildResult(
        stats, written.paths, written.report, written.bytes, written.shard_requests, written.shard_bytes
    )
