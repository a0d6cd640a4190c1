"""batchkit for asyncio: `await submit(...)`, `await job.wait()`, `await map(...)`, from a service's event
loop or Jupyter's running one. Each call runs the synchronous API's own code in a worker thread
(`asyncio.to_thread`), so the loop stays free and the ledger, resume and checks are the same; several calls
at once each get their own thread.

    jobs = await batchkit.aio.submit(requests, base_url=URL, wait=False)
    await jobs.wait()
    answers = await batchkit.aio.map(prompts, model="gpt-4o-mini", base_url=URL)

Cancelling an awaiting task stops the waiting, never the batch; the thread finishes the call it is in.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import mapping, remote


def _in_thread(method):
    """An async method that runs the synchronous method of the same name on the wrapped handle."""

    @functools.wraps(method)
    async def run(self, *args, **kwargs):
        return await asyncio.to_thread(getattr(self.sync, method.__name__), *args, **kwargs)

    return run


class _Awaited:
    """What a job and a submission both do, awaited; each runs the synchronous handle's (`sync`) method."""

    @_in_thread
    def status(self): ...

    @_in_thread
    def wait(self, interval: float = 10.0): ...

    @_in_thread
    def download(self, out_dir=None, *, force: bool = False): ...

    @_in_thread
    def cancel(self): ...

    @_in_thread
    def results(self, out_dir=None, *, interval: float = 10.0): ...


@dataclass
class BatchJob(_Awaited):
    """A `batchkit.BatchJob` whose methods are awaited: `await job.wait()`; `sync` is the handle itself."""

    sync: remote.BatchJob

    @property
    def batch_id(self) -> str:
        return self.sync.batch_id

    @property
    def path(self) -> Path:
        return self.sync.path


@dataclass
class Submission(_Awaited):
    """A `batchkit.Submission` whose methods are awaited; iterate it for its `BatchJob`s."""

    sync: remote.Submission

    def __iter__(self) -> Iterator[BatchJob]:
        return (BatchJob(job) for job in self.sync)

    def __len__(self) -> int:
        return len(self.sync)

    def __getitem__(self, index: int) -> BatchJob:
        return BatchJob(self.sync[index])

    @property
    def paths(self) -> list[Path]:
        return self.sync.paths


async def submit(path_or_requests, **options) -> Submission:
    """`batchkit.submit` awaited (the same arguments): with `wait=False` it returns once the batches are
    created, to be awaited with `await jobs.wait()`."""
    return Submission(await asyncio.to_thread(remote.submit, path_or_requests, **options))


async def map(data, **options):  # noqa: A001 (batchkit.map, awaited)
    """`batchkit.map` awaited (the same arguments and result)."""
    return await asyncio.to_thread(mapping.map, data, **options)


__all__ = ["BatchJob", "Submission", "map", "submit"]
