"""What a .jsonl file holds, told by the shape of its first content line: batch requests, batch results,
or fine-tuning examples. A hook that runs over every *.jsonl of a repository uses it to pass over the
downloaded results and the training data beside the batch files (`validate --skip-non-requests`).

Only a line recognised as a result or a fine-tuning example makes a file "not requests": anything else —
a request, a broken request, a line that is not JSON — is validated, so a damaged batch file is never
waved through.
"""

from __future__ import annotations

import os

import orjson

from ..lines import content_lines, open_binary

REQUESTS = "requests"
RESULTS = "results"
FINE_TUNING = "fine-tuning"

# The first field of every request line of any dialect: a line with one is a request, whatever else it has
_REQUEST_FIELDS = ("body", "url", "method", "params", "modelInput")


def line_kind(obj) -> str:
    """RESULTS for a result line of any provider, FINE_TUNING for a fine-tuning example, else REQUESTS."""
    if type(obj) is not dict:
        return REQUESTS
    if _is_result(obj):
        return RESULTS
    if _is_fine_tuning(obj):
        return FINE_TUNING
    return REQUESTS


def _is_result(obj: dict) -> bool:
    answered = "response" in obj or "error" in obj
    if "recordId" in obj:  # Bedrock: the request's own line, with its output or error added
        return "modelOutput" in obj or "error" in obj
    if "request" in obj:  # Vertex: the request's own line, with its response or status added
        return "response" in obj or "status" in obj
    if any(name in obj for name in _REQUEST_FIELDS):
        return False
    if "custom_id" in obj:  # OpenAI (and kluster, vLLM, Mistral, Together), Anthropic
        return answered or "result" in obj
    return "key" in obj and answered  # Gemini


def _is_fine_tuning(obj: dict) -> bool:
    if any(name in obj for name in ("custom_id", "key", "recordId", "request", *_REQUEST_FIELDS)):
        return False
    chat = isinstance(obj.get("messages"), list)  # supervised and reinforcement fine-tuning
    preference = "preferred_output" in obj and "non_preferred_output" in obj
    legacy = "prompt" in obj and "completion" in obj
    return chat or preference or legacy


def file_kind(path: str | os.PathLike) -> str:
    """The kind of the file's first content line (REQUESTS for an empty file or one that is not JSON).
    Raises InputError when the file cannot be opened or read."""
    with open_binary(path) as stream:
        for _number, raw in content_lines(stream):
            try:
                return line_kind(orjson.loads(raw))
            except orjson.JSONDecodeError:
                return REQUESTS
    return REQUESTS
