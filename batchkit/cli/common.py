"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os

import click

from ..providers import PROVIDERS
from ..report import FORMATS


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


def format_option(f=None, *, help: str = "text for people, json for programs, github for annotations."):
    """--format text|json|github, for commands that print findings."""
    option = click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help=help
    )
    return option(f) if f is not None else option


def use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()
