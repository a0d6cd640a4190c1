"""API keys: read from the environment variable a user names, and kept out of everything batchkit writes."""

from __future__ import annotations

import os
import re

from .errors import UsageError


def key_from_env(variable: str | None) -> str | None:
    """The API key held by the environment variable `variable` (None when no variable is named); a named
    variable that is not set is a UsageError, never a request sent without the key."""
    if not variable:
        return None
    key = os.environ.get(variable)
    if not key:
        raise UsageError(f"environment variable {variable} (api_key_env=) is not set")
    return key


REDACTED = "[redacted]"
# a credential header's value as an upstream may echo it: JSON ("authorization": "…", escaped or not),
# a Python repr ('api-key': '…') or an HTTP dump (x-api-key: …); and any bearer token
_CREDENTIAL = re.compile(
    r"""((?:authorization|x-api-key|api-key)\\*["']?\s*[:=]\s*\\*["']?)[^"'\\\r\n,;}]+""", re.IGNORECASE
)
_BEARER = re.compile(r"""(bearer\s+)[^\s"'\\,;}]+""", re.IGNORECASE)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without credential header values, bearer tokens or any of `secrets` (the configured key)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _CREDENTIAL.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
