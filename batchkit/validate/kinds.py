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

from ..formats import detect, is_result_line
from ..lines import Overlong, content_lines, open_binary

REQUESTS = "requests"
RESULTS = "results"
FINE_TUNING = "fine-tuning"


def line_kind(obj) -> str:
    """RESULTS for a result line of any provider, FINE_TUNING for a fine-tuning example, else REQUESTS."""
    if type(obj) is not dict:
        return REQUESTS
    if is_result_line(obj):
        return RESULTS
    if _is_fine_tuning(obj):
        return FINE_TUNING
    return REQUESTS


def _is_fine_tuning(obj: dict) -> bool:
    if detect(obj) is not None or "custom_id" in obj:
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
            if isinstance(raw, Overlong):
                return REQUESTS  # validated, and reported there
            try:
                return line_kind(orjson.loads(raw))
            except orjson.JSONDecodeError:
                return REQUESTS
    return REQUESTS
