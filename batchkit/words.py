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


RECORD = "words:"  # how a stored Text begins (see `record`)


def record(message: str | None) -> str | None:
    """A message as one string to store (in the ledger) that `from_record` turns back into it, options
    and all; a message without options is stored as it is."""
    if not isinstance(message, Text) or all(type(p) is str for p in message.parts):
        return None if message is None else str(message)
    parts = [p if type(p) is str else {"option": list(p), "meta": isinstance(p.value, Meta)}
             if isinstance(p, Option) else {"words": list(p)} for p in message.parts]  # fmt: skip
    return RECORD + json.dumps(parts, ensure_ascii=False)


def from_record(stored: str | None) -> str | None:
    """The message `record` stored (any other string as it is)."""
    if stored is None or not stored.startswith(RECORD):
        return stored
    try:
        parts = json.loads(stored[len(RECORD) :])
        return Text(*(_part(p) for p in parts))
    except (ValueError, TypeError, KeyError):
        return stored


def _part(stored) -> Part:
    if type(stored) is str:
        return stored
    if "words" in stored:
        return Words(*stored["words"])
    name, value = stored["option"]
    return Option(name, Meta(value) if stored["meta"] else value)


def _python(part: Part) -> str:
    if isinstance(part, Option):
        return part.python()
    if isinstance(part, Words):
        return part.python
    return part
