"""What every remote command (models, submit, status, watch, download, list, cancel, forget) takes: the
provider, address and key options, and the session they open over batchkit.remote."""

from __future__ import annotations

import click

from ..providers import PROVIDERS


def connection_options(f):
    f = click.option(
        "--api-key-env",
        metavar="VAR",
        help="Environment variable holding the API key (default: the provider's, e.g. KLUSTER_API_KEY).",
    )(f)
    f = click.option(
        "--base-url",
        metavar="URL",
        help="The API's address instead of the provider's own, e.g. http://127.0.0.1:8000/v1 for "
        "`batchkit serve` [env: BATCHKIT_BASE_URL].",
    )(f)
    f = click.option(
        "--provider",
        "-p",
        type=click.Choice(list(PROVIDERS), case_sensitive=False),
        help="Provider profile and address [env: BATCHKIT_PROVIDER; default: kluster].",
    )(f)
    return f


def open_session(provider, base_url, api_key_env):
    from ..remote import Connection, Session

    return Session(Connection(provider, base_url, api_key_env))
