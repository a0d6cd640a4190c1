"""One implementation of the remote protocol (`remote.client.Client`) per Batch API, by the name provider
rows give in `remote_api`. Each imports its SDK only when it is used, so an extra that is not installed
costs nothing until a provider that needs it is chosen."""

from __future__ import annotations

from ...errors import UsageError
from ..client import Client
from ..target import Target
from .anthropic_batches import AnthropicBatches
from .bedrock_jobs import BedrockJobs
from .gemini_batches import GeminiBatches
from .mistral_batches import MistralBatches
from .openai_files import OpenAIFiles
from .storage import Bucket, split_url
from .vertex_jobs import VertexJobs

APIS = {
    cls.api: cls
    for cls in (OpenAIFiles, AnthropicBatches, GeminiBatches, MistralBatches, VertexJobs, BedrockJobs)
}


def open_client(target: Target) -> Client:
    """The implementation of the target's API, or a refusal that says why there is none."""
    provider = target.provider
    if provider.remote_api is None:
        raise UsageError(f"{provider.name} cannot take a batch from batchkit: {provider.no_batch_api}")
    return api_class(provider.remote_api)(target)


def api_class(name: str):
    try:
        return APIS[name]
    except KeyError:
        raise UsageError(f"no remote API named {name!r}; known: {', '.join(APIS)}") from None


__all__ = [
    "APIS",
    "AnthropicBatches",
    "BedrockJobs",
    "Bucket",
    "GeminiBatches",
    "MistralBatches",
    "OpenAIFiles",
    "VertexJobs",
    "api_class",
    "open_client",
    "split_url",
]
