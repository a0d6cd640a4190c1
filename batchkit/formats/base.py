"""The format layer's two shapes: `Dialect`, one class per line format, and `Request`, one request line as
every job sees it, whatever its format. Nothing outside this package reads a request's id, model, endpoint
or body out of a raw line: it asks the line's dialect."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from .chat import Chat, Context, child


@dataclass(slots=True)
class Request:
    """One request line: its id (None when it has none), model (None when the line names none: the job's),
    endpoint (the url it goes to, as written or as its format implies), body in its own format, the dialect
    it is written in, where it is (line number, byte offsets of the line) and, when read from a file, the
    line's bytes (to copy it as it is)."""

    id: str | None
    model: str | None
    endpoint: str | None
    body: dict
    format: Dialect
    line: int | None = None
    start: int | None = None
    end: int | None = None
    raw: bytes | None = None


class Dialect(ABC):
    """A batch line format: how to recognise, read and write its lines and read its result lines.

    Every member is required; a format without something says so with its value (an empty tuple, None
    for "the job's model"), never by leaving the member out."""

    name: ClassVar[str]
    schema: ClassVar[str]  # the line schema in schemas/
    id_path: ClassVar[tuple[str, ...]]  # where the id is in a line (Vertex: inside the request's labels)
    body_field: ClassVar[str]  # the member that holds the request body
    id_pattern: ClassVar[str | None]  # the format's own id rule (a provider's row may add its own)
    home: ClassVar[str | None]  # the provider a file in this format meets by default (None: the default one)
    # members only this format's result lines have (a request line never has one)
    result_members: ClassVar[frozenset[str]]
    echoes_request: ClassVar[bool] = False  # its result lines are the request line with the answer added
    endpoints: ClassVar[
        tuple[str, ...]
    ] = ()  # the endpoints a converted line may be written for (--endpoint)
    # The members a line may have, when the line schema lets others pass (each is then a warning); None:
    # the line schema settles them.
    line_fields: ClassVar[frozenset[str] | None] = None
    model_field: ClassVar[str | None] = "model"  # where a body names its model (None: on the job)

    def __repr__(self) -> str:
        return f"<dialect {self.name}>"

    # ---- reading

    @abstractmethod
    def looks_like(self, obj: dict) -> bool:
        """Whether a parsed line is written in this format."""

    @property
    def id_name(self) -> str:
        """The id's name in messages: custom_id, key, recordId, request.labels.custom_id."""
        return ".".join(self.id_path)

    @property
    def id_pointer(self) -> str:
        return child("", *self.id_path)

    def id_of(self, obj: dict):
        """The line's id as it is (any JSON value; None when absent)."""
        value = obj
        for key in self.id_path:
            value = value.get(key) if type(value) is dict else None
        return value

    def set_id(self, obj: dict, value: str) -> None:
        """Writes `value` as the line's id."""
        *parents, last = self.id_path
        target = obj
        for key in parents:
            if type(target.get(key)) is not dict:
                target[key] = {}
            target = target[key]
        target[last] = value

    def body_of(self, obj: dict) -> dict | None:
        body = obj.get(self.body_field)
        return body if type(body) is dict else None

    def model_of(self, body: dict) -> str | None:
        """The model a body names (None: the job's)."""
        model = body.get(self.model_field) if self.model_field else None
        return model if type(model) is str else None

    def echo_key(self, body) -> str | None:
        """For a format whose result lines echo the request (`echoes_request`): the key a request without
        an id and the result that echoes it share, so they join. None for other formats."""
        return None

    def checked_body(self, request: Request) -> tuple[str | None, dict] | None:
        """(OpenAI endpoint, body) when the request's body is an OpenAI body that OpenAI's body rules check;
        None for a body in another shape, which its line schema checks."""
        return None

    def line_schema(self, obj: dict, job_model: str | None) -> tuple[str, str | None]:
        """(the schema a parsed line is checked under, the name of the body it was read as, or None when
        the format has one body): Bedrock's follows the model family."""
        return self.schema, None

    def body_findings(self, request: Request, job_model: str | None) -> list:
        """What this format's API refuses in a body that its line schema cannot say (Finding list), for a
        body sent to its own model or, when the line names none, to `job_model`."""
        return []

    @abstractmethod
    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        """The url the line goes to: written on it, or implied by its format and body."""

    def read(
        self, obj: dict, line: int | None = None, start: int | None = None, end: int | None = None
    ) -> Request:
        """The request a parsed line of this format holds; fields of the wrong type read as absent (the
        line's schema reports them)."""
        body = self.body_of(obj)
        ident = self.id_of(obj)
        return Request(
            ident if type(ident) is str else None,
            self.model_of(body) if body is not None else None,
            self.endpoint_of(obj, body or {}),
            body if body is not None else {},
            self,
            line,
            start,
            end,
        )

    # ---- converting, through an OpenAI chat body

    @abstractmethod
    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        """The line's request as an OpenAI body (None after findings when it cannot be)."""

    @abstractmethod
    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        """A line of this format for an OpenAI body (None after findings when it cannot be written)."""

    def openai_view(self, request: Request) -> tuple[str, dict] | None:
        """The OpenAI endpoint and body that stand for `request` (what token counting reads), or None when
        it has none. Conversion here is lenient: what the OpenAI body cannot say is left out."""
        ctx = Context(line=request.line, drop_unsupported=True)
        chat = self.to_chat({self.body_field: request.body, **_id_line(self, request)}, ctx)
        if chat is None:
            return None
        return OPENAI_URLS[chat.kind], chat.body

    # ---- results

    @abstractmethod
    def holds_result(self, obj: dict) -> bool:
        """Whether a parsed result line is this format's."""

    @abstractmethod
    def result(self, obj: dict) -> dict:
        """A result line of this format as the OpenAI output line (`{custom_id, response, error}`)."""


OPENAI_URLS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}
LINE_ID = "line-{}"  # the id of a request that has none, or none a provider takes: its line number
# Between a repeated id and its number when `fix --dedupe-ids` renames it (ID~2): the first one the
# provider's id rule takes (Anthropic's ids take no `~`); `merge --source` reads them back.
REPEAT_SEPARATORS = ("~", "-", "_")


def _id_line(dialect: Dialect, request: Request) -> dict:
    """The members besides the body a line needs for `to_chat` (its id)."""
    obj: dict = {}
    if request.id is not None and len(dialect.id_path) == 1:
        obj[dialect.id_path[0]] = request.id
    return obj
