"""What every dialect shares: the conversion context (findings, dropped fields, defaults) and the
request every conversion passes through — an OpenAI chat completions body."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ..findings import Finding

CHAT = "chat"
EMBEDDINGS = "embeddings"


def child(at: str, *parts) -> str:
    """The JSON Pointer (RFC 6901) `at` extended by keys and indexes."""
    return at + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Chat:
    """One request between dialects: its id (None when the line has none), what kind of body it is, the
    body in OpenAI's shape, and the JSON Pointer of that body in the line it came from."""

    id: str | None
    body: dict
    kind: str = CHAT
    at: str = "/body"


@dataclass
class Context:
    """What one line's conversion needs and what it found.

    `model` replaces the request's model; `max_tokens` is the default for targets that require it.
    With `drop_unsupported`, what the target cannot express is left out and listed in `dropped`
    (and as warnings); without it, each is an error and the line is not written."""

    line: int | None = None
    model: str | None = None
    max_tokens: int | None = None
    drop_unsupported: bool = False
    endpoint: str | None = None  # the URL an OpenAI line goes to (chat's or /v1/responses)
    body_schemas: dict = field(default_factory=dict)  # endpoint → the target provider's own body schema
    findings: list[Finding] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.is_error for f in self.findings)

    def unsupported(self, path: str, message: str, code: str = "unsupported-field") -> None:
        """The target cannot express what is at `path`: an error, or a drop when asked for."""
        if self.drop_unsupported:
            self.dropped.append(path)
            self.findings.append(Finding("dropped-field", f"dropped: {message}", self.line, path))
        else:
            hint = " (--drop-unsupported leaves it out)"
            self.findings.append(Finding(code, message + hint, self.line, path))

    def leave_out(self, path: str, message: str) -> None:
        """What the target would refuse on every line is left out whatever `drop_unsupported` says, and
        listed (a warning)."""
        self.dropped.append(path)
        self.findings.append(Finding("dropped-field", f"left out: {message}", self.line, path))

    def error(self, code: str, path: str, message: str) -> None:
        self.findings.append(Finding(code, message, self.line, path))


def leftover(obj: dict, handled, at: str, ctx: Context, target: str) -> None:
    """Every key of `obj` not in `handled` is something `target` cannot express."""
    for key in obj:
        if key not in handled:
            ctx.unsupported(child(at, key), f"{target} has no `{key}`")


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def dict_at(obj, key) -> dict:
    """obj[key] when obj is an object and that is an object too, else {} (hostile input reads as empty)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def list_at(obj, key) -> list:
    """obj[key] when obj is an object and that is an array, else []."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def split_data_url(url: str) -> tuple[str, str] | None:
    """data:MIME;base64,DATA → (MIME, DATA); None for any other URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head or "application/octet-stream", data


def data_url(mime: str, data: str) -> str:
    return f"data:{mime};base64,{data}"


def text_of(content) -> str | None:
    """The text of an OpenAI message content: a string, or the text parts joined."""
    if content is None or isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def max_tokens_of(body: dict) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def function_names(messages: list) -> dict[str, str]:
    """tool call id → function name, from the assistant messages' tool calls."""
    names = {}
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    names[call.get("id")] = call["function"].get("name")
    return names


def with_model(body: dict, model: str | None) -> dict:
    """`body` with its model replaced by `model` (first, as people write it) when one is given."""
    if not model:
        return body
    return {"model": model, **{k: v for k, v in body.items() if k != "model"}}


def tool_arguments(function, at: str, ctx: Context, target: str) -> dict | None:
    """A tool call's arguments (a JSON string in OpenAI's shape) as the object other dialects hold."""
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except (AttributeError, TypeError, orjson.JSONDecodeError):
        arguments = None
    if not isinstance(arguments, dict):
        ctx.unsupported(
            child(at, "function", "arguments"), f"{target} takes tool arguments as a JSON object only"
        )
        return None
    return arguments


def inner(obj: dict, field: str, what: str, ctx: Context) -> dict | None:
    """The request object a line holds under `field` (None after a finding when it is not an object)."""
    value = obj.get(field)
    if not isinstance(value, dict):
        ctx.error("wrong-type", child("", field), f"`{field}` must be {what} object")
        return None
    return value


def model_in(obj: dict, field: str):
    """The model named inside the line's request object, if any."""
    value = obj.get(field)
    return value.get("model") if isinstance(value, dict) else None


# A tool message read from a dialect whose results can say the tool failed (Anthropic's is_error,
# Converse's status "error") carries it here; a target with such a flag writes it, OpenAI's have none.
TOOL_ERROR = "is_error"
ROLE_FIELDS = {
    "system": {"role", "content"},
    "developer": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls"},
    "tool": {"role", "content", "tool_call_id", TOOL_ERROR},
}
SYSTEM_ROLES = ("system", "developer")


def chat_messages(messages: list, at: str, ctx: Context, target: str):
    """(role, message, path) of each chat message a target with a separate system prompt can take; the
    others (unknown roles, fields it has no place for, system text after the conversation has begun)
    are reported."""
    started = False
    for i, message in enumerate(messages):
        path = child(at, i)
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLE_FIELDS:
            ctx.unsupported(path, f"{target} has no {role!r} messages")
            continue
        leftover(message, ROLE_FIELDS[role], path, ctx, target)
        if role in SYSTEM_ROLES and started:
            ctx.unsupported(path, f"{target} takes system text only before the conversation")
            continue
        started = started or role not in SYSTEM_ROLES
        yield role, message, path


FUNCTION_FIELDS = frozenset({"name", "description", "parameters"})


def function_tools(body: dict, at: str, ctx: Context, target: str, fields=FUNCTION_FIELDS):
    """(path, `function` object) of each chat tool; other kinds of tool, and function fields outside
    `fields`, are reported."""
    for i, tool in enumerate(as_list(body["tools"])):
        path = child(at, "tools", i)
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict):
            ctx.unsupported(path, f"{target} takes function tools only")
            continue
        leftover(function, fields, child(path, "function"), ctx, target)
        yield path, function


def image_of(image: dict, at: str, ctx: Context, target: str) -> tuple[str, tuple[str, str] | None]:
    """An image_url part's URL and, for a data URL, its (MIME, base64 data); a detail setting, which
    no other dialect has, is reported."""
    if image.get("detail", "auto") != "auto":
        ctx.unsupported(child(at, "detail"), f"{target} has no image detail setting")
    leftover(image, {"url", "detail"}, at, ctx, target)
    url = image.get("url") or ""
    return url, split_data_url(url)


def file_data_of(part: dict, at: str, ctx: Context, target: str) -> tuple[str, str] | None:
    """A chat `file` part's (MIME, base64 data); a file id or a file that is not a data URL, which the
    other dialects cannot refer to, is reported (None)."""
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    leftover(part, {"type", "file"}, at, ctx, target)
    leftover(file, {"file_data", "filename"}, child(at, "file"), ctx, target)
    inline = split_data_url(file["file_data"]) if isinstance(file.get("file_data"), str) else None
    if inline is None and "file_id" not in file:
        ctx.unsupported(child(at, "file"), f"{target} takes files as data URLs only")
    return inline


def file_part(mime: str, data: str, filename=None) -> dict:
    """The chat `file` part for inline file bytes."""
    file = {"file_data": data_url(mime, data)}
    if filename is not None:
        file["filename"] = filename
    return {"type": "file", "file": file}


def without_tool_errors(body: dict, at: str, ctx: Context, target: str) -> dict:
    """`body` without the error flags its tool messages carry (TOOL_ERROR), each reported: an OpenAI tool
    message cannot say that the tool failed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(isinstance(m, dict) and TOOL_ERROR in m for m in messages):
        return body
    kept = []
    for i, message in enumerate(messages):
        if isinstance(message, dict) and TOOL_ERROR in message:
            ctx.unsupported(
                child(at, "messages", i, TOOL_ERROR), f"{target} cannot mark a tool result an error"
            )
            message = {k: v for k, v in message.items() if k != TOOL_ERROR}
        kept.append(message)
    return {**body, "messages": kept}


def tool_text(content, at: str, ctx: Context, target: str) -> str:
    """A tool message's content as the text a target whose tool results hold text only takes; a part of
    another kind (an image an Anthropic tool_result held) is reported, not dropped unsaid."""
    if content is None or isinstance(content, str):
        return content or ""
    for i, part in enumerate(as_list(content)):
        if not (isinstance(part, dict) and part.get("type") == "text"):
            kind = part.get("type") if isinstance(part, dict) else None
            ctx.unsupported(child(at, i), f"{target} takes a tool result as text only, not a {kind!r} part")
    return text_of(as_list(content)) or ""
