"""One implementation of the remote protocol (`remote.client.Client`) per Batch API, by the name provider
rows give in `remote_api`. Each imports its SDK only when it is used, so an extra that is not installed
costs nothing until a provider that needs it is chosen."""

from __future__ import annotations

from ...errors import UsageError
from .anthropic_batches import AnthropicBatches
from .gemini_batches import GeminiBatches
from .mistral_batches import MistralBatches
from .openai_files import OpenAIFiles

APIS = {cls.api: cls for cls in (OpenAIFiles, AnthropicBatches, GeminiBatches, MistralBatches)}


def api_class(name: str):
    try:
        return APIS[name]
    except KeyError:
        raise UsageError(f"no remote API named {name!r}; known: {', '.join(APIS)}") from None


def sdk(module: str, extra: str):
    """Import an optional SDK, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"this provider's API needs the {module} package: pip install 'llm-batchkit[{extra}]'"
        ) from None


__all__ = ["APIS", "AnthropicBatches", "GeminiBatches", "MistralBatches", "OpenAIFiles", "api_class", "sdk"]
