"""The `{custom_id, body}` line of Mistral, Together and Fireworks: an OpenAI body without method or
url, the model usually set on the job (so `body.model` is optional)."""

from __future__ import annotations

from .base import CHAT, EMBEDDINGS, Context, Request, inner, model_in, with_model

NAME = "custom-body"
SCHEMA = "custom-body-request"
ID_FIELD = "custom_id"
REQUEST_FIELD = "body"


def looks_like(obj: dict) -> bool:
    return "body" in obj and "url" not in obj and "method" not in obj


def model_of(obj: dict):
    return model_in(obj, REQUEST_FIELD)


def from_line(obj: dict, ctx: Context) -> Request | None:
    body = inner(obj, REQUEST_FIELD, "a request", ctx)
    if body is None:
        return None
    if "messages" in body:
        return Request(obj.get("custom_id"), body, CHAT)
    if "input" in body:
        return Request(obj.get("custom_id"), body, EMBEDDINGS)
    ctx.unsupported("/body", "only chat (`messages`) and embeddings (`input`) bodies can be converted")
    return None


def to_line(request: Request, ctx: Context) -> dict | None:
    return {"custom_id": request.id, "body": with_model(request.body, ctx.model)}
