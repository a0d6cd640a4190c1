"""`batchkit validate`."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..providers import parse_size
from ..report import render
from .common import Bars, format_option, provider_option, use_color


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
@click.option(
    "--dialect",
    type=click.Choice(["openai", "anthropic", "gemini", "vertex", "bedrock", "custom-body"]),
    default=None,
    help="The line format (default: detected from the first line).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or summary.")
def validate(files, provider, fmt, strict, max_findings, max_requests, max_bytes, jobs, dialect, quiet):
    """Check batch FILES (JSONL; '-' reads standard input) before upload.

    Exit status: 0 valid, 1 invalid (or any warning with --strict), 2 usage or I/O error.
    """
    from ..validate import validate_file

    if files.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    bars = Bars(quiet)
    try:
        reports = [
            validate_file(
                f,
                provider,
                max_requests=max_requests,
                max_bytes=parse_size(max_bytes),
                max_findings=max_findings,
                jobs=jobs,
                strict=strict,
                dialect=dialect,
                progress=bars.bytes_read(),
            )
            for f in files
        ]
    finally:
        bars.close()
    output = render(reports, fmt, color=use_color(sys.stdout), quiet=quiet, group=True)
    if output:
        click.echo(output)
    # `valid` already counts warnings under --strict: the text, the JSON and the status agree
    click.get_current_context().exit(0 if all(r.valid for r in reports) else 1)
