"""Which body a Bedrock record's `modelInput` is. It is the model's own InvokeModel body (or a Converse
request, which Bedrock batch takes for any model), and the model is the job's, not the line's: so the body
is read by the model family when the model is known (`--model`), else by the body's shape, and the one
applied is named with how it was chosen.

The families are those AWS lists for batch inference ("Supported Regions and models for batch inference"),
each with its parameter page; their bodies are definitions in schemas/bedrock-request.schema.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMA = "bedrock-request"
RECORD = f"{SCHEMA}#/$defs/Record"  # the envelope alone, for a body of no known shape


@dataclass(frozen=True)
class Body:
    """A body: its definition in the schema (`<name>` the body, `<name>Line` a whole record), its name in
    messages and the model ids it belongs to (a pattern searched in the job's model id; None: a shape any
    model takes)."""

    name: str
    title: str
    models: str | None
    source: str

    @property
    def line_schema(self) -> str:
        return f"{SCHEMA}#/$defs/{self.name}Line"


ANTHROPIC = Body(
    "AnthropicMessages", "Anthropic Claude Messages", r"anthropic\.claude",
    "model-parameters-anthropic-claude-messages-request-response",
)  # fmt: skip
CONVERSE = Body("Converse", "Converse", None, "batch-inference-data (Converse format)")
NOVA = Body(
    "Nova", "Amazon Nova", r"amazon\.nova-(?!.*embed)", "nova/latest/userguide/complete-request-schema"
)
TITAN_TEXT = Body("TitanText", "Amazon Titan Text", r"amazon\.titan-text", "model-parameters-titan-text")
TITAN_EMBEDDINGS = Body(
    "TitanEmbeddings", "Amazon Titan Text Embeddings", r"amazon\.titan-embed-text", "model-parameters-titan-embed-text"
)  # fmt: skip
TITAN_MULTIMODAL = Body(
    "TitanMultimodalEmbeddings", "Amazon Titan Multimodal Embeddings", r"amazon\.titan-embed-image",
    "model-parameters-titan-embed-mm",
)  # fmt: skip
LLAMA = Body("Llama", "Meta Llama", r"meta\.llama", "model-parameters-meta")
MISTRAL_TEXT = Body(
    "MistralText", "Mistral AI text completion", r"mistral\.", "model-parameters-mistral-text-completion"
)
MISTRAL_CHAT = Body(
    "MistralChat", "Mistral AI chat completion", r"mistral\.", "model-parameters-mistral-chat-completion"
)
BODIES = (
    ANTHROPIC,
    NOVA,
    TITAN_MULTIMODAL,
    TITAN_EMBEDDINGS,
    TITAN_TEXT,
    LLAMA,
    MISTRAL_CHAT,
    MISTRAL_TEXT,
    CONVERSE,
)

BY_MODEL = "by the job's model"
BY_SHAPE = "by the body's shape"


def body_of(body: dict, model: str | None) -> tuple[Body | None, str]:
    """(the body `body` is read as, how it was chosen); (None, why) when it is none AWS lists."""
    if _converse_shaped(body) and not (model and re.search(NOVA.models, model)):
        return CONVERSE, BY_SHAPE  # a Converse request is taken for any model
    family = _by_model(body, model) if model else None
    if family is not None:
        return family, f"{BY_MODEL} {model}"
    shaped = _by_shape(body)
    if shaped is None:
        return None, "the body has none of the shapes AWS lists for batch inference; name the model (--model)"
    return shaped, BY_SHAPE if not model else f"{BY_SHAPE} (the model {model} names no family batchkit knows)"


def _by_model(body: dict, model: str) -> Body | None:
    found = [b for b in BODIES if b.models and re.search(b.models, model)]
    if MISTRAL_CHAT in found:  # one family, two bodies: chat messages or a prompt
        return MISTRAL_CHAT if "messages" in body else MISTRAL_TEXT
    return found[0] if found else None


def _by_shape(body: dict) -> Body | None:
    if "anthropic_version" in body:
        return ANTHROPIC
    if "schemaVersion" in body:
        return NOVA
    if "inputImage" in body or "embeddingConfig" in body:
        return TITAN_MULTIMODAL
    if "inputText" in body:
        return TITAN_TEXT if "textGenerationConfig" in body else TITAN_EMBEDDINGS
    if "prompt" in body:
        mistral = any(k in body for k in ("max_tokens", "stop", "top_k"))
        return MISTRAL_TEXT if mistral else LLAMA
    if "messages" in body:
        return MISTRAL_CHAT
    return None


def _converse_shaped(body: dict) -> bool:
    """A Converse request: its own top-level fields, or messages whose content is a list of blocks without
    a `type` (Converse writes `{"text": …}`, Anthropic `{"type": "text", …}`)."""
    if any(k in body for k in ("inferenceConfig", "toolConfig", "additionalModelRequestFields")):
        return "schemaVersion" not in body
    messages = body.get("messages")
    if "anthropic_version" in body or not isinstance(messages, list):
        return False
    blocks = [
        b
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for b in m["content"]
    ]
    return bool(blocks) and all(isinstance(b, dict) and "type" not in b for b in blocks)
