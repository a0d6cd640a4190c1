"""Building batch files: `templates` (placeholders, command-line texts) and `bodies` (one class per body
mode) turn table rows into requests (`builder`), and `shards` writes request lines validated, sharded
under per-file limits, whole or not at all, with a manifest of what was written."""

from .builder import (
    CHAT,
    EMBEDDINGS,
    Builder,
    BuildResult,
    BuildStats,
    BuiltRequests,
    EmptyPolicy,
    build_file,
    build_requests,
    make_id,
    row_number_from_id,
)
from .by_key import SplitByResult, split_by
from .shards import (
    Manifest,
    ShardWriter,
    WriteResult,
    counted,
    manifest_path,
    read_manifest,
    shard_path,
    split_file,
    write_batch,
    write_numbered,
)
from .templates import parse_params, template_argument, text_argument

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "Manifest",
    "BuildResult",
    "BuildStats",
    "BuiltRequests",
    "EmptyPolicy",
    "Builder",
    "ShardWriter",
    "SplitByResult",
    "WriteResult",
    "build_file",
    "build_requests",
    "counted",
    "make_id",
    "manifest_path",
    "parse_params",
    "read_manifest",
    "row_number_from_id",
    "shard_path",
    "split_by",
    "split_file",
    "template_argument",
    "text_argument",
    "write_batch",
    "write_numbered",
]
