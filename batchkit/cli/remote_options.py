"""What every remote command (models, submit, status, watch, download, list, cancel, forget) takes: the
provider, address and key options, and the session they open over batchkit.remote."""

from __future__ import annotations

import click

from ..providers import PROVIDERS

PLACE_KEY = "batchkit_place"  # where the options below are kept in the click context


def _keep_place(ctx, param, value):
    if value is not None:
        ctx.meta.setdefault(PLACE_KEY, {})[param.name] = value


def connection_options(f):
    # where the batches of APIs that keep them in a project or region live: every remote command takes them
    # the same way, so they go to the session without each command passing them on
    for name, help_text in (
        ("region", "Bedrock: the AWS region [default: boto3's, e.g. AWS_DEFAULT_REGION]."),
        ("location", "Vertex AI: the location [env: GOOGLE_CLOUD_LOCATION; default: us-central1]."),
        ("project", "Vertex AI: the Google Cloud project [env: GOOGLE_CLOUD_PROJECT]."),
    ):
        f = click.option(f"--{name}", metavar=name.upper()[0], help=help_text, expose_value=False,
                         callback=_keep_place)(f)  # fmt: skip
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
    from ..remote import Connection, Place, Session

    ctx = click.get_current_context(silent=True)
    place = Place(**(ctx.meta.get(PLACE_KEY, {}) if ctx else {}))
    return Session(Connection(provider, base_url, api_key_env, place))
