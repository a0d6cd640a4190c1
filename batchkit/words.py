"""Messages that name an option. The Python API calls an option by its keyword (`force=True`), the command
line by its flag (`--force`); a message keeps which option it names as data, so each side says it in its own
words and nothing rewrites sentences.

A message is a `Text` made of parts: plain strings, `Option`s and `Words` (a phrase each side says its own
way). Read as a `str` it is the Python API's message; the CLI renders the same parts with its flags
(`Text.render`). Texts joined with `+` stay Texts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple


class Meta(str):
    """A value that stands for what the user gives (`NAME`, `URL`), written as it is on both sides."""


ANY = Meta("")  # an option named without a value: `id_column=` / `--id-column`


class Option(NamedTuple):
    """An option a message names, with the value it suggests (True, False, a string, a {column: choice}
    dict, a `Meta` placeholder, or ANY for none)."""

    name: str
    value: object = ANY

    def python(self) -> str:
        value = self.value
        if isinstance(value, Meta) or type(value) is bool or value is None:
            return f"{self.name}={value}"
        return f"{self.name}={json.dumps(value, ensure_ascii=False)}"


class Words(NamedTuple):
    """A phrase the Python API and the command line say differently."""

    python: str
    cli: str


Part = str | Option | Words


class Text(str):
    """A message naming options; as a `str`, the Python API's words."""

    parts: tuple[Part, ...]

    def __new__(cls, *parts: Part) -> Text:
        flat: list[Part] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Text) else (part,))
        self = super().__new__(cls, "".join(_python(part) for part in flat))
        self.parts = tuple(flat)
        return self

    def render(self, option: Callable[[Option], str]) -> str:
        """The message with each Option written by `option` and each Words phrase as the CLI says it."""
        return "".join(
            option(p) if isinstance(p, Option) else p.cli if isinstance(p, Words) else p for p in self.parts
        )

    def __add__(self, other: str) -> Text:
        return Text(self, other)

    def __radd__(self, other: str) -> Text:
        return Text(other, self)


def _python(part: Part) -> str:
    if isinstance(part, Option):
        return part.python()
    if isinstance(part, Words):
        return part.python
    return part
