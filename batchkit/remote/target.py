"""Where remote commands go: a provider row, the server's address and the variable holding the key."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UsageError
from ..providers import Provider, get_provider

# Sent when a server needs no key (a local `batchkit serve`, vLLM): the SDKs insist on some value.
PLACEHOLDER_KEY = "batchkit-no-key"


@dataclass(frozen=True)
class Target:
    """A provider profile (for validation) and the server to talk to. Holds the key's variable, not the key."""

    provider: Provider
    base_url: str
    key_env: str | None
    key_required: bool
    named: bool = True  # the provider was chosen by name, not implied by a bare --base-url

    @property
    def label(self) -> str:
        return f"{self.provider.name} ({self.base_url})"

    @property
    def who(self) -> str:
        """How messages name the other side: the provider, or the address the user gave."""
        return self.provider.name if self.named else f"the server at {self.base_url}"

    @property
    def own_service(self) -> bool:
        """Whether this is the provider's own address (not a local server or a gateway)."""
        return self.base_url == (self.provider.base_url or "").rstrip("/")


def resolve_target(
    provider: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
) -> Target:
    """Where commands go: --provider / --base-url / --api-key-env, else $BATCHKIT_PROVIDER /
    $BATCHKIT_BASE_URL, else kluster. A base URL without a named provider gets the generic profile."""
    base_url = base_url or os.environ.get("BATCHKIT_BASE_URL") or None
    name = provider or os.environ.get("BATCHKIT_PROVIDER") or ("generic" if base_url else None)
    profile = get_provider(name)
    if profile.remote_api is None:
        raise UsageError(f"{profile.name} cannot take a batch from batchkit: {profile.no_batch_api}")
    if not base_url:
        if not profile.base_url:
            raise UsageError(f"provider {profile.name!r} has no known address; pass base_url=URL")
        base_url = profile.base_url
    base_url = _without_sdk_path(profile, base_url.rstrip("/"))
    # A key is required when the variable was named, when talking to the provider's own service, or for a
    # provider that has only per-customer addresses (Azure); another address with no key variable set is a
    # local server that needs none.
    own_service = base_url == (profile.base_url or "").rstrip("/")
    key_required = (
        bool(api_key_env) or own_service or (profile.base_url is None and profile.key_env is not None)
    )
    return Target(profile, base_url, api_key_env or profile.key_env, key_required, named=name != "generic")


def _without_sdk_path(profile: Provider, base_url: str) -> str:
    """The address without the version path the API's SDK adds itself (`/v1` for Anthropic's and
    Mistral's, `/v1beta` for Gemini's), so `http://127.0.0.1:8000` and `http://127.0.0.1:8000/v1` name
    the same server and the same ledger rows."""
    if profile.remote_api is None:
        return base_url
    from .apis import api_class

    for added in api_class(profile.remote_api).sdk_paths:
        if base_url.endswith(added):
            return base_url.removesuffix(added)
    return base_url


def api_key(target: Target) -> str:
    """The key from the target's variable; the placeholder for a server that needs none."""
    names = [target.key_env] if target.key_env else []
    if target.key_env and target.key_env == target.provider.key_env:
        names += target.provider.also_key_envs  # GOOGLE_API_KEY, read by Gemini's own SDK too
    for name in names:
        if key := os.environ.get(name):
            return key
    if target.key_required:
        if not target.key_env:
            raise UsageError("no API key: name the variable that holds it with api_key_env=VAR")
        if target.own_service:
            raise UsageError(
                f"no API key: set {target.key_env} to your {target.provider.name} API key "
                "(or name another variable with api_key_env=)"
            )
        raise UsageError(f"no API key: set {target.key_env} to the API key for {target.base_url}")
    return PLACEHOLDER_KEY
