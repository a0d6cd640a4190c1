"""batchkit: author, validate, submit and merge JSONL batch files for OpenAI-compatible Batch APIs.

The public API is re-exported here and imported on first use, so `import batchkit` stays light
(validation never imports pandas).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "validate_file": "validate",
    "validate_request": "validate",
    "Validator": "validate",
    "Finding": "findings",
    "Report": "findings",
    "Summary": "findings",
    "get_provider": "providers",
    "Provider": "providers",
    "PROVIDERS": "providers",
    "build_requests": "build",
    "write_batch": "build",
    "read_results": "results",
    "merge": "results",
    "run_batch": "runner",
    "estimate": "tokens",
    "BatchkitError": "errors",
    "UsageError": "errors",
    "InputError": "errors",
    "ValidationFailed": "errors",
    "RemoteError": "errors",
    "JobFailed": "errors",
    "convert_request": "dialects",
    "convert_file": "dialects",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
