"""The one model for every problem batchkit finds in data: Finding, the code table, and Report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"

# Stable codes and their default severity. Renaming a code is a breaking change.
CODES: dict[str, str] = {
    # reading
    "empty-file": ERROR,
    "byte-order-mark": WARNING,
    "invalid-encoding": ERROR,
    "blank-line": WARNING,
    "invalid-json": ERROR,
    "json-array-file": ERROR,
    "not-an-object": ERROR,
    # schema, by failing keyword
    "missing-field": ERROR,
    "wrong-type": ERROR,
    "out-of-range": ERROR,
    "invalid-value": ERROR,
    "invalid-length": ERROR,
    "unknown-field": WARNING,
    "schema": ERROR,
    # across lines and per provider
    "duplicate-custom-id": ERROR,
    "mixed-endpoint": ERROR,
    "mixed-model": ERROR,
    "unsupported-endpoint": ERROR,
    "too-many-requests": ERROR,
    "file-too-large": ERROR,
    "invalid-custom-id": ERROR,
    "streaming-unsupported": ERROR,
    "tool-call-mismatch": ERROR,
    # advice
    "top-logprobs-without-logprobs": WARNING,
    "stream-options-without-stream": WARNING,
    "conflicting-max-tokens": WARNING,
    "empty-content": WARNING,
    # dialects: lines of other Batch APIs, and converting between them
    "wrong-dialect": ERROR,
    "unknown-dialect": ERROR,
    "unsupported-field": ERROR,
    "unsupported-value": ERROR,
    "dropped-field": WARNING,
    "missing-max-tokens": ERROR,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where it is (line, JSON Pointer path), what it is (code) and how to fix it (message)."""

    code: str
    message: str
    line: int | None = None
    path: str = ""
    severity: str = ""
    related_lines: tuple[int, ...] = ()

    def __post_init__(self):
        if not self.severity:
            object.__setattr__(self, "severity", CODES[self.code])

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "related_lines": list(self.related_lines),
        }


@dataclass(slots=True)
class Summary:
    lines: int = 0
    requests: int = 0
    bytes: int = 0
    errors: int = 0
    warnings: int = 0
    models: Counter = field(default_factory=Counter)
    endpoints: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "lines": self.lines,
            "requests": self.requests,
            "bytes": self.bytes,
            "errors": self.errors,
            "warnings": self.warnings,
            "models": dict(sorted(self.models.items())),
            "endpoints": dict(sorted(self.endpoints.items())),
        }


@dataclass(slots=True)
class Report:
    """What validating one file found. `findings` holds at most `max_findings` (in line order);
    the summary always counts every one."""

    file: str
    provider: str
    summary: Summary = field(default_factory=Summary)
    findings: list[Finding] = field(default_factory=list)
    max_findings: int | None = None

    @property
    def valid(self) -> bool:
        return self.summary.errors == 0

    def add(self, finding: Finding) -> None:
        if finding.severity == ERROR:
            self.summary.errors += 1
        else:
            self.summary.warnings += 1
        if self.max_findings is None or len(self.findings) < self.max_findings:
            self.findings.append(finding)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def codes(self) -> list[tuple[str, int | None, str]]:
        """(code, line, path) of every kept finding: the shape golden tests compare."""
        return [(f.code, f.line, f.path) for f in self.findings]

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "provider": self.provider,
            "valid": self.valid,
            "summary": self.summary.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }
