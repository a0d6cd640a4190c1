"""Where remote commands go: a provider row, the server's address and the variable holding the key."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UsageError
from ..keys import key_from_env
from ..providers import Provider
from ..words import Meta, Option, Text

# Sent when a server needs no key (a local `batchkit serve`, vLLM): the SDKs insist on some value.
PLACEHOLDER_KEY = "batchkit-no-key"
SCOPE_MARK = "#"  # between a server's address and the scope its batches live in, in the ledger's address


@dataclass(frozen=True)
class Staging:
    """Where `submit` puts a file for an API that reads its input from object storage (an `s3://` or
    `gs://` prefix), and the role the service reads and writes it with (Bedrock's service role)."""

    prefix: str
    role_arn: str | None = None


@dataclass(frozen=True)
class Target:
    """A provider profile (for validation) and the server to talk to. Holds the key's variable, not the key."""

    provider: Provider
    base_url: str
    key_env: str | None
    key_required: bool
    named: bool = True  # the provider was chosen by name, not implied by a bare --base-url
    # where the API keeps batches beyond its address: "projects/P/locations/L" (Vertex), a region (Bedrock)
    scope: str = ""
    staging: Staging | None = None  # submit only: where the input is staged

    @property
    def address(self) -> str:
        """The place of the batches as the ledger knows it: the address, then the scope (when there is one)."""
        return f"{self.base_url}{SCOPE_MARK}{self.scope}" if self.scope else self.base_url

    @property
    def label(self) -> str:
        return f"{self.provider.name} ({self.base_url})"

    @property
    def who(self) -> str:
        """How messages name the other side: the provider, or the address the user gave."""
        return self.provider.name if self.named else f"the server at {self.base_url}"

    def batch_model(self, model: str | None) -> str | None:
        """`model` when it is the model of a batch of an API that takes it there (Gemini, Mistral, Vertex,
        Bedrock): it then answers every request of the batch, and a batch of another is another batch."""
        return model if self.provider.model_on_batch else None

    @property
    def own_service(self) -> bool:
        """Whether this is the provider's own address (not a local server or a gateway)."""
        return self.base_url == (self.provider.base_url or "").rstrip("/")


def split_address(address: str) -> tuple[str, str]:
    """(base URL, scope) of a ledger address."""
    base_url, _, scope = address.partition(SCOPE_MARK)
    return base_url, scope


def api_key(target: Target) -> str:
    """The key from the target's variable; the placeholder for a server that needs none."""
    names = [target.key_env] if target.key_env else []
    if target.key_env and target.key_env == target.provider.key_env:
        names += target.provider.also_key_envs  # GOOGLE_API_KEY, read by Gemini's own SDK too
    for name in names:
        if os.environ.get(name):
            return key_from_env(name)  # checked: a key no header can carry is one line, never quoted
    if target.key_required:
        if not target.key_env:
            raise UsageError(
                Text("no API key: name the variable that holds it with ", Option("api_key_env", Meta("VAR")))
            )
        if target.own_service:
            raise UsageError(
                Text(
                    f"no API key: set {target.key_env} to your {target.provider.name} API key "
                    "(or name another variable with ",
                    Option("api_key_env"),
                    ")",
                )
            )
        raise UsageError(f"no API key: set {target.key_env} to the API key for {target.base_url}")
    return PLACEHOLDER_KEY
