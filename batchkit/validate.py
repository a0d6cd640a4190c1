"""Validation: reader → schema → rules → report, streaming in constant memory."""

from __future__ import annotations

import functools
import os

from . import schemas
from .explain import explain
from .findings import Finding, Report
from .jsonl import open_binary, parse_line, read_objects
from .providers import Provider, get_provider
from .rules import LineRules


@functools.cache
def _fast_validator():
    """A compiled validator that only decides validity; python-jsonschema explains the lines it rejects."""
    import jsonschema_rs

    resources = [(s["$id"], s) for s in schemas.all_schemas().values()]
    registry = jsonschema_rs.Registry(resources)
    return jsonschema_rs.validator_for(schemas.load(schemas.REQUEST), registry=registry)


def schema_findings(number: int | None, obj) -> list[Finding]:
    """The schema's findings for one request line (empty when it is valid)."""
    if _fast_validator().is_valid(obj):
        return []
    return explain(schemas.validator().iter_errors(obj), number)


class Validator:
    """Checks request lines one at a time and collects a Report.

    Feed it with `add_object` (already parsed lines, as the builder makes them) or `add_line` (raw
    bytes), then call `finish()` for the file-level checks.
    """

    def __init__(
        self,
        provider: str | Provider | None = None,
        *,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_findings: int | None = None,
        file: str = "<stdin>",
    ):
        self.provider = get_provider(provider).with_limits(max_requests, max_bytes)
        self.report = Report(file, self.provider.name, max_findings=max_findings)
        self.rules = LineRules(self.provider)
        self._is_valid = _fast_validator().is_valid
        self._explainer = schemas.validator()

    def add_line(self, number: int, raw: bytes) -> None:
        """One raw line (without its newline)."""
        summary = self.report.summary
        summary.lines = number
        summary.bytes += len(raw) + 1
        obj = parse_line(number, raw, self.report.add)
        if obj is not None:
            self.check(number, obj)

    def add_object(self, number: int, obj: dict, size: int) -> None:
        """One request object that will be written as a line of `size` bytes (newline included)."""
        summary = self.report.summary
        summary.lines = number
        summary.bytes += size
        self.check(number, obj)

    def check(self, number: int, obj: dict) -> None:
        add = self.report.add
        summary = self.report.summary
        summary.requests += 1
        if not self._is_valid(obj):
            for finding in explain(self._explainer.iter_errors(obj), number):
                add(finding)
        self.rules.check(number, obj, add)
        url = obj.get("url")
        if type(url) is str:
            summary.endpoints[url] += 1
        body = obj.get("body")
        if type(body) is dict and type(body.get("model")) is str:
            summary.models[body["model"]] += 1

    def finish(self, has_content: bool | None = None) -> Report:
        """Adds the file-level findings and returns the report (findings in line order)."""
        report, summary, p = self.report, self.report.summary, self.provider
        if not (summary.lines if has_content is None else has_content):
            report.add(
                Finding(
                    "empty-file",
                    "the file has no requests; a batch file needs at least one request line",
                    None,
                )
            )
        if p.max_requests is not None and summary.requests > p.max_requests:
            report.add(
                Finding(
                    "too-many-requests",
                    f"{summary.requests:,} requests; {p.name} accepts at most "
                    f"{p.max_requests:,} per file: split it (`batchkit split`)",
                    None,
                )
            )
        if p.max_bytes is not None and summary.bytes > p.max_bytes:
            report.add(
                Finding(
                    "file-too-large",
                    f"{summary.bytes:,} bytes; {p.name} accepts at most "
                    f"{p.max_bytes:,} per file: split it (`batchkit split`)",
                    None,
                )
            )
        report.findings.sort(key=lambda f: f.line or 0)
        return report


def validate_file(
    source,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    max_findings: int | None = None,
    jobs: int = 1,
) -> Report:
    """Validate one batch file (a path, '-' for standard input, or a binary stream)."""
    name = (
        "<stdin>"
        if str(source) == "-"
        else os.fspath(source)
        if isinstance(source, (str, os.PathLike))
        else getattr(source, "name", "<stream>")
    )
    validator = Validator(
        provider, max_requests=max_requests, max_bytes=max_bytes, max_findings=max_findings, file=name
    )
    stats: dict = {}
    with open_binary(source) as stream:
        for number, obj, _raw in read_objects(stream, validator.report.add, stats):
            validator.check(number, obj)
    validator.report.summary.lines = stats["lines"]
    validator.report.summary.bytes = stats["bytes"]
    return validator.finish(has_content=stats["content"])


def validate_request(obj, provider: str | Provider | None = None) -> list[Finding]:
    """The findings for one request line's object (per-line checks only)."""
    validator = Validator(provider)
    if type(obj) is not dict:
        return [Finding("not-an-object", "a request must be a JSON object", None)]
    validator.check(0, obj)
    return [Finding(f.code, f.message, None, f.path, f.severity) for f in validator.report.findings]
