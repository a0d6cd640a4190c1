"""What a merge found besides the table: counts, tokens, orphans, duplicates, missing results, reading
problems, notes and the error digest (`MergeReport`), and the pair a merge returns (`MergeResult`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..findings import Finding
from ..report import finding_line
from .digest import DigestEntry
from .read import BATCH_ERROR, CANCELED, EXPIRED, HTTP_ERROR, MISSING, STATUSES

if TYPE_CHECKING:
    import pandas as pd

DUPLICATE_RULE = (
    "a successful result wins over a failed one; among results of the same kind the newest wins "
    "(latest `created` timestamp, else the one read last)"
)
FAILED = (HTTP_ERROR, BATCH_ERROR, EXPIRED, CANCELED, MISSING)  # what `retry` sends again by default
MAX_FINDINGS = 1000  # reading problems kept (all are counted): a wrong file can have a million


@dataclass(frozen=True, slots=True)
class Located:
    """Where one result line came from, and what it said."""

    file: str
    line: int
    status: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.status})"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "status": self.status}


@dataclass(slots=True)
class Duplicate:
    custom_id: str
    kept: Located
    dropped: list[Located]


@dataclass(slots=True)
class Orphan:
    custom_id: str
    result: Located


@dataclass(slots=True)
class Stale:
    """A request whose result was produced for another request, and why that is known."""

    custom_id: str
    reason: str


@dataclass(slots=True)
class MergeReport:
    """What a merge found besides the table: counts, tokens, problems and the error digest."""

    inputs: list[str]
    results: list[str]
    requests: int = 0
    counts: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens: read from a prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens: written to one
    orphans: list[Orphan] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    findings: list[tuple[str, Finding]] = field(default_factory=list)
    findings_count: int = 0
    notes: list[str] = field(default_factory=list)
    digest: list[DigestEntry] = field(default_factory=list)
    source: str | None = None
    source_sheet: str | None = None
    source_rows: int = 0
    requests_without_source_row: list[str] = field(default_factory=list)
    source_rows_without_request: int = 0
    better_id_column: str | None = None  # a source column whose values are more of the custom_ids
    parsed: int | None = None  # answers parsed as JSON and matching their schema (None: not parsed)
    parse_errors: Counter = field(default_factory=Counter)  # kind (not JSON, truncated, …) → rows
    stale: list[Stale] = field(default_factory=list)  # results that answer other requests (provenance)
    shared_ids: int = 0  # requests whose custom_id an earlier request of other content has

    def add_finding(self, file: str, finding: Finding) -> None:
        self.findings_count += 1
        if finding.code == "duplicate-custom-id":
            self.shared_ids += 1
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append((file, finding))

    @property
    def failed(self) -> int:
        return sum(self.counts[s] for s in FAILED)

    @property
    def joined(self) -> int:
        """Requests that have a result (of any status)."""
        return self.requests - self.counts[MISSING]

    def to_dict(self, limit: int | None = None) -> dict:
        """The report as plain data; `limit` cuts each list (orphans, duplicates, missing …) to that many
        entries, the `*_count` fields still count them all."""
        cut = slice(limit)
        return {
            "inputs": self.inputs,
            "results": self.results,
            "requests": self.requests,
            "joined": self.joined,
            "counts": {s: self.counts[s] for s in STATUSES},
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
                "cached": self.cached_tokens,
                "cache_write": self.cache_write_tokens,
            },
            "orphans": [
                {"custom_id": o.custom_id, "file": o.result.file, "line": o.result.line}
                for o in self.orphans[cut]
            ],
            "orphans_count": len(self.orphans),
            "duplicates": [
                {
                    "custom_id": d.custom_id,
                    "kept": d.kept.to_dict(),
                    "dropped": [x.to_dict() for x in d.dropped],
                }
                for d in self.duplicates[cut]
            ],
            "duplicates_count": len(self.duplicates),
            "duplicate_rule": DUPLICATE_RULE,
            "missing": self.missing[cut],
            "missing_count": len(self.missing),
            "findings": [{"file": f, **finding.to_dict()} for f, finding in self.findings[cut]],
            "findings_count": self.findings_count,
            "shared_ids": self.shared_ids,
            "notes": self.notes,
            "digest": [d.to_dict() for d in self.digest],
            "source": self._source_dict(cut),
            "stale": [{"custom_id": x.custom_id, "reason": x.reason} for x in self.stale[cut]],
            "stale_count": len(self.stale),
            "structured": None
            if self.parsed is None
            else {
                "parsed": self.parsed,
                "parse_errors": sum(self.parse_errors.values()),
                "by_kind": dict(self.parse_errors),
            },
        }

    def _source_dict(self, cut: slice) -> dict | None:
        if self.source is None:
            return None
        return {
            "file": self.source,
            "sheet": self.source_sheet,
            "rows": self.source_rows,
            "rows_without_request": self.source_rows_without_request,
            "requests_without_row": self.requests_without_source_row[cut],
            "requests_without_row_count": len(self.requests_without_source_row),
            "better_id_column": self.better_id_column,
        }

    def _cache_text(self) -> str:
        parts = [f"{n:,} {what}" for n, what in ((self.cached_tokens, "cached"),
                 (self.cache_write_tokens, "written to the cache")) if n]  # fmt: skip
        return f" ({', '.join(parts)})" if parts else ""

    def to_text(self, limit: int = 10) -> str:
        """The summary a person reads after a merge; lists are cut at `limit` entries."""
        out = self._finding_lines(limit)
        out.extend(self.notes)
        counts = ", ".join(f"{s} {self.counts[s]:,}" for s in STATUSES if self.counts[s])
        out.append(f"requests: {self.requests:,} ({counts or 'none'})")
        out.append(f"tokens: {self.prompt_tokens:,} in{self._cache_text()}, {self.completion_tokens:,} out, "
                   f"{self.total_tokens:,} total")  # fmt: skip
        out.extend(self._source_lines())
        if self.parsed is not None:
            errors = sum(self.parse_errors.values())
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.parse_errors.items()))
            out.append(
                f"structured answers: {self.parsed:,} parsed, {errors:,} parse error(s)"
                + (f" ({kinds}; see the parse_error column)" if errors else "")
            )
        out.extend(self._problem_lines(limit))
        out.extend(self._digest_lines(limit))
        return "\n".join(out)

    def _finding_lines(self, limit: int) -> list[str]:
        out = [finding_line(file, f) for file, f in self.findings[:limit]]
        if self.findings_count > limit:
            out.append(f"… and {self.findings_count - limit:,} more reading problem(s)")
        return out

    def _source_lines(self) -> list[str]:
        if self.source is None:
            return []
        line = f"source: {self.source}, {self.source_rows:,} rows"
        if self.source_rows_without_request:
            line += f", {self.source_rows_without_request:,} without a request (result columns empty)"
        out = [line]
        if self.requests_without_source_row:
            out.append(
                f"requests with no row in the source (left out of the table): "
                f"{len(self.requests_without_source_row):,}: {_sample(self.requests_without_source_row)}"
            )
        return out

    def _problem_lines(self, limit: int) -> list[str]:
        out = []
        if self.orphans:
            out.append(f"orphan results (custom_id not in the input; left out): {len(self.orphans):,}")
            out.extend(f"  {o.custom_id} at {o.result}" for o in self.orphans[:limit])
            out.extend(_more(len(self.orphans), limit))
        if self.duplicates:
            out.append(f"duplicate results: {len(self.duplicates):,} custom_id(s); {DUPLICATE_RULE}")
            for d in self.duplicates[:limit]:
                dropped = ", ".join(str(x) for x in d.dropped)
                out.append(f"  {d.custom_id}: kept {d.kept}; not used {dropped}")
            out.extend(_more(len(self.duplicates), limit))
        if self.missing:
            out.append(f"requests with no result: {len(self.missing):,}: {_sample(self.missing)}")
        out.extend(self._stale_lines(limit))
        return out

    def _stale_lines(self, limit: int) -> list[str]:
        """The stale results, grouped by why."""
        if not self.stale:
            return []
        by_reason: dict[str, list[str]] = {}
        for x in self.stale:
            by_reason.setdefault(x.reason, []).append(x.custom_id)
        out = [f"answers produced for other requests (stale): {len(self.stale):,}"]
        for reason, ids in list(by_reason.items())[:limit]:
            out.append(f"  {len(ids):,} × {reason}: {_sample(ids)}")
        out.extend(_more(len(by_reason), limit))
        return out

    def _digest_lines(self, limit: int) -> list[str]:
        if not self.digest:
            return []
        out = ["error digest:"]
        for d in self.digest[:limit]:
            code = "" if d.code == d.status else f" {d.code}"
            out.append(f"  {d.count:,} × {d.status}{code}: {d.pattern}")
            out.append(f"      e.g. {', '.join(d.examples)}")
            if d.hint:
                out.append(f"      hint: {d.hint}")
        if len(self.digest) > limit:
            out.append(f"  … and {len(self.digest) - limit} more group(s)")
        return out


@dataclass
class MergeResult:
    """A merge: the table and what was found making it."""

    frame: pd.DataFrame
    report: MergeReport


def _more(count: int, limit: int) -> list[str]:
    return [f"  … and {count - limit:,} more"] if count > limit else []


def _sample(ids: list[str], k: int = 5) -> str:
    shown = ", ".join(ids[:k])
    return shown + (f", … ({len(ids) - k:,} more)" if len(ids) > k else "")
