"""The OpenAI batch line `{custom_id, method, url, body}` (today's dialect). Chat and embeddings bodies
pass through as they are; a Responses body is read as the chat request it stands for (`responses`), and
a chat request is written as a Responses body when the target endpoint is `/v1/responses`."""

from __future__ import annotations

from .. import schemas
from . import responses
from .base import Dialect, Request
from .chat import CHAT, EMBEDDINGS, Chat, Context, inner, with_model, without_tool_errors

KINDS = {
    "/v1/chat/completions": CHAT,
    "/chat/completions": CHAT,
    "/v1/embeddings": EMBEDDINGS,
    "/embeddings": EMBEDDINGS,
}
URLS = {CHAT: "/v1/chat/completions", EMBEDDINGS: "/v1/embeddings"}
RESPONSES_URLS = ("/v1/responses", "/responses")


class OpenAI(Dialect):
    name = "openai"
    schema = "batch-request"
    id_path = ("custom_id",)
    body_field = "body"
    id_pattern = None
    home = None
    result_members = frozenset(("response", "error"))
    endpoints = ("/v1/chat/completions", "/v1/embeddings", *RESPONSES_URLS)
    line_fields = frozenset(schemas.load(schemas.REQUEST)["properties"])

    def looks_like(self, obj: dict) -> bool:
        return "url" in obj or "method" in obj

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        url = obj.get("url")
        return url if type(url) is str else None

    def checked_body(self, request: Request) -> tuple[str | None, dict] | None:
        return request.endpoint, request.body

    def openai_view(self, request: Request) -> tuple[str, dict] | None:
        """The body as it is, at its url with the `/v1` that Azure's form leaves out."""
        url = request.endpoint or ""
        return (url if url.startswith("/v1/") else "/v1" + url), request.body

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        body, url = inner(obj, self.body_field, "a request", ctx), obj.get("url")
        if body is None:
            return None
        if url in KINDS:
            return Chat(obj.get("custom_id"), body, KINDS[url])
        if url in RESPONSES_URLS:
            return Chat(obj.get("custom_id"), responses.chat_from_responses(body, "/body", ctx))
        ctx.unsupported(
            "/url", f"requests to {url!r} cannot be converted (chat, responses and embeddings can)"
        )
        return None

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        body = with_model(chat.body, ctx.model)
        if not body.get("model"):
            ctx.error("missing-field", "/body/model", "an OpenAI request needs a model: pass --model")
        url = URLS[chat.kind]
        if ctx.endpoint in RESPONSES_URLS and chat.kind == CHAT:
            body, url = responses.responses_from_chat(body, chat.at, ctx), ctx.endpoint
        elif ctx.endpoint not in (None, url):
            ctx.error("unsupported-endpoint", "/url", f"a {chat.kind} request cannot go to {ctx.endpoint}")
        elif chat.kind == CHAT:
            body = without_tool_errors(body, chat.at, ctx, "an OpenAI chat request")
        return {"custom_id": chat.id, "method": "POST", "url": url, "body": body}

    def holds_result(self, obj: dict) -> bool:
        return "custom_id" in obj and "result" not in obj

    def result(self, obj: dict) -> dict:
        return obj
