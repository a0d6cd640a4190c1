"""Converting requests and files between formats, through an OpenAI chat body.

A line whose request the target cannot express (a field it has no place for, a value outside its range)
gets findings and is not written, unless `drop_unsupported`, which leaves those fields out and lists
each. Ids are kept when the target provider's id rule allows them; any other id (or a missing one) is
replaced by `line-N` (N its input line; `line-N-2`, … when the file keeps an id of that name, so a new id
never equals a kept one or another new one) and the pair written to an id map beside the output
(`out.jsonl` → `out.ids.jsonl`), which `read_id_map` reads back for merging. The output is validated as
written, sharded under the target provider's limits, and appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import schemas
from ..batchfile import id_map_path, write_id_map, write_numbered
from ..errors import UsageError, ValidationFailed
from ..findings import Finding, Report, Summary
from ..formats import DIALECTS, LINE_ID, Context, Dialect, Request, detect, get_dialect
from ..lines import BytesRead, open_binary, read_objects, repeated_keys, source_name
from ..options import Options
from ..providers import Provider, get_provider, id_rule
from ..report import counted
from ..validate import explain, schema_findings
from ..validate.validator import repeated_key_finding

MAPPED_ID = LINE_ID


@dataclass
class Conversion:
    """One line converted: the new line (None when it could not be written), what was found, the JSON
    Pointers of the fields left out under `drop_unsupported`, the format it was written in, and (old id,
    new id) when its id was renamed."""

    line: dict | None
    findings: list[Finding] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    source: str | None = None
    renamed: tuple[str | None, str] | None = None


@dataclass
class JobModel:
    """The one model a file's requests may ask for when the target's lines name none (Gemini, Bedrock:
    the batch's model answers every line): a request asking for another is refused, as the first
    model would answer it."""

    target: Dialect
    first: tuple[str, int] | None = None  # (model, line) of the first request that asked for one
    advice: str = "split the requests by model first (`batchkit split --by model`)"
    unit: str = "line"  # what the numbers count (a build's are data rows)

    def refusal(self, asked: str | None, converted: dict, line: int | None) -> Finding | None:
        """The finding for a request that asked for `asked` and became `converted`, or None."""
        if type(asked) is not str or self.target.read(converted).model is not None:
            return None
        if self.first is None:
            self.first = (asked, line)
        if asked == self.first[0]:
            return None
        model, first = self.first
        return Finding(
            "mixed-model",
            f"this request asks for {asked!r} and {self.unit} {first} for {model!r}: {self.target.name} lines name no "
            f"model (the batch's answers every line), so one file holds one model's requests: {self.advice}",
            line,
            "/body/model",
        )


@dataclass(frozen=True)
class IdRenamer:
    """Which ids the target keeps (those its id `pattern` matches whole; any, without one) and the new id
    of any other: `line-N` for input line N, or `line-N-2`, `line-N-3`, … when that is in `taken` (the
    file's own ids that look like new ones). So a new id never equals a kept id, nor another new one."""

    pattern: str | None
    taken: frozenset[str] = frozenset()

    def new_id(self, current, line: int) -> str | None:
        """The id for input line `line` in place of `current`, or None when `current` is kept."""
        rule = id_rule(self.pattern)
        if isinstance(current, str) and current and (rule is None or rule.match(current)):
            return None
        mapped, suffix = MAPPED_ID.format(line), 1
        while mapped in self.taken:
            suffix += 1
            mapped = f"{MAPPED_ID.format(line)}-{suffix}"
        return mapped


def convert_request(
    obj,
    to: str | Dialect,
    *,
    source: str | Dialect | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    drop_unsupported: bool = False,
    line: int | None = None,
    endpoint: str | None = None,
    provider: str | Provider | None = None,
    ids: IdRenamer | None = None,
) -> Conversion:
    """Convert one parsed line to format `to`; the source format is detected unless `source` names it.

    batchkit.convert_request({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                              "body": {...}}, to="anthropic", max_tokens=1024).line

    `endpoint` (to="openai" only): "/v1/responses" writes chat requests as Responses bodies. `provider`:
    whose own body rules the line must meet (Mistral, Together, Fireworks: their field names and roles).
    `ids` renames an id the target's rule rejects (input line `line`) before the line is checked.
    """
    target = get_dialect(to)
    _check_endpoint(target, endpoint)
    ctx = Context(
        line=line, model=model, max_tokens=max_tokens, drop_unsupported=drop_unsupported, endpoint=endpoint
    )
    if provider is not None:
        row = get_provider(provider)
        ctx.body_schemas = {e: name for d, e, name in row.body_schemas if d == target.name}
    origin = get_dialect(source) if source is not None else detect(obj)
    if origin is None:
        message = "this line is in no known batch dialect (" + ", ".join(DIALECTS) + "); nothing to convert"
        return Conversion(None, [Finding("unknown-dialect", message, line)])
    # Converters read valid lines only: an invalid one gets its validation errors instead.
    invalid = [f for f in schema_findings(line, obj, origin, origin.line_schema(obj, model)[0]) if f.is_error]
    if invalid:
        return Conversion(None, invalid, [], origin.name)
    chat = origin.to_chat(obj, ctx)
    converted = target.from_chat(chat, ctx) if chat is not None and not ctx.failed else None
    renamed = None
    if converted is not None and not ctx.failed and ids is not None:
        renamed = _rename(converted, target, ids, line or 0)
    if converted is not None and not ctx.failed:
        # What the target still rejects (a conversation of system text only, …) keeps the line out.
        written = schema_findings(line, converted, target, target.line_schema(converted, model)[0])
        # a line without an id (a Vertex request without labels) gets `line-N` when the file is written
        unnamed = target.id_of(converted) is None
        for f in written + _own_body_findings(line, converted, target, ctx):
            if f.is_error and not (unnamed and f.path == target.id_pointer):
                ctx.error(f.code, f.path, f"the {target.name} line would break its rule: {f.message}")
    if ctx.failed:
        converted, renamed = None, None
    return Conversion(converted, ctx.findings, ctx.dropped, origin.name, renamed)


def _rename(line: dict, target: Dialect, ids: IdRenamer, number: int) -> tuple[str | None, str] | None:
    current = target.id_of(line)
    new = ids.new_id(current, number)
    if new is None:
        return None
    target.set_id(line, new)
    return current, new


def _own_body_findings(line, converted: dict, target: Dialect, ctx: Context) -> list[Finding]:
    """What the target provider's own body schema says of the line written (for custom-body lines): a
    field its SDK's types do not have is one it cannot take, not a field to pass through."""
    request = target.read(converted, line)
    schema = ctx.body_schemas.get(request.endpoint)
    if schema is None:
        return []
    found = explain(schemas.validator(schema).iter_errors(request.body), line, (target.body_field,))
    return [
        Finding("unsupported-field", f.message, f.line, f.path) if f.code == "unknown-field" else f
        for f in found
    ]


def target_provider(to: str | Dialect, provider: str | Provider | None) -> Provider:
    """The provider whose limits and id rule the output must meet (it must take format `to`)."""
    target = get_dialect(to)
    row = get_provider(target.home if provider is None else provider)
    if row.dialects and target.name not in row.dialects:
        raise UsageError(f"provider {row.name} takes {' or '.join(row.dialects)} lines, not {target.name}")
    return row


def _check_endpoint(target: Dialect, endpoint: str | None) -> None:
    if endpoint is not None and not target.endpoints:
        raise UsageError(
            f"an endpoint (--endpoint) is chosen only for OpenAI lines (--to openai), not {target.name}"
        )


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
    to: str | Dialect | None = None,
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
    """Convert every line of `source` to format `to` (default: the provider's) and write `output`.

    Lines that cannot be converted are reported and left out; the written lines are validated under
    the target provider (ValidationFailed, nothing written, when they are invalid, unless `force`).
    `progress` hears how much of `source` was read."""
    if to is None:
        if provider is None or get_provider(provider).dialect is None:
            raise UsageError(
                "name the dialect to convert to (--to) or a provider that takes one (--provider)"
            )
        to = get_provider(provider).dialect
    target = get_dialect(to)
    options = Options(target_provider(target, provider), target, max_findings)
    _check_endpoint(target, endpoint)
    conversion = Report(source_name(source), options.provider.name, max_findings=max_findings)
    mapping: list[tuple[str | None, str]] = []
    result = ConvertResult([], conversion, None)
    settings = dict(
        model=model,
        max_tokens=max_tokens,
        drop_unsupported=drop_unsupported,
        endpoint=endpoint,
        provider=options.provider,
    )
    with _read_twice(source) as readable:
        pattern = options.provider.custom_id_pattern or target.id_pattern
        settings["ids"] = IdRenamer(pattern, _ids_like_new_ones(readable, options.max_line))
        lines = _converted(readable, options, settings, result, mapping, progress)
        try:
            written = write_numbered(lines, output, options, force=force, sources=[source])
        except ValidationFailed as e:
            if conversion.summary.requests and result.skipped == conversion.summary.requests:
                raise _none_converted(conversion) from None  # not "the output is empty": why it is
            e.conversion = conversion  # what made lines go missing, for the caller to show
            raise
    result.paths, result.validation, result.written = written.paths, written.report, written.requests
    if mapping:
        result.id_map = write_id_map(mapping, id_map_path(output))
    return result


def _none_converted(conversion: Report) -> ValidationFailed:
    s = conversion.summary
    return ValidationFailed(
        f"none of the {counted(s.requests, 'request')} could be converted ({counted(s.errors, 'error')}); "
        "nothing written",
        conversion,
    )


def _converted(
    source, options: Options, settings: dict, result: ConvertResult, mapping: list, progress=None
) -> Iterator:
    report = result.conversion
    target = options.dialect
    job_model = JobModel(target)
    stats: dict = {}
    with open_binary(source, progress) as stream:
        for number, obj, raw in read_objects(stream, report.add, stats, options.max_line):
            report.summary.lines = number
            report.summary.requests += 1
            # read keeping the last of a repeated key: which one was meant cannot be told, so it is not converted
            if repeats := repeated_keys(raw):
                for where in repeats:
                    report.add(repeated_key_finding(number, where))
                result.skipped += 1
                continue
            origin = detect(obj)  # read once: for the summary, the model asked, and the conversion
            asked = (
                _count_model_and_endpoint(origin.read(obj), report.summary) if origin is not None else None
            )
            asked = settings["model"] or asked  # --model puts one model on every line
            converted = convert_request(obj, target, source=origin, line=number, **settings)
            for finding in converted.findings:
                report.add(finding)
            result.dropped.extend((number, path) for path in converted.dropped)
            if converted.line is not None and (refusal := job_model.refusal(asked, converted.line, number)):
                report.add(refusal)
                converted.line = None
            if converted.line is None:
                result.skipped += 1
                continue
            if converted.renamed is not None:
                mapping.append(converted.renamed)
            yield number, converted.line
    report.summary.lines, report.summary.bytes = stats.get("lines", 0), stats.get("bytes", 0)
    report.findings.sort(key=lambda f: (f.line or 0, f.path, f.code))


def _count_model_and_endpoint(request: Request, summary: Summary) -> str | None:
    """The source request's model and endpoint in the conversion's summary; the model."""
    for counts, value in ((summary.models, request.model), (summary.endpoints, request.endpoint)):
        if type(value) is str:
            counts[value] += 1
    return request.model


@contextlib.contextmanager
def _read_twice(source) -> Iterator:
    """`source` as something read twice (its ids first, then its lines): a path as it is; standard input
    or an open stream, copied to a temporary file first."""
    if isinstance(source, (str, os.PathLike)) and str(source) != "-":
        yield source
        return
    with open_binary(source) as stream, tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(stream, copy)
        copy.seek(0)
        yield copy


def _ids_like_new_ones(source, max_line: int) -> frozenset[str]:
    """The ids in `source` shaped like the ones renaming gives (`line-…`): a new id must not take one.
    An open stream is read from where it is and put back at its start for the next reading."""
    taken = set()
    with open_binary(source) as stream:
        for _number, obj, _raw in read_objects(stream, lambda finding: None, max_line=max_line):
            dialect = detect(obj)
            ident = dialect.id_of(obj) if dialect is not None else None
            if isinstance(ident, str) and ident.startswith(MAPPED_ID.format("")):
                taken.add(ident)
        if hasattr(stream, "seek"):
            stream.seek(0)
    return frozenset(taken)
