"""Body modes: the four ways a row becomes a request body, one small class each.

- `MessagesTemplate`: chat messages from a --user template (and a --system template before it);
- `MessagesColumn`: chat messages from a column holding a JSON list of messages (and --system);
- `BodyTemplateMode`: a whole JSON body with placeholders (--body-template), for any endpoint;
- `EmbeddingsInput`: an embeddings body from an --input template.

Each has `columns` (the table columns it reads, in the order of the row tuple it is given) and
`render(row) -> dict` (the body of one row; `row` holds the cells of `columns`, texts except for a column
in `value_columns`, whose cell comes parsed by `parse`). The model (fixed, or a column's text) and the
extra `--param` fields are set by every mode alike; `body_mode()` picks the mode from the options.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence

import orjson

from ..errors import UsageError
from ..words import Meta, Option, Text
from .templates import BodyTemplate, Template, load_body_template

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


class BodyMode:
    """What every mode shares: the model, the extra fields, and the columns it reads."""

    composes: frozenset[str] = frozenset({"model"})  # body fields the mode makes (not --param's to set)
    value_columns: tuple[str, ...] = ()  # columns whose cells are values to parse, not texts

    def __init__(self, columns: Sequence[str], model: str | None, model_column: str | None, params: Mapping):
        if model is not None and model_column is not None:
            raise UsageError(Text("give ", Option("model"), " or ", Option("model_column"), ", not both"))
        self.model = model
        self.model_column = model_column
        self.columns = list(dict.fromkeys([*columns, *([model_column] if model_column else [])]))
        self._model_at = self.columns.index(model_column) if model_column else None
        self.params = dict(params or {})
        clash = sorted(self.composes & self.params.keys())
        if clash:
            raise UsageError(
                Text(
                    Option("params"),
                    f" key {clash[0]!r} is composed by the builder; use the matching argument instead",
                )
            )
        # Mutable parameter values are copied per request, so changing one request never changes another:
        # through orjson, unless they hold an integer wider than it carries (then by deepcopy).
        self._params_mutable = any(isinstance(v, (list, dict)) for v in self.params.values())
        try:
            self._param_bytes: bytes | None = orjson.dumps(self.params)
        except orjson.JSONEncodeError:
            self._param_bytes = None

    def model_of(self, row: Sequence) -> str | None:
        return self.model if self._model_at is None else row[self._model_at]

    def finish(self, body: dict) -> dict:
        """The body with the extra fields set on top."""
        if not self._params_mutable:
            body.update(self.params)
        elif self._param_bytes is not None:
            body.update(orjson.loads(self._param_bytes))
        else:
            body.update(copy.deepcopy(self.params))
        return body

    def render(self, row: Sequence) -> dict:
        raise NotImplementedError


def _needs_model(model: str | None, model_column: str | None) -> None:
    if model is None and model_column is None:
        raise UsageError(
            Text("give ", Option("model", Meta("NAME")), " or ", Option("model_column", Meta("COL")))
        )


class MessagesTemplate(BodyMode):
    """`{"model", "messages": [system?, user]}` from the --system and --user templates."""

    composes = frozenset({"model", "messages"})

    def __init__(self, user: str, system: str | None, model, model_column, params):
        _needs_model(model, model_column)
        user_t = Template(user, Option("user"))
        system_t = Template(system, Option("system")) if system is not None else None
        super().__init__(
            [*(system_t.columns if system_t else []), *user_t.columns], model, model_column, params
        )
        self._user = user_t.bind(self.columns)
        self._system = system_t.bind(self.columns) if system_t else None

    def render(self, row: Sequence) -> dict:
        messages = [{"role": "user", "content": self._user(*row)}]
        if self._system is not None:
            messages.insert(0, {"role": "system", "content": self._system(*row)})
        return self.finish({"model": self.model_of(row), "messages": messages})


class MessagesColumn(BodyMode):
    """`{"model", "messages": [system?, *the cell's messages]}`; the cell is a JSON list of messages."""

    composes = frozenset({"model", "messages"})

    def __init__(self, messages_column: str, system: str | None, model, model_column, params):
        _needs_model(model, model_column)
        system_t = Template(system, Option("system")) if system is not None else None
        columns = [*(system_t.columns if system_t else []), messages_column]
        super().__init__(columns, model, model_column, params)
        self.value_columns = (messages_column,)
        self._messages_at = self.columns.index(messages_column)
        self._system = system_t.bind(self.columns) if system_t else None

    @staticmethod
    def parse(value) -> tuple[list | None, str | None]:
        """(messages, None) for a JSON list of message objects (text or a native list), else (None, why)."""
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as e:
                return None, f"not valid JSON ({e.msg})"
        if type(value) is not list or not all(isinstance(m, dict) for m in value):
            return None, "not a JSON list of message objects"
        return value, None

    def render(self, row: Sequence) -> dict:
        messages = list(row[self._messages_at])
        if self._system is not None:
            messages.insert(0, {"role": "system", "content": self._system(*row)})
        return self.finish({"model": self.model_of(row), "messages": messages})


class BodyTemplateMode(BodyMode):
    """The template's body, with `model` (when given) and the extra fields set on top."""

    composes = frozenset()

    def __init__(self, body: dict | str | os.PathLike, model, model_column, params):
        if isinstance(body, (str, os.PathLike)):
            body = load_body_template(body)
        self.template = BodyTemplate(body)
        super().__init__(self.template.columns, model, model_column, params)

    def render(self, row: Sequence) -> dict:
        body = self.template.render(row)
        model = self.model_of(row)
        if model is not None:
            body["model"] = model
        return self.finish(body)


class EmbeddingsInput(BodyMode):
    """`{"model", "input"}` from the --input template."""

    composes = frozenset({"model", "input"})

    def __init__(self, text: str, model, model_column, params):
        _needs_model(model, model_column)
        template = Template(text, Option("input"))
        super().__init__(template.columns, model, model_column, params)
        self._input = template.bind(self.columns)

    def render(self, row: Sequence) -> dict:
        return self.finish({"model": self.model_of(row), "input": self._input(*row)})


def _slashed(*names: str) -> list:
    """Options written one after another with slashes: `system=/user=` (`--system/--user`)."""
    parts: list = []
    for name in names:
        parts += ["/", Option(name)] if parts else [Option(name)]
    return parts


def body_mode(
    *,
    endpoint: str = CHAT,
    model: str | None = None,
    model_column: str | None = None,
    system: str | None = None,
    user: str | None = None,
    messages_column: str | None = None,
    input: str | None = None,  # noqa: A002  (the embeddings field is called input)
    body_template: dict | str | os.PathLike | None = None,
    params: Mapping | None = None,
) -> BodyMode:
    """The body mode these options ask for; UsageError for combinations that make no sense."""
    if body_template is not None:
        if any(v is not None for v in (system, user, messages_column, input)):
            raise UsageError(
                Text(
                    Option("body_template"),
                    " makes the whole body; drop ",
                    *_slashed("system", "user", "input", "messages_column"),
                )
            )
        return BodyTemplateMode(body_template, model, model_column, params)
    if endpoint.endswith("/embeddings") or input is not None:
        return _embeddings_mode(endpoint, input, (system, user, messages_column), model, model_column, params)
    if not endpoint.endswith("chat/completions"):
        raise UsageError(
            Text(f"building {endpoint} requests needs ", Option("body_template", Meta("FILE.json")))
        )
    if user is not None and messages_column is not None:
        raise UsageError(Text("give ", Option("user"), " or ", Option("messages_column"), ", not both"))
    if messages_column is not None:
        return MessagesColumn(messages_column, system, model, model_column, params)
    if user is None:
        raise UsageError(
            Text(
                "give ",
                Option("user", Meta("TEMPLATE")),
                " or ",
                Option("messages_column", Meta("COL")),
                " (or a ",
                Option("body_template"),
                ")",
            )
        )
    return MessagesTemplate(user, system, model, model_column, params)


def _embeddings_mode(endpoint: str, input, chat_options: tuple, model, model_column, params) -> BodyMode:  # noqa: A002
    """The embeddings body mode, refusing an endpoint or options that do not go with it."""
    if input is None:
        raise UsageError(
            Text(f"{endpoint} requests need ", Option("input", Meta("TEMPLATE")), " (the text to embed)")
        )
    if not endpoint.endswith("/embeddings"):
        raise UsageError(
            Text(
                Option("input"),
                f" builds {EMBEDDINGS} requests; pass ",
                Option("endpoint", Meta(EMBEDDINGS)),
            )
        )
    if any(v is not None for v in chat_options):
        raise UsageError(
            Text(
                "embeddings take ",
                Option("input"),
                " only; drop ",
                *_slashed("system", "user", "messages_column"),
            )
        )
    return EmbeddingsInput(input, model, model_column, params)
