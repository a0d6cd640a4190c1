"""Validation: reader → schema → rules → report, streaming in constant memory.

Each line first tries the fast path (msgspec decoders derived from the schemas, see `fastpath`); a line
it rejects takes the reference path: orjson, jsonschema-rs for validity, python-jsonschema to explain.
Both paths feed the same rules, so they give identical findings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from .. import schemas
from ..findings import Finding, Report
from ..jsonl import LineReader, open_binary, read_objects, source_name
from ..providers import Provider, get_provider
from .explain import explain
from .rules import ExactIds, HashedIds, LineRules

UNSET = msgspec.UNSET
DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, KeyError)
PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, starting workers costs more than it saves


@functools.cache
def _is_valid():
    """A compiled validator that only decides validity; python-jsonschema explains the lines it rejects."""
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.all_schemas().values()])
    return jsonschema_rs.validator_for(schemas.load(schemas.REQUEST), registry=registry).is_valid


def schema_findings(number: int | None, obj) -> list[Finding]:
    """The schema's findings for one request line (empty when it is valid)."""
    if _is_valid()(obj):
        return []
    return explain(schemas.validator().iter_errors(obj), number)


class Validator:
    """Checks request lines and collects a Report.

    Feed it a stream (`feed_stream`), numbered raw lines (`feed_lines`) or parsed objects (`check`), then
    call `finish()` for the file-level checks. `ids="hashed"` keeps only a hash per custom_id; its repeats
    are then resolved by `finish(rescan=...)` from a second read of the file.
    """

    def __init__(
        self,
        provider: str | Provider | None = None,
        *,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_findings: int | None = None,
        file: str = "<stdin>",
        ids: str = "exact",
    ):
        self.provider = get_provider(provider).with_limits(max_requests, max_bytes)
        self.report = Report(file, self.provider.name, max_findings=max_findings)
        self.rules = LineRules(self.provider, HashedIds() if ids == "hashed" else ExactIds())
        self._has_content = False
        self._reader: LineReader | None = None

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
        """Every line of a stream (a binary file, or any iterable of lines and their total `size`)."""
        if size is None and not _seekable(stream):
            stream, counted = _counting(stream)
        self.feed_lines(enumerate(stream, 1), at_file_start)
        self.report.summary.bytes = (
            size if size is not None else stream.tell() if _seekable(stream) else counted[0]
        )

    def feed_lines(self, numbered, at_file_start: bool = True) -> None:
        """(line number, raw line) pairs, numbers ascending; may be called again with later lines.

        This is the hot loop of validation: keep per-line work out of it. It counts lines, not bytes:
        callers set `report.summary.bytes`.
        """
        from .fastpath import line_decoder

        decode, urls = line_decoder()
        if self._reader is None:
            self._reader = LineReader(self.report.add, at_file_start)
        reader = self._reader
        summary, rules, add = self.report.summary, self.rules, self.report.add
        check_shape = rules.check_shape
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
            if fast_ok:
                try:
                    line = decode(raw)  # JSON allows the trailing newline as whitespace
                except DECODE_ERRORS:
                    pass
                else:
                    body = line.body
                    if (
                        getattr(body, "max_completion_tokens", UNSET) is UNSET
                        or getattr(body, "max_tokens", UNSET) is UNSET
                    ):
                        url, model, custom_id = urls[type(line)], body.model, line.custom_id
                        if inline and (allowed is None or url in allowed):
                            remember(hash(custom_id))
                        else:
                            check_shape(number, custom_id, url, model, add)
                        key = (url, model)
                        pairs[key] = pairs_get(key, 0) + 1
                        continue
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            obj = reader.parse(number, raw)
            if obj is not None:
                self.check(number, obj)
            fast_ok = reader.seen_content and not reader.array_file
        for (url, model), count in pairs.items():
            summary.requests += count
            summary.endpoints[url] += count
            summary.models[model] += count
        summary.lines = number
        self._has_content = self._has_content or reader.seen_content

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
            for finding in ids.duplicates(_custom_ids(rescan)):
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
        report.findings.sort(key=lambda f: (f.line or 0, f.path, f.code))
        return report


def _counting(stream):
    """Lines of a stream that cannot tell its position, and a one-item list that adds up their bytes."""
    counted = [0]

    def lines():
        for raw in stream:
            counted[0] += len(raw)
            yield raw

    return lines(), counted


def _custom_ids(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    for number, obj, _raw in read_objects(stream, lambda finding: None):
        custom_id = obj.get("custom_id")
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
    dialect: str | None = None,
) -> Report:
    """Validate one batch file: a path, '-' for standard input, or a binary stream.

    `jobs` > 1 (0: one per core) validates byte ranges of a large file in worker processes. A file in
    another dialect than OpenAI's (named, detected from its first line, or the provider's) is checked by
    `batchkit.dialects`.
    """
    options = dict(
        max_requests=max_requests, max_bytes=max_bytes, max_findings=max_findings, file=source_name(source)
    )
    with open_binary(source) as stream:
        from ..dialects.validate import dialect_to_validate, validate_dialect_stream

        if other := dialect_to_validate(stream, provider, dialect):
            return validate_dialect_stream(stream, other, provider, **options)
        seekable = _seekable(stream)
        jobs = jobs or os.cpu_count() or 1
        if jobs > 1 and seekable and isinstance(source, (str, os.PathLike)) and str(source) != "-":
            from .parallel import validate_parallel

            size = os.fstat(stream.fileno()).st_size
            if size and size >= PARALLEL_MIN_BYTES:
                return validate_parallel(source, size, provider, jobs, options)
        validator = Validator(provider, ids="hashed" if seekable else "exact", **options)
        start = stream.tell() if seekable else 0
        validator.feed_stream(stream)
        if seekable:
            stream.seek(start)
        return validator.finish(rescan=stream if seekable else None)


def validate_request(obj, provider: str | Provider | None = None) -> list[Finding]:
    """The findings for one request line's object (per-line checks only)."""
    if type(obj) is not dict:
        return [Finding("not-an-object", "a request must be a JSON object", None)]
    validator = Validator(provider)
    validator.check(0, obj)
    return [Finding(f.code, f.message, None, f.path, f.severity) for f in validator.report.findings]
