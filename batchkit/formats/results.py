"""Result lines of the other Batch APIs, turned into the OpenAI output line batchkit's result reader
already knows (`{custom_id, response: {status_code, body}, error}`, the body a chat completion), so every
provider's answers become the same row: status, answer text, tool calls, finish reason, tokens, error.

    Anthropic  {custom_id, result: {type: succeeded|errored|canceled|expired, message|error}}
    Gemini     {key, response: GenerateContentResponse} | {key, error: {code, message, status}}
    Vertex     {request, response?, status}            (the id from request.labels.custom_id)
    Bedrock    {recordId, modelInput, modelOutput} | {recordId, modelInput, error: {errorCode, errorMessage}}

    Fireworks  {custom_id, response: ChatCompletion}       (its output dataset's BIJOutputSet.jsonl)

Mistral and Together lines are already OpenAI-shaped. Expired and canceled requests have no response
and the error codes `batch_expired` / `batch_canceled`. Each dialect's `result` method picks its reader.

Tokens as OpenAI counts them: `prompt_tokens` is every prompt token, cached or not, with the cached ones
(`prompt_tokens_details.cached_tokens`) and those written to a cache (`cache_write_tokens`, which only
Anthropic and Bedrock report) as parts of it; `completion_tokens` includes thinking.
"""

from __future__ import annotations

import json
import re

import orjson

from .chat import dict_at, list_at

EXPIRED_CODE = "batch_expired"
CANCELED_CODE = "batch_canceled"
# Anthropic's stop reasons and Gemini's finish reasons, as OpenAI names them
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# Anthropic error types → the HTTP status the API gives them (Anthropic's errors page; the SDK's
# types/shared/*_error_object.py: GatewayTimeoutError is `timeout_error`)
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _ok(custom_id, body: dict) -> dict:
    return {"custom_id": custom_id, "response": {"status_code": 200, "body": body}, "error": None}


def from_bare_answer(obj: dict) -> dict:
    """A line that holds the answer itself under `response` (Fireworks): a success, as OpenAI writes it."""
    return _ok(obj.get("custom_id"), obj["response"])


def _failed(custom_id, status_code, code, message) -> dict:
    error = {"code": code, "message": message}
    return {
        "custom_id": custom_id,
        "response": {"status_code": status_code, "body": {"error": error}},
        "error": None,
    }


def _not_run(custom_id, code: str, message: str) -> dict:
    return {"custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}


def unrun_line(custom_id, outcome: str) -> dict:
    """The OpenAI line of a request its batch never ran: `outcome` "canceled" or "expired"."""
    if outcome == "expired":
        return _not_run(custom_id, EXPIRED_CODE, "the batch expired before this request ran")
    return _not_run(custom_id, CANCELED_CODE, "the batch was canceled before this request ran")


def _count(value) -> int | None:
    return value if type(value) is int else None


def _usage(prompt, completion, *, cached=None, cache_write=None, total=None) -> dict:
    """An OpenAI usage object: `prompt` every prompt token (cached and cache writes among them); the total
    is the provider's when it gives one, else prompt + completion."""
    prompt, completion, total = _count(prompt), _count(completion), _count(total)
    usage: dict = {"prompt_tokens": prompt, "completion_tokens": completion}
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    if total is not None:
        usage["total_tokens"] = total
    details = {
        k: v
        for k, v in (("cached_tokens", cached), ("cache_write_tokens", cache_write))
        if _count(v) is not None
    }
    if details:
        usage["prompt_tokens_details"] = details
    return usage


def _tokens_sum(*values) -> int | None:
    """The sum of the counts given (None when the first, the base count, is absent)."""
    if _count(values[0]) is None:
        return None
    return sum(v for v in values if _count(v) is not None)


def _completion(model, text, calls: list, reason, usage: dict, created=None) -> dict:
    message = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    body = {"object": "chat.completion", "model": model}
    if created is not None:
        body["created"] = created
    body["choices"] = [{"index": 0, "message": message, "finish_reason": reason}]
    body["usage"] = usage
    return body


def _reason(reason):
    """A stop or finish reason as OpenAI names it (a string other than the known ones as it is)."""
    return STOP_REASONS.get(reason, reason) if isinstance(reason, str) else None


def _call(call_id, name, arguments) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


# ---- Anthropic (and Anthropic bodies on Bedrock) ----------------------------------------------------------


def from_anthropic(obj: dict) -> dict:
    custom_id, result = obj.get("custom_id"), dict_at(obj, "result")
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return _ok(custom_id, _from_message(result["message"]))
    if kind == "errored":
        error = dict_at(result, "error")
        inner = dict_at(error, "error") or error
        code = inner.get("type") if isinstance(inner.get("type"), str) else None
        return _failed(custom_id, ERROR_STATUS.get(code), code, inner.get("message"))
    if kind in ("expired", "canceled"):
        return unrun_line(custom_id, kind)
    return {
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "unknown_result", "message": f"result type {kind!r}"},
    }


def _from_message(message: dict) -> dict:
    texts, calls = [], []
    for block in list_at(message, "content"):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(_call(block.get("id"), block.get("name"), block.get("input", {})))
    reason = _reason(message.get("stop_reason"))
    text = "".join(texts) if texts else None
    return _completion(message.get("model"), text, calls, reason, _messages_usage(dict_at(message, "usage")))


def _messages_usage(usage: dict) -> dict:
    """Anthropic's `input_tokens` leaves out the tokens read from and written to the cache: all three are
    the prompt (Anthropic's prompt-caching guide, "Tracking cache performance")."""
    read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    prompt = _tokens_sum(usage.get("input_tokens"), read, written)
    return _usage(prompt, usage.get("output_tokens"), cached=read, cache_write=written)


# ---- Bedrock -----------------------------------------------------------------------------------------------


def from_bedrock(obj: dict, record_id) -> dict:
    """A Bedrock record's result; `record_id` its id (the recordId, or the key of the input it echoes)."""
    output, error = obj.get("modelOutput"), obj.get("error")
    if isinstance(error, dict):
        status = error.get("errorCode")
        code = str(status) if status is not None else None
        return _failed(
            record_id, status if isinstance(status, int) else None, code, error.get("errorMessage")
        )
    if not isinstance(output, dict):
        return {"custom_id": record_id}  # neither output nor error: the reader reports it
    if "output" in output:  # a Converse answer
        return _ok(record_id, _from_converse(output))
    return _ok(record_id, _from_message(output))


def _from_converse(output: dict) -> dict:
    message = dict_at(dict_at(output, "output"), "message")
    texts, calls = [], []
    for block in list_at(message, "content"):
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block, dict) and isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append(_call(use.get("toolUseId"), use.get("name"), use.get("input", {})))
    usage = dict_at(output, "usage")
    reason = _reason(output.get("stopReason"))
    text = "".join(texts) if texts else None
    read, written = usage.get("cacheReadInputTokens"), usage.get("cacheWriteInputTokens")
    prompt = _tokens_sum(usage.get("inputTokens"), read, written)
    tokens = _usage(
        prompt, usage.get("outputTokens"), cached=read, cache_write=written, total=usage.get("totalTokens")
    )
    return _completion(None, text, calls, reason, tokens)


# ---- Gemini and Vertex ------------------------------------------------------------------------------------

# A google.rpc.Status in a result line carries a gRPC code (0-16), not an HTTP status: each code's name and
# the HTTP status it maps to (googleapis google/rpc/code.proto, "HTTP Mapping").
GRPC_CODES = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}
BLOCKED_CODE = "prompt_blocked"


def from_gemini(custom_id, response, error) -> dict:
    if isinstance(error, dict):
        return _google_error(custom_id, error)
    if isinstance(response, dict):
        blocked = _blocked(response)
        if blocked is not None:
            return _failed(custom_id, None, BLOCKED_CODE, blocked)
        return _ok(custom_id, _from_generate_content(response))
    return {"custom_id": custom_id, "response": None, "error": error}


def _google_error(custom_id, error: dict) -> dict:
    """An error as Google writes it: the REST error body (`code` an HTTP status, `status` its name) or a
    google.rpc.Status (`code` a gRPC code, mapped to its HTTP status; its name is the error code)."""
    code, name = error.get("code"), error.get("status")
    status = code if type(code) is int else None
    if status in GRPC_CODES and (name is None or name == GRPC_CODES[status][0]):
        name, status = GRPC_CODES[status]
    return _failed(custom_id, status, name if isinstance(name, str) else None, error.get("message"))


def _blocked(response: dict) -> str | None:
    """Why a prompt was blocked (`promptFeedback.blockReason` and no candidate), else None: such a request
    was not answered, so it is a failure (and `retry` picks it up), not an empty answer."""
    feedback = dict_at(response, "promptFeedback")
    reason = feedback.get("blockReason")
    if not isinstance(reason, str) or list_at(response, "candidates"):
        return None
    detail = feedback.get("blockReasonMessage")
    return f"the prompt was blocked: {reason}" + (f" ({detail})" if isinstance(detail, str) else "")


def from_vertex(obj: dict, custom_id) -> dict:
    status, response = obj.get("status"), obj.get("response")
    if isinstance(status, str) and status:
        line = _vertex_failure(status)
    elif isinstance(response, dict):
        blocked = _blocked(response)
        if blocked is not None:
            line = _failed(None, None, BLOCKED_CODE, blocked)
        else:
            line = {"response": {"status_code": 200, "body": _from_generate_content(response)}}
    else:
        line = {"response": None, "error": None}
    line.pop("custom_id", None)
    return line if custom_id is None else {"custom_id": custom_id, **line}


def _vertex_failure(status: str) -> dict:
    """A failed Vertex prediction: `status` is the error's text, which often holds the API's error body
    (`… {"error": {"code": 400, "message": …, "status": "INVALID_ARGUMENT"}}`) or at least its HTTP status."""
    error = _embedded_error(status)
    if error is not None:
        failed = _google_error(None, error)
        if not isinstance(error.get("message"), str):
            failed["response"]["body"]["error"]["message"] = status
        return failed
    found = re.search(r"\b([45]\d\d)\b", status)
    return _failed(None, int(found.group(1)) if found else None, None, status)


def _embedded_error(text: str) -> dict | None:
    """The `error` object of a JSON error body inside `text`, if there is one."""
    start = text.find("{")
    while start != -1:
        try:
            value, _end = _DECODER.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value.get("error") if isinstance(value.get("error"), dict) else value
        start = text.find("{", start + 1)
    return None


_DECODER = json.JSONDecoder()


def _from_generate_content(response: dict) -> dict:
    candidates = list_at(response, "candidates")
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    texts, calls = [], []
    for part in list_at(dict_at(first, "content"), "parts"):
        if not isinstance(part, dict) or part.get("thought") is True:
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            calls.append(
                _call(call.get("id") or f"call_{call.get('name')}", call.get("name"), call.get("args", {}))
            )
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    reason = _reason(first.get("finishReason"))
    if calls and reason == "stop":
        reason = "tool_calls"
    text = "".join(texts) if texts else None
    created = response.get("createTime")
    usage = _gemini_usage(dict_at(response, "usageMetadata"))
    return _completion(response.get("modelVersion"), text, calls, reason, usage, created)


def _gemini_usage(usage: dict) -> dict:
    """Gemini's counts as OpenAI's: thinking (`thoughtsTokenCount`) is part of the completion, as OpenAI
    counts reasoning; tool-use prompts part of the prompt; `totalTokenCount` holds them all
    (ai.google.dev API reference, UsageMetadata)."""
    prompt = _tokens_sum(usage.get("promptTokenCount"), usage.get("toolUsePromptTokenCount"))
    completion = _tokens_sum(usage.get("candidatesTokenCount"), usage.get("thoughtsTokenCount"))
    if completion is None and _count(usage.get("thoughtsTokenCount")) is not None:
        completion = usage["thoughtsTokenCount"]
    return _usage(
        prompt, completion, cached=usage.get("cachedContentTokenCount"), total=usage.get("totalTokenCount")
    )
