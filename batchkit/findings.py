"""The one model for every problem batchkit finds in data: Finding, the code table, and Report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape

ERROR = "error"
WARNING = "warning"


def pointer(parts) -> str:
    """A JSON Pointer (RFC 6901), as a finding's path, for a sequence of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# Stable codes and their default severity. Renaming a code is a breaking change.
CODES: dict[str, str] = {
    # reading
    "empty-file": ERROR,
    "byte-order-mark": WARNING,
    "invalid-encoding": ERROR,
    "blank-line": WARNING,
    "invalid-json": ERROR,
    "json-array-file": ERROR,
    "json-objects-spread": ERROR,
    "not-an-object": ERROR,
    "duplicate-key": ERROR,
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
    "stream-options-without-stream": ERROR,
    "conflicting-max-tokens": WARNING,
    "empty-content": WARNING,
    # structured outputs (validate/strict.py)
    "strict-schema-root": ERROR,
    "strict-schema-additional-properties": ERROR,
    "strict-schema-required": ERROR,
    "strict-schema-keyword": ERROR,
    "strict-schema-limit": ERROR,
    "json-mode-without-json": ERROR,
    "invalid-json-schema": ERROR,
    # a Messages body sent to a Claude model (formats/claude.py)
    "deprecated-parameter": ERROR,
    "conflicting-sampling": WARNING,
    "trailing-whitespace": ERROR,
    # validate: bounds on what is read and explained
    "line-too-long": ERROR,
    "too-deep": ERROR,
    # dialects: lines of other Batch APIs, and converting between them
    "wrong-dialect": ERROR,
    "unknown-dialect": ERROR,
    "unsupported-field": ERROR,
    "unsupported-value": ERROR,
    "dropped-field": WARNING,
    "missing-max-tokens": ERROR,
    # models: a name the provider is not known to serve (tokens/models.py)
    "unknown-model": WARNING,
}

HTML_FINDINGS = 50  # findings a notebook's table shows; to_frame() has them all
KEEP_FINDINGS = 10_000  # findings a report holds when no --max-findings is given; the rest are counted


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
    bodies: Counter = field(default_factory=Counter)  # the body each line was read as, where it varies

    def to_dict(self) -> dict:
        return {
            "lines": self.lines,
            "requests": self.requests,
            "bytes": self.bytes,
            "errors": self.errors,
            "warnings": self.warnings,
            "models": dict(sorted(self.models.items())),
            "endpoints": dict(sorted(self.endpoints.items())),
            "bodies": dict(sorted(self.bodies.items())),
        }


def sort_key(finding: Finding) -> tuple:
    """Findings in line order; those about the whole file (no line) first."""
    return (finding.line or 0, finding.path, finding.code)


@dataclass(slots=True)
class Report:
    """What validating one file found. `findings` holds the first `max_findings` by line (at most
    KEEP_FINDINGS when not given), in memory bounded by that cap; `omitted` counts the others per code,
    and the summary counts every one. With `strict`, warnings make the file invalid too."""

    file: str
    provider: str
    summary: Summary = field(default_factory=Summary)
    findings: list[Finding] = field(default_factory=list)
    max_findings: int | None = None
    strict: bool = False
    omitted: Counter = field(default_factory=Counter)
    # once the cap is reached: the key of the last finding kept (later ones past it are only counted)
    _bound: tuple | None = field(default=None, init=False, repr=False)

    @property
    def valid(self) -> bool:
        return self.summary.errors == 0 and not (self.strict and self.summary.warnings)

    @property
    def cap(self) -> int:
        return KEEP_FINDINGS if self.max_findings is None else self.max_findings

    def add(self, finding: Finding) -> None:
        """Count `finding` in the summary and keep it (within the cap)."""
        if finding.severity == ERROR:
            self.summary.errors += 1
        else:
            self.summary.warnings += 1
        self.keep(finding)

    def keep(self, finding: Finding) -> None:
        """Holds `finding` if it is among the first `cap` by line, else counts it (already counted
        in the summary)."""
        if self._bound is not None and sort_key(finding) >= self._bound:
            self.omitted[finding.code] += 1
            return
        self.findings.append(finding)
        if len(self.findings) >= max(2 * self.cap, 1):
            self._trim()

    def _trim(self) -> None:
        self.findings.sort(key=sort_key)
        for dropped in self.findings[self.cap :]:
            self.omitted[dropped.code] += 1
        del self.findings[self.cap :]
        if self.cap == 0:
            self._bound = ()  # every key is >= (): nothing is kept
        elif len(self.findings) == self.cap:
            self._bound = sort_key(self.findings[-1])

    def sort(self) -> None:
        """Puts the kept findings in line order, at most `cap` of them."""
        self._trim()

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def codes(self) -> list[tuple[str, int | None, str]]:
        """(code, line, path) of every kept finding: the shape golden tests compare."""
        return [(f.code, f.line, f.path) for f in self.findings]

    def to_frame(self):
        """The kept findings as a pandas DataFrame, one row per finding (columns: severity, code, line,
        path, message, related_lines); pandas is imported only here."""
        import pandas as pd

        columns = ["severity", "code", "line", "path", "message", "related_lines"]
        frame = pd.DataFrame([f.to_dict() for f in self.findings], columns=columns)
        frame["line"] = frame["line"].astype("Int64")
        return frame

    def _repr_html_(self) -> str:
        """A notebook's view: the verdict and a table of the first findings, every text escaped."""
        verdict = "valid" if self.valid else "invalid"
        counts = f"{self.summary.errors} error(s), {self.summary.warnings} warning(s)"
        head = f"<p><b>{escape(self.file)}</b> ({escape(self.provider)}): {verdict}, {counts}</p>"
        if not self.findings:
            return head
        cells = ("severity", "code", "line", "path", "message")
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(str(f.to_dict()[c] or ''))}</td>" for c in cells) + "</tr>"
            for f in self.findings[:HTML_FINDINGS]
        )
        more = max(0, len(self.findings) - HTML_FINDINGS) + sum(self.omitted.values())
        tail = f"<p>… and {more} more finding(s)</p>" if more else ""
        header = "".join(f"<th>{c}</th>" for c in cells)
        return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>{tail}"

    def to_dict(self) -> dict:
        """The report as plain data (what `--format json` prints)."""
        return {
            "file": self.file,
            "provider": self.provider,
            "valid": self.valid,
            "strict": self.strict,
            "summary": self.summary.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "omitted": dict(sorted(self.omitted.items())),
        }
