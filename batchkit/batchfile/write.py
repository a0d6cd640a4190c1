"""`write_numbered` and `write_batch`: request lines validated as they are written, sharded, whole or not at all."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import InputError, ValidationFailed
from ..findings import Report, sort_key
from ..lines import Overlong, request_line
from ..options import Options
from ..providers import Provider
from ..report import counted
from ..validate import ExactIds, HashedIds, Validator
from ..words import Option, Text
from .shards import NO_LIMIT, ShardWriter

LinesWritten = Callable[[int], None]  # (request lines written since the last call)


@dataclass
class WriteResult:
    """What a write did: the files (in order), the validation report, the counts per shard, and the files
    named like shards of the output that batchkit did not write (left alone)."""

    paths: list[Path] = field(default_factory=list)
    report: Report | None = None
    requests: int = 0
    bytes: int = 0
    shard_requests: list[int] = field(default_factory=list)
    shard_bytes: list[int] = field(default_factory=list)
    left: list[Path] = field(default_factory=list)


def _encode(item, number: int) -> bytes:
    """The line (with its LF) for request `number`: a dict, raw line bytes or a str."""
    if isinstance(item, dict):
        # An int wider than 64 bits or a value nested past orjson's reach is written still: validation
        # reports it as it does for a file's line, instead of ending the whole write.
        return request_line(item, number)
    if isinstance(item, str):
        item = item.encode("utf-8", "backslashreplace")  # a lone surrogate as its escape (see dumps_json)
    if isinstance(item, (bytes, bytearray, memoryview)):
        line = bytes(item)
        return line if line.endswith(b"\n") else line + b"\n"
    raise TypeError(f"a request must be a dict or the bytes of one line, not {type(item).__name__}")


def write_numbered(
    items: Iterable[tuple[int, object]],
    path: str | os.PathLike,
    provider: str | Provider | Options | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    validate: bool = True,
    force: bool = False,
    file: str | None = None,
    progress: LinesWritten | None = None,
    ids: ExactIds | HashedIds | None = None,
    first_model: tuple[str, int] | None = None,
    first_endpoint: tuple[str, int] | None = None,
    refused: Report | None = None,
    sources: Iterable = (),
) -> WriteResult:
    """Write (number, request) pairs; `number` is what findings call the line (a data-row number when
    building from a table, the line number when rewriting a file). A request is a dict (written as one
    compact JSON line) or the bytes/str of one line (written as they are, an LF added when missing).

    `provider` (a name, a row or Options) gives the limits, each overridden by `max_requests` /
    `max_bytes` when given, and the lines' format (Options.dialect; else the provider's); `max_file_tokens`
    also cuts on prompt tokens per file (batchkit.tokens). Every line is validated (file-level limits are
    left to sharding) unless validate=False; when any line is invalid, nothing is written and
    ValidationFailed (carrying the report) is raised, unless force=True. `file` names the source in the
    report (default: `path`). `progress(n)` hears how many more lines were written, now and then.
    `sources`: the files the items come from, which the write refuses to replace or remove.

    The items may be one part of a larger table checked apart (a Dask partition): `ids` keeps the part's
    ids (a HashedIds the caller joins with the other parts'), `first_model` / `first_endpoint` are (value,
    number) of the table's first request (see `Validator`). `refused` holds the requests the items left
    out and the findings that say why (a build's conversions): they count and are judged with the lines'.
    """
    options = Options.of(provider, max_requests=max_requests, max_bytes=max_bytes)
    limits, dialect = options.provider, options.dialect_for(None)
    items, encoded = _from_dicts(items)
    validator = None
    if validate:
        validator = _line_validator(options, file or str(path), ids, first_model, first_endpoint)
        validator.checks_repeats = not encoded  # a line encoded from a dict repeats no key
    with ShardWriter(path, limits.max_requests, limits.max_bytes, max_file_tokens, dialect) as writer:
        writer.refuse_replacing(sources)
        report = _write_and_check(_written(items, writer, progress), validator, writer, refused)
        if report is not None and file is None:  # a report on the file written: its own lines
            report.summary.lines = writer.lines
        if report is not None and not report.valid and not force:
            raise _invalid(report)
        result = WriteResult([], report, writer.lines, writer.bytes, list(writer.counts), list(writer.sizes))
        result.paths = writer.commit()
        result.left = writer.left
    if not result.shard_requests:
        result.shard_requests, result.shard_bytes = [0], [0]
    return result


def _invalid(report: Report) -> ValidationFailed:
    s = report.summary
    return ValidationFailed(
        Text(
            f"{counted(s.errors, 'error')} in {counted(s.requests, 'request')}; nothing written (fix them, or "
            "pass ",
            Option("force", True),
            " to write anyway)",
        ),
        report,
    )


def _add_refused(report: Report, refused: Report) -> None:
    if refused.summary.requests and not report.summary.requests:  # empty because all were refused: say why
        empty = [f for f in report.findings if f.code == "empty-file"]
        report.findings = [f for f in report.findings if f.code != "empty-file"]
        report.summary.errors -= sum(f.is_error for f in empty)
    for finding in refused.findings:
        report.add(finding)
    report.summary.requests += refused.summary.requests
    report.findings.sort(key=sort_key)


def _line_validator(options: Options, file: str, ids, first_model, first_endpoint) -> Validator:
    """The validator of the lines: file-level limits are met by sharding, so it checks lines only."""
    unlimited = replace(options, provider=options.provider.with_limits(NO_LIMIT, NO_LIMIT))
    return Validator(unlimited, dialect=options.dialect_for(None), file=file, ids=ids or "exact",
                     first_model=first_model, first_endpoint=first_endpoint)  # fmt: skip


def _from_dicts(items: Iterable[tuple[int, object]]) -> tuple[Iterable, bool]:
    """The items again, and whether they are dicts (one call writes one kind: dicts or raw lines)."""
    items = iter(items)
    first = next(items, None)
    if first is None:
        return (), False
    return itertools.chain([first], items), isinstance(first[1], dict)


def _write_and_check(lines, validator, writer: ShardWriter, refused: Report | None):
    """Write every line, validating it as it goes by (when there is a validator); the report, with the
    `refused` requests in it."""
    if validator is None:
        for number, line in lines:
            if isinstance(line, Overlong):
                raise InputError(f"line {number}: {line.finding(number).message}; it cannot be copied")
        return None
    validator.feed_lines(lines)
    validator.report.summary.bytes = writer.bytes
    report = validator.finish()
    if refused is not None:
        _add_refused(report, refused)
    return report


def _written(items, writer: ShardWriter, progress: LinesWritten | None):
    """Encodes and writes each item, then passes (number, line) on for validation. A line read past as
    overlong cannot be written: it goes on to validation alone, which reports it."""
    pending = 0
    for number, item in items:
        if isinstance(item, Overlong):
            yield number, item
            continue
        line = _encode(item, number)
        writer.add(line, number)
        yield number, line
        pending += 1
        if progress is not None and pending >= 4096:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)


def write_batch(
    requests: Iterable,
    path: str | os.PathLike,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    validate: bool = True,
    force: bool = False,
) -> list[Path]:
    """Write requests (dicts, or the bytes of lines kept byte for byte) to `path`, sharded under the
    provider's per-file limits or the given ones, and return the files written (see the module docstring
    for naming). Every line is validated under `provider`; an invalid batch raises ValidationFailed and
    writes nothing, unless force=True. Findings number lines 1, 2, … in the order given.

        batchkit.write_batch(tasks, "batch_tasks.jsonl")
    """
    numbered = enumerate(requests, 1)
    return write_numbered(
        numbered,
        path,
        provider,
        max_requests=max_requests,
        max_bytes=max_bytes,
        max_file_tokens=max_file_tokens,
        validate=validate,
        force=force,
    ).paths
