"""Templates and the texts that feed them: `{column}` placeholders in a text or a JSON body, command-line
texts (`@FILE`, `\\n`), and `--param` values.

Placeholders: `{column}` inserts the text of that row's cell (the whole text between the braces names the
column, spaces and dots included); `{{` and `}}` are literal braces. A template is compiled once, against
the columns of the row tuple it will be given (`bind`), into a positional `str.format`: rendering a row is
one call into C.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError, UsageError
from ..lines import loads_exact
from ..words import Option, Text

BODY_TEMPLATE = Option("body_template")


class Template:
    """A text with `{column}` placeholders (`{{`/`}}` are literal braces), parsed once."""

    def __init__(self, text: str, option: Option | str = "template"):
        self.text = text
        self.option = option
        literals: list[str] = [""]
        self.columns: list[str] = []
        try:
            for literal, name, spec, conversion in string.Formatter().parse(text):
                literals[-1] += literal
                if name is None:
                    continue
                # The whole text between the braces is the column name ("{Q: text}" is column "Q: text").
                name += (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                if not name:
                    raise UsageError(
                        Text(
                            option,
                            f": empty placeholder {{}} in {text[:60]!r}; name a column inside the braces, "
                            "or write {{}} for literal braces",
                        )
                    )
                self.columns.append(name)
                literals.append("")
        except ValueError as e:
            raise UsageError(
                Text(option, f": {e} in {text[:60]!r}; write {{{{ and }}}} for literal braces")
            ) from None
        self.literals = literals

    @property
    def constant(self) -> str | None:
        return None if self.columns else self.literals[0]

    def bind(self, columns: Sequence[str]) -> Callable[..., str]:
        """A function of a row's cells (`*row`, in `columns` order; extra cells are ignored) → the text."""
        at = {name: i for i, name in reversed(list(enumerate(columns)))}
        escaped = [part.replace("{", "{{").replace("}", "}}") for part in self.literals]
        fields = [f"{part}{{{at[name]}}}" for part, name in zip(escaped, self.columns, strict=False)]
        return ("".join(fields) + escaped[-1]).format

    def render(self, values: Iterable[str]) -> str:
        """The text for the cells of this template's own columns, in order."""
        return self.bind(self.columns)(*values)


class BodyTemplate:
    """A JSON body whose strings (at any depth) may hold `{column}` placeholders, and whose values may be
    `{"$column": "name"}`: the cell as a JSON value (a number stays a number, `true` a boolean, a JSON
    array or object is parsed), or as its text when it is not JSON — the rule `--param` follows.

    `columns` are the columns it reads, in order of appearance; `render(row)` takes a row tuple whose
    first cells are those columns' texts."""

    def __init__(self, body: dict, option: Option = BODY_TEMPLATE):
        if type(body) is not dict:
            raise UsageError(Text(option, ": the body template must be a JSON object"))
        self.option = option
        self.columns: list[str] = []
        self.render: Callable[[Sequence[str]], dict] = self._compile(body)

    def _at(self, column: str) -> int:
        if column not in self.columns:
            self.columns.append(column)
        return self.columns.index(column)

    def _compile(self, node) -> Callable[[Sequence[str]], Any]:
        if isinstance(node, str):
            template = Template(node, self.option)
            if template.constant is not None:
                return lambda row, text=template.constant: text
            for column in template.columns:
                self._at(column)
            render = template.bind(self.columns)
            return lambda row: render(*row)
        if isinstance(node, dict) and set(node) == {"$column"} and isinstance(node["$column"], str):
            index = self._at(node["$column"])
            return lambda row: json_or_text(row[index])
        if isinstance(node, dict):
            parts = [(key, self._compile(value)) for key, value in node.items()]
            return lambda row: {key: render(row) for key, render in parts}
        if isinstance(node, list):
            items = [self._compile(value) for value in node]
            return lambda row: [render(row) for render in items]
        return lambda row, constant=node: constant


def load_body_template(path: str | os.PathLike) -> dict:
    """Read a --body-template file (one JSON object)."""
    return load_json_object(path, "--body-template", "the body template")


def load_json_object(path: str | os.PathLike, option: str, what: str) -> dict:
    """Read a file given as `option` that holds one JSON object (`what` it is, for messages)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (given as {option})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if type(body) is not dict:
        raise InputError(f"{path}: {what} must be one JSON object")
    return body


def text_argument(value: str | None, option: str) -> str | None:
    """A command-line text that may be `@path` (the file's text, without one trailing newline); `@@…` is
    a literal text starting with '@'."""
    if value is None or not value.startswith("@"):
        return value
    if value.startswith("@@"):
        return value[1:]
    path = Path(value[1:])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{option} {value}: no such file {path} (write @@ for a text starting with @)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{option} {value}: cannot read {path} as UTF-8 text: {e}") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


_ESCAPE = re.compile(r"\\([\\nt])")
_ESCAPED = {"\\": "\\", "n": "\n", "t": "\t"}


def template_argument(value: str | None, option: str) -> str | None:
    """A template given on the command line, where a shell makes a newline awkward to type: `\\n` is a
    newline, `\\t` a tab and `\\\\` one backslash (so `\\\\n` is a backslash and an n); any other backslash
    stays as it is. `@FILE` reads the file's text as it is, with no escapes (see `text_argument`)."""
    if value is None or (value.startswith("@") and not value.startswith("@@")):
        return text_argument(value, option)
    return _ESCAPE.sub(lambda m: _ESCAPED[m[1]], text_argument(value, option))


def json_or_text(text: str):
    """The JSON value a text spells, else the text itself. An integer is the integer written, however
    wide (`seed=99999999999999999999999` stays that number, never 1e+23)."""
    try:
        return loads_exact(text)
    except orjson.JSONDecodeError:
        return text


def parse_params(pairs: Iterable[str]) -> dict:
    """`KEY=VALUE` pairs → a dict; a value that parses as JSON is that JSON, else the string itself
    (`temperature=0.2` → 0.2, `stop=["\\n"]` → a list, `user=alice` → "alice")."""
    params: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: write it as KEY=VALUE, for example --param temperature=0.2")
        if key in params:  # the last would win without a word: one of them is a mistake
            raise UsageError(f"--param {key} is given twice; give each field once")
        params[key] = json_or_text(value)
    return params
