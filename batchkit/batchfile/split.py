"""`split_file`: an existing batch file sharded under a provider's limits, lines kept byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import same_file
from ..errors import InputError, UsageError
from ..lines import Overlong, content_lines, open_binary, source_name
from ..options import Options
from ..providers import Provider
from .shards import line_tokens
from .write import LinesWritten, WriteResult, write_numbered


def split_file(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
    progress: LinesWritten | None = None,
    dialect: str | None = None,
) -> WriteResult:
    """Shard an existing batch file under the provider's limits (or the given ones), lines kept byte for
    byte (a byte-order mark, CRLF line ends and blank lines are not carried over). Shards are named after
    `output` (default: `source`, so `big.jsonl` → `big-00001.jsonl`, …). When everything fits in one file
    and `output` is the source itself, nothing is written and `paths` is empty. Every line is validated;
    an invalid file writes nothing (ValidationFailed) unless force=True. The lines are read in `dialect`
    when given, else in the format of the first lines."""
    output = Path(source if output is None else output)
    if str(source) == "-" and str(output) == "-":
        raise UsageError("splitting standard input needs -o OUT to name the shards")
    same = same_file(source, output)

    with open_binary(source) as stream:
        # the lines are copied as they are, so they are checked in their own format
        options = Options.for_copies(
            stream,
            provider,
            max_requests=max_requests,
            max_bytes=max_bytes,
            max_findings=max_findings,
            dialect=dialect,
        )
        if same:
            # Sized first: a file that already fits must not be rewritten over itself.
            fits = _fits(content_lines(stream), options, max_file_tokens)
            stream.seek(0)
            if fits is not None:
                return WriteResult([], None, fits[0], fits[1], [fits[0]], [fits[1]])
        return write_numbered(
            # every line batchkit can hold is read: one over a file's limit is refused by the shard writer
            _copyable(content_lines(stream), force),
            output,
            options,
            sources=[] if same else [source],  # split in place writes numbered shards beside the file
            max_file_tokens=max_file_tokens,
            force=force,
            file=source_name(source),
            progress=progress,
        )


def _copyable(numbered, force: bool):
    """The lines to copy; with `force` (which writes past invalid lines), a line too long for batchkit to
    hold is an InputError: it cannot be copied, and a split loses no request."""
    for number, raw in numbered:
        if force and isinstance(raw, Overlong):
            raise InputError(
                f"line {number} has {raw.size:,} bytes, more than the {raw.limit:,} batchkit reads in one line: "
                "it cannot be copied into a shard (nothing was written)"
            )
        yield number, raw


def _fits(numbered, options: Options, max_file_tokens: int | None = None) -> tuple[int, int] | None:
    """(lines, bytes) when the lines fit in one file under the limits (and `max_file_tokens`), else None."""
    limits, dialect = options.provider, options.dialect
    count = size = tokens = 0
    for _number, raw in numbered:
        if isinstance(raw, Overlong):
            return None  # written out, it is reported
        count += 1
        size += len(raw) + 1
        tokens += line_tokens(raw, dialect) if max_file_tokens is not None else 0
        if (
            (limits.max_requests and count > limits.max_requests)
            or (limits.max_bytes and size > limits.max_bytes)
            or (max_file_tokens is not None and tokens > max_file_tokens)
        ):
            return None
    return count, size
