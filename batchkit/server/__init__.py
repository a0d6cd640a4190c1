"""The local Batch API behind `batchkit serve` and the request execution behind `batchkit run`.

Modules: `protocol` (OpenAI wire shapes: ids, error envelopes, output lines, validating-stage errors),
`upstream` (a retrying, rate-limited HTTP client for any OpenAI-compatible server), `backends` (echo and
upstream), `store` (SQLite + file bodies on disk), `worker` (runs batches), `app` (FastAPI routes).

Only `app` imports FastAPI; `protocol` needs nothing beyond batchkit itself, so importing this package
stays light.
"""

from __future__ import annotations

from ..errors import UsageError

EXTRA_HINT = "install the server extra: pip install 'llm-batchkit[server]'"


def require_server_extra() -> None:
    """Raise a clear UsageError when FastAPI, uvicorn or python-multipart is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "multipart", "httpx") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"batchkit serve needs {', '.join(missing)}; {EXTRA_HINT}")
