"""An OpenAI Responses body (`/v1/responses`) read as the chat body it stands for, so it converts to every
other dialect: `instructions` → a system message; `input` text or items (messages with input_text /
input_image / output_text parts, function_call and function_call_output items) → messages;
`max_output_tokens` → `max_completion_tokens`; function tools; `text.format` → `response_format`.
`responses_from_chat` writes a chat body as a Responses body, the same mapping the other way."""

from __future__ import annotations

from .chat import FUNCTION_FIELDS, SYSTEM_ROLES, Context, as_list, child, function_tools, leftover, text_of

TARGET = "an OpenAI chat request"
RESPONSES = "an OpenAI Responses request"
# chat fields a Responses body holds under the same name
SAME_FIELDS = ("model", "temperature", "top_p", "parallel_tool_calls", "user", "store", "metadata")
CHAT_FIELDS = frozenset(
    (
        *SAME_FIELDS,
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "tools",
        "tool_choice",
        "response_format",
        "n",
    )
)
FIELDS = frozenset(
    "model input instructions max_output_tokens temperature top_p tools tool_choice parallel_tool_calls "
    "text user stream store metadata".split()
)
PART_TYPES = {"input_text": "text", "output_text": "text"}


def chat_from_responses(body: dict, at: str, ctx: Context) -> dict:
    leftover(body, FIELDS, at, ctx, TARGET)
    chat: dict = {"model": ctx.model or body.get("model")}
    messages = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    else:
        for i, item in enumerate(as_list(items or [])):
            _item(item, child(at, "input", i), messages, ctx)
    chat["messages"] = messages
    if "max_output_tokens" in body:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for key in SAME_FIELDS[1:]:
        if key in body:
            chat[key] = body[key]
    if body.get("stream") is True:
        ctx.unsupported(child(at, "stream"), "a batch request cannot stream", "unsupported-value")
    _tools(body, chat, at, ctx)
    _format(body.get("text"), chat, child(at, "text"), ctx)
    return chat


def _item(item, at: str, messages: list, ctx: Context) -> None:
    kind = item.get("type", "message") if isinstance(item, dict) else None
    if kind == "message":
        content = item.get("content")
        messages.append(
            {
                "role": item.get("role"),
                "content": content
                if isinstance(content, str)
                else _parts(content, child(at, "content"), ctx),
            }
        )
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments")},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        content = _parts(output, child(at, "output"), ctx) if isinstance(output, list) else output
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": content})
    else:
        ctx.unsupported(at, f"{TARGET} has no {kind!r} input item")


def _parts(parts, at: str, ctx: Context) -> list:
    out = []
    for i, part in enumerate(as_list(parts or [])):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in PART_TYPES:
            out.append({"type": "text", "text": part.get("text")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image = {"url": part["image_url"]}
            if part.get("detail", "auto") != "auto":
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if k in part}
            leftover(part, {"type", *file}, child(at, i), ctx, TARGET)
            out.append({"type": "file", "file": file})
        else:
            ctx.unsupported(child(at, i), f"{TARGET} has no {kind!r} part")
    return out


def _tools(body: dict, chat: dict, at: str, ctx: Context) -> None:
    if body.get("tools") is not None:
        tools = []
        for i, tool in enumerate(as_list(body["tools"])):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                ctx.unsupported(child(at, "tools", i), f"{TARGET} takes function tools only")
                continue
            tools.append({"type": "function", "function": _chat_function(tool)})
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice


def _chat_function(tool: dict) -> dict:
    """A Responses function tool as a chat function: Responses tools are strict unless they say false,
    chat functions are not unless they say true (OpenAI's "Migrate to the Responses API" guide); null
    parameters are none."""
    function = {k: v for k, v in tool.items() if k not in ("type", "strict") and v is not None}
    if tool.get("strict") is not False:
        function["strict"] = True
    return function


def _format(text, chat: dict, at: str, ctx: Context) -> None:
    if not isinstance(text, dict):
        return
    leftover(text, {"format"}, at, ctx, TARGET)
    spec = text.get("format")
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {k: v for k, v in spec.items() if k != "type"},
        }
    elif kind == "json_object":
        chat["response_format"] = {"type": "json_object"}


MIN_OUTPUT_TOKENS = 16  # CreateResponse's `max_output_tokens` minimum (openai-openapi.yaml)


def responses_from_chat(body: dict, at: str, ctx: Context) -> dict:
    """The Responses body for an OpenAI chat body; what Responses has no place for is reported. A system
    prompt of plain text becomes `instructions`; one of several parts stays a system message (joining its
    parts would change the text)."""
    leftover(body, CHAT_FIELDS, at, ctx, RESPONSES)
    out: dict = {k: body[k] for k in SAME_FIELDS if k in body}
    messages = body.get("messages") or []
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    start = 0
    if first.get("role") in SYSTEM_ROLES and isinstance(first.get("content"), str):
        out["instructions"] = first["content"]
        messages, start = messages[1:], 1
    items: list = []
    for i, message in enumerate(messages, start):
        _input_items(message, child(at, "messages", i), items, ctx)
    out["input"] = items
    _tokens_out(body, out, at, ctx)
    if body.get("tools") is not None:
        out["tools"] = list(_function_tools(body, at, ctx))
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out["tool_choice"] = {"type": "function", "name": choice["function"].get("name")}
    elif choice is not None:
        out["tool_choice"] = choice
    _text_format(body.get("response_format"), out, child(at, "response_format"), ctx)
    return out


def _tokens_out(body: dict, out: dict, at: str, ctx: Context) -> None:
    """max_output_tokens (at least 16); `n` 1, the only count Responses gives, needs no field."""
    key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    tokens = body.get(key)
    if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens < MIN_OUTPUT_TOKENS:
        message = f"{RESPONSES} takes max_output_tokens of at least {MIN_OUTPUT_TOKENS}, not {tokens}"
        ctx.unsupported(child(at, key), message, "unsupported-value")
    elif tokens is not None:
        out["max_output_tokens"] = tokens
    if body.get("n") not in (None, 1):
        ctx.unsupported(
            child(at, "n"),
            f"{RESPONSES} gives one answer per request, not n={body['n']}",
            "unsupported-value",
        )


def _function_tools(body: dict, at: str, ctx: Context):
    """Function tools as Responses writes them: `strict` and `parameters` are required (null allowed); a
    chat tool is not strict unless it says so, and Responses tools are strict by default (OpenAI's "Migrate
    to the Responses API" guide), so false is written for it."""
    for _path, function in function_tools(body, at, ctx, RESPONSES, FUNCTION_FIELDS | {"strict"}):
        tool = {"type": "function", "name": function.get("name")}
        if "description" in function:
            tool["description"] = function["description"]
        tool["parameters"] = function.get("parameters")
        tool["strict"] = function.get("strict", False)
        yield tool


def _input_items(message, at: str, items: list, ctx: Context) -> None:
    role = message.get("role") if isinstance(message, dict) else None
    if role == "tool":
        leftover(message, {"role", "content", "tool_call_id"}, at, ctx, RESPONSES)
        content = message.get("content")
        # a result of text alone stays a string; one with images or files is a list of input items
        plain = not isinstance(content, list) or all(
            isinstance(p, dict) and p.get("type") == "text" for p in content
        )
        output = text_of(content) if plain else _input_parts(content, "user", child(at, "content"), ctx)
        items.append(
            {"type": "function_call_output", "call_id": message.get("tool_call_id"), "output": output}
        )
        return
    if role not in ("user", "assistant", *SYSTEM_ROLES):
        ctx.unsupported(at, f"{RESPONSES} has no {role!r} messages")
        return
    leftover(message, {"role", "content", "tool_calls"}, at, ctx, RESPONSES)
    content = message.get("content")
    if isinstance(content, str):
        items.append({"role": role, "content": content})
    elif content is not None:
        items.append({"role": role, "content": _input_parts(content, role, child(at, "content"), ctx)})
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get("type", "function") != "function":
            ctx.unsupported(child(at, "tool_calls", j), f"{RESPONSES} takes function calls only")
            continue
        items.append(
            {
                "type": "function_call",
                "call_id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )


def _input_parts(parts, role: str, at: str, ctx: Context) -> list:
    text_type = "output_text" if role == "assistant" else "input_text"
    out = []
    for i, part in enumerate(as_list(parts)):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            out.append({"type": text_type, "text": part.get("text")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            image = part["image_url"]
            leftover(image, {"url", "detail"}, child(at, i, "image_url"), ctx, RESPONSES)
            # `detail` is required on an input image (InputImageContent; the SDK's ResponseInputImageParam)
            out.append(
                {"type": "input_image", "image_url": image.get("url"), "detail": image.get("detail", "auto")}
            )
        elif kind == "file" and isinstance(part.get("file"), dict):
            leftover(part, {"type", "file"}, child(at, i), ctx, RESPONSES)
            leftover(part["file"], {"file_data", "file_id", "filename"}, child(at, i, "file"), ctx, RESPONSES)
            out.append({"type": "input_file", **part["file"]})
        else:
            ctx.unsupported(child(at, i), f"{RESPONSES} conversion takes text, image and file parts only")
    return out


def _text_format(spec, out: dict, at: str, ctx: Context) -> None:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "json_schema" and isinstance(spec.get("json_schema"), dict):
        out["text"] = {"format": {"type": "json_schema", **spec["json_schema"]}}
    elif kind == "json_object":
        out["text"] = {"format": {"type": "json_object"}}
    elif spec is not None and kind != "text":
        ctx.unsupported(at, f"{RESPONSES} has no such response format")
