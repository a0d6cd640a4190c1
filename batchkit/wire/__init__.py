"""The OpenAI wire protocol, shared by `batchkit run` and the local server: ids, error envelopes,
output and error lines, validating-stage errors (`protocol`), and a retrying, rate-limited sender to
any OpenAI-compatible server (`upstream`)."""

from .protocol import (
    EXECUTABLE_ENDPOINTS,
    LOCAL,
    MAX_BATCH_ERRORS,
    WRONG_URL_MESSAGE,
    api_path,
    batch_error,
    error_body,
    expired_line,
    missing_file_message,
    missing_message,
    missing_v1_hint,
    new_id,
    request_error,
    result_line,
    succeeded,
    supported_endpoints_message,
    unknown_model_message,
)
from .upstream import Answer, Sender, retry_after_seconds

__all__ = [
    "EXECUTABLE_ENDPOINTS",
    "LOCAL",
    "MAX_BATCH_ERRORS",
    "Answer",
    "Sender",
    "api_path",
    "WRONG_URL_MESSAGE",
    "batch_error",
    "error_body",
    "expired_line",
    "missing_file_message",
    "missing_message",
    "missing_v1_hint",
    "new_id",
    "request_error",
    "result_line",
    "retry_after_seconds",
    "succeeded",
    "supported_endpoints_message",
    "unknown_model_message",
]
