"""The Dask cluster a job runs on: a `distributed.Client` of the scheduler at an address, or of a new
LocalCluster on this machine. Dask is imported only here and only when a cluster is asked for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator

from ..errors import InputError, UsageError

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SCHEDULER_SECONDS = 10  # how long a scheduler address has to answer as one before it is given up on
CONNECT_TIMEOUT = "distributed.comm.timeouts.connect"  # Dask's own setting, obeyed when it is shorter
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
        with _reached(scheduler) as connected:
            yield connected
        return
    if not local_cluster:
        raise UsageError("give --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS) or --local-cluster N")
    # The workers' own log lines (a task's traceback, each worker's shutdown) stay out of the terminal:
    # a failure reaches the caller once, as the exception the task raised.
    with LocalCluster(n_workers=local_cluster, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as connected:  # fmt: skip
        yield connected


def _reached(address: str):
    """A Client of the scheduler at `address`, once something there has answered as a Dask scheduler within
    SCHEDULER_SECONDS (or Dask's connect timeout, when set shorter); else an InputError naming the address
    and the cause (nothing listens, the host is down, another kind of server holds the port: the Client
    alone would wait for that one forever)."""
    from concurrent.futures import ThreadPoolExecutor

    import dask
    from distributed import Client

    seconds = min(SCHEDULER_SECONDS, dask.utils.parse_timedelta(dask.config.get(CONNECT_TIMEOUT, "30s")))

    async def probe() -> None:
        from distributed.comm import connect

        comm = await connect(address, timeout=seconds)
        await comm.close()

    def answered() -> None:
        asyncio.run(asyncio.wait_for(probe(), seconds))

    try:
        with ThreadPoolExecutor(1) as pool:  # its own thread: a caller may be inside an event loop
            pool.submit(answered).result()
        return Client(address, timeout=seconds)
    except (OSError, ValueError, TimeoutError) as e:
        cause = str(e).strip() or f"no answer within {seconds:g} s"
        raise InputError(
            f"the Dask scheduler at {address} cannot be reached: {cause} (check the address, e.g. "
            "tcp://10.0.0.5:8786, and that its scheduler is running)"
        ) from None


@contextlib.contextmanager
def connected(given, scheduler: str | None, local_cluster: int | None) -> Iterator:
    """The client a job was given (left open), else one made as `client` makes it."""
    if given is not None:
        yield given
        return
    with client(scheduler, local_cluster) as made:
        yield made
