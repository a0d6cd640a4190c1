"""An OpenAI Responses body (`/v1/responses`) read as the chat body it stands for, so it converts to every
other dialect: `instructions` → a system message; `input` text or items (messages with input_text /
input_image / output_text parts, function_call and function_call_output items) → messages;
`max_output_tokens` → `max_completion_tokens`; function tools; `text.format` → `response_format`."""

from __future__ import annotations

from .base import Context, as_list, child, leftover

TARGET = "an OpenAI chat request"
FIELDS = frozenset(
    "model input instructions max_output_tokens temperature top_p tools tool_choice parallel_tool_calls "
    "text user stream store".split()
)
PART_TYPES = {"input_text": "text", "output_text": "text"}


def to_chat(body: dict, at: str, ctx: Context) -> dict:
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
    for key in ("temperature", "top_p", "parallel_tool_calls", "user"):
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
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")})
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
            tools.append({"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}})
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice


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
