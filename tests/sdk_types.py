"""The providers' own SDK types, made strict: a converted line is accepted when the SDK's type takes it and
gives back exactly what was sent (nothing dropped as an unknown field, nothing coerced). Pydantic models
that forbid extra fields (google-genai) are strict already; TypedDicts (anthropic, openai, together,
fireworks) and models that ignore extra fields (mistralai) are checked by that round trip.

Where a provider has no SDK type for a body (Bedrock's InvokeModel bodies), the type is written here from
AWS's documented parameter shapes, each with its page."""

import base64
import collections.abc
import functools
import json
import re
import types
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Literal, NotRequired, Required, Union

from anthropic._types import SequenceNotStr
from pydantic import ConfigDict, TypeAdapter
from typing_extensions import TypedDict, is_typeddict


def differences(sent, returned, at: str = "") -> list[str]:
    """JSON Pointers where `returned` differs from `sent` (a field dropped, added or changed)."""
    if isinstance(sent, dict) and isinstance(returned, dict):
        out = []
        for key in sent.keys() | returned.keys():
            where = f"{at}/{key}"
            if key not in returned:
                out.append(f"{where} (dropped)")
            elif key not in sent:
                out.append(f"{where} (added)")
            else:
                out.extend(differences(sent[key], returned[key], where))
        return out
    if isinstance(sent, list) and isinstance(returned, list) and len(sent) == len(returned):
        return [
            d
            for i, (a, b) in enumerate(zip(sent, returned, strict=True))
            for d in differences(a, b, f"{at}/{i}")
        ]
    same = sent == returned and type(sent) is type(returned) or (
        isinstance(sent, (int, float)) and isinstance(returned, (int, float)) and sent == returned
        and not isinstance(sent, bool) and not isinstance(returned, bool)
    )  # fmt: skip
    return [] if same else [f"{at or '/'} ({sent!r} became {returned!r})"]


def round_trip(kind, value) -> list[str]:
    """Problems of `value` under the TypedDict or model `kind`: validation errors, or what the round trip
    changed."""
    adapter = _adapter(kind)
    try:
        validated = adapter.validate_python(value)
        returned = adapter.dump_python(validated, mode="json", exclude_unset=True, by_alias=True)
    except Exception as e:  # noqa: BLE001 (any refusal of the SDK type is the answer)
        return [f"{type(e).__name__}: {str(e)[:600]}"]
    return differences(value, returned)


@functools.cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(listed(kind))


_LISTED: dict = {}


def listed(kind):
    """`kind` with every `Iterable[X]` read as `list[X]`: pydantic validates an Iterable lazily, once, so a
    union that tries it first would hand the next member an exhausted iterator."""
    if kind in _LISTED:
        return _LISTED[kind]
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if is_typeddict(kind):
        _LISTED[kind] = kind  # a recursive type refers to itself as it is
        hints = typing.get_type_hints(kind, include_extras=True)
        rebuilt = TypedDict(kind.__name__, {k: listed(v) for k, v in hints.items()}, total=kind.__total__)
        # extra fields refused (a union then takes the member that holds them); file uploads: IO[bytes]
        rebuilt.__pydantic_config__ = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        _LISTED[kind] = rebuilt
        return rebuilt
    if origin in (collections.abc.Iterable, collections.abc.Sequence) or kind is SequenceNotStr:
        return list[listed(args[0])] if args else list
    if origin is SequenceNotStr:
        return list[listed(args[0])]
    if origin in (Union, types.UnionType):
        return Union[tuple(listed(a) for a in args)]  # noqa: UP007
    if origin in (Required, NotRequired, list):
        return origin[listed(args[0])]
    if origin is typing.Annotated:
        return typing.Annotated[(listed(args[0]), *kind.__metadata__)]
    return kind


# ---- OpenAI (openai-python)


def openai_chat(line: dict) -> list[str]:
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    return _openai_line(line) + round_trip(CompletionCreateParamsNonStreaming, line["body"])


def openai_responses(line: dict) -> list[str]:
    from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

    return _openai_line(line) + round_trip(ResponseCreateParamsNonStreaming, line["body"])


def _openai_line(line: dict) -> list[str]:
    extra = line.keys() - {"custom_id", "method", "url", "body"}
    return [f"unknown line field {k}" for k in extra] + (
        [] if isinstance(line.get("custom_id"), str) else ["custom_id"]
    )


# ---- Anthropic (anthropic-sdk-python 2.x)


def anthropic(line: dict, sampling: bool) -> list[str]:
    """`sampling`: the model takes temperature/top_p/top_k, which SDK 2.x's MessageCreateParams no longer
    lists; Anthropic's model-deprecations page ("API parameter deprecations") keeps them for models up to
    Claude Opus 4.6, as the SDK before 1.0 typed them."""
    from anthropic.types.messages.batch_create_params import Request

    return round_trip(_legacy_request() if sampling else Request, line)


@functools.cache
def _legacy_request():
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    class LegacyParams(MessageCreateParamsNonStreaming, total=False):
        temperature: float
        top_p: float
        top_k: int

    class LegacyRequest(TypedDict):
        custom_id: Required[str]
        params: Required[LegacyParams]

    return LegacyRequest


# ---- Bedrock (AWS's documented InvokeModel bodies; the nested blocks are Anthropic's SDK types)
# docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html:
# the fields of the body, an image `source` of type base64 only, tool_choice {type, name}; "API restrictions"
# (inference-api-restrictions.html): no documents in InvokeModel bodies.


@functools.cache
def _bedrock_anthropic_record():
    from anthropic.types import TextBlockParam, ToolResultBlockParam, ToolUseBlockParam

    class ImageSource(TypedDict):
        type: Required[Literal["base64"]]
        media_type: Required[Literal["image/jpeg", "image/png", "image/gif", "image/webp"]]
        data: Required[str]

    class ImageBlock(TypedDict):
        type: Required[Literal["image"]]
        source: Required[ImageSource]

    class Message(TypedDict):
        role: Required[Literal["user", "assistant"]]
        content: Required[str | list[TextBlockParam | ImageBlock | ToolUseBlockParam | ToolResultBlockParam]]

    class Tool(TypedDict, total=False):
        type: Literal["custom"]
        name: Required[str]
        description: str
        input_schema: Required[dict]

    class ToolChoice(TypedDict, total=False):
        type: Required[Literal["auto", "any", "tool", "none"]]
        name: str

    class Body(TypedDict, total=False):
        anthropic_version: Required[Literal["bedrock-2023-05-31"]]
        anthropic_beta: list[str]
        max_tokens: Required[int]
        system: str | list[TextBlockParam]
        messages: Required[list[Message]]
        temperature: float
        top_p: float
        top_k: int
        tools: list[Tool]
        tool_choice: ToolChoice
        stop_sequences: list[str]

    class Record(TypedDict):
        recordId: Required[str]
        modelInput: Required[Body]

    return Record


def bedrock_anthropic(line: dict) -> list[str]:
    return round_trip(_bedrock_anthropic_record(), line)


# docs.aws.amazon.com/nova/latest/userguide/complete-request-schema.html (Invoke API: base64 strings)


@functools.cache
def _nova_record():
    class Text(TypedDict):
        text: Required[str]

    class ImageSource(TypedDict):
        bytes: Required[str]

    class Image(TypedDict):
        format: Required[Literal["jpeg", "png", "gif", "webp"]]
        source: Required[ImageSource]

    class ImagePart(TypedDict):
        image: Required[Image]

    class ToolUse(TypedDict):
        toolUseId: Required[str]
        name: Required[str]
        input: Required[dict]

    class ToolUsePart(TypedDict):
        toolUse: Required[ToolUse]

    class ToolResultText(TypedDict):
        text: Required[str]

    class ToolResult(TypedDict, total=False):
        toolUseId: Required[str]
        content: Required[list[ToolResultText]]
        status: Literal["success", "error"]

    class ToolResultPart(TypedDict):
        toolResult: Required[ToolResult]

    class Message(TypedDict):
        role: Required[Literal["user", "assistant"]]
        content: Required[list[Text | ImagePart | ToolUsePart | ToolResultPart]]

    class Inference(TypedDict, total=False):
        maxTokens: int
        temperature: float
        topP: float
        topK: int
        stopSequences: list[str]

    class InputSchema(TypedDict):
        json: Required[dict]

    class ToolSpec(TypedDict, total=False):
        name: Required[str]
        description: str
        inputSchema: Required[InputSchema]

    class Tool(TypedDict):
        toolSpec: Required[ToolSpec]

    class AutoChoice(TypedDict):
        auto: Required[dict]

    class AnyChoice(TypedDict):
        any: Required[dict]

    class NamedTool(TypedDict):
        name: Required[str]

    class NamedChoice(TypedDict):
        tool: Required[NamedTool]

    class ToolConfig(TypedDict, total=False):
        tools: Required[list[Tool]]
        toolChoice: AutoChoice | AnyChoice | NamedChoice

    class Body(TypedDict, total=False):
        schemaVersion: Literal["messages-v1"]
        system: list[Text]
        messages: Required[list[Message]]
        inferenceConfig: Inference
        toolConfig: ToolConfig

    class Record(TypedDict):
        recordId: Required[str]
        modelInput: Required[Body]

    return Record


def bedrock_nova(line: dict) -> list[str]:
    return round_trip(_nova_record(), line)


# docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html


def bedrock_titan_embeddings(line: dict) -> list[str]:
    class Body(TypedDict, total=False):
        inputText: Required[str]
        dimensions: Literal[256, 512, 1024]
        normalize: bool
        embeddingTypes: list[Literal["float", "binary"]]

    class Record(TypedDict):
        recordId: Required[str]
        modelInput: Required[Body]

    return round_trip(Record, line)


# ---- Gemini and Vertex (google-genai: pydantic types that forbid extra fields, and its own converters)

REQUEST_FIELDS = {
    "contents",
    "systemInstruction",
    "generationConfig",
    "tools",
    "toolConfig",
    "safetySettings",
}


def gemini(line: dict) -> list[str]:
    extra = line.keys() - {"key", "request"}
    return [f"unknown line field {k}" for k in extra] + _generate_content(line["request"], vertex=False)


def vertex(line: dict) -> list[str]:
    extra = line.keys() - {"request"}
    return [f"unknown line field {k}" for k in extra] + _generate_content(line["request"], vertex=True)


def _generate_content(request: dict, vertex: bool) -> list[str]:
    """The request as the SDK's types take it, and as the SDK's own converter writes it back for the REST API
    (Gemini API or Vertex): the same request, field for field."""
    from google.genai import _common, models, types

    allowed = REQUEST_FIELDS | ({"labels"} if vertex else set())
    problems = [f"unknown request field {k}" for k in request.keys() - allowed]
    try:
        config = types.GenerateContentConfig.model_validate(
            {
                **request.get("generationConfig", {}),
                **{k: v for k, v in request.items() if k not in ("contents", "generationConfig")},
            }
        )
        contents = [types.Content.model_validate(c) for c in request.get("contents", [])]
        client = _client(vertex)
        if vertex:
            written = models._GenerateContentParameters_to_vertex(
                client._api_client, {"contents": contents, "config": config}
            )
        else:
            written = models._GenerateContentParameters_to_mldev(
                client._api_client, {"contents": contents, "config": config}
            )
        written = _common.encode_unserializable_types(_common.convert_to_dict(written))
    except Exception as e:  # noqa: BLE001
        return [*problems, f"{type(e).__name__}: {str(e)[:600]}"]
    if "generationConfig" not in request and not written.get("generationConfig"):
        written.pop("generationConfig", None)  # the converter writes an empty config where there is none
    return problems + differences(_canonical(request), _canonical(written))


@functools.cache
def _client(vertex: bool):
    from google import genai

    if vertex:
        return genai.Client(vertexai=True, project="p", location="us-central1")
    return genai.Client(api_key="unused")


def _canonical(value, key: str = ""):
    """Field names in one spelling (snake_case), enum members by value, schema types upper-case, bytes as
    base64: the spellings the API takes alike."""
    if isinstance(value, dict):
        return {_snake(k): _canonical(v, _snake(k)) for k, v in value.items() if k != "_url"}
    if isinstance(value, list):
        return [_canonical(v, key) for v in value]
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode()
    if key == "type" and isinstance(value, str):
        return value.upper()
    if key == "data" and isinstance(value, str):
        # proto bytes in JSON: "either standard or URL-safe base64 encoding with/without paddings are accepted"
        return base64.b64encode(base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_"))).decode()
    return value


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


# ---- Mistral (mistralai), Together (together), Fireworks (fireworks-ai)
# The model is the job's on Mistral and Fireworks: a body without one is checked with the job's model.

JOB_MODEL = "job-model"


def mistral(line: dict) -> list[str]:
    from mistralai.client.models import BatchRequest, ChatCompletionRequest, EmbeddingRequest

    body = line["body"]
    kind = ChatCompletionRequest if "messages" in body else EmbeddingRequest
    filled = body if "model" in body else {"model": JOB_MODEL, **body}
    problems = round_trip(BatchRequest, line)
    try:
        returned = kind.model_validate(filled).model_dump(mode="json", by_alias=True, exclude_unset=True)
    except Exception as e:  # noqa: BLE001
        return [*problems, f"{type(e).__name__}: {str(e)[:600]}"]
    return problems + differences(filled, returned)


def together(line: dict) -> list[str]:
    """together's CompletionCreateParams, with one documented exception: the SDK types `tool_choice` and an
    assistant's `tool_calls` with its tool-call type ToolChoiceParam (id, function, index, type), which a
    request does not carry; Together's function-calling guide ("Select a specific tool", "tool_choice
    options") sends them as OpenAI writes them. The check adds what the SDK's type asks (`index`; a named
    choice's `id` and `arguments`) before the round trip."""
    from together.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    extra = line.keys() - {"custom_id", "body"}
    body = _with_call_indexes(line["body"])
    return [f"unknown line field {k}" for k in extra] + round_trip(CompletionCreateParamsNonStreaming, body)


def _with_call_indexes(body: dict) -> dict:
    body = json.loads(json.dumps(body))
    for message in body.get("messages", []):
        for i, call in enumerate(message.get("tool_calls") or []):
            call.setdefault("index", i)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        choice.setdefault("id", "")
        choice.setdefault("index", 0)
        choice["function"].setdefault("arguments", "")
    return body


def fireworks(line: dict) -> list[str]:
    from fireworks.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    extra = line.keys() - {"custom_id", "body"}
    body = line["body"] if "model" in line["body"] else {"model": JOB_MODEL, **line["body"]}
    return [f"unknown line field {k}" for k in extra] + round_trip(CompletionCreateParamsNonStreaming, body)


def names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))
