"""`validate_file`: one batch file — a path, standard input or a stream, plain or gzip — read in its format,
in one pass or in byte ranges by worker processes (`parallel`)."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

from ..findings import Report
from ..formats import Dialect, detect_stream
from ..lines import BytesRead, file_range, is_compressed, open_binary, seekable, source_name
from ..options import Options
from ..providers import Provider
from .parallel import validate_parallel
from .validator import Validator

PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, starting workers costs more than it saves


def validate_file(
    source,
    provider: str | Provider | Options | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_findings: int | None = None,
    jobs: int = 1,
    strict: bool = False,
    dialect: str | Dialect | None = None,
    progress: BytesRead | None = None,
    model: str | None = None,
) -> Report:
    """Validate one batch file: a path, '-' for standard input, or a binary stream (gzip files are read
    as the data they hold). A file that grows while it is read is validated as it was at the start.

    Sizes are bytes or text such as "100MB". `jobs` > 1 (0: one per core) validates byte ranges of a large
    file in worker processes. With `strict`, warnings make the report invalid too. The lines' format is
    `dialect` when given, else the file's own (from its first lines), else the provider's. `progress` hears
    how much of a named file was read. `model` is the job's, for formats whose lines name none (Bedrock).
    """
    options = Options.of(
        provider,
        dialect=dialect,
        max_requests=max_requests,
        max_bytes=max_bytes,
        max_findings=max_findings,
        model=model,
    )
    options = replace(options, strict=strict or options.strict)
    file = source_name(source)
    with open_binary(source, progress) as stream:  # (gzip data found damaged: an InputError from there)
        found = detect_stream(stream, options.max_line) if options.dialect is None else None
        options = options.for_lines(found)
        return _validate_opened(source, stream, options, options.dialect, jobs, file, progress)


def _validate_opened(
    source, stream, options: Options, dialect: Dialect, jobs: int, file: str, progress
) -> Report:
    size = _regular_size(stream)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and size and size >= PARALLEL_MIN_BYTES and isinstance(source, (str, os.PathLike)):
        return validate_parallel(source, size, options, dialect, jobs, file, progress)
    if size is not None:
        stream = file_range(stream, stream.tell(), size, progress)
    return _validate_stream(stream, options, dialect, file)


def _validate_stream(stream, options: Options, dialect: Dialect, file: str) -> Report:
    is_seekable = seekable(stream)
    validator = Validator(options, dialect=dialect, ids="hashed" if is_seekable else "exact", file=file)
    start = stream.tell() if is_seekable else 0
    validator.feed_stream(stream)
    if is_seekable:
        stream.seek(start)
    return validator.finish(rescan=stream if is_seekable else None)


def _regular_size(stream) -> int | None:
    """The size of a plain regular file now (what is validated even if it grows), else None."""
    if is_compressed(stream):
        return None
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
