"""The providers' own SDKs, imported when their provider is used."""

from __future__ import annotations

import importlib

from ...errors import UsageError


def sdk(module: str, extra: str):
    """Import an optional SDK, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"this provider's API needs the {module} package: pip install 'llm-batchkit[{extra}]'"
        ) from None
