"""`batchkit forget`: remove a batch or a file's submissions from this machine's ledger."""

from __future__ import annotations

import click

from .common import say
from .remote_options import connection_options, open_session


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
@click.option("--remote-files", is_flag=True,
              help="Also delete the input batchkit staged in a bucket for it (Vertex, Bedrock), once its batch "
              "has ended; its results stay.")  # fmt: skip
def forget(ref, provider, base_url, api_key_env, remote_files):
    """Remove a batch (or a file's submissions) from this machine's ledger. The batch stays on the server:
    `batchkit cancel` stops it; a forgotten file can be submitted again."""
    with open_session(provider, base_url, api_key_env) as session:
        forgotten = session.forget(ref, remote_files=remote_files)
    for entry in forgotten.entries:
        what = entry.batch_id or (
            "a submission the answer cache answered whole"
            if entry.step == "answered"
            else f"an unfinished submission ({entry.step})"
        )
        say(f"forgot {what} of {entry.path} to {entry.base_url}")
    for url in forgotten.removed:
        say(f"removed {url}")
