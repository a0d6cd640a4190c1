"""Streaming JSONL reading: 1-based line numbers, byte offsets, bounded line lengths, reading findings."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import math
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import jiter
import orjson

from .errors import InputError
from .findings import Finding, pointer

BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_LINE_BYTES = 64 * 2**20  # no provider takes one request this large; a longer line is never held
READ_CHUNK = 1 << 20  # lines are read this much at a time; a longer one is joined from its pieces
MAX_SKIP_BYTES = 128 * 2**20  # twice the longest line read: past this no batch line, and reading stops in it
# Arrays and objects nested in one request line, the line itself counted: a deeper line is a `too-deep`
# finding everywhere (validate, every job that reads requests, the server). orjson writes at most 255
# levels; a line within 128 stays writable however it is wrapped (another format, a result line).
MAX_DEPTH = 128
PROGRESS_BYTES = 1 << 20  # bytes read between progress reports
Emit = Callable[[Finding], None]
# How a long read tells where it is: (bytes of the input read so far, its size, or None when unknown).
BytesRead = Callable[[int, "int | None"], None]


def source_name(source) -> str:
    """How messages name an input: its path, <stdin> for '-', or an open file's name."""
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        return name if isinstance(name, str) else "<stream>"
    return "<stdin>" if str(source) == "-" else os.fspath(source)


@contextlib.contextmanager
def open_binary(
    source: str | os.PathLike | BinaryIO, progress: BytesRead | None = None
) -> Iterator[BinaryIO]:
    """A binary stream for a path, '-' (standard input) or an already open binary file. `progress`, when
    given, hears how much of a named file was read (of a gzip file: of its compressed bytes)."""
    if hasattr(source, "read"):
        yield source
        return
    if str(source) == "-":
        with _unpacked(sys.stdin.buffer, "<stdin>") as stream:
            yield stream
        return
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a batch file")
    try:
        f = open(path, "rb") if progress is None else _counted(open(path, "rb", buffering=0), progress)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f, _unpacked(f, str(path)) as stream:
        yield stream


class Counted(io.RawIOBase):
    """A raw file that tells `progress` its position as it is read: every PROGRESS_BYTES, and at its end
    when it told before (a small file says nothing)."""

    def __init__(self, raw, progress: BytesRead, size: int | None):
        self.raw, self.progress, self.size, self.told = raw, progress, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.raw.seekable()

    def fileno(self) -> int:
        return self.raw.fileno()

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def close(self) -> None:
        self.raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        position = self.raw.tell()
        if abs(position - self.told) >= PROGRESS_BYTES or (not n and 0 < self.told != position):
            self.told = position
            self.progress(position, self.size)
        return n


def _counted(raw, progress: BytesRead) -> BinaryIO:
    size = os.fstat(raw.fileno()).st_size
    return io.BufferedReader(Counted(raw, progress, size if size else None), buffer_size=1 << 16)


@contextlib.contextmanager
def _unpacked(f: BinaryIO, name: str) -> Iterator[BinaryIO]:
    """`f` as it is, or the data a gzip file holds; a zstd file gets a clear error, and so does gzip data
    found damaged or cut short while it is read (whoever reads it)."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if head.startswith(GZIP_MAGIC):
        with gzip.GzipFile(fileobj=f, mode="rb") as unpacked:
            try:
                yield unpacked
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                raise InputError(f"{name}: the gzip data is damaged or cut short ({e})") from None
        return
    if head == ZSTD_MAGIC:
        raise InputError(
            f"{name}: this is a zstd-compressed file: decompress it first (`zstd -d {name}`); "
            "batchkit reads plain and gzip (.gz) files"
        )
    yield f


def is_compressed(stream) -> bool:
    """Whether `stream` decompresses what it reads (its file's size is not the data's size)."""
    return isinstance(stream, gzip.GzipFile)


class FilePrefix(io.RawIOBase):
    """Bytes `start` to `stop` of an open file, read by position: a file that grows while it is read is
    read as it was (its size at the start), and a byte range is read without reaching past its end."""

    def __init__(self, fd: int, start: int, stop: int):
        self.fd, self.start, self.stop, self.pos = fd, start, stop, start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos - self.start

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: self.start, 1: self.pos, 2: self.stop}[whence]
        self.pos = min(max(base + offset, self.start), self.stop)
        return self.tell()

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")[: self.stop - self.pos]
        n = os.preadv(self.fd, [view], self.pos)  # straight into the caller's buffer, no copy
        self.pos += n
        return n


def file_range(f: BinaryIO, start: int, stop: int, progress: BytesRead | None = None) -> BinaryIO:
    """A buffered stream over bytes `start` to `stop` of open file `f` (see FilePrefix); `progress` hears
    how many of them were read."""
    raw = FilePrefix(f.fileno(), start, stop)
    return io.BufferedReader(raw if progress is None else Counted(raw, progress, stop - start), 1 << 20)


class LineBound(io.RawIOBase):
    """A stream that stops (InputError naming `name`) when it has read `limit` bytes past the last line end
    (None: never), for a reader that holds a whole line, as pandas' CSV reader and a text stream do: an
    endless line (/dev/zero, a binary file) would take all memory. `owned`: closing it closes `raw`."""

    def __init__(self, raw: BinaryIO, name: str, *, owned: bool, limit: int | None = MAX_SKIP_BYTES):
        self.raw, self.name, self.owned, self.limit, self.run = raw, name, owned, limit, 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.owned and not self.closed:
            self.raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n and self.limit is not None:
            end = bytes(memoryview(buffer)[:n]).rfind(b"\n")
            self.run = n - end - 1 if end >= 0 else self.run + n
            if self.run > self.limit:
                raise InputError(
                    f"{self.name}: a line runs past {self.limit // 2**20} MB without a line end; "
                    "a table's rows are lines (is this a binary file?)"
                )
        return n


def bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's lines as they are (line ends kept), READ_CHUNK bytes at most at a time: a longer line
    comes out as its first READ_CHUNK bytes, and `whole_line` reads the rest."""
    return iter(functools.partial(stream.readline, READ_CHUNK), b"")


def is_partial(raw: bytes) -> bool:
    """Whether `bounded_lines` gave only the beginning of a longer line."""
    return len(raw) == READ_CHUNK and not raw.endswith(b"\n")


@dataclass(frozen=True, slots=True)
class Overlong:
    """A line longer than the limit, read past and never held: its `size` in bytes (line end included) and
    the `limit` it broke. `endless` when it ran on past MAX_SKIP_BYTES and reading stopped inside it."""

    size: int
    limit: int
    endless: bool = False

    def __len__(self) -> int:
        return self.size

    def finding(self, number: int, holder: str | None = None) -> Finding:
        """The finding for this line; `holder` names whose limit it is (a provider), else batchkit's."""
        whose = f"a request line may have for {holder}" if holder else "batchkit reads in one line"
        if self.endless:
            message = (
                f"the line runs past {self.size:,} bytes without ending, more than the {self.limit:,} "
                f"{whose}; reading stopped there (is this a batch file?)"
            )
        else:
            message = f"the line has {self.size:,} bytes, more than the {self.limit:,} {whose}; it was skipped unread"
        return Finding("line-too-long", message, number)


def skip_rest(stream: BinaryIO, chunk: int = 1 << 20, budget: int = MAX_SKIP_BYTES) -> tuple[int, bool]:
    """Reads past the rest of a line, a chunk at a time: (bytes read, whether the line ended). Stops,
    unended, past `budget` bytes: no line of a batch file is that long (/dev/zero is endless)."""
    skipped = 0
    while skipped <= budget:
        raw = stream.readline(chunk)
        skipped += len(raw)
        if not raw or raw.endswith(b"\n"):
            return skipped, True
    return skipped, False


def whole_line(
    stream: BinaryIO | None, raw: bytes, limit: int, give_up: int = MAX_SKIP_BYTES
) -> bytes | Overlong:
    """The line `raw` begins (as `bounded_lines` gave it; `stream`, where the rest is, None when `raw` is
    whole) when it is at most `limit` bytes, else an Overlong: past the limit, nothing more is held, and
    past `give_up` bytes the line is taken to be endless."""
    if stream is None or not is_partial(raw):
        return raw if len(raw) <= limit else Overlong(len(raw), limit)
    parts, size = [raw], len(raw)
    while size <= limit:
        chunk = stream.readline(READ_CHUNK)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
    if size <= limit:
        return b"".join(parts)
    skipped, ended = (0, True) if parts[-1].endswith(b"\n") else skip_rest(stream, budget=give_up - size)
    return Overlong(size + skipped, limit, not ended)


def iter_lines(
    stream: BinaryIO, first_number: int = 1, max_line: int = MAX_LINE_BYTES, give_up: int = MAX_SKIP_BYTES
) -> Iterator[tuple[int, int, bytes | Overlong]]:
    """(line number, byte offset of the next line, line without its LF/CRLF) in bounded memory: a line of
    more than `max_line` bytes (its line end counted) comes as an `Overlong`, never held; one that runs
    past `give_up` bytes is endless, and the last item."""
    end = 0
    for number, raw in enumerate(bounded_lines(stream), first_number):
        if len(raw) > max_line or is_partial(raw):
            raw = whole_line(stream, raw, max_line, give_up)
            if isinstance(raw, Overlong):
                end += raw.size
                yield number, end, raw
                if raw.endless:
                    return
                continue
        end += len(raw)
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, end, raw


def content_lines(stream: BinaryIO, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | Overlong]]:
    """(line number, line) of every line that is not blank, without its line end and without the UTF-8
    byte-order mark a first line may carry: the lines a batch file's requests are on. A line past
    `max_line` comes as an `Overlong` (never held), for the caller to report."""
    for number, _end, raw in iter_lines(stream, max_line=max_line):
        if isinstance(raw, Overlong):
            yield number, raw
            continue
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.strip():
            yield number, raw


def seekable(stream) -> bool:
    """Whether a stream can go back to where it was."""
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def json_type(value) -> str:
    """The JSON Schema type name of a parsed JSON value."""
    return JSON_TYPES.get(type(value), type(value).__name__)


def parse_line(number: int, raw: bytes, emit: Emit) -> dict | None:
    """The object on one line, or None after emitting why there is none."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as u:
            emit(
                Finding(
                    "invalid-encoding",
                    f"bytes that are not UTF-8 at byte {u.start + 1} of the line; save the file as UTF-8",
                    number,
                )
            )
            return None
        # orjson stops at 1,024 levels: JSON still, nested past what batchkit reads
        emit(
            too_deep_finding(number)
            if "depth limit" in e.msg
            else Finding("invalid-json", _json_error(e), number)
        )
        return None
    if type(value) is dict:
        return value
    kind = json_type(value)
    if kind == "array" and value and all(type(v) is dict for v in value):
        message = (
            f"this line is a JSON array of {len(value)} object(s); put each request object on a line "
            "of its own (`batchkit fix` converts it)"
        )
    else:
        message = f"this line is a JSON {kind}, not an object; each line must be one request object"
    emit(Finding("not-an-object", message, number))
    return None


class LineReader:
    """Turns raw lines into objects, reporting what is wrong with the others.

    It remembers what spans lines: whether the file began with a byte-order mark or turned out to be
    one JSON array or indented objects spread over many lines. `at_file_start` is False for a reader of a
    later byte range.
    """

    def __init__(self, emit: Emit, at_file_start: bool = True, holder: str | None = None):
        self.emit = emit
        self.at_file_start = at_file_start
        self.holder = holder  # whose line limit an overlong line breaks (a provider), for its finding
        self.seen_content = False
        self.spread = False  # the file's JSON values are spread over lines: it is read as a whole, not here

    def opens_plainly(self, raw: bytes | Overlong) -> bool:
        """Whether `raw`, the first line with content, is an ordinary one (it opens an object and does not
        stop there: no byte-order mark, JSON array or indented objects), which a faster reader may take;
        it then counts as the content seen."""
        if not self.seen_content and type(raw) is bytes and raw[:1] == b"{" and raw.rstrip() != b"{":
            self.seen_content = True
        return self.seen_content and not self.spread

    def parse(self, number: int, raw: bytes | Overlong) -> dict | None:
        emit = self.emit
        if isinstance(raw, Overlong):
            self.seen_content = True
            # the holder's limit when it is the one that was broken, else batchkit's own
            emit(raw.finding(number, self.holder if raw.limit < MAX_LINE_BYTES else None))
            return None
        if number == 1 and self.at_file_start and raw.startswith(BOM):
            emit(
                Finding(
                    "byte-order-mark",
                    "the file starts with a UTF-8 byte-order mark, which some "
                    "providers reject; remove it (`batchkit fix`)",
                    1,
                )
            )
            raw = raw[3:]
        if not raw.strip():
            emit(Finding("blank-line", "blank line; remove it (`batchkit fix` drops blank lines)", number))
            return None
        if not self.seen_content:
            self.seen_content = True
            spread = spread_finding(raw.strip()) if self.at_file_start else None
            if spread is not None:
                self.spread = True
                emit(spread)
        if self.spread:
            return None
        return parse_line(number, raw, emit)


def spread_finding(first: bytes) -> Finding | None:
    """The one finding for a file whose first line opens a JSON value that later lines close: one array
    over many lines, or objects written indented one after another (as `jq .` writes them)."""
    if first.startswith(b"[") and not _parses(first):
        what, code = "one JSON array spread over several lines", "json-array-file"
    elif first == b"{":
        what, code = (
            "JSON objects spread over several lines each (as `jq .` writes them)",
            "json-objects-spread",
        )
    else:
        return None
    message = (
        f"the file looks like {what}; a batch file needs one request object per line (`batchkit fix FILE "
        "-o OUT.jsonl` converts it)"
    )
    return Finding(code, message, None)


def read_objects(
    stream: BinaryIO,
    emit: Emit,
    stats: dict | None = None,
    max_line: int = MAX_LINE_BYTES,
    holder: str | None = None,
) -> Iterator[tuple[int, dict, bytes]]:
    """(line number, object, raw line) for every line that holds a JSON object.

    Every other line becomes a finding through `emit` and reading goes on (a line past `max_line` bytes
    too, never held; `holder` names whose limit that is). `stats`, when given,
    receives `lines`, `bytes`, `start` (the byte offset of the line just read) and `content` (whether any
    line was not blank) as reading proceeds.
    """
    stats = {} if stats is None else stats
    stats.setdefault("lines", 0)
    stats.setdefault("bytes", 0)
    reader = LineReader(emit, holder=holder)
    for number, end, raw in iter_lines(stream, max_line=max_line):
        stats["start"] = stats["bytes"]
        stats["lines"] = number
        stats["bytes"] = end
        obj = reader.parse(number, raw)
        if obj is not None:
            yield number, obj, raw
    stats["content"] = reader.seen_content


def _json_error(e: orjson.JSONDecodeError) -> str:
    if "number is infinity" in e.msg:
        return (
            f"the number at column {e.colno} is too large: JSON numbers must fit a 64-bit float "
            "(at most about 1.8e308) and integers 64 bits; write it as a string if it is an id"
        )
    if "surrogate" in e.msg:
        return (
            f"the text at column {e.colno} holds half of a UTF-16 surrogate pair ({e.msg}), which is no "
            "character: JSON readers refuse it; remove it or replace it with the character it was cut from"
        )
    return f"not valid JSON at column {e.colno}: {e.msg}; each line must be one complete JSON object"


def _parses(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def nesting(value, limit: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in `value`, counted up to `limit` + 1 (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            item = item.values()
        elif type(item) is not list:
            continue
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item)
    return deepest


def too_deep(value, text: bytes | str | None = None) -> bool:
    """Whether a parsed value (a line, an answer) nests deeper than MAX_DEPTH; `text`, the JSON it was
    read from when at hand, answers most without a walk (fewer brackets than the limit cannot nest that
    deep)."""
    if text is not None:
        brackets = (b"[", b"{") if type(text) is bytes else ("[", "{")
        if text.count(brackets[0]) + text.count(brackets[1]) <= MAX_DEPTH:
            return False
    return nesting(value, MAX_DEPTH) > MAX_DEPTH


def repeats_a_key(raw: bytes) -> bool:
    """Whether an object of this JSON text repeats a key (or jiter cannot read the text): the hot loop's
    question (`repeated_keys` says where)."""
    return _unread(raw) is not None


def repeated_keys(raw: bytes) -> list[tuple]:
    """The path of every key an object of this JSON text repeats (the key last), in the order they are
    read; empty when none does (or the text is no JSON within MAX_DEPTH). orjson and msgspec keep the last
    of a repeated key without a word; another reader may keep the first, so the request that runs would
    not be the one checked."""
    error = _unread(raw)
    return _repeats(raw) if error is not None and "duplicate key" in str(error) else []


def _unread(raw: bytes) -> ValueError | None:
    """Why jiter, told to refuse a repeated key, does not read this JSON text; None when it does."""
    try:
        jiter.from_json(raw, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as e:
        return e
    return None


class _Repeats(dict):
    """An object read from JSON text, with the keys it held more than once."""

    repeated: tuple = ()


def _pairs(pairs: list) -> dict:
    obj = _Repeats(pairs)
    if len(obj) < len(pairs):
        seen: set = set()
        obj.repeated = tuple(dict.fromkeys(k for k, _v in pairs if k in seen or seen.add(k)))
    return obj


def _repeats(raw: bytes) -> list[tuple]:
    """Where `repeated_keys` found repeats: the text read again keeping every object's pairs."""
    found: list[tuple] = []
    stack = [(json.loads(raw, object_pairs_hook=_pairs), ())]
    while stack:
        value, where = stack.pop()
        if type(value) is _Repeats:
            found.extend((*where, key) for key in value.repeated)
            stack.extend((v, (*where, k)) for k, v in reversed(value.items()))
        elif type(value) is list:
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(value))))
    return found


def too_deep_finding(number: int | None) -> Finding:
    message = (
        f"the line nests arrays and objects more than {MAX_DEPTH} levels deep, which batchkit does not read "
        "(no provider expects such nesting): flatten it"
    )
    return Finding("too-deep", message, number)


def loads_exact(text: str):
    """JSON text as orjson reads it (a JSONDecodeError when it is none), every integer the one written,
    however wide: orjson reads one past 64 bits as a float (2**64 became 1.8446744073709552e+19), so a
    value holding a float that large is read again by Python's json, which keeps wide integers."""
    value = orjson.loads(text)
    if _holds_wide_float(value):
        try:
            return json.loads(text)  # orjson took it, so it is plain JSON
        except RecursionError:  # deeper than Python's json goes: as orjson read it
            return value
    return value


def _holds_wide_float(value) -> bool:
    """Whether a parsed value holds a float past 64-bit integers (what orjson makes of a wider integer).
    A walk of the value: a regular expression's search of its text for 19 digits in a row took ~10 µs a
    kilobyte, most of a structured merge's time."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float and not -WIDE_FLOAT < item < WIDE_FLOAT:
            return True
    return False


WIDE_FLOAT = 2.0**63


def dumps_json(value, option: int = 0) -> bytes:
    """`value` as JSON, written by orjson with `option` (OPT_INDENT_2, OPT_APPEND_NEWLINE). What orjson
    refuses to write, Python's json writes: an integer wider than 64 bits stays the number it is, a value
    nested past orjson's 255 levels is written whole (a line that deep is then a `too-deep` finding), and
    a lone surrogate (text from Python, never from a file) as its \\u escape, which keeps the bytes UTF-8
    and which a JSON reader then refuses by name; past what Python can write, an InputError."""
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError as e:
        said = str(e)
        if "64-bit" not in said and "Recursion" not in said and "surrogates" not in said:
            raise
    indent, escaped = 2 if option & orjson.OPT_INDENT_2 else None, "surrogates" in said
    try:
        text = json.dumps(
            value, ensure_ascii=escaped, indent=indent, separators=(",", ": " if indent else ":")
        )
    except RecursionError:
        raise InputError(
            f"a value nests arrays and objects far more than {MAX_DEPTH} levels deep; it cannot be written"
        ) from None
    return text.encode() + (b"\n" if option & orjson.OPT_APPEND_NEWLINE else b"")


def dumps_line(obj) -> bytes:
    """One JSONL line (with its LF) as batchkit writes them: compact, UTF-8, key order kept."""
    return dumps_json(obj, orjson.OPT_APPEND_NEWLINE)


def request_line(request, number: int) -> bytes:
    """A request given in memory as its line (see dumps_json). NaN and the infinities are refused where
    they are: JSON has no such numbers, and orjson would write null in their place, so the request sent
    would not be the one given (`temperature: null` asks for the default)."""
    line = dumps_json(request, orjson.OPT_APPEND_NEWLINE)
    if b"null" in line and (found := _not_finite(request)) is not None:
        where, value = found
        name = "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
        raise InputError(
            f"request {number}: {pointer(where) or 'the request'} is {name}, which JSON cannot hold: give a "
            "number, or leave the field out"
        )
    return line


def _not_finite(value) -> tuple[tuple, float] | None:
    """(the path, the value) of the first NaN or infinity in `value`, None when it holds none."""
    stack = [(value, ())]
    while stack:
        item, where = stack.pop()
        if type(item) is float and not math.isfinite(item):
            return where, item
        if isinstance(item, dict):
            stack.extend((v, (*where, k)) for k, v in reversed(item.items()))
        elif isinstance(item, list | tuple):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(item))))
    return None
