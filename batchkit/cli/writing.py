"""What the commands that write a validated, sharded batch file (build, split) share: the per-file limit
and report options, the progress bar, the validation report and the list of files written."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..errors import ValidationFailed
from ..report import human_bytes, render
from .common import Bars, format_option, say, use_color


def limit_options(f):
    f = click.option(
        "--max-file-tokens",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Prompt tokens per file (counted as `batchkit estimate` counts them); default: no limit.",
    )(f)
    f = click.option(
        "--max-bytes", default=None, help="Bytes per file (e.g. 100MB); default: the provider's."
    )(f)
    f = click.option(
        "--max-requests",
        type=click.IntRange(min=1),
        default=None,
        help="Requests per file; default: the provider's.",
    )(f)
    return f


def report_options(f):
    f = click.option(
        "-q", "--quiet", is_flag=True, help="No progress bar, summary or warnings; only errors."
    )(f)
    f = click.option(
        "--max-findings",
        type=click.IntRange(min=0),
        default=None,
        help="Print at most N findings (all are counted).",
    )(f)
    f = format_option(f, help="How to print validation findings.")
    f = click.option("--force", is_flag=True, help="Write even when some requests are invalid.")(f)
    return f


@contextlib.contextmanager
def progress_bar(quiet: bool, unit: str):
    """Yields the callback a library call reports progress to (None when no bar is drawn)."""
    bars = Bars(quiet)
    try:
        yield (
            (lambda n: bars.advance("progress", n, desc=None, unit=unit, unit_scale=True, leave=False))
            if bars.on
            else None
        )
    finally:
        bars.close()


def print_report(report, fmt: str, quiet: bool, note: str | None = None) -> None:
    """The validation report as `validate` prints it, when it has anything to say (always for json)."""
    if report is None:
        return
    if fmt == "text" and not report.findings and report.valid:
        return
    output = render([report], fmt, color=use_color(sys.stdout), quiet=quiet, group=True)
    if output:
        say(output, painted=True)
    if note and fmt == "text" and any(f.line is not None for f in report.findings):
        say(note)


def echo_files(result, output) -> None:
    """Each shard with its size, and the files named like shards that were left alone."""
    from ..report import counted

    if len(result.paths) > 1:
        for path, requests, size in zip(
            result.paths, result.shard_requests, result.shard_bytes, strict=False
        ):
            say(f"  {path}  {counted(requests, 'request')}  {human_bytes(size)}", err=True)
    for path in result.left:
        say(
            f"  left alone: {path} (named like a shard of {Path(output).name}, but batchkit did not write it)",
            err=True,
        )


def report_failure(error: ValidationFailed, fmt: str, quiet: bool, note: str | None = None):
    """Print the report of a refused write, then let the refusal end the command."""
    print_report(error.report, fmt, quiet, note)
    raise error
