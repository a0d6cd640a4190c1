"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os

import click

from ..providers import PROVIDERS


def provider_option(f=None, *, help: str = "Whose limits and rules to check against."):
    """--provider/-p, defaulting to $BATCHKIT_PROVIDER, then kluster."""
    option = click.option(
        "--provider",
        "-p",
        type=click.Choice(list(PROVIDERS), case_sensitive=False),
        envvar="BATCHKIT_PROVIDER",
        show_envvar=True,
        default="kluster",
        show_default=True,
        help=help,
    )
    return option(f) if f is not None else option


def use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()
