"""The library's messages name options as data (`words.Option`); at the command line they are written as
the flags that set them (`force` → `--force`)."""

from __future__ import annotations

import shlex

from ..words import ANY, Meta, Option, Text

# The keywords whose flag is not `--` and the keyword with dashes (`id_column` → `--id-column`).
OPTIONS = {"output": "-o", "params": "--param", "targets": "--target"}


def flag(option: Option) -> str:
    """An option as typed on the command line: `--force`, `--no-escape-formulas`, `--id-column id`,
    `--on-empty rating=keep`."""
    name = OPTIONS.get(option.name, "--" + option.name.replace("_", "-"))
    value = option.value
    if value is ANY or value is True:
        return name
    if value is False:
        return "--no-" + name.removeprefix("--")
    if isinstance(value, dict):
        return " ".join(f"{name} {shlex.quote(f'{column}={choice}')}" for column, choice in value.items())
    return f"{name} {value if isinstance(value, Meta) else shlex.quote(str(value))}"


def cli_words(message: str) -> str:
    """A library message as the command line says it (a plain string is the same on both sides)."""
    return message.render(flag) if isinstance(message, Text) else message
