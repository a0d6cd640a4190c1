"""`batchkit split --by model|endpoint`: one file per model or endpoint, over batchkit.build.split_by."""

from __future__ import annotations

import click

from ..errors import ValidationFailed
from ..report import counted, human_bytes
from .build import print_report


def split_by_key(file, by, output, provider, limits, force, max_findings, fmt, quiet):
    from ..batchfile import split_by

    max_requests, max_bytes, max_tokens = limits
    try:
        result = split_by(
            file,
            by,
            output,
            provider,
            max_requests=max_requests,
            max_bytes=max_bytes,
            max_tokens=max_tokens,
            force=force,
            max_findings=max_findings,
        )
    except ValidationFailed as e:
        print_report(e.report, fmt, quiet)
        raise
    print_report(result.report, fmt, quiet)
    if quiet:
        return
    click.echo(
        f"split {file} by {by}: {counted(result.report.summary.requests, 'request')} into "
        f"{counted(len(result.paths), 'file')}",
        err=True,
    )
    for value, written in result.groups.items():
        for path, requests, size in zip(
            written.paths, written.shard_requests, written.shard_bytes, strict=False
        ):
            click.echo(f"  {path}  {value}  {counted(requests, 'request')}  {human_bytes(size)}", err=True)
