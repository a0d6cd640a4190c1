"""Results: result lines of every shape read into one record (`read`), joined back to the requests
they answer by custom_id (`requests` → `table` ← `join`, behind `batchkit.merge`), made a DataFrame
(`frame`, with structured answers parsed into columns by `parsed`) and written with hostile cells made
safe (`export`), or written a slice at a time with the answers read back by offset (`stream`, `offsets`,
`arrow`; the common result line is read fast by `read.common_record`);
what was found is the `report`; failures
grouped (`digest`), and what failed written again as a new batch (`retry`)."""

from .digest import DigestEntry, digest, hint_for, message_pattern
from .export import ExportResult, write_merged
from .frame import further_answers, has_embedding, result_column_names, to_frame
from .join import (
    Placing,
    add_manifest_notes,
    failures,
    join_inputs,
    join_results,
    merge,
    merge_files,
    merge_results,
    refuse_stale,
    result_records,
    stale_rows,
    tally,
)
from .parsed import AnswerParser, Expected, request_schema
from .provenance import Origin, answers_named, find_origins, missing_results
from .read import (
    ANSWERED,
    BATCH_ERROR,
    CACHED,
    CANCELED,
    EXPIRED,
    HTTP_ERROR,
    MISSING,
    OK,
    STATUSES,
    ResultRecord,
    answered_hash,
    answered_mark,
    normalise,
    read_result_file,
    read_results,
)
from .report import DUPLICATE_RULE, FAILED, Duplicate, Located, MergeReport, MergeResult, Orphan, Stale
from .requests import Indexed, RequestIndex, expected_key, index_requests, indexed, read_input
from .resend import Resend, failure_label, passes, select_resend
from .retry import RetryResult, retry, select_retry
from .stream import StreamedMerge, stream_merge, streamable
from .table import ResultTable

__all__ = [
    "further_answers",
    "has_embedding",
    "to_frame",
    "Placing",
    "add_manifest_notes",
    "failures",
    "merge_files",
    "result_records",
    "tally",
    "refuse_stale",
    "stale_rows",
    "Indexed",
    "expected_key",
    "indexed",
    "read_input",
    "AnswerParser",
    "Expected",
    "request_schema",
    "BATCH_ERROR",
    "ANSWERED",
    "CACHED",
    "CANCELED",
    "DUPLICATE_RULE",
    "EXPIRED",
    "FAILED",
    "HTTP_ERROR",
    "MISSING",
    "OK",
    "STATUSES",
    "DigestEntry",
    "Duplicate",
    "Located",
    "Orphan",
    "Origin",
    "Stale",
    "MergeReport",
    "MergeResult",
    "RequestIndex",
    "Resend",
    "ResultRecord",
    "answered_hash",
    "answered_mark",
    "ResultTable",
    "RetryResult",
    "StreamedMerge",
    "ExportResult",
    "digest",
    "answers_named",
    "find_origins",
    "missing_results",
    "hint_for",
    "join_inputs",
    "join_results",
    "merge",
    "merge_results",
    "message_pattern",
    "normalise",
    "index_requests",
    "read_result_file",
    "read_results",
    "result_column_names",
    "retry",
    "failure_label",
    "passes",
    "select_resend",
    "select_retry",
    "stream_merge",
    "streamable",
    "write_merged",
]
