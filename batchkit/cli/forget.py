"""`batchkit forget`: remove a batch or a file's submissions from this machine's ledger."""

from __future__ import annotations

import click

from .common import say
from .remote_options import connection_options, open_session


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
def forget(ref, provider, base_url, api_key_env):
    """Remove a batch (or a file's submissions) from this machine's ledger. The batch stays on the server:
    `batchkit cancel` stops it; a forgotten file can be submitted again."""
    with open_session(provider, base_url, api_key_env) as session:
        entries = session.forget(ref)
    for entry in entries:
        what = entry.batch_id or f"an unfinished submission ({entry.step})"
        say(f"forgot {what} of {entry.path} to {entry.base_url}")
