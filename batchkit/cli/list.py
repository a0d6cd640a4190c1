"""`batchkit list`: the batches submitted from this machine (or the provider's)."""

from __future__ import annotations

import click

from ..report import printable
from .common import json_text, say, text_or_json
from .flags import cli_words
from .remote_display import table, when
from .remote_options import connection_options, open_session


@click.command("list")
@connection_options
@click.option("--remote", is_flag=True, help="The provider's list instead of this machine's ledger.")
@click.option("--prune", is_flag=True, help="First forget submissions that never became a batch.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@text_or_json
def list_batches(provider, base_url, api_key_env, remote, prune, limit, fmt, as_json):
    """List batches submitted from this machine (or, with --remote, the provider's)."""
    as_json = as_json or fmt == "json"
    with open_session(provider, base_url, api_key_env) as session:
        if prune:
            _prune(session)
        header, rows = (_remote_rows if remote else _local_rows)(session, limit, as_json)
        errors = (
            [] if remote else [(e.created_at, e.error) for e, _n in session.local_batches(limit) if e.error]
        )
    if as_json:
        return
    if not rows:
        say("no batches" + ("" if remote else " submitted from here yet"), err=True)
        return
    table([header] + rows)
    for created, error in errors:  # whole, under the table; a server's words are printed escaped
        say(f"  {when(created)}: {printable(cli_words(error))}")


def _remote_rows(session, limit, as_json):
    batches = session.remote_batches(limit)
    if as_json:
        say(json_text([b.to_dict() for b in batches]))
    header = ["BATCH", "STATUS", "DONE", "FAILED", "TOTAL", "CREATED", "FILE"]
    rows = [[b.id, b.status, b.completed, b.failed, b.total, when(b.created_at),
             b.metadata.get("batchkit_file", "-")] for b in batches]  # fmt: skip
    return header, rows


def _local_rows(session, limit, as_json):
    listed = session.local_batches(limit)
    if as_json:
        say(json_text([entry.to_dict() | {"names": [n.path for n in names]} for entry, names in listed]))
    header = ["BATCH", "STATUS", "DONE", "FAILED", "TOTAL", "SUBMITTED", "FILE", "SERVER"]
    rows = []
    for e, names in listed:
        files = e.path + (f" (+{len(names) - 1} other name(s))" if len(names) > 1 else "")
        if e.round:
            files += f" (round {e.round} of --until-done)"
        rows.append([e.batch_id or f"({e.step})", e.status or e.step, e.completed or 0,
                     e.failed or 0, e.total or 0, when(e.created_at), files, e.base_url])  # fmt: skip
    return header, rows


def _prune(session) -> None:
    gone, kept = session.prune()
    say(f"forgot {len(gone)} submission(s) that never became a batch", err=True)
    for entry in kept:
        why = "another process is submitting it" if entry.step != "creating" else (
            "its create was interrupted, so the batch may exist; `batchkit submit` looks for it"
        )  # fmt: skip
        say(f"kept {entry.path}: {why}", err=True)
