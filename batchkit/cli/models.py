"""`batchkit models`: the models the provider serves."""

from __future__ import annotations

import click

from .common import json_text, say, text_or_json
from .remote_display import table, when
from .remote_options import connection_options, open_session


@click.command()
@connection_options
@text_or_json
def models(provider, base_url, api_key_env, fmt, as_json):
    """List the models the provider serves."""
    with open_session(provider, base_url, api_key_env) as session:
        found = session.models()
    if as_json or fmt == "json":
        say(json_text([m.to_dict() for m in found]))
        return
    table([["MODEL", "OWNED BY", "CREATED"]] + [[m.id, m.owned_by or "-", when(m.created)] for m in found])
