"""The one place the server meets batchkit's line formats: a provider's request line as the OpenAI request
the backends answer (through `convert.convert_request`), and an OpenAI answer — a chat completion or an
error envelope — in the provider's own shape (an Anthropic Message, a Gemini GenerateContentResponse).

Fields an OpenAI chat request cannot carry (Anthropic's `thinking`, …) are left out, as the upstream
could not take them either; a line its provider would refuse gets that provider's 400.
"""

from __future__ import annotations

import re

import orjson

from ..convert import convert_request
from ..wire import new_id
from .surfaces import anthropic_type, google_status

# OpenAI's finish reasons in the other APIs' words
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def openai_request(
    obj: dict, dialect: str, *, line: int, model: str | None = None
) -> tuple[dict | None, str]:
    """(the OpenAI request line for a provider's line, "") or (None, why the provider would refuse it)."""
    converted = convert_request(obj, "openai", source=dialect, model=model, line=line, drop_unsupported=True)
    errors = [f for f in converted.findings if f.is_error]
    if converted.line is None or errors:
        return None, errors[0].message if errors else "the request cannot be read"
    # a setting OpenAI lacks may go (cache_control, metadata); a whole part, message or tool may not: the
    # upstream would answer another question than the one asked
    lost = [f for f in converted.findings if f.code == "dropped-field" and WHOLE_ITEM.search(f.path or "")]
    if lost:
        return (
            None,
            f"the upstream takes OpenAI chat, which has no place for {lost[0].path}: {lost[0].message}",
        )
    return converted.line, ""


WHOLE_ITEM = re.compile(r"/(?:messages|contents|content|parts|tools)/\d+$")


def error_message(body) -> str:
    """The message of an OpenAI error envelope (or of any body an upstream sent), bounded."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message if message is not None else error or body)[:2000]


def _choice(body: dict) -> tuple[dict, str | None]:
    choices = body.get("choices") if isinstance(body, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    return message, first.get("finish_reason")


def _usage(body: dict) -> tuple[int, int]:
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (prompt if isinstance(prompt, int) else 0), (completion if isinstance(completion, int) else 0)


def _calls(message: dict):
    """(id, name, arguments object) of each tool call of an OpenAI assistant message."""
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {"arguments": function.get("arguments")}
        yield call.get("id") or new_id("toolu_"), function.get("name"), arguments


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def anthropic_message(body: dict, model) -> dict:
    """An Anthropic Message for an OpenAI chat completion."""
    message, finish = _choice(body)
    text = _text(message)
    content = [{"type": "text", "text": text}] if text or not message.get("tool_calls") else []
    content += [
        {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
        for call_id, name, arguments in _calls(message)
    ]
    prompt, completion = _usage(body)
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or model,
        "content": content,
        "stop_reason": STOP_REASONS.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "batch",
        },
    }


def anthropic_error(status: int, body) -> dict:
    """Anthropic's ErrorResponse for a failed answer."""
    return {
        "type": "error",
        "error": {"type": anthropic_type(status), "message": error_message(body)},
        "request_id": new_id("req_"),
    }


def gemini_response(body: dict) -> dict:
    """A Gemini GenerateContentResponse for an OpenAI chat completion."""
    message, finish = _choice(body)
    parts = [{"text": _text(message)}] if _text(message) or not message.get("tool_calls") else []
    parts += [{"functionCall": {"name": name, "args": arguments}} for _id, name, arguments in _calls(message)]
    prompt, completion = _usage(body)
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": FINISH_REASONS.get(finish, "STOP"),
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion,
        },
        "modelVersion": body.get("model"),
        "responseId": new_id(""),
    }


def gemini_error(status: int, body) -> dict:
    """A google.rpc.Status for a failed answer."""
    return {"code": status, "message": error_message(body), "status": google_status(status)}
