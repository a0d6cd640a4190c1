"""The Vertex AI batch prediction line `{request}`: a GenerateContentRequest with no id field. batchkit
carries the id in `request.labels.custom_id` (Vertex echoes the request on each result line), so results
join back; label values allow lowercase letters, digits, `_` and `-` only, hence `ID_PATTERN` and the id map
that `convert` writes for ids outside it."""

from __future__ import annotations

from . import gemini
from .base import CHAT, Context, Request, child, inner, leftover, model_in

NAME = "vertex"
SCHEMA = "vertex-request"
ID_FIELD = None
ID_LABEL = "custom_id"
# Label values: lowercase letters, digits, `_` and `-`, at most 63 characters.
ID_PATTERN = r"^[a-z0-9_-]{1,63}$"
REQUEST_FIELD = "request"


def looks_like(obj: dict) -> bool:
    return "request" in obj and "key" not in obj


def model_of(obj: dict):
    return model_in(obj, REQUEST_FIELD)


def id_of(obj: dict):
    """The id batchkit put in the request's labels (None when there is none)."""
    request = obj.get("request")
    labels = request.get("labels") if isinstance(request, dict) else None
    return labels.get(ID_LABEL) if isinstance(labels, dict) else None


def from_line(obj: dict, ctx: Context) -> Request | None:
    request = inner(obj, REQUEST_FIELD, "a GenerateContentRequest", ctx)
    if request is None:
        return None
    labels = request.get("labels")
    if isinstance(labels, dict):
        leftover(labels, {ID_LABEL}, child("/request", "labels"), ctx, "an OpenAI chat request")
    request = {k: v for k, v in request.items() if k != "labels"}
    return Request(id_of(obj), gemini.to_chat(request, "/request", ctx), CHAT, "/request")


def to_line(request: Request, ctx: Context) -> dict | None:
    converted = gemini.from_chat(request, ctx)
    if converted is None:
        return None
    if request.id is not None:
        converted["labels"] = {ID_LABEL: request.id}
    return {"request": converted}
