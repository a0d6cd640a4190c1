"""The message shape Bedrock's Converse requests and Amazon Nova's InvokeModel bodies share (Nova's "Complete
request schema": the same but for binary data, base64 strings in a JSON line), to and from an OpenAI chat
body: `system` text blocks, messages of `{text}`, `{image: {format, source: {bytes}}}`, `{toolUse}` and
`{toolResult}` blocks, `inferenceConfig`, `toolConfig`."""

from __future__ import annotations

import orjson

from .chat import (
    SYSTEM_ROLES,
    TOOL_ERROR,
    Context,
    as_list,
    chat_messages,
    child,
    data_url,
    dict_at,
    function_tools,
    image_of,
    leftover,
    list_at,
    max_tokens_of,
    tool_arguments,
    tool_text,
)

NOVA_VERSION = "messages-v1"
IMAGE_FORMATS = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
CHAT_FIELDS = frozenset(
    "model messages max_tokens max_completion_tokens stop temperature top_p tools tool_choice stream n".split()
)
CHOICES_OUT = {"auto": {"auto": {}}, "required": {"any": {}}}
TARGET = "Amazon Nova"
# inferenceConfig field (Converse's, and Nova's own spellings) → chat field
CONFIG_IN = {
    "maxTokens": "max_completion_tokens",
    "max_new_tokens": "max_completion_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "top_p": "top_p",
    "topK": "top_k",
    "top_k": "top_k",
    "stopSequences": "stop",
}
ERROR_STATUS = "error"  # a toolResult's status when the tool failed (Converse's ToolResultBlock)


# ---- Converse / Nova → OpenAI chat


def chat_from_converse(body: dict, at: str, ctx: Context) -> dict:
    leftover(
        body,
        {"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"},
        at,
        ctx,
        "an OpenAI chat request",
    )
    chat: dict = {"model": ctx.model} if ctx.model else {}
    messages = []
    system = [b.get("text") for b in list_at(body, "system") if isinstance(b, dict) and "text" in b]
    if system:
        messages.append({"role": "system", "content": "".join(system) if len(system) == 1 else
                         [{"type": "text", "text": t} for t in system]})  # fmt: skip
    for i, message in enumerate(list_at(body, "messages")):
        messages.extend(_message_in(message, child(at, "messages", i), ctx))
    chat["messages"] = messages
    config = dict_at(body, "inferenceConfig")
    leftover(config, CONFIG_IN, child(at, "inferenceConfig"), ctx, "an OpenAI chat request")
    for name, key in CONFIG_IN.items():
        if name in config:
            chat[key] = config[name]
    _tools_in(dict_at(body, "toolConfig"), chat)
    return chat


def _message_in(message, at: str, ctx: Context) -> list:
    if not isinstance(message, dict):
        ctx.unsupported(at, "a message must be an object")
        return []
    texts, parts, calls, results = [], [], [], []
    for j, block in enumerate(list_at(message, "content")):
        block = block if isinstance(block, dict) else {}
        if "text" in block:
            texts.append(block["text"])
            parts.append({"type": "text", "text": block["text"]})
        elif isinstance(block.get("image"), dict):
            parts.append(_image_in(block["image"]))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input", {})).decode()
            calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {"name": use.get("name"), "arguments": arguments},
                }
            )
        elif isinstance(block.get("toolResult"), dict):
            results.append(_tool_result_in(block["toolResult"], child(at, "content", j, "toolResult"), ctx))
        else:
            ctx.unsupported(
                child(at, "content", j), "an OpenAI message holds text, images, tool calls and results only"
            )
    if message.get("role") == "assistant":
        out = {"role": "assistant", "content": "".join(texts) if texts else None}
        return [out | {"tool_calls": calls}] if calls else [out]
    rest = (
        [{"role": "user", "content": parts[0]["text"] if len(parts) == 1 and texts else parts}]
        if parts
        else []
    )
    return results + rest


def _image_in(image: dict) -> dict:
    mime = next(
        (m for m, f in IMAGE_FORMATS.items() if f == image.get("format")), "image/" + str(image.get("format"))
    )
    return {"type": "image_url", "image_url": {"url": data_url(mime, dict_at(image, "source").get("bytes"))}}


def _tool_result_in(result: dict, at: str, ctx: Context) -> dict:
    """A toolResult as a tool message: text and json blocks as text (json as its JSON text), images as
    image parts, a failure (status error) as the message's error flag."""
    leftover(result, {"toolUseId", "content", "status"}, at, ctx, "an OpenAI tool message")
    parts = []
    for k, block in enumerate(list_at(result, "content")):
        block = block if isinstance(block, dict) else {}
        if "text" in block:
            parts.append({"type": "text", "text": block["text"]})
        elif "json" in block:
            parts.append({"type": "text", "text": orjson.dumps(block["json"]).decode()})
        elif isinstance(block.get("image"), dict):
            parts.append(_image_in(block["image"]))
        else:
            ctx.unsupported(child(at, "content", k), "an OpenAI tool message holds text and images only")
    text_only = len(parts) == 1 and parts[0]["type"] == "text"
    message = {
        "role": "tool",
        "tool_call_id": result.get("toolUseId"),
        "content": parts[0]["text"] if text_only else parts or "",
    }
    if result.get("status") == ERROR_STATUS:
        message[TOOL_ERROR] = True
    return message


def _tools_in(config: dict, chat: dict) -> None:
    tools = []
    for tool in list_at(config, "tools"):
        spec = dict_at(tool, "toolSpec")
        function = {"name": spec.get("name")}
        if "description" in spec:
            function["description"] = spec["description"]
        function["parameters"] = dict_at(spec, "inputSchema").get("json", {})
        tools.append({"type": "function", "function": function})
    if tools:
        chat["tools"] = tools
    choice = dict_at(config, "toolChoice")
    if "auto" in choice:
        chat["tool_choice"] = "auto"
    elif "any" in choice:
        chat["tool_choice"] = "required"
    elif "tool" in choice:
        chat["tool_choice"] = {"type": "function", "function": {"name": dict_at(choice, "tool").get("name")}}


# ---- OpenAI chat → Nova body


def nova_from_chat(body: dict, at: str, ctx: Context) -> dict:
    """The Nova InvokeModel body for a chat body; what it has no place for is reported."""
    leftover(body, CHAT_FIELDS, at, ctx, TARGET)
    out: dict = {"schemaVersion": NOVA_VERSION}
    system, messages = [], []
    for role, message, path in chat_messages(body.get("messages") or [], child(at, "messages"), ctx, TARGET):
        if role in SYSTEM_ROLES:
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"text": content or ""}]
            system.extend({"text": p.get("text") or ""} for p in parts if isinstance(p, dict))
        elif role == "tool":
            _append(messages, "user", [_tool_result_out(message, path, ctx)])
        else:
            _append(messages, role, _blocks_out(message, path, ctx))
    if system:
        out["system"] = system
    out["messages"] = messages
    config = _config_out(body, at, ctx)
    if config:
        out["inferenceConfig"] = config
    if body.get("tools") is not None:
        out["toolConfig"] = _tool_config(body, at, ctx)
    return out


def _tool_result_out(message: dict, at: str, ctx: Context) -> dict:
    text = tool_text(message.get("content"), child(at, "content"), ctx, TARGET)
    result = {"toolUseId": message.get("tool_call_id"), "content": [{"text": text}]}
    if message.get(TOOL_ERROR) is True:
        result["status"] = ERROR_STATUS
    return {"toolResult": result}


def _append(messages: list, role: str, blocks: list) -> None:
    """Blocks of one role in a row go in one message (Nova's turns alternate)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _blocks_out(message: dict, at: str, ctx: Context) -> list:
    content = message.get("content")
    blocks = [{"text": content}] if isinstance(content, str) and content else []
    for i, part in enumerate(content if isinstance(content, list) else []):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": part.get("text")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            blocks.extend(_image_out(part["image_url"], child(at, "content", i, "image_url"), ctx))
        else:
            ctx.unsupported(
                child(at, "content", i),
                f"{TARGET} takes text and image parts only (no documents in an InvokeModel body)",
            )
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        arguments = tool_arguments(function, child(at, "tool_calls", j), ctx, TARGET)
        if arguments is not None:
            blocks.append(
                {"toolUse": {"toolUseId": call.get("id"), "name": function.get("name"), "input": arguments}}
            )
    return blocks


def _image_out(image: dict, at: str, ctx: Context) -> list:
    url, inline = image_of(image, at, ctx, TARGET)
    if inline is None:
        ctx.unsupported(at, f"{TARGET} takes images as base64 data only, not by URL (Nova's request schema)")
        return []
    if inline[0] not in IMAGE_FORMATS:
        ctx.unsupported(
            at, f"{TARGET} takes images as {', '.join(IMAGE_FORMATS)}, not {inline[0]}", "unsupported-value"
        )
        return []
    return [{"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}}]


def _config_out(body: dict, at: str, ctx: Context) -> dict:
    config: dict = {}
    tokens = max_tokens_of(body) or ctx.max_tokens
    if tokens is not None:
        config["maxTokens"] = tokens
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and temperature > 1:
        ctx.unsupported(
            child(at, "temperature"),
            f"{TARGET} takes a temperature from 0 to 1, not {temperature}",
            "unsupported-value",
        )
    elif temperature is not None:
        config["temperature"] = temperature
    if "top_p" in body:
        config["topP"] = body["top_p"]
    if body.get("stop") is not None:
        config["stopSequences"] = as_list(body["stop"])
    if body.get("stream") is True:
        ctx.unsupported(child(at, "stream"), "a batch request cannot stream", "unsupported-value")
    if body.get("n") not in (None, 1):
        ctx.unsupported(
            child(at, "n"), f"{TARGET} gives one answer per request, not n={body['n']}", "unsupported-value"
        )
    return config


def _tool_config(body: dict, at: str, ctx: Context) -> dict:
    tools = []
    for _path, function in function_tools(body, at, ctx, TARGET):
        spec = {"name": function.get("name")}
        if "description" in function:
            spec["description"] = function["description"]
        spec["inputSchema"] = {"json": function.get("parameters", {"type": "object", "properties": {}})}
        tools.append({"toolSpec": spec})
    config: dict = {"tools": tools}
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice in CHOICES_OUT:
        config["toolChoice"] = CHOICES_OUT[choice]
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        config["toolChoice"] = {"tool": {"name": choice["function"].get("name")}}
    elif choice is not None:
        ctx.unsupported(child(at, "tool_choice"), f"{TARGET} has no tool_choice {choice!r}")
    return config
