"""Validation: reader → schema → rules → report, streaming in constant memory.

Each line first tries the fast path (msgspec decoders derived from the schemas, see `fastpath`); a line
it rejects takes the reference path: orjson, jsonschema-rs for validity, python-jsonschema to explain.
Both paths feed the same rules, so they give identical findings.
"""

from __future__ import annotations

import functools
import os
import stat
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from .. import schemas
from ..errors import InputError
from ..findings import Finding, Report
from ..lines import (
    MAX_LINE_BYTES,
    BytesRead,
    LineReader,
    bounded_lines,
    file_range,
    is_compressed,
    open_binary,
    skip_rest,
    source_name,
)
from ..providers import Provider, get_provider
from .explain import explain, label, pointer
from .fastpath import DECODE_ERRORS
from .rules import ExactIds, HashedIds, LineRules

UNSET = msgspec.UNSET
PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, starting workers costs more than it saves
MAX_DEPTH = 128  # nesting explained in full; a deeper invalid line is one `too-deep` finding
INT64 = (-(2**63), 2**64 - 1)  # the integers a JSON line can carry (signed or unsigned 64-bit)


@functools.cache
def _is_valid():
    """A compiled validator that only decides validity; python-jsonschema explains the lines it rejects."""
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.all_schemas().values()])
    return jsonschema_rs.validator_for(schemas.load(schemas.REQUEST), registry=registry).is_valid


def schema_findings(number: int | None, obj) -> list[Finding]:
    """The schema's findings for one request line (empty when it is valid).

    A line the schema rejects always gets at least one finding: a generic `schema` one when the
    explanation finds nothing, a `too-deep` one when it is nested too deeply to explain.
    """
    try:
        if _is_valid()(obj):
            return []
    except (ValueError, OverflowError, RecursionError):
        pass  # a value jsonschema-rs cannot take in: python-jsonschema decides and explains
    depth = nesting(obj, MAX_DEPTH)
    if depth > MAX_DEPTH:
        return [_too_deep(number)]
    try:
        findings = explain(schemas.validator().iter_errors(obj), number)
    except RecursionError:
        return [_too_deep(number)]
    if not findings:
        message = "the line does not match the request schema (no single field explains why)"
        findings = [Finding("schema", message, number)]
    return findings


def _too_deep(number: int | None) -> Finding:
    message = (
        f"a value is nested more than {MAX_DEPTH} levels deep and does not match the schema; "
        "no provider expects such nesting: flatten it"
    )
    return Finding("too-deep", message, number)


def nesting(value, limit: int) -> int:
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


def wide_integer(value) -> tuple | None:
    """Where the first integer wider than 64 bits is in `value` (a Python object that never went
    through JSON, which cannot carry one), as a tuple of keys; else None."""
    stack = [(value, ())]
    while stack:
        item, where = stack.pop()
        if type(item) is dict:
            stack.extend((v, (*where, k)) for k, v in reversed(item.items()))
        elif type(item) is list:
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(item))))
        elif type(item) is int and not INT64[0] <= item <= INT64[1]:
            return where
    return None


class Validator:
    """Checks request lines and collects a Report.

    Feed it a stream (`feed_stream`), numbered raw lines (`feed_lines`) or parsed objects (`check`), then
    call `finish()` for the file-level checks. `ids="hashed"` keeps only a hash per custom_id; its repeats
    are then resolved by `finish(rescan=...)` from a second read of the file. `first_model` and
    `first_endpoint` are (value, line) of the file's first request, for a validator of a later byte range.
    A line longer than `max_line_bytes` (default: the provider's file limit, at most MAX_LINE_BYTES) is
    one finding, skipped without being held.
    """

    def __init__(
        self,
        provider: str | Provider | None = None,
        *,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_findings: int | None = None,
        max_line_bytes: int | None = None,
        file: str = "<stdin>",
        ids: str = "exact",
        strict: bool = False,
        first_model: tuple[str, int] | None = None,
        first_endpoint: tuple[str, int] | None = None,
    ):
        self.provider = get_provider(provider).with_limits(max_requests, max_bytes)
        self.report = Report(file, self.provider.name, max_findings=max_findings, strict=strict)
        ids_kept = HashedIds() if ids == "hashed" else ExactIds()
        self.rules = LineRules(self.provider, ids_kept, first_model, first_endpoint)
        self.max_line = max_line_bytes or min(self.provider.max_bytes or MAX_LINE_BYTES, MAX_LINE_BYTES)
        self._has_content = False
        self._reader: LineReader | None = None
        self._skip_rest = None
        self._skipped = 0  # bytes of overlong lines read past without being held

    @property
    def has_content(self) -> bool:
        """Whether any line read so far was not blank."""
        return self._has_content

    def check(self, number: int, obj: dict) -> None:
        """The reference path for one parsed line."""
        add = self.report.add
        summary = self.report.summary
        summary.requests += 1
        self._has_content = True
        for finding in schema_findings(number, obj):
            add(finding)
        self.rules.check(number, obj, add)
        url = obj.get("url")
        if type(url) is str:
            summary.endpoints[url] += 1
        body = obj.get("body")
        if type(body) is dict and type(body.get("model")) is str:
            summary.models[body["model"]] += 1

    def feed_stream(self, stream, at_file_start: bool = True, size: int | None = None) -> None:
        """Every line of a stream (a binary file, or any iterable of lines and their total `size`).

        A binary file is read with a bounded buffer: a line past the cap is reported and skipped."""
        seekable = _seekable(stream)
        if hasattr(stream, "readline"):
            self._skip_rest = functools.partial(skip_rest, stream)
            lines = bounded_lines(stream, self.max_line)
        else:
            lines = stream
        if size is None and not seekable:
            lines, counted = _counting(lines)
        self.feed_lines(enumerate(lines, 1), at_file_start)
        self._skip_rest = None
        if size is None:
            size = stream.tell() if seekable else counted[0] + self._skipped
        self.report.summary.bytes = size

    def feed_lines(self, numbered, at_file_start: bool = True) -> None:
        """(line number, raw line) pairs, numbers ascending; may be called again with later lines.

        This is the hot loop of validation: keep per-line work out of it. It counts lines, not bytes:
        callers set `report.summary.bytes`.
        """
        from .fastpath import line_decoder, rule_pairs

        decode, urls = line_decoder()
        pairs_needing_rules = rule_pairs()
        if self._reader is None:
            self._reader = LineReader(self.report.add, at_file_start)
        reader = self._reader
        summary, rules, max_line = self.report.summary, self.rules, self.max_line
        check_keys = rules.check_id_url_model
        add = self.report.add
        # (url, model) → requests, in a plain dict: cheaper per line than two Counters
        pairs: dict[tuple[str, str], int] = {}
        pairs_get = pairs.get
        # For the common provider rules, the custom_id hash and the endpoint are checked right here.
        inline = isinstance(rules.ids, HashedIds) and rules.id_match is None
        inline = inline and not (self.provider.one_model or self.provider.one_endpoint)
        allowed = rules.allowed
        remember = rules.ids.hashes.append if inline else None
        number = summary.lines
        # Until the first content line has been read on the reference path, lines take it: that line may
        # carry a byte-order mark or open a JSON array, which the reader must see.
        fast_ok = reader.seen_content and not reader.array_file
        for number, raw in numbered:  # noqa: B007 (number is read after the loop)
            if fast_ok and len(raw) <= max_line:
                try:
                    line = decode(raw)  # JSON allows the trailing newline as whitespace
                except DECODE_ERRORS:
                    pass
                else:
                    body = line.body
                    for first, second in pairs_needing_rules:
                        if (
                            getattr(body, first, UNSET) is not UNSET
                            and getattr(body, second, UNSET) is not UNSET
                        ):
                            break
                    else:
                        url, model, custom_id = urls[type(line)], body.model, line.custom_id
                        if inline and (allowed is None or url in allowed):
                            remember(hash(custom_id))
                        else:
                            check_keys(number, custom_id, url, model, add)
                        key = (url, model)
                        pairs[key] = pairs_get(key, 0) + 1
                        continue
            self._reference(number, raw)
            fast_ok = reader.seen_content and not reader.array_file
        self._count(pairs)
        summary.lines = number
        self._has_content = self._has_content or reader.seen_content

    def _count(self, pairs: dict[tuple[str, str], int]) -> None:
        """Adds the fast path's requests per (url, model) to the summary."""
        summary = self.report.summary
        for (url, model), count in pairs.items():
            summary.requests += count
            summary.endpoints[url] += count
            summary.models[model] += count

    def _reference(self, number: int, raw: bytes) -> None:
        """One raw line the fast path did not take: read it, report what is wrong with it, check it."""
        if len(raw) > self.max_line:
            self._too_long(number, raw)
            return
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        obj = self._reader.parse(number, raw)
        if obj is not None:
            self.check(number, obj)

    def _too_long(self, number: int, raw: bytes) -> None:
        skipped = 0
        if not raw.endswith(b"\n") and self._skip_rest is not None:
            skipped = self._skip_rest()
        self._reader.seen_content = True
        self._has_content = True
        self._skipped += skipped
        message = (
            f"the line has {len(raw) + skipped:,} bytes, more than the {self.max_line:,} a request line may "
            f"have for {self.provider.name}; it was skipped unread"
        )
        self.report.add(Finding("line-too-long", message, number))

    def finish(self, rescan: BinaryIO | None = None, has_content: bool | None = None) -> Report:
        """Adds the file-level findings and returns the report (findings in line order).

        With hashed ids, `rescan` is a fresh stream of the same file for the exact pass over repeats.
        `has_content` tells whether the file had any non-blank line, when the lines were read elsewhere.
        """
        if has_content is not None:
            self._has_content = has_content
        report, summary, p = self.report, self.report.summary, self.provider
        ids = self.rules.ids
        if isinstance(ids, HashedIds):
            for finding in ids.duplicates(_custom_ids(rescan, self.max_line)):
                report.add(finding)
        if not self._has_content:
            message = "the file has no requests; a batch file needs at least one request line"
            report.add(Finding("empty-file", message, None))
        if p.max_requests is not None and summary.requests > p.max_requests:
            message = (
                f"{summary.requests:,} requests; {p.name} accepts at most {p.max_requests:,} per file: "
                "split it (`batchkit split`)"
            )
            report.add(Finding("too-many-requests", message, None))
        if p.max_bytes is not None and summary.bytes > p.max_bytes:
            message = (
                f"{summary.bytes:,} bytes; {p.name} accepts at most {p.max_bytes:,} per file: "
                "split it (`batchkit split`)"
            )
            report.add(Finding("file-too-large", message, None))
        report.sort()
        return report


def _counting(stream):
    """Lines of a stream that cannot tell its position, and a one-item list that adds up their bytes."""
    counted = [0]

    def lines():
        for raw in stream:
            counted[0] += len(raw)
            yield raw

    return lines(), counted


def _custom_ids(stream: BinaryIO, max_line: int) -> Iterator[tuple[int, str]]:
    """(line, custom_id) of every request line, read as the first pass read them."""
    reader = LineReader(lambda finding: None)
    for number, raw in enumerate(bounded_lines(stream, max_line), 1):
        if len(raw) > max_line:
            if not raw.endswith(b"\n"):
                skip_rest(stream)
            continue
        obj = reader.parse(number, raw.rstrip(b"\r\n"))
        custom_id = obj.get("custom_id") if obj is not None else None
        if type(custom_id) is str:
            yield number, custom_id


def _seekable(stream) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def validate_file(
    source,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    max_findings: int | None = None,
    jobs: int = 1,
    strict: bool = False,
    dialect: str | None = None,
    progress: BytesRead | None = None,
) -> Report:
    """Validate one batch file: a path, '-' for standard input, or a binary stream (gzip files are read
    as the data they hold). A file that grows while it is read is validated as it was at the start.

    `jobs` > 1 (0: one per core) validates byte ranges of a large file in worker processes. With
    `strict`, warnings make the report invalid too. A file in another dialect than OpenAI's (named,
    detected from its first line, or the provider's) is checked by `batchkit.dialects`. `progress` hears
    how much of a named file was read.
    """
    options = dict(
        max_requests=max_requests,
        max_bytes=max_bytes,
        max_findings=max_findings,
        strict=strict,
        file=source_name(source),
    )
    with open_binary(source, progress) as stream:
        try:
            return _validate_opened(source, stream, provider, jobs, dialect, options, progress)
        except (EOFError, zlib.error, OSError) as e:
            if not is_compressed(stream):
                raise
            raise InputError(f"{options['file']}: the gzip data is damaged or cut short ({e})") from None


def _validate_opened(
    source, stream, provider, jobs: int, dialect: str | None, options: dict, progress
) -> Report:
    from ..dialects.validate import dialect_to_validate, openai_rules, validate_dialect_stream

    if other := dialect_to_validate(stream, provider, dialect):
        return validate_dialect_stream(stream, other, provider, **options)
    rules, wrong = openai_rules(provider, options["file"])
    report = _validate_openai(source, stream, rules, jobs, options, progress)
    if wrong is not None:  # OpenAI lines for a provider that takes another dialect
        report.provider = get_provider(provider).name
        report.add(wrong)
        report.sort()
    return report


def _validate_openai(source, stream, provider: Provider, jobs: int, options: dict, progress) -> Report:
    size = _regular_size(stream)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and size and size >= PARALLEL_MIN_BYTES and isinstance(source, (str, os.PathLike)):
        from .parallel import validate_parallel

        return validate_parallel(source, size, provider, jobs, options, progress)
    if size is not None:
        stream = file_range(stream, stream.tell(), size, progress)
    return _validate_stream(stream, provider, options)


def _validate_stream(stream, provider, options) -> Report:
    seekable = _seekable(stream)
    validator = Validator(provider, ids="hashed" if seekable else "exact", **options)
    start = stream.tell() if seekable else 0
    validator.feed_stream(stream)
    if seekable:
        stream.seek(start)
    return validator.finish(rescan=stream if seekable else None)


def _regular_size(stream) -> int | None:
    """The size of a plain regular file now (what is validated even if it grows), else None."""
    if is_compressed(stream):
        return None
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def validate_request(obj, provider: str | Provider | None = None) -> list[Finding]:
    """The findings for one request line's object (per-line checks only)."""
    if type(obj) is not dict:
        return [Finding("not-an-object", "a request must be a JSON object", None)]
    if nesting(obj, MAX_DEPTH) > MAX_DEPTH:
        return [_too_deep(None)]
    where = wide_integer(obj)
    if where is not None:
        message = f"{label(where)} is an integer wider than 64 bits; no JSON reader takes it"
        return [Finding("out-of-range", message, None, pointer(where))]
    validator = Validator(provider)
    validator.check(0, obj)
    return [Finding(f.code, f.message, None, f.path, f.severity) for f in validator.report.findings]
