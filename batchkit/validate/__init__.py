"""Validation: reader → schema (fast path, reference path, explanations) → rules → report.

Exports what other packages use: the `Validator` and its file/request entry points, the schema check
of one line, the name matcher for "did you mean" hints, and `fix_file` (repairs that need no guessing).
"""

from .explain import did_you_mean, explain
from .fix import Change, FixResult, fix_file
from .memory import validate_requests
from .validator import Validator, schema_findings, validate_file, validate_request

__all__ = [
    "Change",
    "FixResult",
    "Validator",
    "did_you_mean",
    "explain",
    "fix_file",
    "schema_findings",
    "validate_file",
    "validate_request",
    "validate_requests",
]
