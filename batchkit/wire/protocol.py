"""The OpenAI wire shapes the local server and `batchkit run` speak: ids, error envelopes, output and error
lines, and how batchkit's findings become the `errors.data` of a batch that failed validation.

Pure functions over dicts: no HTTP framework, no I/O.
"""

from __future__ import annotations

import secrets
import urllib.parse

from ..findings import Finding
from ..providers import PROVIDERS
from ..words import Meta, Option, Text

# The rules the local server validates input files by, and the endpoints it can execute (both backends):
# several models per file are fine (kluster.ai allows it), the batch's own endpoint is checked separately.
LOCAL = PROVIDERS["local"]
EXECUTABLE_ENDPOINTS = LOCAL.endpoints

MAX_BATCH_ERRORS = 1000  # errors.data entries kept for a batch that fails validation
READING_CODES = frozenset(
    {"invalid-json", "invalid-encoding", "not-an-object", "json-array-file", "json-objects-spread"}
)
LINE_FIELDS = ("custom_id", "method", "url", "body")
# body fields whose absence or wrong shape fails the whole batch at validation, per OpenAI
BODY_FIELDS = frozenset({"model", "messages", "input", "prompt"})

EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."

# OpenAI's own words for what fails a batch while validating (recorded replies), ids and names filled in
ENDPOINT_NAMES = {
    "/v1/chat/completions": "Chat Completions",
    "/v1/completions": "Completions",
    "/v1/embeddings": "Embeddings",
    "/v1/responses": "Responses",
    "/v1/moderations": "Moderations",
}
NOT_JSON_MESSAGE = "This line is not parseable as valid JSON."
WRONG_URL_MESSAGE = "The URL provided for this request does not match the batch endpoint."


def missing_message(name: str) -> str:
    return f"Missing required parameter: '{name}'."


def unknown_model_message(model: str) -> str:
    return f"The provided model '{model}' is not supported by the Batch API."


def missing_file_message(file_id: str) -> str:
    return f"Cannot find file {file_id}, or organization org-local does not have access to it."


def streaming_message(endpoint: str | None) -> str:
    name = ENDPOINT_NAMES.get(endpoint or "", "Chat Completions")
    return f"{name}: Streaming is not supported in the Batch API."


def quoted_list(values) -> str:
    """'a', 'b', and 'c' — how OpenAI lists supported values."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) < 3:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def supported_endpoints_message(endpoint: str) -> str:
    return f"Invalid value: '{endpoint}'. Supported values are: {quoted_list(sorted(EXECUTABLE_ENDPOINTS))}."


def new_id(prefix: str) -> str:
    """An OpenAI-looking id: `file-…`, `batch_…`, `batch_req_…`, `req_…`, `chatcmpl-…`."""
    return prefix + secrets.token_hex(12)


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    """The OpenAI error envelope: {"error": {message, type, param, code}}."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def api_path(url: str) -> str:
    """A request line's url relative to a base URL ending in /v1: '/v1/chat/completions' → '/chat/completions'."""
    return url[3:] if url.startswith("/v1/") else url


def missing_v1_hint(base_url: str, route: str = "") -> Text | None:
    """For a 404 from `base_url`: "did you mean base_url=…/v1?" when the address has no /v1 at its end
    (the usual cause: OpenAI-compatible servers serve the API under /v1), else None."""
    if urllib.parse.urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        return None
    asked = f" for {route}" if route else ""
    return Text(
        f"the server answered 404{asked}; did you mean ",
        Option("base_url", Meta(f"{base_url.rstrip('/')}/v1")),
        "?",
    )


def result_line(custom_id: str, status_code: int, body, request_id: str) -> dict:
    """One output or error line, as a Batch API writes it.

    A failed request carries both `response.body.error` (OpenAI) and a top-level `error {code, message}`
    (what vLLM-style readers look at), so every consumer finds the reason.
    """
    line = {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }
    if not 200 <= status_code < 300:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {"message": str(error or body)[:1000]}
        line["error"] = {
            "code": str(error.get("code") or error.get("type") or f"http_{status_code}"),
            "message": str(error.get("message") or f"HTTP {status_code}"),
        }
    return line


def expired_line(custom_id: str) -> dict:
    return {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "batch_expired", "message": EXPIRED_MESSAGE},
    }


def succeeded(line: dict) -> bool:
    response = line.get("response")
    return isinstance(response, dict) and 200 <= response.get("status_code", 0) < 300


def pointer_parts(path: str) -> list[str]:
    if not path:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def dotted(parts) -> str:
    """JSON Pointer parts → OpenAI's param notation: ['messages', '0', 'role'] → 'messages[0].role'."""
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def batch_error(finding: Finding, endpoint: str | None = None) -> dict | None:
    """The validating-stage error OpenAI would report for a finding (in OpenAI's words where they are
    known), or None when the finding does not fail the batch (warnings, and body problems that fail only
    their own request, with an HTTP 400, later). `endpoint` is the batch's."""
    if not finding.is_error:
        return None
    placed = _place(finding.code, pointer_parts(finding.path))
    if placed is None:
        return None
    openai_code, param, message = placed
    line = None if openai_code in ("empty_file", "too_many_requests", "file_too_large") else finding.line
    if openai_code == "streaming_unsupported":
        message = streaming_message(endpoint)
    return {"code": openai_code, "message": message or finding.message, "param": param, "line": line}


def _place(code: str, parts: list[str]) -> tuple[str, str | None, str | None] | None:
    """(OpenAI code, param, OpenAI's message or None to keep the finding's) for a finding that fails a batch."""
    if code in READING_CODES:
        return "invalid_json_line", None, NOT_JSON_MESSAGE
    if code in ("empty-file", "too-many-requests", "file-too-large"):
        return code.replace("-", "_"), None, None
    if code == "duplicate-custom-id":
        return "duplicate_custom_id", "custom_id", None
    if code == "streaming-unsupported":
        return "streaming_unsupported", "body.stream", None
    if code in ("unsupported-endpoint", "mixed-endpoint") or parts[:1] == ["url"]:
        return "invalid_url", "url", WRONG_URL_MESSAGE
    if len(parts) == 1 and parts[0] in LINE_FIELDS:
        if code == "missing-field":
            return "missing_required_parameter", parts[0], missing_message(parts[0])
        return "invalid_request", parts[0], None
    if not parts:  # the line as a whole (not an object of the right shape)
        return "invalid_request", None, None
    if len(parts) == 2 and parts[0] == "body" and parts[1] in BODY_FIELDS:
        required = f"{parts[1].capitalize()} parameter is required." if code == "missing-field" else None
        return "invalid_request", f"body.{parts[1]}", required
    return None


def request_error(finding: Finding) -> dict:
    """An HTTP 400 envelope for a finding on a request body (paths under /body)."""
    parts = pointer_parts(finding.path)
    if parts[:1] == ["body"]:
        parts = parts[1:]
    code = {
        "missing-field": "missing_required_parameter",
        "wrong-type": "invalid_type",
        "out-of-range": "invalid_value",
        "invalid-value": "invalid_value",
        "invalid-length": "invalid_value",
        "streaming-unsupported": "streaming_unsupported",
    }.get(finding.code, "invalid_request")
    return error_body(finding.message, param=dotted(parts) or None, code=code)
