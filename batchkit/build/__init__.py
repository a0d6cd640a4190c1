"""Building batch files: templates and body modes turn table rows into requests (`builder`), and
`shards` writes request lines validated, sharded under per-file limits, whole or not at all."""

from .builder import (
    CHAT,
    EMBEDDINGS,
    Builder,
    BuildResult,
    BuildStats,
    build_file,
    build_requests,
    make_id,
    parse_params,
    row_number_from_id,
    text_argument,
)
from .shards import ShardWriter, WriteResult, shard_path, split_file, write_batch, write_numbered

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "BuildResult",
    "BuildStats",
    "Builder",
    "ShardWriter",
    "WriteResult",
    "build_file",
    "build_requests",
    "make_id",
    "parse_params",
    "row_number_from_id",
    "shard_path",
    "split_file",
    "text_argument",
    "write_batch",
    "write_numbered",
]
