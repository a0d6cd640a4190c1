"""`batchkit download`: a finished batch's output and error files."""

from __future__ import annotations

import click

from ..errors import JobFailed
from .remote_display import Display, print_errors, show_download
from .remote_options import connection_options, open_session


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Default: next to the file named.")
@click.option("--force", is_flag=True, help="Download again even if already downloaded.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def download(ref, provider, base_url, api_key_env, output_dir, force, quiet):
    """Download a finished batch's output and error files (NAME.output.jsonl, NAME.errors.jsonl)."""
    display = Display(quiet)
    with open_session(provider, base_url, api_key_env) as session:
        try:
            result = session.download(ref, out_dir=output_dir, force=force, progress=display)
        finally:
            display.close()
    if not result.files and result.batch.status != "completed":
        print_errors(result.batch)
        raise JobFailed(f"batch {result.batch.id} {result.batch.status}; it has no results to download")
    show_download(result)
