"""`batchkit watch`: follow batches until they finish."""

from __future__ import annotations

import click

from .following import fail_unless_completed, follow, show_outcomes
from .remote_display import Display
from .remote_options import connection_options, open_session


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="BATCH_ID|FILE...")
@connection_options
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="The longest pause between status checks, in seconds.")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress, only the outcome.")
def watch(refs, provider, base_url, api_key_env, interval, quiet):
    """Follow batches until they finish: exit 0 when all completed, 1 when any failed, expired or was
    cancelled. Ctrl-C stops watching; it never cancels."""
    display = Display(quiet)
    with open_session(provider, base_url, api_key_env) as session:
        batches = follow(refs, session, interval, display)
    show_outcomes(batches)
    fail_unless_completed(batches)
