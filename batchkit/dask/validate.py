"""`validate` on Dask: many batch files, each validated by a worker with `validate_file` itself."""

from __future__ import annotations

from ..findings import Report
from ..providers import Provider
from ..validate import validate_file
from .cluster import connected
from .partitions import files_of


def validate(paths, provider: str | Provider | None = None, *, scheduler: str | None = None,
             local_cluster: int | None = None, dask_client=None, **options) -> list[Report]:  # fmt: skip
    """Validate many batch files on Dask, one worker task per file; the reports in the order of the files.
    `options` are `validate_file`'s (`max_findings`, `max_requests`, `max_bytes`)."""
    files = files_of(paths)
    with connected(dask_client, scheduler, local_cluster) as on:
        futures = on.map(validate_file, files, provider=provider, jobs=1, pure=False, **options)
        return on.gather(futures)
