"""`--jobs N`: validate byte ranges of one file in worker processes and merge what they found.

Ranges start at line boundaries. Each worker numbers its lines from 1; the parent shifts them. What spans
ranges is settled here: the file's first model and endpoint are read before the workers start, and the
custom_id hashes of all ranges are joined, so a repeat across two ranges is found with both lines.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from ..findings import Finding, Report
from ..formats import OPENAI, Dialect
from ..lines import BytesRead, LineReader, file_range, iter_lines, skip_rest
from ..options import Options
from .fastpath import decoder_for, line_decoder
from .validator import Validator


def byte_ranges(path, size: int, parts: int) -> list[tuple[int, int]]:
    """`parts` ranges of about equal size, each starting at the beginning of a line."""
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(max(size * k // parts - 1, cuts[-1]))
            skip_rest(f, budget=size)
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def file_start(path, validator) -> tuple[bool, tuple | None, tuple | None]:
    """What a single pass learns early and the later ranges need: whether the file's JSON values are
    spread over lines (one array, indented objects), and (value, line) of its first request's model and endpoint."""
    reader = LineReader(lambda finding: None)
    provider, dialect = validator.provider, validator.dialect
    model = endpoint = None
    with open(path, "rb") as f:
        for number, _end, raw in iter_lines(f, max_line=validator.max_line):
            obj = reader.parse(number, raw)
            if reader.spread:
                return True, None, None
            if not (provider.one_model or provider.one_endpoint):
                if reader.seen_content:
                    break
                continue
            if obj is None:
                continue
            request = dialect.read(obj, number)
            if endpoint is None and request.endpoint is not None:
                endpoint = (request.endpoint, number)
            if model is None and request.model is not None:
                model = (request.model, number)
            if model is not None and endpoint is not None:
                break
    return False, model, endpoint


def _check_range(args, progress: BytesRead | None = None) -> dict:
    path, start, stop, options, dialect, first_model, first_endpoint = args
    validator = Validator(
        options, dialect=dialect, ids="hashed", first_model=first_model, first_endpoint=first_endpoint
    )
    with open(path, "rb") as f:
        validator.feed_stream(
            file_range(f, start, stop, progress), at_file_start=start == 0, size=stop - start
        )
    s = validator.report.summary
    return {
        "findings": validator.report.findings,
        "omitted": validator.report.omitted,
        "lines": s.lines,
        "requests": s.requests,
        "errors": s.errors,
        "warnings": s.warnings,
        "models": s.models,
        "endpoints": s.endpoints,
        "bodies": s.bodies,
        "has_content": validator.has_content,
        "hashes": validator.rules.ids.hashes,
    }


def _merge(report: Report, result: dict, line_base: int) -> None:
    """Adds one range's findings (lines shifted by `line_base`) and counts to the file's report."""
    for f in result["findings"]:
        line = None if f.line is None else f.line + line_base
        report.keep(Finding(f.code, f.message, line, f.path, f.severity, f.related_lines))
    report.omitted.update(result["omitted"])
    summary = report.summary
    summary.errors += result["errors"]
    summary.warnings += result["warnings"]
    summary.requests += result["requests"]
    summary.models.update(result["models"])
    summary.endpoints.update(result["endpoints"])
    summary.bodies.update(result["bodies"])


def validate_parallel(
    path, size: int, options: Options, dialect: Dialect, jobs: int, file: str, progress=None
) -> Report:
    """`progress` hears the bytes of the first range as the parent reads them, then each later range's
    bytes as its worker finishes."""
    # imported here: a process pool is most of what `validate` imports, and most files are too small for it
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        context = multiprocessing.get_context("fork")  # workers share the parent's hash seed and schemas
    except ValueError:
        context = None
    merged = Validator(options, dialect=dialect, ids="hashed", file=file)
    spread, first_model, first_endpoint = file_start(path, merged)
    if context is None or spread:
        with open(path, "rb") as f:
            stream = file_range(f, 0, size, progress)
            merged.feed_stream(stream)
            stream.seek(0)
            return merged.finish(rescan=stream)
    # made once here, inherited by every worker: every OpenAI line type, or the format's decoder
    line_decoder() if dialect is OPENAI else decoder_for(dialect)
    ranges = byte_ranges(path, size, jobs)
    # Workers check lines under the rules the whole file is checked under; file-level findings are the
    # parent's alone.
    lines_options = replace(options, provider=merged.rules.provider)
    tasks = [(path, a, b, lines_options, dialect, first_model, first_endpoint) for a, b in ranges]
    line_base, has_content = 0, False
    # The parent checks the first range itself while the workers check the others.
    with ProcessPoolExecutor(max_workers=max(len(tasks) - 1, 1), mp_context=context) as pool:
        later = pool.map(_check_range, tasks[1:])
        first = _check_range(tasks[0], progress and (lambda done, _total: progress(done, size)))
        for (_start, stop), result in zip(ranges, itertools.chain([first], later), strict=True):
            if progress is not None:
                progress(stop, size)  # ranges finish in order
            _merge(merged.report, result, line_base)
            has_content = has_content or result["has_content"]
            merged.rules.ids.extend(result["hashes"])
            line_base += result["lines"]
    merged.report.summary.lines = line_base
    merged.report.summary.bytes = size
    with open(path, "rb") as f:
        return merged.finish(rescan=file_range(f, 0, size), has_content=has_content)
