"""`--scheduler ADDRESS` / `--local-cluster N` on build, validate, estimate and merge: the same commands,
their per-partition (or per-file) work done on Dask. Nothing here imports Dask until one of them is given."""

from __future__ import annotations

import click

CLUSTER_OPTIONS = ("scheduler", "local_cluster")


def cluster_options(f):
    f = click.option(
        "--local-cluster",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Run on a new local Dask cluster of N worker processes.",
    )(f)
    f = click.option(
        "--scheduler",
        metavar="ADDRESS",
        envvar="DASK_SCHEDULER_ADDRESS",
        show_envvar=True,
        help="Run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786).",
    )(f)
    return f


def on_cluster(options: dict) -> dict | None:
    """The cluster options when one was asked for (removed from `options` either way), else None."""
    chosen = {name: options.pop(name, None) for name in CLUSTER_OPTIONS}
    return chosen if any(chosen.values()) else None


def build(table, output, cluster: dict, provider, max_requests, max_bytes, force, max_findings, **options):
    """`batchkit build` on Dask: every partition of TABLE (a folder of Parquet files, a pattern) is built
    by a worker into OUT-pNNNNN.jsonl; returns the result for the CLI to print."""
    from .. import dask
    from ..errors import UsageError

    subset = options.pop("subset", None)
    if subset is not None and not subset.whole:
        raise UsageError(
            "--limit and --sample are for one machine; drop them with --scheduler/--local-cluster"
        )
    for unsupported in ("sheet", "encoding", "delimiter", "progress", "stats"):
        options.pop(unsupported, None)
    return dask.build(table, output, provider=provider, max_requests=max_requests, max_bytes=max_bytes,
                      force=force, max_findings=max_findings, **cluster, **options)  # fmt: skip


def validate(files, cluster: dict, provider, **options):
    from .. import dask

    return dask.validate(list(files), provider, **cluster, **options)


def estimate(files, cluster: dict, provider, prices, tokenizer, default_max_output, dialect, model):
    from .. import dask

    return dask.estimate(list(files), provider, prices=prices, tokenizer=tokenizer,
                         default_max_output=default_max_output, dialect=dialect, model=model, **cluster)  # fmt: skip


def merge(inputs, results, output, cluster: dict, **source_options):
    from .. import dask

    return dask.merge(list(inputs), list(results), output, **source_options, **cluster)
