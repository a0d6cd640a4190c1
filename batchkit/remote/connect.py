"""Where remote commands go: the provider named (or implied by an address) and its server's address, as the
provider's SDK will be given it."""

from __future__ import annotations

import os

from ..errors import UsageError
from ..keys import check_address, check_variable
from ..providers import Provider, get_provider
from ..words import Meta, Option, Text
from .apis import api_class
from .client import Place
from .target import Target


def resolve_target(
    provider: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    place: Place | None = None,
) -> Target:
    """Where commands go: --provider / --base-url / --api-key-env, else $BATCHKIT_PROVIDER /
    $BATCHKIT_BASE_URL, else kluster. A base URL without a named provider gets the generic profile. `place`:
    the project, location or region of APIs whose batches live in one (Vertex, Bedrock)."""
    if api_key_env:
        check_variable(api_key_env)  # a key pasted in its place is refused, never repeated
    if base_url:
        check_address(base_url)
    elif os.environ.get("BATCHKIT_BASE_URL"):
        base_url = check_address(os.environ["BATCHKIT_BASE_URL"], "$BATCHKIT_BASE_URL")
    name = provider or os.environ.get("BATCHKIT_PROVIDER") or ("generic" if base_url else None)
    profile = get_provider(name)
    if profile.remote_api is None:
        raise UsageError(f"{profile.name} cannot take a batch from batchkit: {profile.no_batch_api}")
    scope, own_address = api_class(profile.remote_api).scope(place or Place())
    if not base_url:
        base_url = own_address or profile.base_url
        if not base_url:
            raise UsageError(
                Text(
                    f"provider {profile.name!r} has no known address; pass ", Option("base_url", Meta("URL"))
                )
            )
    base_url = _without_sdk_path(profile, base_url.rstrip("/"))
    # A key is required when the variable was named, or for a provider that takes keys when talking to its
    # own service or when it has only per-customer addresses (Azure); another address with no key variable
    # set is a local server that needs none. Vertex AI and Bedrock take no key: their SDKs find credentials.
    own_service = base_url == (own_address or profile.base_url or "").rstrip("/")
    key_required = bool(api_key_env) or (
        profile.key_env is not None and (own_service or profile.base_url is None)
    )
    return Target(profile, base_url, api_key_env or profile.key_env, key_required, named=name != "generic",
                  scope=scope)  # fmt: skip


def _without_sdk_path(profile: Provider, base_url: str) -> str:
    """The address without the version path the API's SDK adds itself (`/v1` for Anthropic's and
    Mistral's, `/v1beta` for Gemini's), so `http://127.0.0.1:8000` and `http://127.0.0.1:8000/v1` name
    the same server and the same ledger rows."""
    if profile.remote_api is None:
        return base_url
    for added in api_class(profile.remote_api).sdk_paths:
        if base_url.endswith(added):
            return base_url.removesuffix(added)
    return base_url
