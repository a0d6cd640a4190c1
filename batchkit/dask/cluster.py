"""The Dask cluster a job runs on: a `distributed.Client` of the scheduler at an address, or of a new
LocalCluster on this machine. Dask is imported only here and only when a cluster is asked for."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ..errors import UsageError

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
EXTRA_HINT = "install the dask extra: pip install '.[dask]' (dask[dataframe] and distributed)"


def _require():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise UsageError(f"running on Dask needs {e.name}; {EXTRA_HINT}") from None


@contextlib.contextmanager
def client(scheduler: str | None = None, local_cluster: int | None = None) -> Iterator:
    """A `distributed.Client`: to the scheduler at `scheduler` (default $DASK_SCHEDULER_ADDRESS), or to a
    new LocalCluster of `local_cluster` worker processes, closed at the end of the block."""
    _require()
    from distributed import Client, LocalCluster

    scheduler = scheduler or (None if local_cluster else os.environ.get(SCHEDULER_ENV))
    if scheduler:
        with Client(scheduler) as connected:
            yield connected
        return
    if not local_cluster:
        raise UsageError("give --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS) or --local-cluster N")
    with LocalCluster(n_workers=local_cluster, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as connected:  # fmt: skip
        yield connected


@contextlib.contextmanager
def connected(given, scheduler: str | None, local_cluster: int | None) -> Iterator:
    """The client a job was given (left open), else one made as `client` makes it."""
    if given is not None:
        yield given
        return
    with client(scheduler, local_cluster) as made:
        yield made
