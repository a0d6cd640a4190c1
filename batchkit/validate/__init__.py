"""Validation: reader → schema (fast path, reference path, explanations) → rules → report.

Exports what other packages use: the `Validator` and its file/request entry points, the schema check
of one line, the name matcher for "did you mean" hints, `fix_file` (repairs that need no guessing), the
strict-mode schema check and repairs (`strict`) that build uses for --response-schema, and `file_kind`
(requests, results or fine-tuning data, by the first line's shape).
"""

from .explain import did_you_mean, explain
from .files import validate_file
from .fix import Change, FixResult, fix_file
from .kinds import FINE_TUNING, REQUESTS, RESULTS, file_kind
from .memory import validate_requests
from .rules import ExactIds, HashedIds, LineRules
from .strict import check_strict_schema, strict_repairs, strict_schema
from .validator import Validator, schema_findings, validate_request

__all__ = [
    "FINE_TUNING",
    "REQUESTS",
    "RESULTS",
    "file_kind",
    "Change",
    "ExactIds",
    "HashedIds",
    "LineRules",
    "FixResult",
    "Validator",
    "check_strict_schema",
    "did_you_mean",
    "explain",
    "fix_file",
    "schema_findings",
    "strict_repairs",
    "strict_schema",
    "validate_file",
    "validate_request",
    "validate_requests",
]
