"""The error digest: failures grouped by status, code and message pattern, each with a count, example
custom_ids and a hint where one is known."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..report import printable, without_sequences
from .read import CANCELED, CANCELED_CODE, EXPIRED, EXPIRED_CODE, MISSING, NO_ANSWER_CODE

EXAMPLES = 2  # example custom_ids kept per group


@dataclass(slots=True)
class DigestEntry:
    """Failures sharing a code and a message pattern."""

    status: str
    code: str
    pattern: str
    count: int
    examples: list[str]
    hint: str | None

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "code": self.code,
            "pattern": self.pattern,
            "count": self.count,
            "examples": self.examples,
            "hint": self.hint,
        }


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_ID_LIKE = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{12,}\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PATTERN_LENGTH = 160


def message_pattern(message: str | None) -> str:
    """A message with its variable parts (quoted values, ids, numbers) masked, so alike failures group."""
    if not message:
        return "(no message)"
    # terminal sequences go before numbers are masked (`ESC [ 2 J` would no longer read as one), other
    # controls are escaped after (their escapes hold digits)
    text = without_sequences(" ".join(message.split()))
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[-1], text)
    text = _ID_LIKE.sub("<id>", text)
    text = printable(_NUMBER.sub("<n>", text))
    return text if len(text) <= _PATTERN_LENGTH else text[: _PATTERN_LENGTH - 1] + "…"


def hint_for(status: str, code: str | None, status_code: int | None, message: str | None) -> str | None:
    """What usually fixes a failure of this kind, when something is known to."""
    code = (code or "").lower()
    text = (message or "").lower()
    if code == "context_length_exceeded" or "context length" in text or "context_length" in text:
        return "shorten the input (or lower max_tokens), or raise the limit with a longer-context model"
    if code in ("rate_limit_exceeded", "token_limit_exceeded") or "rate limit" in text:
        return "split the batch into smaller files (`batchkit split --max-requests N`) and submit them apart"
    if status == EXPIRED or code == EXPIRED_CODE:
        return "the batch window ended first; `batchkit retry` writes these requests to a new batch file"
    if status == CANCELED or code == CANCELED_CODE:
        return "the batch was canceled before these ran; `batchkit retry` writes them to a new batch file"
    if status_code in (401, 403) or code in (
        "invalid_api_key",
        "authentication_error",
        "permission_denied",
        "insufficient_permissions",
        "unauthorized",
    ):
        return "check the API key and its permissions for this model"
    if code == "model_not_found" or (
        "model" in text and ("does not exist" in text or "not found" in text or "unknown" in text)
    ):
        return "unknown model: check its name against `batchkit models`"
    if code == NO_ANSWER_CODE:
        return "the server answered without an answer; `batchkit retry` writes these requests to a new batch file"
    if status == MISSING:
        return "no result came back; check that every output and error file was given, then `batchkit retry`"
    if (status_code is not None and status_code >= 500) or code in ("server_error", "internal_error"):
        return "a server-side failure; retrying usually succeeds (`batchkit retry`)"
    return None


def digest(failures: Iterable[tuple]) -> list[DigestEntry]:
    """Groups (custom_id, status, error code, message, HTTP status or None) of failed requests; biggest
    group first."""
    groups: dict[tuple, DigestEntry] = {}
    patterns: dict[str | None, str] = {}
    for custom_id, status, code, message, status_code in failures:
        if status == MISSING:
            key = (MISSING, MISSING, "no result for this request")
            status_code = message = None
        else:
            pattern = patterns.get(message)
            if pattern is None:
                pattern = patterns[message] = message_pattern(message)
            key = (status, code or status, pattern)
        entry = groups.get(key)
        if entry is None:
            hint = hint_for(key[0], key[1], status_code, message)
            groups[key] = entry = DigestEntry(key[0], key[1], key[2], 0, [], hint)
        entry.count += 1
        if len(entry.examples) < EXAMPLES:
            entry.examples.append(custom_id)
    return sorted(groups.values(), key=lambda e: (-e.count, e.status, e.code, e.pattern))
