"""`estimate` on Dask: many batch files, each counted by a worker with `tokens.estimate` itself, combined
into one `Estimate`."""

from __future__ import annotations

import dataclasses

from ..options import Options
from ..tokens import DEFAULT_MAX_OUTPUT, Estimate
from ..tokens import estimate as estimate_files
from ..tokens.estimates import run_provider
from .cluster import connected
from .partitions import files_of


def estimate(paths, provider: str | None = None, *, prices=None, tokenizer=None, default_max_output=None,
             dialect=None, model: str | None = None, scheduler: str | None = None, local_cluster: int | None = None,
             dask_client=None) -> Estimate:  # fmt: skip
    """Tokens and cost of many batch files on Dask, one worker task per file, combined into one
    `Estimate` (the files in the order given); `dialect` and `model` as for `batchkit.estimate`."""
    files = files_of(paths)
    default = DEFAULT_MAX_OUTPUT if default_max_output is None else default_max_output
    with connected(dask_client, scheduler, local_cluster) as on:
        futures = on.map(_estimate_one, files, provider=provider, prices=prices, tokenizer=tokenizer,
                         default=default, dialect=dialect, model=model, pure=False)  # fmt: skip
        parts = on.gather(futures)
    files = [f for part in parts for f in part.files]
    options = Options.of(provider, dialect=dialect)
    return Estimate(run_provider(files, options), default, files, parts[0].priced_providers)


def _estimate_one(path: str, provider, prices, tokenizer, default: int, dialect, model) -> Estimate:
    result = estimate_files([path], provider, prices, tokenizer, default, None, dialect, model)
    for model in (m for f in result.files for m in f.models.values()):
        # the counting function stays on the worker; its name and whether it is estimated travel
        model.counter = dataclasses.replace(model.counter, _count=None)
    return result
