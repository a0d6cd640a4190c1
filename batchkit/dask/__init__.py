"""The same per-partition work on a Dask cluster: build, validate, estimate and merge beyond one machine.

batchkit grows no scheduler of its own: a table made of many files (a folder of Parquet files, a pattern, a
Dask DataFrame), or many batch files, are worked on a part at a time by Dask's workers — a laptop's
`LocalCluster`, or any cluster whose scheduler address is given. Imported only when asked for
(`batchkit.dask`, `--scheduler`, `--local-cluster`); it needs the `dask` extra (`dask[dataframe]`,
`distributed`).

Each job maps the feature's own per-part functions and re-implements none: `build` (Builder.numbered,
write_numbered, and the cross-part checks of `validate --jobs`: HashedIds and LineRules), `validate`
(validate_file), `estimate` (tokens.estimate) and `merge` (the merge's reading, RequestIndex, Placing,
to_frame, one hash bucket of custom_ids at a time). What spans parts is settled on the client.

    cluster      the Client: a scheduler's address, or a new LocalCluster
    partitions   a table's partitions, and the batch files paths name
    buckets      the stable hash every process computes alike, and the scratch files of a hash join
    build        build a partitioned table, a partition per task
    validate     validate many files, a file per task
    estimate     count many files, a file per task
    merge        join results to requests, a hash bucket per task
    source       merge onto a partitioned source table
"""

from .buckets import stable_hash
from .build import DaskBuildResult, build
from .cluster import SCHEDULER_ENV, SCHEDULER_SECONDS, client
from .estimate import estimate
from .merge import DaskMergeResult, merge
from .partitions import files_of
from .validate import validate

__all__ = [
    "SCHEDULER_ENV",
    "SCHEDULER_SECONDS",
    "DaskBuildResult",
    "DaskMergeResult",
    "build",
    "client",
    "estimate",
    "files_of",
    "merge",
    "stable_hash",
    "validate",
]
