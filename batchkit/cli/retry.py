"""`batchkit retry`: what failed, as a new batch file."""

from __future__ import annotations

import click

from ..errors import ValidationFailed
from ..providers import parse_size
from .common import json_text, provider_option, say
from .results_options import JSON_LIMIT, StageBars, id_map_option, results_command, summary_format_options


@results_command
@click.option("-o", "--output", required=True, metavar="RETRY.jsonl", help="The batch file to write.")
@click.option(
    "--only",
    metavar="STATUSES",
    default="http_error,batch_error,expired,canceled,missing",
    show_default=True,
    help="Comma-separated statuses to resend.",
)
@provider_option(help="Whose limits and rules the retry file is checked and sharded against.")
@click.option("--max-requests", type=click.IntRange(min=1), default=None, help="Override the request limit.")
@click.option("--max-bytes", default=None, help="Override the size limit, e.g. 100MB.")
@click.option("--force", is_flag=True, help="Write even when a line is invalid.")
@id_map_option
@summary_format_options
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def retry(
    inputs, results, output, only, provider, max_requests, max_bytes, force, id_map, fmt, as_json, quiet
):
    """Write the original request lines of INPUTS, byte for byte, whose result in RESULTS is in --only.

    The file is validated and sharded like build's. Submit it, then merge again with every result file:
    the newest successful result wins, one row per request.

    \b
    batchkit retry batch.jsonl --results output.jsonl errors.jsonl -o retry.jsonl
    """
    from ..results import retry as retry_requests

    progress = StageBars(quiet)
    try:
        written = retry_requests(
            inputs,
            results,
            output,
            only,
            provider=provider,
            max_requests=max_requests,
            max_bytes=parse_size(max_bytes),
            force=force,
            progress=progress if progress.on else None,
            id_map=id_map,
        )
    except ValidationFailed as e:
        if e.report is not None and not quiet:
            from ..report import render

            say(render([e.report], "text"), err=True)
        raise
    finally:
        progress.close()
    if quiet:
        return
    if as_json or fmt == "json":
        say(json_text({**written.to_dict(), "merge": written.report.to_dict(JSON_LIMIT)}))
        return
    say(written.to_text())
