"""Results: result lines of every shape read into one record (`read`), joined back to the requests
they answer by custom_id (`requests` → `table` ← `join`, behind `batchkit.merge`), made a DataFrame
(`frame`) and written with hostile cells made safe (`export`); what was found is the `report`; failures
grouped (`digest`), and what failed written again as a new batch (`retry`)."""

from .digest import DigestEntry, digest, hint_for, message_pattern
from .export import ExportResult, write_merged
from .join import join_inputs, join_results, merge, merge_results
from .read import (
    BATCH_ERROR,
    EXPIRED,
    HTTP_ERROR,
    MISSING,
    OK,
    STATUSES,
    ResultRecord,
    normalise,
    read_result_file,
    read_results,
)
from .report import DUPLICATE_RULE, FAILED, MergeReport, MergeResult
from .requests import RequestIndex, read_requests
from .retry import RetryResult, retry, select_retry
from .table import ResultTable

__all__ = [
    "BATCH_ERROR",
    "DUPLICATE_RULE",
    "EXPIRED",
    "FAILED",
    "HTTP_ERROR",
    "MISSING",
    "OK",
    "STATUSES",
    "DigestEntry",
    "MergeReport",
    "MergeResult",
    "RequestIndex",
    "ResultRecord",
    "ResultTable",
    "RetryResult",
    "ExportResult",
    "digest",
    "hint_for",
    "join_inputs",
    "join_results",
    "merge",
    "merge_results",
    "message_pattern",
    "normalise",
    "read_requests",
    "read_result_file",
    "read_results",
    "retry",
    "select_retry",
    "write_merged",
]
