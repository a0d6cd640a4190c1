"""`batchkit status`: a batch's status, counts, timestamps and errors."""

from __future__ import annotations

import click

from .common import json_text, say, text_or_json
from .remote_display import when
from .remote_options import connection_options, open_session


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="BATCH_ID|FILE...")
@connection_options
@text_or_json
def status(refs, provider, base_url, api_key_env, fmt, as_json):
    """Show a batch's status, counts, timestamps and errors (FILE: the batch its content was submitted as)."""
    with open_session(provider, base_url, api_key_env) as session:
        results = [session.status(ref) for ref in refs]
    if as_json or fmt == "json":
        data = [batch.to_dict() | {"file": str(ref.path) if ref.path else None} for batch, ref in results]
        say(json_text(data[0] if len(data) == 1 else data))
        return
    for batch, ref in results:
        _show_status(batch, ref)


def _show_status(batch, ref) -> None:
    own = f" ({batch.provider_status} at {ref.target.provider.name})" if batch.provider_status else ""
    say(f"{batch.id}  {batch.status}{own}")
    rows = [
        ["file", str(ref.path) if ref.path else "-"],
        ["endpoint", batch.endpoint or "-"],
        ["requests", f"{batch.total} total, {batch.completed} completed, {batch.failed} failed"],
    ]
    rows += [[name.removesuffix("_at"), when(t)] for name, t in batch.times.items()]
    rows += [["output file", batch.output_file_id or "-"], ["error file", batch.error_file_id or "-"]]
    for name, value in rows:
        say(f"  {name:<12} {value}")
    if batch.errors:
        say("  errors:")
        for error in batch.errors:
            say(f"    {error}")
