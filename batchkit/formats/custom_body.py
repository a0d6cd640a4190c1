"""The `{custom_id, body}` line of Mistral, Together and Fireworks: an OpenAI body without method or
url, the model usually set on the job (so `body.model` is optional). Mistral and Together answer with
OpenAI's result lines; Fireworks' output dataset holds the answer itself under `response`.

Each provider's own body rules are its body schema (the provider row's `body_schemas`, written from its
SDK's request types). Converting to one, a chat body is fitted to it: a field the provider names otherwise
is renamed (`SYNONYMS`), `developer` messages become `system` where its roles have no `developer`, a
single stop string becomes a list where it takes lists only, and a field it has no place for is reported."""

from __future__ import annotations

from .. import schemas
from .base import OPENAI_URLS, Dialect, Request
from .chat import CHAT, EMBEDDINGS, Chat, Context, child, inner, with_model, without_tool_errors
from .results import from_bare_answer

# OpenAI's field → the name a provider's body gives it (Mistral: max_tokens, random_seed, output_dimension)
SYNONYMS = {
    "max_completion_tokens": "max_tokens",
    "seed": "random_seed",
    "dimensions": "output_dimension",
}


class CustomBody(Dialect):
    name = "custom-body"
    schema = "custom-body-request"
    id_path = ("custom_id",)
    body_field = "body"
    id_pattern = None
    home = "mistral"
    result_members = frozenset(("response", "error"))

    def looks_like(self, obj: dict) -> bool:
        return "body" in obj and "url" not in obj and "method" not in obj

    def kind_of(self, body: dict) -> str | None:
        """What the body is by its shape: chat (`messages`) or embeddings (`input`)."""
        if "messages" in body:
            return CHAT
        return EMBEDDINGS if "input" in body else None

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        return OPENAI_URLS.get(self.kind_of(body))

    def openai_view(self, request: Request) -> tuple[str, dict] | None:
        return None if request.endpoint is None else (request.endpoint, request.body)

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        body = inner(obj, self.body_field, "a request", ctx)
        if body is None:
            return None
        kind = self.kind_of(body)
        if kind is None:
            ctx.unsupported(
                "/body", "only chat (`messages`) and embeddings (`input`) bodies can be converted"
            )
            return None
        return Chat(obj.get("custom_id"), _from_own(body), kind)

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        body = with_model(chat.body, ctx.model)
        if chat.kind == CHAT:
            body = without_tool_errors(body, chat.at, ctx, "an OpenAI-shaped chat body")
        schema = ctx.body_schemas.get(OPENAI_URLS[chat.kind])
        if schema is not None:
            body = fitted(body, schema, chat.at, ctx)
        return {"custom_id": chat.id, "body": body}

    def holds_result(self, obj: dict) -> bool:
        # Fireworks' {custom_id, response: <chat completion>}: no status code or body around the answer
        response = obj.get("response")
        return (
            type(response) is dict and "choices" in response and not {"status_code", "body"} & response.keys()
        )

    def result(self, obj: dict) -> dict:
        return from_bare_answer(obj)


def fitted(body: dict, schema: str, at: str, ctx: Context) -> dict:
    """`body` as the provider whose body schema is `schema` takes it (see the module's docstring)."""
    properties = schemas.load(schema)["properties"]
    title = schemas.load(schema)["title"]
    out: dict = {}
    for key, value in body.items():
        name = key if key in properties else SYNONYMS.get(key)
        if name not in properties:
            ctx.unsupported(child(at, key), f"{title} has no `{key}`")
        elif name in out:
            ctx.unsupported(
                child(at, key), f"{title} has one `{name}`; `{key}` names it again", "unsupported-value"
            )
        else:
            out[name] = value
    _fit_functions(out, properties, at, ctx, title)
    if isinstance(out.get("stop"), str) and properties.get("stop", {}).get("type") == "array":
        out["stop"] = [out["stop"]]
    roles = properties.get("messages", {}).get("items", {}).get("properties", {}).get("role", {}).get("enum")
    if roles and "developer" not in roles and isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m
            for m in out["messages"]
        ]
    return out


# a provider's own name → OpenAI's, for the names that are no OpenAI field (max_tokens is one already)
OPENAI_NAMES = {"random_seed": "seed", "output_dimension": "dimensions"}


def _fit_functions(body: dict, properties: dict, at: str, ctx: Context, title: str) -> None:
    """A tool's function fields the provider's tools do not name (Together's have no `strict`) are
    reported, and left out when asked."""
    named = (
        properties.get("tools", {})
        .get("items", {})
        .get("properties", {})
        .get("function", {})
        .get("properties")
    )
    if not named or not isinstance(body.get("tools"), list):
        return
    body["tools"] = list(body["tools"])  # the caller's list stays as it was
    for i, tool in enumerate(body["tools"]):
        function = tool.get("function") if isinstance(tool, dict) else None
        for key in list(function) if isinstance(function, dict) else []:
            if key not in named:
                ctx.unsupported(child(at, "tools", i, "function", key), f"{title} has no tool `{key}`")
                if ctx.drop_unsupported:
                    body["tools"][i] = {**tool, "function": {k: v for k, v in function.items() if k != key}}
                    function = body["tools"][i]["function"]


def _from_own(body: dict) -> dict:
    """A provider's body read back as OpenAI's: its own names for OpenAI's fields renamed back, and its own
    spellings of their values (Mistral's `tool_choice: "any"`, an image chunk's URL as a plain string)."""
    read = {
        OPENAI_NAMES[key] if key in OPENAI_NAMES and OPENAI_NAMES[key] not in body else key: value
        for key, value in body.items()
    }
    if read.get("tool_choice") == "any":
        read["tool_choice"] = "required"  # what OpenAI calls a call of some tool
    if isinstance(read.get("messages"), list):
        read["messages"] = [_images_as_objects(m) for m in read["messages"]]
    return read


def _images_as_objects(message):
    """A message whose image chunks give their URL as a string, with OpenAI's `{"url": …}` instead."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list) or not any(_url_string(part) for part in content):
        return message
    parts = [
        {**part, "image_url": {"url": part["image_url"]}} if _url_string(part) else part for part in content
    ]
    return {**message, "content": parts}


def _url_string(part) -> bool:
    return (
        isinstance(part, dict) and part.get("type") == "image_url" and isinstance(part.get("image_url"), str)
    )
