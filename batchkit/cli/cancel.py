"""`batchkit cancel`: cancel a batch."""

from __future__ import annotations

import click

from .common import say
from .remote_display import counts
from .remote_options import connection_options, open_session


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
def cancel(ref, provider, base_url, api_key_env):
    """Cancel a batch. What already finished is kept and can still be downloaded."""
    with open_session(provider, base_url, api_key_env) as session:
        batch = session.cancel(ref)
    say(f"{batch.id}: {batch.status} ({counts(batch)}); finished results stay downloadable")
