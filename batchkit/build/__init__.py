"""Building batch files: `templates` (placeholders, command-line texts) and `bodies` (one class per body
mode) turn table rows into requests (`builder`), and `shards` writes request lines validated, sharded
under per-file limits, whole or not at all, with a manifest of what was written. `structured` makes a JSON
Schema the strict response format of the requests (--response-schema / --response-model)."""

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
    with_build_advice,
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
    write_manifest,
    write_numbered,
)
from .structured import ResponseSchema, load_schema_file, model_schema, response_schema, schema_name
from .templates import load_body_template, parse_params, template_argument, text_argument

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "Manifest",
    "BuildResult",
    "BuildStats",
    "BuiltRequests",
    "EmptyPolicy",
    "Builder",
    "ResponseSchema",
    "ShardWriter",
    "SplitByResult",
    "WriteResult",
    "build_file",
    "build_requests",
    "counted",
    "load_body_template",
    "load_schema_file",
    "make_id",
    "model_schema",
    "manifest_path",
    "parse_params",
    "read_manifest",
    "response_schema",
    "row_number_from_id",
    "schema_name",
    "shard_path",
    "split_by",
    "split_file",
    "template_argument",
    "text_argument",
    "with_build_advice",
    "write_batch",
    "write_manifest",
    "write_numbered",
]
