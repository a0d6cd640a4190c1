"""The AWS Bedrock batch inference line `{recordId, modelInput}`. `modelInput` is the model's own InvokeModel
body (or a Converse request), the model set on the job: which body it is follows the model family, or its
shape when the model is not given (`bedrock_bodies`).

Read: Anthropic Messages, Converse and Nova bodies as chat requests, Titan Text Embeddings as an embeddings
request, Titan Text and Mistral chat bodies as chat requests; a raw prompt (Llama, Mistral text) is in the
model's own template and is not converted. Written: the Anthropic Messages body (the default), a Nova body
for an `amazon.nova` model, a Titan Text Embeddings body for embeddings."""

from __future__ import annotations

import hashlib
import re

import orjson

from ..findings import Finding
from . import anthropic, bedrock_bodies, claude, converse, results
from .base import Dialect, Request
from .bedrock_bodies import ANTHROPIC, CONVERSE, MISTRAL_CHAT, NOVA, TITAN_EMBEDDINGS, TITAN_TEXT
from .chat import CHAT, EMBEDDINGS, Chat, Context, child, inner, leftover
from .fields import known_fields, unknown_fields

ANTHROPIC_VERSION = "bedrock-2023-05-31"
INVOKE = "InvokeModel"  # each record is the body of an InvokeModel call to the job's model
READ = (ANTHROPIC, CONVERSE, NOVA, TITAN_EMBEDDINGS, TITAN_TEXT, MISTRAL_CHAT)
CONVERSE_CONFIG = known_fields(
    bedrock_bodies.SCHEMA, "$defs", "Converse", "properties", "inferenceConfig"
)  # what Bedrock takes there: the rest is a field of the model's own, in additionalModelRequestFields


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

    def line_schema(self, obj: dict, job_model: str | None) -> tuple[str, str | None]:
        body = obj.get(self.body_field)
        kind, how = bedrock_bodies.body_of(body if isinstance(body, dict) else {}, job_model)
        if kind is None:
            return bedrock_bodies.RECORD, None  # the envelope; body_findings says why the body is none
        return kind.line_schema, f"{kind.title}, {how}"

    def body_findings(self, request: Request, job_model: str | None) -> list:
        kind, how = bedrock_bodies.body_of(request.body, job_model)
        if kind is None and request.body:
            names = ", ".join(b.title for b in bedrock_bodies.BODIES)
            message = f"`modelInput` is none of the bodies batchkit knows ({names}): {how}"
            return [Finding("invalid-value", message, request.line, "/modelInput")]
        if kind is CONVERSE:
            config = request.body.get("inferenceConfig")
            what = "a Converse inferenceConfig (botocore's InferenceConfiguration)"
            return unknown_fields(config, CONVERSE_CONFIG, "/modelInput/inferenceConfig", request.line, what)
        if kind is not ANTHROPIC:
            return []
        return claude.body_findings(request.body, job_model, "/modelInput", request.line)

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        body = inner(obj, self.body_field, "a request body", ctx)
        if body is None:
            return None
        kind, _how = bedrock_bodies.body_of(body, ctx.model)
        if kind not in READ:
            read = ", ".join(b.title for b in READ)
            why = (
                "a raw prompt in the model's own template" if kind is not None else "a body of no known shape"
            )
            ctx.unsupported(
                "/modelInput",
                f"this is {why} ({kind.title if kind else 'none'}); batchkit converts {read} bodies",
            )
            return None
        if kind is TITAN_EMBEDDINGS:
            return Chat(obj.get("recordId"), _embeddings_in(body, ctx), EMBEDDINGS, "/modelInput")
        return Chat(obj.get("recordId"), _chat_in(kind, body, ctx), CHAT, "/modelInput")

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        body = _body_out(chat, ctx)
        return None if body is None else {"recordId": chat.id, "modelInput": body}

    def holds_result(self, obj: dict) -> bool:
        return "recordId" in obj or ("modelInput" in obj and ("modelOutput" in obj or "error" in obj))

    def echo_key(self, body) -> str | None:
        """A record without a recordId (Bedrock takes one) is found by the modelInput its result echoes."""
        if not isinstance(body, dict):
            return None
        digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()
        return f"modelInput-{digest}"

    def result(self, obj: dict) -> dict:
        record_id = obj.get("recordId")
        return results.from_bedrock(
            obj, record_id if record_id is not None else self.echo_key(obj.get("modelInput"))
        )


def _chat_in(kind, body: dict, ctx: Context) -> dict:
    if kind is ANTHROPIC:
        return anthropic.chat_from_params(body, "/modelInput", ctx)
    if kind in (CONVERSE, NOVA):
        return converse.chat_from_converse(body, "/modelInput", ctx)
    if kind is TITAN_TEXT:
        return _titan_text_in(body, ctx)
    return dict(body, **({"model": ctx.model} if ctx.model else {}))  # Mistral's chat body is OpenAI's


def _titan_text_in(body: dict, ctx: Context) -> dict:
    config = body.get("textGenerationConfig") if isinstance(body.get("textGenerationConfig"), dict) else {}
    chat: dict = {"model": ctx.model} if ctx.model else {}
    chat["messages"] = [{"role": "user", "content": body.get("inputText")}]
    for name, key in (("maxTokenCount", "max_completion_tokens"), ("temperature", "temperature"),
                      ("topP", "top_p"), ("stopSequences", "stop")):  # fmt: skip
        if name in config:
            chat[key] = config[name]
    return chat


def _embeddings_in(body: dict, ctx: Context) -> dict:
    leftover(body, {"inputText", "dimensions"}, "/modelInput", ctx, "an OpenAI embeddings request")
    request: dict = {"model": ctx.model} if ctx.model else {}
    request["input"] = body.get("inputText")
    if "dimensions" in body:
        request["dimensions"] = body["dimensions"]
    return request


def _body_out(chat: Chat, ctx: Context) -> dict | None:
    """The body the job's model takes: Titan embeddings for an embeddings request, Nova for a Nova model,
    else the Anthropic Messages body."""
    model = ctx.model or ""
    if chat.kind == EMBEDDINGS:
        return _titan_embeddings_out(chat, ctx)
    if re.search(NOVA.models, model):
        return converse.nova_from_chat(chat.body, chat.at, ctx)
    if model and not re.search(ANTHROPIC.models, model):
        message = (
            f"batchkit writes no chat body for {model}: it writes {ANTHROPIC.title} bodies for anthropic.claude-… "
            f"models and {NOVA.title} bodies for amazon.nova-… ones, named by their Bedrock model ids (such as "
            "anthropic.claude-3-5-haiku-20241022-v1:0)"
        )
        ctx.error("unsupported-field", chat.at, message)  # no body at all: nothing to drop instead
        return None
    params = anthropic.params_from_chat(chat, ctx, anthropic.BEDROCK_BODY)
    return None if params is None else {"anthropic_version": ANTHROPIC_VERSION, **params}


def _titan_embeddings_out(chat: Chat, ctx: Context) -> dict | None:
    body, at = chat.body, chat.at
    if ctx.model and not re.search(TITAN_EMBEDDINGS.models, ctx.model):
        ctx.error(
            "unsupported-field",
            at,
            f"batchkit writes Titan Text Embeddings bodies for embeddings, not one for {ctx.model}",
        )
        return None
    leftover(body, {"model", "input", "dimensions"}, at, ctx, TITAN_EMBEDDINGS.title)
    if not isinstance(body.get("input"), str):
        ctx.unsupported(
            child(at, "input"), f"{TITAN_EMBEDDINGS.title} embeds one text per record", "unsupported-value"
        )
        return None
    out = {"inputText": body["input"]}
    if "dimensions" in body:
        out["dimensions"] = body["dimensions"]
    return out
