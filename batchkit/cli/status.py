"""`batchkit status`: a batch's status, counts, timestamps and errors; for a FILE, every batch of its content."""

from __future__ import annotations

import click

from .common import json_text, say, text_or_json
from .flags import cli_words
from .remote_display import when
from .remote_options import connection_options, open_session


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="BATCH_ID|FILE...")
@connection_options
@text_or_json
def status(refs, provider, base_url, api_key_env, fmt, as_json):
    """Show a batch's status, counts, timestamps and errors. FILE: every batch its content was submitted
    as, one per address (--base-url/--provider: only there); a submission that never became a batch says
    where it stopped."""
    with open_session(provider, base_url, api_key_env) as session:
        results = [submitted for ref in refs for submitted in session.statuses(ref)]
    if as_json or fmt == "json":
        data = [_as_dict(submitted) for submitted in results]
        say(json_text(data[0] if len(data) == 1 else data))
        return
    for submitted in results:
        _show_status(submitted)


def _as_dict(submitted) -> dict:
    ref, batch = submitted.ref, submitted.batch
    where = {"file": str(ref.path) if ref.path else None, "base_url": ref.target.base_url}
    if batch is None:
        return {"id": None, "status": None, **where, "note": cli_words(submitted.note)}
    return batch.to_dict() | where | ({"note": cli_words(submitted.note)} if submitted.note else {})


def _show_status(submitted) -> None:
    ref, batch = submitted.ref, submitted.batch
    if batch is None:
        say(f"{ref.path}  no batch at {ref.target.base_url}: {cli_words(submitted.note)}")
        return
    own = f" ({batch.provider_status} at {ref.target.provider.name})" if batch.provider_status else ""
    say(f"{batch.id}  {batch.status}{own}")
    if submitted.note:
        say(f"  ({cli_words(submitted.note)})")
    rows = [
        ["file", str(ref.path) if ref.path else "-"],
        ["address", ref.target.base_url],
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
