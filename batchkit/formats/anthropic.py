"""The Anthropic Message Batches line `{custom_id, params}`, `params` a Messages request, and the
conversion of a Messages request to and from an OpenAI chat body (also used by Bedrock's Anthropic
bodies). System messages become `system`; tool calls and results become tool_use / tool_result blocks."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from . import claude, results
from .base import Dialect, Request
from .chat import (
    CHAT,
    FUNCTION_FIELDS,
    SYSTEM_ROLES,
    TOOL_ERROR,
    Chat,
    Context,
    as_list,
    chat_messages,
    child,
    data_url,
    file_data_of,
    file_part,
    function_tools,
    image_of,
    inner,
    leftover,
    max_tokens_of,
    text_of,
    tool_arguments,
)
from .fields import known_fields, unknown_fields

MESSAGES_URL = "/v1/messages"
TARGET = "Anthropic"

CHAT_FIELDS = frozenset(
    "model messages max_tokens max_completion_tokens stop temperature top_p top_k tools tool_choice "
    "parallel_tool_calls user n stream response_format".split()
)
PARAM_FIELDS = frozenset(
    "model max_tokens system messages temperature top_p top_k stop_sequences tools tool_choice metadata "
    "stream output_config".split()
)
# what a Messages request may hold: the line schema's (the anthropic SDK's MessageCreateParams, with the
# sampling fields older models take and Bedrock's anthropic_version)
PARAMS_KNOWN = known_fields("anthropic-request", "$defs", "MessagesBody")
SCHEMA_NAME = "response"  # a json_schema response format's name has no place in output_config
CHOICES_OUT = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
CHOICES_IN = {"auto": "auto", "any": "required", "none": "none"}


class Anthropic(Dialect):
    name = "anthropic"
    schema = "anthropic-request"
    id_path = ("custom_id",)
    body_field = "params"
    id_pattern = None
    home = "anthropic"
    result_members = frozenset(("result",))

    def looks_like(self, obj: dict) -> bool:
        return "params" in obj

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        return MESSAGES_URL

    def body_findings(self, request: Request, job_model: str | None) -> list:
        line = request.line
        unknown = unknown_fields(request.body, PARAMS_KNOWN, "/params", line, "a Messages request")
        return unknown + claude.body_findings(request.body, request.model, "/params", line)

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        params = inner(obj, self.body_field, "a Messages request", ctx)
        if params is None:
            return None
        return Chat(obj.get("custom_id"), chat_from_params(params, "/params", ctx), CHAT, "/params")

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        params = params_from_chat(chat, ctx, ANTHROPIC_API)
        return None if params is None else {"custom_id": chat.id, "params": params}

    def holds_result(self, obj: dict) -> bool:
        return "result" in obj and "custom_id" in obj

    def result(self, obj: dict) -> dict:
        return results.from_anthropic(obj)


# ---- OpenAI chat → Messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a Messages body goes, and what differs there: the model on the body (Anthropic) or on the job
    (Bedrock); the image sources, document blocks, `metadata`, `disable_parallel_tool_use`,
    `output_config` and a tool's `strict` it takes."""

    name: str
    with_model: bool
    image_sources: frozenset[str]
    documents: bool
    metadata: bool
    parallel_choice: bool
    output_format: bool
    tool_strict: bool
    why: str  # where what it lacks is documented, for messages


# Anthropic's Messages API (the anthropic SDK's MessageCreateParams, ToolParam.strict, ToolChoice*Param)
ANTHROPIC_API = Target(TARGET, True, frozenset({"base64", "url"}), True, True, True, True, True, "")
# Bedrock's InvokeModel body for Claude: the fields, a base64 image source and tool_choice {type, name} on
# AWS's "Anthropic Claude Messages API request" page; no documents in InvokeModel bodies ("API
# restrictions"); no metadata, output_config or strict there
BEDROCK_BODY = Target(
    "Bedrock (Anthropic)", False, frozenset({"base64"}), False, False, False, False, False,
    " (AWS's Anthropic Claude Messages request page)",
)  # fmt: skip
# Anthropic's vision guide: the image types Claude reads
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# the anthropic SDK's Base64PDFSourceParam: a base64 document source is a PDF
DOCUMENT_TYPES = ("application/pdf",)


def params_from_chat(request: Chat, ctx: Context, target: Target = ANTHROPIC_API) -> dict | None:
    """The Messages request for a chat body (None when it is not a chat request)."""
    body, at = request.body, request.at
    if request.kind != CHAT:
        ctx.error("unsupported-field", at, f"{target.name} takes chat requests only, not {request.kind}")
        return None
    leftover(body, CHAT_FIELDS, at, ctx, target.name)
    params: dict = {}
    model = ctx.model or body.get("model")
    if target.with_model:
        if model:
            params["model"] = model
        else:
            ctx.error("missing-field", child(at, "model"), f"{target.name} needs a model: pass --model")
    tokens = max_tokens_of(body) or ctx.max_tokens
    if tokens is None:
        message = f"{target.name} requires max_tokens: set max_completion_tokens in the request or pass --max-tokens"
        ctx.error("missing-max-tokens", child(at, "max_completion_tokens"), message)
    else:
        params["max_tokens"] = tokens
    system, messages = _messages_out(body.get("messages") or [], child(at, "messages"), ctx, target)
    if system is not None:
        params["system"] = system
    params["messages"] = messages
    _sampling_out(body, params, at, ctx, target, model if target.with_model else ctx.model)
    _tools_out(body, params, at, ctx, target)
    return params


def _sampling_out(body: dict, params: dict, at: str, ctx: Context, target: Target, model) -> None:
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and temperature > 1:
        message = f"{target.name} takes a temperature from 0 to 1, not {temperature}"
        ctx.unsupported(child(at, "temperature"), message, "unsupported-value")
    elif "temperature" in body:
        params["temperature"] = temperature
    for key in ("top_p", "top_k"):
        if key in body:
            params[key] = body[key]
    for key in claude.refused_sampling(params, model):
        del params[key]
        ctx.leave_out(child(at, key), f"{model} refuses `{key}` ({claude.family_of(model).name})")
    if body.get("stop") is not None:
        _stop_out(body["stop"], params, child(at, "stop"), ctx, target)
    if body.get("n") not in (None, 1):
        message = f"{target.name} gives one answer per request, not n={body['n']}"
        ctx.unsupported(child(at, "n"), message, "unsupported-value")
    if body.get("stream") is True:
        ctx.unsupported(child(at, "stream"), "a batch request cannot stream", "unsupported-value")
    if "user" in body and target.metadata:
        params["metadata"] = {"user_id": body["user"]}
    elif "user" in body:
        ctx.unsupported(child(at, "user"), f"{target.name} has no metadata.user_id{target.why}")
    _format_out(body.get("response_format"), params, child(at, "response_format"), ctx, target)


def _stop_out(stop, params: dict, at: str, ctx: Context, target: Target) -> None:
    """stop as stop_sequences, but for blank ones, which the Messages API refuses."""
    stops = as_list(stop)
    blank = claude.blank_stop_sequences(stops)
    for i in blank:
        where = child(at, i) if isinstance(stop, list) else at
        message = f"{target.name} takes stop sequences with non-whitespace only, not {stops[i]!r}"
        ctx.unsupported(where, message, "unsupported-value")
    kept = [s for i, s in enumerate(stops) if i not in blank]
    if kept:
        params["stop_sequences"] = kept


def _format_out(response_format, params: dict, at: str, ctx: Context, target: Target) -> None:
    """A json_schema response format as `output_config.format` (Anthropic's own API only)."""
    if response_format is None or response_format == {"type": "text"}:
        return
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    if not target.output_format or not isinstance(spec, dict):
        ctx.unsupported(at, f"{target.name} has no response_format {kind!r}")
        return
    leftover(spec, {"name", "schema", "strict", "description"}, child(at, "json_schema"), ctx, target.name)
    params["output_config"] = {"format": {"type": "json_schema", "schema": spec.get("schema", {})}}


def _tools_out(body: dict, params: dict, at: str, ctx: Context, target: Target) -> None:
    if body.get("tools") is not None:
        fields = FUNCTION_FIELDS | ({"strict"} if target.tool_strict else set())
        tools = []
        for _path, function in function_tools(body, at, ctx, target.name, fields):
            converted = {"name": function.get("name")}
            if "description" in function:
                converted["description"] = function["description"]
            converted["input_schema"] = function.get("parameters", {"type": "object", "properties": {}})
            if "strict" in function and target.tool_strict:
                converted["strict"] = function["strict"]  # ToolParam.strict
            tools.append(converted)
        params["tools"] = tools
    choice = body.get("tool_choice")
    converted = None
    if isinstance(choice, str):
        converted = CHOICES_OUT.get(choice)
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        converted = {"type": "tool", "name": choice["function"].get("name")}
    if choice is not None and converted is None:
        ctx.unsupported(child(at, "tool_choice"), f"{target.name} has no tool_choice {choice!r}")
    if body.get("parallel_tool_calls") is False and target.parallel_choice:
        converted = dict(converted or {"type": "auto"}, disable_parallel_tool_use=True)
    elif body.get("parallel_tool_calls") is False:
        message = f"{target.name} has no tool_choice.disable_parallel_tool_use{target.why}"
        ctx.unsupported(child(at, "parallel_tool_calls"), message)
    if converted is not None:
        params["tool_choice"] = converted


def _messages_out(messages: list, at: str, ctx: Context, target: Target):
    system: list = []
    out: list = []
    for role, message, path in chat_messages(messages, at, ctx, target.name):
        content, content_at = message.get("content"), child(path, "content")
        if role in SYSTEM_ROLES:
            system.append((content, content_at))
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
            block["content"] = _blocks_out(content, content_at, ctx, target)
            if message.get(TOOL_ERROR) is True:
                block["is_error"] = True
            if out and out[-1]["role"] == "user" and _tool_results_only(out[-1]["content"]):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "user":
            out.append({"role": "user", "content": _blocks_out(content, content_at, ctx, target)})
        else:
            out.append({"role": "assistant", "content": _assistant_out(message, path, ctx, target)})
    _prefill_out(out, messages, at, ctx, target)
    return _system_out(system, ctx, target), out


def _prefill_out(out: list, messages: list, at: str, ctx: Context, target: Target) -> None:
    """A final assistant turn (a prefill) may not end with whitespace: refused, or trimmed when asked."""
    if not claude.ends_with_whitespace(out):
        return
    path = child(at, len(messages) - 1, "content")
    message = f"{target.name} refuses a final assistant message ending with whitespace (trimmed under --drop-unsupported)"
    ctx.unsupported(path, message, "unsupported-value")
    if ctx.drop_unsupported:
        last = out[-1]
        if isinstance(last["content"], str):
            last["content"] = last["content"].rstrip()
        else:
            last["content"][-1]["text"] = last["content"][-1]["text"].rstrip()


def _tool_results_only(content) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _system_out(parts: list, ctx: Context, target: Target):
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0][0], str):
        return parts[0][0]
    blocks = []
    for content, at in parts:
        converted = _blocks_out(content, at, ctx, target)
        blocks.extend([{"type": "text", "text": converted}] if isinstance(converted, str) else converted)
    return blocks


def _blocks_out(content, at: str, ctx: Context, target: Target):
    if content is None or isinstance(content, str):
        return content or ""
    blocks = []
    for i, part in enumerate(as_list(content)):
        path = child(at, i)
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            leftover(part, {"type", "text"}, path, ctx, target.name)
            blocks.append({"type": "text", "text": part.get("text")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            leftover(part, {"type", "image_url"}, path, ctx, target.name)
            source = _image_source(part["image_url"], child(path, "image_url"), ctx, target)
            blocks.extend([{"type": "image", "source": source}] if source is not None else [])
        elif kind == "file" and not target.documents:
            ctx.unsupported(
                path, f'{target.name} takes no documents in an InvokeModel body (AWS\'s "API restrictions")'
            )
        elif kind == "file":
            inline = file_data_of(part, path, ctx, target.name)
            if inline is not None and inline[0] not in DOCUMENT_TYPES:
                message = f"{target.name} takes base64 documents as {', '.join(DOCUMENT_TYPES)} only, not {inline[0]}"
                ctx.unsupported(child(path, "file"), message, "unsupported-value")
            elif inline is not None:
                blocks.append(_document(inline, part["file"].get("filename")))
        else:
            ctx.unsupported(path, f"{target.name} has no {kind!r} content part")
    return blocks


def _document(inline: tuple[str, str], filename) -> dict:
    block = {"type": "document", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    if filename is not None:
        block["title"] = filename
    return block


def _image_source(image: dict, at: str, ctx: Context, target: Target) -> dict | None:
    """An image's source block (None after a finding when the target cannot take it)."""
    url, inline = image_of(image, at, ctx, target.name)
    if inline and inline[0] not in IMAGE_TYPES:
        message = f"{target.name} takes images as {', '.join(IMAGE_TYPES)}, not {inline[0]}"
        ctx.unsupported(at, message, "unsupported-value")
        return None
    if inline:
        return {"type": "base64", "media_type": inline[0], "data": inline[1]}
    if "url" not in target.image_sources:
        ctx.unsupported(at, f"{target.name} takes images as base64 data only, not by URL{target.why}")
        return None
    return {"type": "url", "url": url}


def _assistant_out(message: dict, at: str, ctx: Context, target: Target):
    content, calls = message.get("content"), message.get("tool_calls") or []
    if not calls:
        return _blocks_out(content, child(at, "content"), ctx, target)
    blocks = []
    text = text_of(content)
    if text:
        blocks.append({"type": "text", "text": text})
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        arguments = tool_arguments(function, child(at, "tool_calls", j), ctx, target.name)
        if arguments is not None:
            blocks.append(
                {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments}
            )
    return blocks


# ---- Messages → OpenAI chat ------------------------------------------------------------------------------


def chat_from_params(params: dict, at: str, ctx: Context, source: str = TARGET) -> dict:
    """The OpenAI chat body for a Messages request."""
    target = "an OpenAI chat request"
    leftover(params, PARAM_FIELDS | {"anthropic_version"}, at, ctx, target)
    body: dict = {}
    if ctx.model or params.get("model"):
        body["model"] = ctx.model or params["model"]
    body["messages"] = _system_in(params.get("system"), child(at, "system"), ctx) + _messages_in(
        params.get("messages") or [], child(at, "messages"), ctx
    )
    if "max_tokens" in params:
        body["max_completion_tokens"] = params["max_tokens"]
    for key in ("temperature", "top_p", "top_k"):
        if key in params:
            body[key] = params[key]
    if "stop_sequences" in params:
        body["stop"] = params["stop_sequences"]
    metadata = params.get("metadata")
    if isinstance(metadata, dict):
        leftover(metadata, {"user_id"}, child(at, "metadata"), ctx, target)
        if "user_id" in metadata:
            body["user"] = metadata["user_id"]
    if params.get("stream") is True:
        ctx.unsupported(child(at, "stream"), "a batch request cannot stream", "unsupported-value")
    _tools_in(params, body, at, ctx)
    output = params.get("output_config")
    if isinstance(output, dict):
        leftover(output, {"format"}, child(at, "output_config"), ctx, target)
        schema = output.get("format", {}).get("schema") if isinstance(output.get("format"), dict) else None
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "schema": schema},
            }
    return body


def _tools_in(params: dict, body: dict, at: str, ctx: Context) -> None:
    if params.get("tools") is not None:
        tools = []
        for i, tool in enumerate(as_list(params["tools"])):
            path = child(at, "tools", i)
            if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
                ctx.unsupported(path, "an OpenAI chat request takes function tools only")
                continue
            leftover(
                tool, {"name", "description", "input_schema", "type"}, path, ctx, "an OpenAI function tool"
            )
            function = {"name": tool.get("name")}
            if "description" in tool:
                function["description"] = tool["description"]
            function["parameters"] = tool.get("input_schema")
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
    choice = params.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in CHOICES_IN:
            body["tool_choice"] = CHOICES_IN[kind]
        else:
            ctx.unsupported(child(at, "tool_choice"), f"an OpenAI chat request has no tool_choice {kind!r}")
        if choice.get("disable_parallel_tool_use") is True:
            body["parallel_tool_calls"] = False


def _system_in(system, at: str, ctx: Context) -> list:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    return [{"role": "system", "content": _parts_in(system, at, ctx)}]


def _messages_in(messages, at: str, ctx: Context) -> list:
    out: list = []
    if not isinstance(messages, list):
        ctx.unsupported(at, "messages must be a list")
        return out
    for i, message in enumerate(messages):
        path = child(at, i)
        if not isinstance(message, dict):
            ctx.unsupported(path, "a message must be an object")
            continue
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = [] if content is None else as_list(content)  # (a block of another type: a finding)
        if role == "assistant":
            out.append(_assistant_in(blocks, child(path, "content"), ctx))
        else:
            results = [
                (j, b) for j, b in enumerate(blocks) if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
            others = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_result")]
            for j, block in results:
                out.append(_tool_result_in(block, child(path, "content", j), ctx))
            if others or not results:
                out.append({"role": role, "content": _parts_in(others, child(path, "content"), ctx)})
    return out


def _tool_result_in(block: dict, at: str, ctx: Context) -> dict:
    leftover(block, {"type", "tool_use_id", "content", "is_error"}, at, ctx, "an OpenAI tool message")
    content = block.get("content", "")
    if not isinstance(content, str):
        content = _parts_in(content, child(at, "content"), ctx)
    message = {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": content}
    if block.get("is_error") is True:
        message[TOOL_ERROR] = True  # a target without the flag reports it
    return message


def _assistant_in(blocks: list, at: str, ctx: Context) -> dict:
    texts, calls = [], []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            leftover(block, {"type", "text"}, child(at, i), ctx, "an OpenAI assistant message")
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            leftover(block, {"type", "id", "name", "input"}, child(at, i), ctx, "an OpenAI tool call")
            arguments = orjson.dumps(block.get("input", {})).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        else:
            ctx.unsupported(child(at, i), f"an OpenAI assistant message has no {kind!r} block")
    message = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _parts_in(blocks, at: str, ctx: Context) -> list:
    parts = []
    for i, block in enumerate(as_list(blocks)):
        path = child(at, i)
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            leftover(block, {"type", "text"}, path, ctx, "an OpenAI text part")
            parts.append({"type": "text", "text": block.get("text")})
        elif kind == "image" and isinstance(block.get("source"), dict):
            leftover(block, {"type", "source"}, path, ctx, "an OpenAI image part")
            url = _image_url(block["source"], child(path, "source"), ctx)
            if url is not None:
                parts.append({"type": "image_url", "image_url": {"url": url}})
        elif (
            kind == "document"
            and isinstance(block.get("source"), dict)
            and block["source"].get("type") == "base64"
        ):
            leftover(block, {"type", "source", "title"}, path, ctx, "an OpenAI file part")
            source = block["source"]
            parts.append(file_part(source.get("media_type"), source.get("data"), block.get("title")))
        else:
            ctx.unsupported(path, f"an OpenAI message has no {kind!r} part")
    return parts


def _image_url(source: dict, at: str, ctx: Context) -> str | None:
    kind = source.get("type")
    if kind == "base64":
        return data_url(source.get("media_type"), source.get("data"))
    if kind == "url":
        return source.get("url")
    ctx.unsupported(at, f"an OpenAI image part has no {kind!r} source")
    return None
