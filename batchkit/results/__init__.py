"""Results: result lines of every shape read into one record (`read`), joined back to the requests
they answer by custom_id (`join`, behind `batchkit.merge`), failures grouped (`digest`), and what failed
written again as a new batch (`retry`)."""

from .digest import DigestEntry, digest, hint_for, message_pattern
from .join import (
    DUPLICATE_RULE,
    FAILED,
    MergeOutcome,
    MergeReport,
    join_inputs,
    merge,
    merge_results,
    write_merged,
)
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
from .retry import RetryOutcome, retry, select_retry

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
    "MergeOutcome",
    "MergeReport",
    "ResultRecord",
    "RetryOutcome",
    "digest",
    "hint_for",
    "join_inputs",
    "merge",
    "merge_results",
    "message_pattern",
    "normalise",
    "read_result_file",
    "read_results",
    "retry",
    "select_retry",
    "write_merged",
]
