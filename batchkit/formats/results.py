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
"""

from __future__ import annotations

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
# Anthropic error types → the HTTP status the API gives them
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
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


def _completion(model, text, calls: list, reason, prompt, completion, created=None) -> dict:
    message = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    if isinstance(prompt, int) and isinstance(completion, int):
        usage["total_tokens"] = prompt + completion
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
    usage = dict_at(message, "usage")
    reason = _reason(message.get("stop_reason"))
    text = "".join(texts) if texts else None
    return _completion(
        message.get("model"), text, calls, reason, usage.get("input_tokens"), usage.get("output_tokens")
    )


# ---- Bedrock -----------------------------------------------------------------------------------------------


def from_bedrock(obj: dict) -> dict:
    record_id, output, error = obj.get("recordId"), obj.get("modelOutput"), obj.get("error")
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
    return _completion(None, text, calls, reason, usage.get("inputTokens"), usage.get("outputTokens"))


# ---- Gemini and Vertex ------------------------------------------------------------------------------------


def from_gemini(custom_id, response, error) -> dict:
    if isinstance(error, dict):
        status = error.get("code")
        return _failed(
            custom_id, status if isinstance(status, int) else None, error.get("status"), error.get("message")
        )
    if isinstance(response, dict):
        return _ok(custom_id, _from_generate_content(response))
    return {"custom_id": custom_id, "response": None, "error": error}


def from_vertex(obj: dict, custom_id) -> dict:
    status = obj.get("status")
    line = {"custom_id": custom_id} if custom_id is not None else {}
    if isinstance(status, str) and status:
        return line | {"response": {"body": {"error": {"message": status}}}, "error": None}
    if isinstance(obj.get("response"), dict):
        return line | {"response": {"status_code": 200, "body": _from_generate_content(obj["response"])}}
    return line | {"response": None, "error": None}


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
    usage = dict_at(response, "usageMetadata")
    text = "".join(texts) if texts else None
    created = response.get("createTime")
    return _completion(
        response.get("modelVersion"),
        text,
        calls,
        reason,
        usage.get("promptTokenCount"),
        usage.get("candidatesTokenCount"),
        created,
    )
