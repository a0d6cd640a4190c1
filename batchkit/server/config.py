"""What a `batchkit serve` process is configured with, and the backend and exposure rules that follow."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UsageError
from ..keys import key_from_env
from ..providers import PROVIDERS
from .backends import EchoBackend, Faults, UpstreamBackend


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "echo"
    upstream_url: str | None = None
    upstream_key_env: str | None = None
    models: tuple[str, ...] = ()
    concurrency: int = 8
    window_scale: float = 1.0
    completion_windows: tuple[str, ...] = ("24h",)
    latency: float = 0.0
    fail_every: int = 0
    fail_rate: float = 0.0  # echo: this share of requests fail with 500 or 429
    expire_rate: float = 0.0  # echo: this share of a batch's requests are left to expire
    seed: int | None = None  # of the draws that pick them
    api_key_env: str | None = None  # clients must send `Authorization: Bearer <its value>`
    allowed_hosts: tuple[str, ...] = ()  # Host header names served besides the bound address
    allowed_origins: tuple[str, ...] = ()  # web origins (scheme://host:port) allowed besides the server's own
    insecure: bool = False  # allow a non-loopback address without a key
    enqueued_token_limit: int | None = None  # prompt tokens of in-flight batches per model, at most
    max_file_size: int = PROVIDERS["openai"].max_bytes  # bytes an upload may have (OpenAI's batch limit)


def server_key(config: ServerConfig) -> str | None:
    """The key clients must present, or None when none is required."""
    return key_from_env(config.api_key_env, "--api-key-env")


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin or URL; None for anything else (`null`, a file page)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        return (scheme, host, parts.port or DEFAULT_PORTS[scheme]) if host else None
    except (KeyError, ValueError):
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(config: ServerConfig) -> None:
    """Refuse to listen beyond this machine with no key, unless the user said --insecure (and a key
    variable that is not set)."""
    server_key(config)
    for origin in config.allowed_origins:
        if origin_of(origin) is None:
            raise UsageError(
                f"--allowed-origin {origin!r}: write an origin as http://HOST:PORT or https://HOST"
            )
    if not is_loopback(config.host) and not config.api_key_env and not config.insecure:
        raise UsageError(
            f"--host {config.host} lets other machines reach this server: require a key with "
            "--api-key-env VAR (clients send it as a bearer token), or pass --insecure to serve without one"
        )


def make_backend(config: ServerConfig):
    if config.backend == "echo":
        if config.fail_rate + config.expire_rate > 1:
            raise UsageError("--fail-rate and --expire-rate add up to more than 1")
        faults = Faults(config.fail_rate, config.expire_rate, config.seed)
        return EchoBackend(config.models, latency=config.latency, fail_every=config.fail_every, faults=faults)
    if config.fail_rate or config.expire_rate:
        raise UsageError("--fail-rate and --expire-rate are for the echo backend")
    if config.backend == "upstream":
        if not config.upstream_url:
            raise UsageError("--backend upstream needs --upstream-url (e.g. http://localhost:8001/v1)")
        api_key = key_from_env(config.upstream_key_env, "--upstream-key-env")
        return UpstreamBackend(
            config.upstream_url, api_key, concurrency=config.concurrency, models=config.models
        )
    raise UsageError(f"unknown backend {config.backend!r}; choose echo or upstream")
