"""The AWS Bedrock batch inference line `{recordId, modelInput}`. `modelInput` is the model's own body:
batchkit writes the Anthropic-on-Bedrock Messages body (with `anthropic_version`, the model set on the
job) and validates Converse requests too; converting a Converse request is not supported."""

from __future__ import annotations

from . import anthropic
from .base import CHAT, Context, Request, inner

NAME = "bedrock"
SCHEMA = "bedrock-request"
ID_FIELD = "recordId"
REQUEST_FIELD = "modelInput"
ANTHROPIC_VERSION = "bedrock-2023-05-31"


def looks_like(obj: dict) -> bool:
    return "recordId" in obj or "modelInput" in obj


def model_of(obj: dict):
    return None  # the model is the job's


def from_line(obj: dict, ctx: Context) -> Request | None:
    body = inner(obj, REQUEST_FIELD, "a request body", ctx)
    if body is None:
        return None
    if "anthropic_version" not in body:
        ctx.unsupported(
            "/modelInput", "only Anthropic Messages bodies (with anthropic_version) can be converted"
        )
        return None
    return Request(obj.get("recordId"), anthropic.to_chat(body, "/modelInput", ctx), CHAT, "/modelInput")


def to_line(request: Request, ctx: Context) -> dict | None:
    params = anthropic.from_chat(request, ctx, with_model=False, target="Bedrock (Anthropic)")
    if params is None:
        return None
    return {"recordId": request.id, "modelInput": {"anthropic_version": ANTHROPIC_VERSION, **params}}
