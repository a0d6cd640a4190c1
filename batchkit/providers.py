"""The provider table: what each Batch API accepts, as data.

Every rule that differs between providers lives in one `Provider` row; code asks the row, it never
branches on a provider's name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from .errors import UsageError

MB = 1_000_000

OPENAI_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)


@dataclass(frozen=True)
class Provider:
    name: str
    description: str
    endpoints: tuple[str, ...] | None  # None: any endpoint
    max_requests: int | None = None
    max_bytes: int | None = None
    one_model: bool = False
    one_endpoint: bool = False
    custom_id_pattern: str | None = None
    base_url: str | None = None
    key_env: str | None = None
    completion_windows: tuple[str, ...] = ("24h",)
    api_version: str | None = None  # Azure-style APIs: sent as ?api-version=, with the key in `api-key`
    structured_outputs: str | None = None  # whose strict-mode schema subset applies (validate/strict.py)

    @property
    def custom_id_re(self) -> re.Pattern | None:
        return re.compile(self.custom_id_pattern) if self.custom_id_pattern else None

    def with_limits(self, max_requests: int | None = None, max_bytes: int | None = None) -> Provider:
        """This provider with the given limits overriding its own (None keeps the provider's)."""
        return replace(
            self,
            max_requests=self.max_requests if max_requests is None else max_requests,
            max_bytes=self.max_bytes if max_bytes is None else max_bytes,
        )


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="kluster",
            description="kluster.ai: /v1/chat/completions, several models per file, 100 MB",
            endpoints=("/v1/chat/completions",),
            max_bytes=100 * MB,
            base_url="https://api.kluster.ai/v1",
            key_env="KLUSTER_API_KEY",
            completion_windows=("24h", "48h", "72h"),
        ),
        Provider(
            name="openai",
            description="OpenAI: one model and one endpoint per file, 50,000 requests, 200 MB",
            endpoints=OPENAI_ENDPOINTS,
            max_requests=50_000,
            max_bytes=200 * MB,
            one_model=True,
            one_endpoint=True,
            base_url="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            structured_outputs="openai",
        ),
        Provider(
            name="azure",
            description="Azure OpenAI global batch: one deployment per file, 100,000 requests, 200 MB",
            endpoints=(
                "/chat/completions",
                "/v1/chat/completions",
                "/embeddings",
                "/v1/embeddings",
                "/v1/responses",
            ),
            max_requests=100_000,
            max_bytes=200 * MB,
            one_model=True,
            one_endpoint=True,
            key_env="AZURE_OPENAI_API_KEY",
            api_version="2024-10-21",
            structured_outputs="openai",
        ),
        Provider(
            name="anthropic",
            description="Anthropic Message Batches: custom_id of [A-Za-z0-9_-]{1,64}, 100,000 requests, 256 MB",
            endpoints=None,
            max_requests=100_000,
            max_bytes=256 * MB,
            custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
            key_env="ANTHROPIC_API_KEY",
        ),
        Provider(
            name="local",
            description="batchkit serve / batchkit run: chat completions, embeddings, completions, responses, moderations",
            endpoints=(
                "/v1/chat/completions",
                "/v1/embeddings",
                "/v1/completions",
                "/v1/responses",
                "/v1/moderations",
            ),
        ),
        Provider(
            name="generic",
            description="any OpenAI-compatible server: per-line checks only",
            endpoints=None,
        ),
    )
}

DEFAULT_PROVIDER = "kluster"


def get_provider(name: str | Provider | None = None) -> Provider:
    """The provider named, else $BATCHKIT_PROVIDER, else kluster."""
    if isinstance(name, Provider):
        return name
    name = name or os.environ.get("BATCHKIT_PROVIDER") or DEFAULT_PROVIDER
    try:
        return PROVIDERS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDERS)}") from None


def parse_size(text: str | int | None) -> int | None:
    """'100MB', '1.5GB', '512k', '2000' → bytes (decimal units, as providers state their limits)."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read size {text!r}; write it like 100MB, 1.5GB or 200000")
    number, unit, binary = m.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** "_kmgt".index(unit or "_"))
