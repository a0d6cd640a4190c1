"""Building batch files: `templates` (placeholders, command-line texts) and `bodies` (one class per body
mode) turn table rows into requests (`builder`), written through batchkit.batchfile. `structured` makes a JSON
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
from .structured import ResponseSchema, load_schema_file, model_schema, response_schema, schema_name
from .templates import load_body_template, parse_params, template_argument, text_argument

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "BuildResult",
    "BuildStats",
    "BuiltRequests",
    "EmptyPolicy",
    "Builder",
    "ResponseSchema",
    "build_file",
    "build_requests",
    "load_body_template",
    "load_schema_file",
    "make_id",
    "model_schema",
    "parse_params",
    "response_schema",
    "row_number_from_id",
    "schema_name",
    "template_argument",
    "text_argument",
    "with_build_advice",
]
