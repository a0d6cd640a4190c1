"""`batchkit split`: shard a batch file under a provider's limits (or one file per model or endpoint)."""

from __future__ import annotations

import click

from ..errors import ValidationFailed
from ..report import counted, human_bytes
from .common import dialect_option, provider_option, say
from .writing import echo_files, limit_options, print_report, progress_bar, report_failure, report_options


@click.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Name the shards after this path (default: FILE, so big.jsonl → big-00001.jsonl).",
)
@provider_option
@dialect_option
@limit_options
@report_options
@click.option(
    "--by", type=click.Choice(["model", "endpoint"]), help="One file per model or endpoint: OUT.MODEL.jsonl."
)
@click.option("--max-tokens", "renamed_max_tokens", hidden=True, help="Renamed --max-file-tokens.")
def split(
    file, output, provider, dialect, max_requests, max_bytes, max_file_tokens, force, max_findings, fmt, quiet,
    by, renamed_max_tokens,
):  # fmt: skip
    """Shard batch FILE under the provider's per-file limits (or --max-requests / --max-bytes), and
    --max-file-tokens prompt tokens per file.

    Lines are copied byte for byte and in order; no request is split or lost. A file that already fits
    is left alone (nothing written) unless -o names another file.
    """
    if renamed_max_tokens is not None:
        raise click.UsageError(
            "--max-tokens is the body's output limit (as in build and convert); the prompt tokens per file "
            f"are --max-file-tokens: split {file} --max-file-tokens {renamed_max_tokens}"
        )
    options = dict(max_requests=max_requests, max_bytes=max_bytes, max_file_tokens=max_file_tokens,
                   force=force, max_findings=max_findings)  # fmt: skip
    if by:
        return _split_by_key(file, by, output, provider, options, fmt, quiet)
    from ..batchfile import split_file

    try:
        with progress_bar(quiet, " lines") as update:
            result = split_file(file, output, provider, **options, progress=update, dialect=dialect)
    except ValidationFailed as e:
        report_failure(e, fmt, quiet)
    print_report(result.report, fmt, quiet)
    if quiet:
        return
    if not result.paths:
        say(
            f"{file} fits in one file ({counted(result.requests, 'request')}, {human_bytes(result.bytes)}); "
            "nothing written",
            err=True,
        )
        return
    # (forced past invalid lines, which are copied too: then lines, not requests)
    copied = result.report is not None and result.report.summary.requests != result.requests
    say(
        f"split {file}: {counted(result.requests, 'line' if copied else 'request')} into "
        f"{counted(len(result.paths), 'file')}, {human_bytes(result.bytes)}",
        err=True,
    )
    echo_files(result, output or file)
    if len(result.paths) == 1:
        say(f"  {result.paths[0]}", err=True)


def _split_by_key(file, by, output, provider, options: dict, fmt, quiet):
    """`--by model|endpoint`: one file per model or endpoint, over batchkit.batchfile.split_by."""
    from ..batchfile import split_by

    try:
        result = split_by(file, by, output, provider, **options)
    except ValidationFailed as e:
        report_failure(e, fmt, quiet)
    print_report(result.report, fmt, quiet)
    if quiet:
        return
    say(
        f"split {file} by {by}: {counted(result.report.summary.requests, 'request')} into "
        f"{counted(len(result.paths), 'file')}",
        err=True,
    )
    for value, written in result.groups.items():
        for path, requests, size in zip(
            written.paths, written.shard_requests, written.shard_bytes, strict=False
        ):
            say(f"  {path}  {value}  {counted(requests, 'request')}  {human_bytes(size)}", err=True)
    for path in result.removed:
        say(f"  removed: {path} (a group of the last split by {by}, not in {file} any more)", err=True)
