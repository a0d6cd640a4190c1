"""The local Batch API behind `batchkit serve` and the request execution behind `batchkit run`.

Modules: `config` (ServerConfig, backend choice, exposure rules), `backends` (echo and upstream), `store`
(SQLite + file bodies on disk), `intake` (the validating stage), `worker` (runs batches), and the HTTP
layer: `app` (assembles it), `guard` (host, origin, content type, key), `http` (error envelopes),
`api_models`, `api_files`, `api_batches` (one router per resource), and the other providers' APIs on the
same port: `surfaces` (which API a request is for, its key header, its error envelope), `api_anthropic`,
`api_gemini`, `api_mistral`, over `routes` (what their batch routes share), `kinds` (what differs between
their batches for the worker) and `adapt` (their requests as OpenAI chat and the answers back). The wire shapes and the upstream
sender are `batchkit.wire`, shared with `batchkit run`.

Only the HTTP layer imports FastAPI, and it is imported on first use of what it exports, so importing
this package stays light.
"""

from __future__ import annotations

import importlib

from ..errors import UsageError

_EXPORTS = {
    "ServerConfig": "config",
    "check_exposure": "config",
    "check_port": "port",
    "create_app": "app",
    "serve": "app",
    "window_seconds": "worker",
}
__all__ = ["EXTRA_HINT", "require_server_extra", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


EXTRA_HINT = "install the server extra: pip install 'llm-batchkit[server]'"


def require_server_extra() -> None:
    """Raise a clear UsageError when FastAPI, uvicorn or python-multipart is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "multipart", "httpx") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"batchkit serve needs {', '.join(missing)}; {EXTRA_HINT}")
