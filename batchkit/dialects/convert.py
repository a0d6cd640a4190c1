"""Converting requests and files between dialects, through an OpenAI chat body.

A line whose request the target cannot express (a field it has no place for, a value outside its range)
gets findings and is not written, unless `drop_unsupported`, which leaves those fields out and lists
each. Ids are kept when the target provider's id rule allows them; any other id (or a missing one) is
replaced by `line-N` and the pair written to an id map beside the output (`out.jsonl` → `out.ids.jsonl`),
which `read_id_map` reads back for merging. The output is validated as written, sharded under the
target provider's limits, and appears whole or not at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write
from ..errors import InputError, UsageError, ValidationFailed
from ..findings import Finding, Report
from ..lines import BytesRead, dumps_line, open_binary, read_objects, source_name
from ..providers import Provider, get_provider
from . import DIALECTS, OPENAI, detect, get_dialect
from .base import Context
from .validate import line_schema_findings, validator_factory

# The provider a dialect's output is checked against when none is named.
HOME = {
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex": "vertex",
    "bedrock": "bedrock",
    "custom-body": "mistral",
}
MAPPED_ID = "line-{}"


@dataclass
class Conversion:
    """One line converted: the new line (None when it could not be written), what was found, and the
    JSON Pointers of the fields left out under `drop_unsupported`."""

    line: dict | None
    findings: list[Finding] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    source: str | None = None


def convert_request(
    obj,
    to: str,
    *,
    source: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    drop_unsupported: bool = False,
    line: int | None = None,
    endpoint: str | None = None,
) -> Conversion:
    """Convert one parsed line to dialect `to`; the source dialect is detected unless `source` names it.

    batchkit.convert_request({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                              "body": {...}}, to="anthropic", max_tokens=1024).line

    `endpoint` (to="openai" only): "/v1/responses" writes chat requests as Responses bodies.
    """
    target = get_dialect(to)
    _check_endpoint(to, endpoint)
    ctx = Context(
        line=line, model=model, max_tokens=max_tokens, drop_unsupported=drop_unsupported, endpoint=endpoint
    )
    source = source or detect(obj)
    if source is None:
        message = "this line is in no known batch dialect (" + ", ".join(DIALECTS) + "); nothing to convert"
        return Conversion(None, [Finding("unknown-dialect", message, line)])
    # Converters read valid lines only: an invalid one gets its validation errors instead.
    invalid = [f for f in line_schema_findings(obj, source, line) if f.is_error]
    if invalid:
        return Conversion(None, invalid, [], source)
    request = get_dialect(source).from_line(obj, ctx)
    converted = target.to_line(request, ctx) if request is not None and not ctx.failed else None
    if converted is not None and not ctx.failed:
        # What the target still rejects (a conversation of system text only, …) keeps the line out.
        for f in line_schema_findings(converted, to, line):
            if f.is_error:
                ctx.error(f.code, f.path, f"the {to} line would break its rule: {f.message}")
    if ctx.failed:
        converted = None
    return Conversion(converted, ctx.findings, ctx.dropped, source)


def target_provider(to: str, provider: str | Provider | None) -> Provider:
    """The provider whose limits and id rule the output must meet (it must take dialect `to`)."""
    get_dialect(to)
    if provider is None:
        return get_provider(HOME.get(to)) if to != OPENAI else get_provider(None)
    row = get_provider(provider)
    if row.dialects and to not in row.dialects:
        raise UsageError(f"provider {row.name} takes {' or '.join(row.dialects)} lines, not {to}")
    return row


def _check_endpoint(to: str, endpoint: str | None) -> None:
    if endpoint is not None and to != OPENAI:
        raise UsageError(f"an endpoint (--endpoint) is chosen only for OpenAI lines (--to openai), not {to}")


@dataclass
class ConvertResult:
    """What `convert_file` did: the files written, the conversion findings (per input line), the
    validation report of the output, the id map (None when every id was kept), the counts."""

    paths: list[Path]
    conversion: Report
    validation: Report | None
    id_map: Path | None = None
    written: int = 0
    skipped: int = 0
    dropped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def reports(self) -> list[Report]:
        return [r for r in (self.conversion, self.validation) if r is not None]


def convert_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    to: str | None = None,
    *,
    provider: str | Provider | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    drop_unsupported: bool = False,
    force: bool = False,
    max_findings: int | None = None,
    endpoint: str | None = None,
    progress: BytesRead | None = None,
) -> ConvertResult:
    """Convert every line of `source` to dialect `to` (default: the provider's) and write `output`.

    Lines that cannot be converted are reported and left out; the written lines are validated under
    the target provider (ValidationFailed, nothing written, when they are invalid, unless `force`).
    `progress` hears how much of `source` was read."""
    from ..batchfile import write_numbered

    if to is None:
        if provider is None or get_provider(provider).dialect is None:
            raise UsageError(
                "name the dialect to convert to (--to) or a provider that takes one (--provider)"
            )
        to = get_provider(provider).dialect
    row = target_provider(to, provider)
    _check_endpoint(to, endpoint)
    conversion = Report(source_name(source), row.name, max_findings=max_findings)
    mapping: list[tuple[str | None, str]] = []
    result = ConvertResult([], conversion, None)
    options = dict(model=model, max_tokens=max_tokens, drop_unsupported=drop_unsupported, endpoint=endpoint)
    lines = _converted(source, to, row, options, result, mapping, progress)
    validator = validator_factory(to)
    try:
        written = write_numbered(
            lines, output, row, force=force, max_findings=max_findings, make_validator=validator
        )
    except ValidationFailed as e:
        e.conversion = conversion  # what made lines go missing, for the caller to show
        raise
    result.paths, result.validation, result.written = written.paths, written.report, written.requests
    if mapping:
        result.id_map = id_map_path(output)
        with atomic_write(result.id_map) as f:
            for original, mapped in mapping:
                f.write(dumps_line({"custom_id": original, "id": mapped}))
    return result


def _converted(
    source, to: str, row: Provider, options: dict, result: ConvertResult, mapping: list, progress=None
) -> Iterator:
    report = result.conversion
    id_field = get_dialect(to).ID_FIELD or "request/labels/custom_id"
    stats: dict = {}
    with open_binary(source, progress) as stream:
        for number, obj, _raw in read_objects(stream, report.add, stats):
            report.summary.lines = number
            report.summary.requests += 1
            converted = convert_request(obj, to, line=number, **options)
            for finding in converted.findings:
                report.add(finding)
            result.dropped.extend((number, path) for path in converted.dropped)
            if converted.line is None:
                result.skipped += 1
                continue
            _map_id(converted.line, to, row, number, mapping, id_field)
            yield number, converted.line
    report.summary.lines, report.summary.bytes = stats.get("lines", 0), stats.get("bytes", 0)
    report.findings.sort(key=lambda f: (f.line or 0, f.path, f.code))


def _map_id(line: dict, to: str, row: Provider, number: int, mapping: list, id_field: str) -> None:
    from . import id_of, id_pattern

    current = id_of(line, to)
    rule = id_pattern(to, row)
    if isinstance(current, str) and current and (rule is None or re.match(rule, current)):
        return
    mapped = MAPPED_ID.format(number)
    if to == "vertex":
        line["request"]["labels"] = {"custom_id": mapped}
    else:
        line[id_field] = mapped
    mapping.append((current, mapped))


def id_map_path(output: str | os.PathLike) -> Path:
    """Where the id map of `output` is written: out.jsonl → out.ids.jsonl."""
    output = Path(output)
    return output.with_name(f"{output.stem}.ids.jsonl")


def read_id_map(path: str | os.PathLike) -> dict[str, str | None]:
    """An id map written by `convert_file`: the id written → the original id (None if it had none).

    A line that is not such a pair is an InputError naming the file and the line."""
    mapping: dict[str, str | None] = {}
    name = source_name(path)

    def broken(finding: Finding) -> None:
        raise InputError(f"{name}:{finding.line}: not an id map: {finding.message}")

    with open_binary(path) as stream:
        for number, entry, _raw in read_objects(stream, broken):
            written, original = entry.get("id"), entry.get("custom_id")
            if type(written) is not str or not (original is None or type(original) is str):
                raise InputError(
                    f'{name}:{number}: not an id map line: `convert` writes {{"custom_id": ORIGINAL, "id": WRITTEN}}'
                )
            mapping[written] = original
    return mapping
