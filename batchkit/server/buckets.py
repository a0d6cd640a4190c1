"""The emulated Vertex AI and Bedrock services' side of object storage: a job's staged input read from its
bucket, its outputs written where each service writes them. The buckets are reached the way batchkit's
own staging reaches them (`remote.apis.Bucket`: gcsfs and s3fs, with the endpoint and credentials their
libraries find in the server's environment: `STORAGE_EMULATOR_HOST`, `AWS_ENDPOINT_URL_S3` …)."""

from __future__ import annotations

import os
from pathlib import Path

from ..remote.apis import Bucket, split_url

_BUCKETS: dict[str, Bucket] = {}


def bucket(url: str) -> Bucket:
    scheme, _ = split_url(url)
    if scheme not in _BUCKETS:
        _BUCKETS[scheme] = Bucket(scheme)
    return _BUCKETS[scheme]


class TooLarge(Exception):
    """An object larger than the server takes."""


def fetch(url: str, path: Path, limit: int) -> int:
    """Copy an object of at most `limit` bytes into a local file (synced); its size. A larger one is
    refused (`TooLarge`) before any of it is read."""
    size = bucket(url).size(url)
    if size is not None and size > limit:
        raise TooLarge(f"{url} holds {size:,} bytes, more than this server's --max-file-size of {limit:,}")
    with open(path, "wb") as out:
        size = bucket(url).copy(url, out)
        out.flush()
        os.fsync(out.fileno())
    return size


def publish(path: Path, url: str) -> None:
    """Write a local file as an object (an upload is whole or absent; a second one replaces the first)."""
    bucket(url).put(path, url)


def publish_bytes(data: bytes, url: str, scratch: Path) -> None:
    """Write bytes as an object, through a scratch file."""
    scratch.write_bytes(data)
    try:
        publish(scratch, url)
    finally:
        scratch.unlink(missing_ok=True)
