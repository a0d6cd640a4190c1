"""The `{custom_id, body}` line of Mistral, Together and Fireworks: an OpenAI body without method or
url, the model usually set on the job (so `body.model` is optional). Mistral and Together answer with
OpenAI's result lines; Fireworks' output dataset holds the answer itself under `response`."""

from __future__ import annotations

from .base import OPENAI_URLS, Dialect, Request
from .chat import CHAT, EMBEDDINGS, Chat, Context, inner, with_model
from .results import from_bare_answer


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
        return Chat(obj.get("custom_id"), body, kind)

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        return {"custom_id": chat.id, "body": with_model(chat.body, ctx.model)}

    def holds_result(self, obj: dict) -> bool:
        # Fireworks' {custom_id, response: <chat completion>}: no status code or body around the answer
        response = obj.get("response")
        return (
            type(response) is dict and "choices" in response and not {"status_code", "body"} & response.keys()
        )

    def result(self, obj: dict) -> dict:
        return from_bare_answer(obj)
