"""The AWS Bedrock batch inference line `{recordId, modelInput}`. `modelInput` is the model's own body:
batchkit writes the Anthropic-on-Bedrock Messages body (with `anthropic_version`, the model set on the
job) and validates Converse requests too; converting a Converse request is not supported."""

from __future__ import annotations

from . import anthropic, claude, results
from .base import Dialect, Request
from .chat import CHAT, Chat, Context, inner

ANTHROPIC_VERSION = "bedrock-2023-05-31"
INVOKE = "InvokeModel"  # each record is the body of an InvokeModel call to the job's model


class Bedrock(Dialect):
    name = "bedrock"
    schema = "bedrock-request"
    id_path = ("recordId",)
    body_field = "modelInput"
    id_pattern = None
    home = "bedrock"
    result_members = frozenset(("modelOutput", "error"))
    echoes_request = True
    model_field = None  # the model is the job's

    def looks_like(self, obj: dict) -> bool:
        return "recordId" in obj or "modelInput" in obj

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        return INVOKE

    def body_findings(self, request: Request, job_model: str | None) -> list:
        if "anthropic_version" not in request.body:
            return []
        return claude.body_findings(request.body, job_model, "/modelInput", request.line)

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        body = inner(obj, self.body_field, "a request body", ctx)
        if body is None:
            return None
        if "anthropic_version" not in body:
            ctx.unsupported(
                "/modelInput", "only Anthropic Messages bodies (with anthropic_version) can be converted"
            )
            return None
        chat = anthropic.chat_from_params(body, "/modelInput", ctx)
        return Chat(obj.get("recordId"), chat, CHAT, "/modelInput")

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        params = anthropic.params_from_chat(chat, ctx, anthropic.BEDROCK_BODY)
        if params is None:
            return None
        return {"recordId": chat.id, "modelInput": {"anthropic_version": ANTHROPIC_VERSION, **params}}

    def holds_result(self, obj: dict) -> bool:
        return "recordId" in obj

    def result(self, obj: dict) -> dict:
        return results.from_bedrock(obj)
