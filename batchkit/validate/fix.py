"""`fix`: repair what can be repaired in a batch file without guessing, and say what changed where.

Repairs: a UTF-8 byte-order mark is removed; CRLF line ends become LF; blank lines are dropped; a JSON array
of request objects (one array over many lines, or one line holding an array) and objects written indented
one after another (`jq .`) become one object per line;
with `dedupe_ids` a repeated custom_id is renamed `ID~2`, `ID~3`, … (`ID-2` where the provider's id rule
refuses `~`, as Anthropic's does; the first use keeps its id, and a new id never takes one the file already
has); with `drop_duplicates` a line identical to an earlier one is dropped
(applied before renaming); with `strict_schemas` every strict schema of a request body (`response_format`,
`text.format`, strict tools) gets what OpenAI's strict mode needs and no guess: `additionalProperties:
false` on every object and every property in `required`. Lines left unchanged are copied byte for byte; a line whose custom_id is renamed
is written again as compact JSON. Everything else (a line that is not JSON, a bad field) is left for the
report: the result is validated again and returned with the changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from ..atomic import atomic_write, same_file
from ..errors import InputError, UsageError, ValidationFailed
from ..findings import Report
from ..formats import REPEAT_SEPARATORS, Dialect, detect, detect_stream
from ..lines import (
    BOM,
    MAX_LINE_BYTES,
    Overlong,
    bounded_lines,
    dumps_line,
    open_binary,
    too_deep,
    whole_line,
)
from ..options import Options
from ..providers import Provider
from ..words import Meta, Option, Text
from .strict import fix_strict_schemas, strict_repairs
from .validator import Validator


@dataclass(frozen=True)
class Change:
    """One repair: the input line (or first line of a run of lines) it touched, and what was done."""

    line: int | None
    message: str
    end_line: int | None = None  # last line of a run ("lines 3-9: ...")

    def where(self) -> str:
        if self.line is None:
            return ""
        return f"{self.line}" if self.end_line in (None, self.line) else f"{self.line}-{self.end_line}"

    def to_dict(self) -> dict:
        return {"line": self.line, "end_line": self.end_line or self.line, "message": self.message}


@dataclass
class FixResult:
    path: Path | None  # None when written to a stream
    changes: list[Change] = field(default_factory=list)
    report: Report | None = None
    lines_in: int = 0
    lines_out: int = 0


def _raw_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without the line end, whether it ended with CRLF). A line past the line limit
    cannot be repaired or copied: nothing is written (ValidationFailed, with the finding)."""
    for number, piece in enumerate(bounded_lines(stream), 1):
        raw = whole_line(stream, piece, MAX_LINE_BYTES)
        if isinstance(raw, Overlong):
            _refuse(raw.finding(number))
        crlf = raw.endswith(b"\r\n")
        if raw.endswith(b"\n"):
            raw = raw[:-2] if crlf else raw[:-1]
        yield number, raw, crlf


class _Runs:
    """Collapses a change made on many consecutive lines into one Change per run."""

    def __init__(self, message: str, out: list[Change]):
        self.message, self.out = message, out
        self.start = self.end = None

    def add(self, number: int) -> None:
        if self.end is not None and number == self.end + 1:
            self.end = number
            return
        self.flush()
        self.start = self.end = number

    def flush(self) -> None:
        if self.start is not None:
            self.out.append(Change(self.start, self.message, self.end))
            self.start = self.end = None


def _is_array_start(raw: bytes) -> bool:
    stripped = raw.strip()
    if not stripped.startswith(b"["):
        return False
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return True  # an array opened here and closed on a later line
    return False


def _refuse(finding) -> None:
    report = Report("<input>", "")
    report.add(finding)
    raise ValidationFailed(f"line {finding.line}: {finding.message}; nothing written", report)


def _objects_of_array(value, where: str) -> list[dict]:
    if type(value) is not list or not all(type(v) is dict for v in value):
        raise InputError(f"{where}: a JSON array that is not all objects cannot be turned into request lines")
    return value


def fix_file(
    source: str | os.PathLike | BinaryIO,
    output: str | os.PathLike | BinaryIO | None = None,
    *,
    in_place: bool = False,
    dedupe_ids: bool = False,
    drop_duplicates: bool = False,
    strict_schemas: bool = False,
    provider: str | Provider | None = None,
    max_findings: int | None = None,
    validate: bool = True,
    dialect: str | None = None,
) -> FixResult:
    """Repair `source` into `output` (a path, or an open binary stream), or over `source` itself with
    in_place=True. Never writes over the input otherwise. Returns the changes (with input line numbers)
    and, unless validate=False, the report of validating what was written (line numbers of the output).

    The pipeline: read → reading repairs (BOM, CRLF, blank lines, arrays) → drop duplicates → rename
    repeated ids → strict schemas → count → write (and validate what is written)."""

    output = _target(source, output, in_place)
    options = Options.of(provider, max_findings=max_findings, dialect=dialect)
    changes: list[Change] = []
    with _Source(source, copy_stream=dedupe_ids) as read:
        # A new id must not take one that a later line has: a first pass learns every id.
        taken = _all_ids(read, drop_duplicates) if dedupe_ids else set()
        with read() as stream:
            settled = options.for_lines(detect_stream(stream))
            validator = Validator(settled, dialect=settled.dialect, file=_name(output)) if validate else None
            lines = _repaired(stream, changes, drop_duplicates)
            if dedupe_ids:
                lines = _dedupe_ids(lines, changes, taken, settled.provider.custom_id_re)
            if strict_schemas:
                lines = _fix_strict_schemas(lines, changes)
            tally = _Tally(lines)
            path = _write(output, tally, validator)
    changes.sort(key=lambda c: c.line or 0)
    report = validator.finish() if validator is not None else None
    return FixResult(path, changes, report, tally.lines_in, tally.lines_out)


def _target(source, output, in_place: bool):
    """Where the repaired lines go, refusing to write over the input unless asked."""
    if in_place:
        if output is not None and not same_file(output, source):
            raise UsageError(
                Text("give ", Option("output", Meta("OUT")), " or ", Option("in_place", True), ", not both")
            )
        if hasattr(source, "read") or str(source) == "-":
            raise UsageError(Text(Option("in_place", True), " needs a file, not standard input"))
        return source
    if output is None:
        raise UsageError(
            Text(
                "give ",
                Option("output", Meta("OUT")),
                " (or ",
                Option("in_place", True),
                " to repair the file itself)",
            )
        )
    if same_file(output, source):
        raise UsageError(
            Text(f"{output} is the input file; pass ", Option("in_place", True), " to write over it")
        )
    return output


def _name(output) -> str:
    return str(getattr(output, "name", "<stdout>")) if hasattr(output, "write") else os.fspath(output)


def _repaired(stream: BinaryIO, changes: list[Change], drop_duplicates: bool) -> Iterator[tuple[int, bytes]]:
    """(input line number, line) after the reading repairs and, when asked, without repeated lines."""
    crlf_runs = _Runs("CRLF line end changed to LF", changes)
    blank_runs = _Runs("blank line dropped", changes)
    lines = _lines_after_reading_repairs(stream, changes, crlf_runs, blank_runs)
    yield from _drop_duplicates(lines, changes) if drop_duplicates else lines
    crlf_runs.flush()
    blank_runs.flush()


def _all_ids(read, drop_duplicates: bool) -> set[str]:
    with read() as stream:
        return {
            cid for _n, raw in _repaired(stream, [], drop_duplicates) if (cid := _request(raw)[2]) is not None
        }


class _Tally:
    """Passes (number, line) pairs through, counting input lines (the highest number) and output lines."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]):
        self.lines = lines
        self.lines_in = self.lines_out = 0

    def __iter__(self) -> Iterator[bytes]:
        for number, raw in self.lines:
            self.lines_in = max(self.lines_in, number)
            self.lines_out += 1
            yield raw + b"\n"


def _write(output, lines: _Tally, validator) -> Path | None:
    """Write the lines to a stream, or whole-or-not-at-all to a path (returned); validate them as they go."""
    if hasattr(output, "write"):
        _emit(output, lines, validator)
        return None
    path = Path(output)
    with atomic_write(path) as f:
        _emit(f, lines, validator)
    return path


def _emit(f: BinaryIO, lines: _Tally, validator) -> None:
    def written():
        for line in lines:
            f.write(line)
            yield line

    if validator is None:
        for _line in written():
            pass
    else:
        validator.feed_stream(written())  # output lines are numbered 1, 2, … as they are written


class _Source:
    """`with _Source(source) as read:` — `read()` opens the input afresh, once per pass. A path is simply
    reopened; standard input or a stream is copied to a temporary file first when `copy_stream` (a second
    pass needs it), else read once as it is."""

    def __init__(self, source, copy_stream: bool):
        self.source = source
        self.copy = None
        self.is_path = not hasattr(source, "read") and str(source) != "-"
        self.copy_stream = copy_stream and not self.is_path

    def __enter__(self):
        if self.copy_stream:
            self.copy = tempfile.TemporaryFile()
            with open_binary(self.source) as stream:
                shutil.copyfileobj(stream, self.copy)
        return self.read

    def __exit__(self, *exc) -> None:
        if self.copy is not None:
            self.copy.close()

    def read(self):
        if self.copy is None:
            return open_binary(self.source)
        self.copy.seek(0)
        return contextlib.nullcontext(self.copy)


def _lines_after_reading_repairs(
    stream: BinaryIO, changes: list[Change], crlf_runs: _Runs, blank_runs: _Runs
) -> Iterator[tuple[int, bytes]]:
    """(input line number, line) after BOM, CRLF, blank-line and JSON-array repairs."""
    seen_content = False
    array_lines: list[bytes] | None = None
    array_start = array_bytes = 0
    lines = _raw_lines(stream)
    for number, raw, crlf in lines:
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
            changes.append(Change(1, "byte-order mark removed"))
        if crlf:
            crlf_runs.add(number)
        if array_lines is not None:
            array_lines.append(raw)
            array_bytes += len(raw) + 1
            if array_bytes > MAX_LINE_BYTES:
                raise InputError(
                    f"the JSON array starting on line {array_start} holds more than {MAX_LINE_BYTES:,} bytes; "
                    "write one request per line with a streaming tool (`jq -c '.[]' FILE`)"
                )
            continue
        if not raw.strip():
            blank_runs.add(number)
            continue
        if not seen_content and _is_array_start(raw):
            array_lines, array_start = [raw], number
            continue
        if not seen_content and raw.strip() == b"{":
            yield from _spread_objects(number, raw, lines, changes)
            return
        seen_content = True
        stripped = raw.strip()
        if stripped.startswith(b"[") and stripped.endswith(b"]"):
            objects = _line_array(stripped)
            if objects is not None:
                changes.append(
                    Change(number, f"JSON array of {_objects(len(objects))} split into one line each")
                )
                for obj in objects:
                    yield number, dumps_line(obj)[:-1]
                continue
        yield number, raw
    if array_lines is not None:
        where = f"the JSON array starting on line {array_start}"
        try:
            value = orjson.loads(b"\n".join(array_lines))
        except orjson.JSONDecodeError as e:
            raise InputError(f"{where} is not valid JSON ({e.msg}); it cannot be converted") from None
        objects = _objects_of_array(value, where)
        changes.append(
            Change(array_start, f"JSON array of {_objects(len(objects))} written as one line each", number)
        )
        for obj in objects:
            yield array_start, dumps_line(obj)[:-1]


def _spread_objects(number: int, first: bytes, lines, changes: list[Change]) -> Iterator[tuple[int, bytes]]:
    """Objects written indented one after another (as `jq .` writes them), each gathered until it parses
    at a line that closes it (`}` at the left margin, or a whole object on one line), and written as one
    line; one object at a time is held."""
    first_line, start, held, size, count = number, number, [first], len(first), 0
    for number, raw, _crlf in lines:
        if not held and not raw.strip():
            continue
        start = start if held else number
        held.append(raw)
        size += len(raw) + 1
        if size > MAX_LINE_BYTES:
            raise InputError(
                f"the JSON object starting on line {start} holds more than {MAX_LINE_BYTES:,} bytes"
            )
        closing = raw.rstrip()
        if closing == b"}" or (len(held) == 1 and closing.endswith(b"}")):
            try:
                value = orjson.loads(b"\n".join(held))
            except orjson.JSONDecodeError:
                continue
            yield start, dumps_line(_objects_of_array([value], f"line {start}")[0])[:-1]
            held, size, count = [], 0, count + 1
    if held:
        raise InputError(
            f"the JSON object starting on line {start} is not valid JSON; it cannot be converted"
        )
    changes.append(
        Change(first_line, f"{_objects(count)} spread over lines written as one line each", number)
    )


def _objects(n: int) -> str:
    return "1 object" if n == 1 else f"{n:,} objects"


def _line_array(stripped: bytes) -> list[dict] | None:
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    if type(value) is list and value and all(type(v) is dict for v in value):
        return value
    return None


def _drop_duplicates(
    lines: Iterator[tuple[int, bytes]], changes: list[Change]
) -> Iterator[tuple[int, bytes]]:
    first: dict[bytes, int] = {}  # digest → input line of its first use
    for number, raw in lines:
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest in first:
            changes.append(Change(number, f"dropped: identical to line {first[digest]}"))
            continue
        first[digest] = number
        yield number, raw


def _request(raw: bytes) -> tuple[dict | None, Dialect | None, str | None]:
    """(the line's object, its format, its id) — Nones for what it does not have. A line nested past
    MAX_DEPTH holds no request to repair: it is copied, and the report names it."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None, None
    if too_deep(obj, raw):
        return None, None, None
    dialect = detect(obj)
    if dialect is None:
        return None, None, None
    ident = dialect.id_of(obj)
    return obj, dialect, ident if type(ident) is str else None


def _dedupe_ids(
    lines: Iterator[tuple[int, bytes]], changes: list[Change], taken: set[str], rule: re.Pattern | None
) -> Iterator[tuple[int, bytes]]:
    """Renames each repeat of an id `ID~2`, `ID~3`, … (see `_renamed`) never taking an id in `taken` (all
    the file's)."""
    first: dict[str, int] = {}  # custom_id → input line of its first use
    next_suffix: dict[str, int] = {}
    for number, raw in lines:
        obj, dialect, cid = _request(raw)
        if cid is None or cid not in first:
            if cid is not None:
                first[cid] = number
            yield number, raw
            continue
        k = next_suffix.get(cid, 2)
        while (new := _renamed(cid, k, rule)) in taken:
            k += 1
        next_suffix[cid] = k + 1
        taken.add(new)
        dialect.set_id(obj, new)
        changes.append(
            Change(number, f"{dialect.id_name} {cid!r} renamed {new!r} (first used on line {first[cid]})")
        )
        yield number, dumps_line(obj)[:-1]


def _renamed(cid: str, k: int, rule: re.Pattern | None) -> str:
    """The K-th use of `cid` renamed: `ID~K`, or `ID-K` / `ID_K` where the id rule (a provider's, such as
    Anthropic's letters, digits, `-` and `_`) refuses the first; `ID~K` when it takes none (the report
    then says why)."""
    names = [f"{cid}{separator}{k}" for separator in REPEAT_SEPARATORS]
    return next((name for name in names if rule is None or rule.match(name)), names[0])


def _fix_strict_schemas(
    lines: Iterator[tuple[int, bytes]], changes: list[Change]
) -> Iterator[tuple[int, bytes]]:
    """Each line whose strict schemas lacked what strict mode needs, repaired and written again."""
    import copy

    for number, raw in lines:
        obj, dialect, _cid = _request(raw)
        checked = dialect.checked_body(dialect.read(obj)) if dialect is not None else None
        body = checked[1] if checked is not None else None
        if not body:
            yield number, raw
            continue
        before = copy.deepcopy(body)
        changed = fix_strict_schemas(body)
        for pointer in changed:
            schema_before, schema_after = _at(before, pointer), _at(body, pointer)
            for repair in strict_repairs(schema_before, schema_after):
                where, _sep, what = repair.partition(": ")
                at = pointer + ("" if where == "/" else where)
                changes.append(Change(number, f"strict schema {at}: {what}"))
        yield number, (dumps_line(obj)[:-1] if changed else raw)


def _at(body: dict, pointer: str):
    """The value at a /body/… JSON Pointer of a request line, given the body."""
    node = body
    for part in pointer.split("/")[2:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if type(node) is list else node[part]
    return node
