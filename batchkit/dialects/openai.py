"""The OpenAI batch line `{custom_id, method, url, body}` (today's dialect). Chat and embeddings bodies
pass through as they are; a Responses body is read as the chat request it stands for (`responses`), and
a chat request is written as a Responses body when the target endpoint is `/v1/responses`."""

from __future__ import annotations

from .base import CHAT, EMBEDDINGS, Context, Request, inner, model_in, with_model

NAME = "openai"
SCHEMA = "batch-request"
ID_FIELD = "custom_id"
REQUEST_FIELD = "body"
KINDS = {
    "/v1/chat/completions": CHAT,
    "/chat/completions": CHAT,
    "/v1/embeddings": EMBEDDINGS,
    "/embeddings": EMBEDDINGS,
}
URLS = {CHAT: "/v1/chat/completions", EMBEDDINGS: "/v1/embeddings"}
RESPONSES_URLS = ("/v1/responses", "/responses")


def looks_like(obj: dict) -> bool:
    return "url" in obj or "method" in obj


def model_of(obj: dict):
    return model_in(obj, REQUEST_FIELD)


def from_line(obj: dict, ctx: Context) -> Request | None:
    body, url = inner(obj, REQUEST_FIELD, "a request", ctx), obj.get("url")
    if body is None:
        return None
    if url in KINDS:
        return Request(obj.get("custom_id"), body, KINDS[url])
    if url in RESPONSES_URLS:
        from .responses import to_chat

        return Request(obj.get("custom_id"), to_chat(body, "/body", ctx))
    ctx.unsupported("/url", f"requests to {url!r} cannot be converted (chat, responses and embeddings can)")
    return None


def to_line(request: Request, ctx: Context) -> dict | None:
    body = with_model(request.body, ctx.model)
    if not body.get("model"):
        ctx.error("missing-field", "/body/model", "an OpenAI request needs a model: pass --model")
    url = URLS[request.kind]
    if ctx.endpoint in RESPONSES_URLS and request.kind == CHAT:
        from .responses import from_chat

        body, url = from_chat(body, request.at, ctx), ctx.endpoint
    elif ctx.endpoint not in (None, url):
        ctx.error("unsupported-endpoint", "/url", f"a {request.kind} request cannot go to {ctx.endpoint}")
    return {"custom_id": request.id, "method": "POST", "url": url, "body": body}
