"""The Vertex AI batch prediction line `{request}`: a GenerateContentRequest with no id field. batchkit
carries the id in `request.labels.custom_id` (Vertex echoes the request on each result line), so results
join back; label values allow lowercase letters, digits, `_` and `-` only, hence the id rule and the id map
that `convert` writes for ids outside it."""

from __future__ import annotations

from . import gemini, results
from .base import Dialect, Request
from .chat import CHAT, Chat, Context, child, inner, leftover

ID_LABEL = "custom_id"


class Vertex(Dialect):
    name = "vertex"
    schema = "vertex-request"
    id_path = ("request", "labels", ID_LABEL)
    body_field = "request"
    # Label values: lowercase letters, digits, `_` and `-`, at most 63 characters.
    id_pattern = r"^[a-z0-9_-]{1,63}$"
    home = "vertex"
    result_members = frozenset(("response", "status"))
    echoes_request = True

    def looks_like(self, obj: dict) -> bool:
        return "request" in obj and "key" not in obj

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        return gemini.GENERATE

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        request = inner(obj, self.body_field, "a GenerateContentRequest", ctx)
        if request is None:
            return None
        labels = request.get("labels")
        if isinstance(labels, dict):
            leftover(labels, {ID_LABEL}, child("/request", "labels"), ctx, "an OpenAI chat request")
        request = {k: v for k, v in request.items() if k != "labels"}
        ident = self.id_of(obj)
        return Chat(ident, gemini.chat_from_request(request, "/request", ctx), CHAT, "/request")

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        converted = gemini.request_from_chat(chat, ctx, gemini.VERTEX_AI)
        if converted is None:
            return None
        if chat.id is not None:
            converted["labels"] = {ID_LABEL: chat.id}
        return {"request": converted}

    def body_findings(self, request: Request, job_model: str | None) -> list:
        return gemini.request_findings(request.body, "/request", request.line)

    def echo_key(self, body) -> str | None:
        return gemini.conversation_key(body)

    def holds_result(self, obj: dict) -> bool:
        return "request" in obj and ("response" in obj or "status" in obj)

    def result(self, obj: dict) -> dict:
        """A prediction: its id is the request's label, else the key of the request it echoes."""
        ident = self.id_of(obj)
        return results.from_vertex(
            obj, ident if isinstance(ident, str) else self.echo_key(obj.get("request"))
        )
