"""Object storage for the APIs that read a batch's input from a bucket and write its results there (Vertex
AI from `gs://`, Bedrock from `s3://`), through fsspec: `gcsfs` and `s3fs`, each finding its endpoint and
credentials the way its own libraries do (application default credentials and `STORAGE_EMULATOR_HOST` for
Cloud Storage; boto3's chain and `AWS_ENDPOINT_URL_S3` for S3). batchkit never reads or keeps a credential.

A staged file is named by its content (`PREFIX/<sha256>.jsonl`), so a second run, or another submission of
the same content, finds it there instead of sending it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ...errors import RemoteError, UsageError
from ...keys import redact
from ..client import MAX_SAID
from ..records import BytesMoved, RemoteFile
from ..sending import file_digest
from .sdk import sdk

SCHEMES = {"gs": "vertex", "s3": "bedrock"}  # the scheme → the extra that installs its file system
CHUNK = 1 << 20


def split_url(url: str) -> tuple[str, str]:
    """('s3', 'bucket/key') of 's3://bucket/key'."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES or not rest.split("/")[0]:
        raise UsageError(
            f"{url!r} is not a bucket address; write it like s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/"
        )
    return scheme, rest


def filesystem(scheme: str):
    """The fsspec file system of a scheme (the core GCS one: the experimental one probes a gRPC endpoint
    that emulators and some networks do not offer). A new one each time, not fsspec's cached instance, so
    the endpoint and credentials are the ones the environment holds now."""
    if scheme == "gs":
        core = sdk("gcsfs.core", SCHEMES[scheme])
        with google_credentials():
            return core.GCSFileSystem(token="google_default", skip_instance_cache=True)
    return sdk("s3fs", SCHEMES[scheme]).S3FileSystem(skip_instance_cache=True)


@contextlib.contextmanager
def google_credentials() -> Iterator[None]:
    """Around what looks for Google's application default credentials: none found is one line saying how
    to give them."""
    from google.auth import exceptions

    try:
        yield
    except exceptions.DefaultCredentialsError:
        raise UsageError(
            "no Google Cloud credentials found: run `gcloud auth application-default login`, or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file"
        ) from None


def staged_name(prefix: str, sha256: str) -> str:
    """Where content is staged under a prefix: named by its sha256."""
    return f"{prefix.rstrip('/')}/{sha256}.jsonl"


def joined(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


class Bucket:
    """Reads and writes objects under `scheme://` addresses; every failure is one RemoteError line."""

    def __init__(self, scheme: str):
        self.scheme = scheme
        self._fs = filesystem(scheme)

    def _path(self, url: str) -> str:
        scheme, path = split_url(url)
        if scheme != self.scheme:
            raise UsageError(f"{url}: this provider's bucket addresses start with {self.scheme}://")
        return path

    @contextlib.contextmanager
    def _calling(self, action: str, url: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise RemoteError(f"{action}: {url} does not exist", 404) from None
        except PermissionError as e:
            raise RemoteError(
                f"{action}: {url}: permission denied ({e}); check that your credentials may use the bucket",
                403,
            ) from None
        except Exception as e:  # noqa: BLE001 (the storage SDKs' own: a dropped connection, refused credentials)
            said = redact(f"{type(e).__name__}: {e}")[:MAX_SAID]
            hint = (
                "; check your credentials"
                if "auth" in type(e).__module__.lower() or "Credential" in said
                else ""
            )
            raise RemoteError(f"{action}: {url}: {said}{hint}", None) from None

    def size(self, url: str) -> int | None:
        """The object's size, or None when there is no such object."""
        with self._calling("looking up", url):
            try:
                return int(self._fs.info(self._path(url))["size"])
            except FileNotFoundError:
                return None

    def put(self, path: Path, url: str, progress: BytesMoved | None = None) -> int:
        """Write a local file to `url` (whole or not at all: object stores publish an object when its
        upload ends); the bytes written."""
        total = path.stat().st_size
        callback = _callback(progress, total)
        with self._calling(f"staging {path.name}", url):
            self._fs.put_file(str(path), self._path(url), callback=callback)
        return total

    def listing(self, prefix: str) -> list[str]:
        """The objects under a prefix (recursively), in name order, as addresses."""
        with self._calling("listing", prefix):
            try:
                found = self._fs.find(self._path(prefix))
            except FileNotFoundError:
                return []
        return [f"{self.scheme}://{name}" for name in sorted(found)]

    def copy(self, url: str, sink, progress: BytesMoved | None = None, done: int = 0) -> int:
        """Stream an object into an open binary sink; the bytes written (`done` counts earlier ones)."""
        written = 0
        with self._calling("downloading", url), self._fs.open(self._path(url), "rb") as stream:
            while chunk := stream.read(CHUNK):
                sink.write(chunk)
                written += len(chunk)
                if progress:
                    progress(done + written, None)
        return written

    def stage(self, path: Path, prefix: str, progress: BytesMoved | None = None) -> RemoteFile:
        """Put a batch file under a prefix, named by its content (one already there of its size is it)."""
        url = staged_name(prefix, file_digest(path)[0])
        size = path.stat().st_size
        if self.size(url) != size:
            self.put(path, url, progress)
        return RemoteFile(id=url, filename=path.name, bytes=size, purpose="batch", status="processed")

    def staged(self, url: str) -> RemoteFile:
        """A staged file as a RemoteFile (status "deleted" when it is gone)."""
        size = self.size(url)
        return RemoteFile(
            id=url, bytes=size, purpose="batch", status="processed" if size is not None else "deleted"
        )

    def remove(self, url: str) -> bool:
        """Delete an object; False when it was already gone."""
        with self._calling("removing", url):
            try:
                self._fs.rm_file(self._path(url))
            except FileNotFoundError:
                return False
        return True


def _callback(progress: BytesMoved | None, total: int):
    """An fsspec callback that reports the bytes moved."""
    from fsspec.callbacks import Callback

    class Reporting(Callback):
        def call(self, *args, **kwargs):
            if progress:
                progress(self.value, self.size or total)

    return Reporting(size=total)
