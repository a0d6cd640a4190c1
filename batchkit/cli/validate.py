"""`batchkit validate`."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..providers import parse_size
from ..report import render
from . import on_dask
from .common import Bars, dialect_option, format_option, provider_option, say, use_color
from .on_dask import cluster_options, on_cluster


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False))
@provider_option
@format_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any finding).")
@click.option(
    "--max-findings",
    type=click.IntRange(min=0),
    default=None,
    help="Print at most N findings per file, the first by line (all are still counted).",
)
@click.option("--max-requests", type=click.IntRange(min=1), default=None, help="Override the request limit.")
@click.option("--max-bytes", default=None, help="Override the size limit, e.g. 100MB.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    help="Worker processes for a large file (default: one per core; 1 forces one process).",
)
@dialect_option
@click.option(
    "--model",
    default=None,
    help="The job's model, for lines that name none (Bedrock): which model family's body rules apply.",
)
@click.option(
    "--skip-non-requests",
    is_flag=True,
    help="Pass over a file whose first line is a result or a fine-tuning example (for hooks over *.jsonl).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or summary.")
@cluster_options
def validate(
    files,
    provider,
    fmt,
    strict,
    max_findings,
    max_requests,
    max_bytes,
    jobs,
    dialect,
    model,
    skip_non_requests,
    quiet,
    **cluster,
):
    """Check batch FILES (JSONL; '-' reads standard input) before upload.

    Exit status: 0 valid, 1 invalid (or any warning with --strict), 2 usage or I/O error.
    """
    from ..validate import validate_file

    if files.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    if skip_non_requests:
        files = _requests_only(files, notes_to_stderr=fmt != "text", quiet=quiet)
    limits = dict(max_requests=max_requests, max_bytes=parse_size(max_bytes), max_findings=max_findings)
    options = dict(limits, strict=strict, dialect=dialect, model=model)
    cluster = on_cluster(cluster)
    bars = Bars(quiet or bool(cluster))
    try:
        if cluster:  # one worker task per file (patterns and folders of *.jsonl name many)
            reports = on_dask.validate(files, cluster, provider, **options)
        else:
            reports = [
                validate_file(f, provider, jobs=jobs, progress=bars.bytes_read(), **options) for f in files
            ]
    finally:
        bars.close()
    from ..tokens.models import advise_models

    for report in reports:  # a model name one typo away from one the provider serves
        advise_models(report)
    output = render(reports, fmt, color=use_color(sys.stdout), quiet=quiet, group=True)
    if output:
        say(output, painted=True)
    # `valid` already counts warnings under --strict: the text, the JSON and the status agree
    click.get_current_context().exit(0 if all(r.valid for r in reports) else 1)


def _requests_only(files, *, notes_to_stderr: bool, quiet: bool) -> list[str]:
    """The files to validate; each one passed over is named with why (standard input is always read)."""
    from ..validate import FINE_TUNING, REQUESTS, RESULTS, file_kind

    skipped = {
        RESULTS: "skipped: a results file",
        FINE_TUNING: "skipped: not a batch file (fine-tuning data)",
    }
    kept = []
    for f in files:
        kind = REQUESTS if f == "-" else file_kind(f)
        if kind in skipped:
            if not quiet:
                say(f"{f}: {skipped[kind]}", err=notes_to_stderr)
        else:
            kept.append(f)
    return kept
