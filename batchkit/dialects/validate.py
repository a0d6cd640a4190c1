"""Validating lines of a dialect other than OpenAI's, with the findings model, codes and file-level rules
of `Validator`: the dialect's line schema, repeats of its id field, the provider's id rule and limits.

`validate_file` asks `dialect_to_validate` which dialect a file is in (named, else detected from its first
content line, else the provider's) and hands every non-OpenAI file to `validate_dialect_stream`, so the
OpenAI path is untouched.
"""

from __future__ import annotations

import functools
import itertools
import re
import shlex

import orjson

from .. import schemas
from ..findings import Finding
from ..lines import BOM, LineReader, open_binary
from ..providers import Provider, get_provider
from ..validate import Validator, explain, schema_findings
from . import OPENAI, detect, get_dialect, id_pattern

PEEK_BYTES = 1 << 16
SCAN_LINES = 1000  # lines read to find the dialect when the first ones are broken
NO_PROVIDER = "generic"  # the row of per-line checks only


@functools.cache
def _is_valid(schema: str):
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.all_schemas().values()])
    return jsonschema_rs.validator_for(schemas.load(schema), registry=registry).is_valid


def line_schema_findings(obj: dict, dialect: str, number: int | None = None) -> list[Finding]:
    """The line schema's findings for one parsed line of `dialect` (empty when it is valid)."""
    if dialect == OPENAI:
        return schema_findings(number, obj)
    name = get_dialect(dialect).SCHEMA
    if _is_valid(name)(obj):
        return []
    return explain(schemas.validator(name).iter_errors(obj), number)


def wrong_dialect(dialect: str, provider: Provider, file: str | None = None) -> Finding | None:
    """The file-level finding for a file in `dialect` when `provider` does not take it (else None); the
    convert command it gives names `file` when it is a file's path."""
    accepted = provider.dialects
    if not accepted or dialect in accepted:
        return None
    name = shlex.quote(file) if file and not file.startswith("<") and file != "-" else "FILE"
    message = (
        f"this file is in the {dialect} dialect; {provider.name} takes {' or '.join(accepted)} "
        f"lines (`batchkit convert {name} -o OUT --provider {provider.name}`)"
    )
    return Finding("wrong-dialect", message, None)


def openai_rules(provider: str | Provider | None, file: str | None = None) -> tuple[Provider, Finding | None]:
    """The provider whose rules OpenAI lines are checked under, and the wrong-dialect finding when
    `provider` does not take them. Such lines are checked as lines of no provider (`generic`): its id
    rule and limits apply to what `convert` writes from them, not to them."""
    row = get_provider(provider)
    wrong = wrong_dialect(OPENAI, row, file)
    return (row, None) if wrong is None else (get_provider(NO_PROVIDER), wrong)


class DialectValidator:
    """Checks lines of one dialect; the same interface as `Validator` (feed_lines, feed_stream, finish)."""

    def __init__(self, dialect: str, provider: str | Provider | None = None, **options):
        self.dialect = get_dialect(dialect)
        # The file-level checks, the report and the id store are Validator's own.
        self.base = Validator(provider, ids="exact", **options)
        self.report = self.base.report
        self.provider = self.base.provider
        id_field = self.dialect.ID_FIELD
        self.id_name = id_field or "request.labels.custom_id"
        self.id_path = "/" + (id_field or "request/labels/custom_id")
        self.id_rule = id_pattern(dialect, self.provider)
        self.id_match = re.compile(self.id_rule).match if self.id_rule else None
        self.reader: LineReader | None = None
        # The per-line work, looked up once: this loop runs for every line of a large file.
        self.is_valid = _is_valid(self.dialect.SCHEMA)
        self.explainer = schemas.validator(self.dialect.SCHEMA)
        self.id_of = self.dialect.id_of if id_field is None else (lambda obj: obj.get(id_field))
        self.ids_add = self.base.rules.ids.add
        self.requests = 0
        self.models: dict[str, int] = {}
        wrong = wrong_dialect(self.dialect.NAME, self.provider, options.get("file"))
        if wrong is not None:
            self.report.add(wrong)

    def check(self, number: int, obj: dict) -> None:
        """One parsed line: its schema, its id (repeats, the provider's rule) and its model."""
        self.requests += 1
        if not self.is_valid(obj):
            for finding in explain(self.explainer.iter_errors(obj), number):
                self.report.add(finding)
        value = self.id_of(obj)
        if type(value) is str:
            self.ids_add(value, number, self._repath)
            if self.id_match is not None and not self.id_match(value):
                self._bad_id(number, value)
        model = self.dialect.model_of(obj)
        if type(model) is str:
            self.models[model] = self.models.get(model, 0) + 1

    def _bad_id(self, number: int, value: str) -> None:
        message = (
            f"{self.id_name} {value!r} breaks {self.provider.name}'s id rule "
            f"{self.id_rule}; `batchkit convert` maps ids to it"
        )
        self.report.add(Finding("invalid-custom-id", message, number, self.id_path))

    def _repath(self, finding: Finding) -> None:
        """A repeated id, named by this dialect's id field."""
        message = finding.message.replace("custom_id", self.id_name, 1).split("; every")[0]
        message += f"; every request needs its own {self.id_name}"
        self.report.add(
            Finding(finding.code, message, finding.line, self.id_path, related_lines=finding.related_lines)
        )

    def feed_lines(self, numbered, at_file_start: bool = True) -> None:
        if self.reader is None:
            self.reader = LineReader(self.report.add, at_file_start)
        number = self.report.summary.lines
        for number, raw in numbered:  # noqa: B007 (number is read after the loop)
            line = raw[:-1] if raw.endswith(b"\n") else raw
            obj = self.reader.parse(number, line.removesuffix(b"\r"))
            if obj is not None:
                self.check(number, obj)
        self.report.summary.lines = number

    def feed_stream(self, stream) -> None:
        size = 0

        def counted():
            nonlocal size
            for raw in stream:
                size += len(raw)
                yield raw

        self.feed_lines(enumerate(counted(), 1))
        self.report.summary.bytes = size

    def finish(self, rescan=None, has_content: bool | None = None):
        summary = self.report.summary
        summary.requests += self.requests
        summary.models.update(self.models)
        self.requests, self.models = 0, {}
        seen = self.reader is not None and self.reader.seen_content
        return self.base.finish(has_content=seen if has_content is None else has_content)


def detect_stream(stream) -> str | None:
    """The dialect of the first line of a binary stream that parses and names one (None when no line
    among the first SCAN_LINES does), without consuming the stream."""
    if _seekable(stream):
        start = stream.tell()
        try:
            return _detect_lines(itertools.islice(stream, SCAN_LINES))
        finally:
            stream.seek(start)
    peek = getattr(stream, "peek", None)
    if peek is None:
        return None
    return _detect_lines(peek(PEEK_BYTES)[:PEEK_BYTES].split(b"\n")[:-1])


def _detect_lines(lines) -> str | None:
    for raw in lines:
        found = detect(_parse(raw))
        if found is not None:
            return found
    return None


def _parse(raw: bytes) -> dict | None:
    try:
        value = orjson.loads(raw.strip().removeprefix(BOM))
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def _seekable(stream) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def dialect_to_validate(
    stream, provider: str | Provider | None = None, dialect: str | None = None
) -> str | None:
    """The dialect a file must be validated as, when it is not OpenAI's (None: the OpenAI path).

    A named dialect wins; else the first content line's (the first that parses, when it is broken);
    else the provider's."""
    if dialect is None:
        dialect = detect_stream(stream) or get_provider(provider).dialect or OPENAI
    get_dialect(dialect)
    return None if dialect == OPENAI else dialect


def validator_factory(dialect: str | None):
    """What `build.write_numbered(make_validator=...)` needs to check lines of `dialect` as they are
    written (None for OpenAI lines, which `Validator` checks)."""
    if dialect is None or dialect == OPENAI:
        return None
    get_dialect(dialect)

    def make(provider: Provider, **options) -> DialectValidator:
        return DialectValidator(dialect, provider, **options)

    return make


def validate_dialect_stream(stream, dialect: str, provider: str | Provider | None = None, **options):
    """Validate a whole stream of `dialect` lines and return the Report."""
    validator = DialectValidator(dialect, provider, **options)
    validator.feed_stream(stream)
    return validator.finish()


def copied_lines_rules(path, provider: str | Provider | None = None):
    """(provider, validator factory) for lines copied as they are from the file `path` (`retry`): lines
    of another dialect than OpenAI's are checked as that dialect, under its home provider by default."""
    from .convert import target_provider

    with open_binary(path) as stream:
        dialect = detect_stream(stream)
    if dialect is None or dialect == OPENAI:
        return provider, None
    return target_provider(dialect, provider), validator_factory(dialect)
