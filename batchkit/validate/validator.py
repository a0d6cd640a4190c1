"""Validation: reader → schema → rules → report, streaming in constant memory.

Each line first tries the fast path (msgspec decoders derived from the schemas, see `fastpath`); a line
it rejects takes the reference path: orjson, jsonschema-rs for validity, python-jsonschema to explain
(once per distinct failure).
Both paths feed the same rules, so they give identical findings.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Iterator
from typing import BinaryIO

import orjson

from .. import schemas
from ..findings import Finding, Report, pointer
from ..formats import OPENAI, Dialect, detect, get_dialect
from ..lines import (
    READ_CHUNK,
    LineReader,
    Overlong,
    bounded_lines,
    iter_lines,
    repeated_keys,
    repeats_a_key,
    seekable,
    too_deep,
    too_deep_finding,
    whole_line,
)
from ..options import Options
from ..providers import Provider, get_provider
from .explain import explain, label
from .fastpath import DECODE_ERRORS, UNSET, decoder_for, value_checker
from .rules import ExactIds, HashedIds, LineRules

INT64 = (-(2**63), 2**64 - 1)  # the integers a JSON line can carry (signed or unsigned 64-bit)
NOT_YET = object()  # equal to no (url, model): see feed_lines
VERDICTS_KEPT = 1024  # distinct raw field values whose verdict a validator remembers


@functools.cache
def _compiled(schema: str):
    """Schema `schema` compiled by jsonschema-rs: it decides validity and names what fails (where, against
    which keyword, the value there); python-jsonschema explains a failure in words."""
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.all_schemas().values()])
    return jsonschema_rs.validator_for(schemas.root(schema), registry=registry)


# Explanations by what failed: a file whose lines share a mistake (the same bad value in the same place)
# is explained once, not once a line (python-jsonschema walks the whole line, ~0.6 ms). Bounded: cleared
# when full, and a failure whose values are long is not kept.
EXPLAINED_KEPT = 1024
EXPLAINED_KEY_BYTES = 4096
_EXPLAINED: dict[tuple, tuple[Finding, ...]] = {}


def _failure_key(schema: str, obj) -> tuple | None:
    """What jsonschema-rs finds wrong with `obj` (keyword, place, the value there, exactly): lines with the
    same failures get the same explanation. None when the values are too long to keep."""
    failures = tuple(
        # the path taken through the schemas (branches, $refs), not the keyword's place in its document
        (
            tuple(e.evaluation_path),
            e.absolute_keyword_location,
            tuple(e.instance_path),
            orjson.dumps(e.instance),
        )
        for e in _compiled(schema).iter_errors(obj)
    )
    if sum(len(failure[-1]) for failure in failures) > EXPLAINED_KEY_BYTES:
        return None
    return (schema, failures)


def schema_findings(
    number: int | None, obj, dialect: Dialect = OPENAI, schema: str | None = None, raw: bytes | None = None
) -> list[Finding]:
    """The line schema's findings for one line of `dialect` (empty when it is valid); `schema` when given
    is the one the line is read under (a Bedrock line's, by its model family); `raw`, the line's text when
    at hand, spares most lines the walk that measures their depth.

    A line nested deeper than MAX_DEPTH is one `too-deep` finding, valid or not: no job reads it. A line
    the schema rejects always gets at least one finding: a generic `schema` one when the explanation finds
    nothing.
    """
    schema = schema or dialect.schema
    if too_deep(obj, raw):
        return [too_deep_finding(number)]
    try:
        if _compiled(schema).is_valid(obj):
            return []
        # only a line read from text: its values are JSON's own (a Python object may hold a NaN or a
        # tuple, whose JSON text is that of another value)
        key = _failure_key(schema, obj) if raw is not None else None
    except (ValueError, OverflowError, RecursionError, orjson.JSONEncodeError):
        key = None  # a value jsonschema-rs cannot take in: python-jsonschema decides and explains
    explained = _EXPLAINED.get(key) if key is not None else None
    if explained is not None:
        return [dataclasses.replace(f, line=number) for f in explained]
    try:
        findings = explain(schemas.validator(schema).iter_errors(obj), number)
    except RecursionError:
        return [too_deep_finding(number)]
    if not findings:
        message = "the line does not match the request schema (no single field explains why)"
        findings = [Finding("schema", message, number)]
    if key is not None:
        if len(_EXPLAINED) >= EXPLAINED_KEPT:
            _EXPLAINED.clear()
        _EXPLAINED[key] = tuple(findings)
    return findings


def repeated_key_finding(number: int | None, where: tuple) -> Finding:
    message = (
        f"{label(where)} appears more than once in its object: readers differ on which one counts (batchkit "
        "and most keep the last, some the first), so the request that runs may not be the one checked; "
        "keep one"
    )
    return Finding("duplicate-key", message, number, pointer(where))


# Members whose value is a JSON Schema the user wrote (a tool's parameters, a response schema): its
# numbers are the schema's own (`maximum: 1e20` is a fine keyword), not request fields with 64-bit bounds.
USER_SCHEMA_MEMBERS = frozenset(
    "parameters schema input_schema responseSchema response_schema responseJsonSchema response_json_schema "
    "parametersJsonSchema parameters_json_schema".split()
)


def wide_integer(value) -> tuple | None:
    """Where the first integer wider than 64 bits is in `value` (a Python object that never went
    through JSON, which cannot carry one), as a tuple of keys; else None. User schemas are passed over
    (USER_SCHEMA_MEMBERS)."""
    stack = [(value, ())]
    while stack:
        item, where = stack.pop()
        if type(item) is dict:
            stack.extend((v, (*where, k)) for k, v in reversed(item.items()) if k not in USER_SCHEMA_MEMBERS)
        elif type(item) is list:
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(item))))
        elif type(item) is int and not INT64[0] <= item <= INT64[1]:
            return where
    return None


class Validator:
    """Checks request lines of one format and collects a Report.

    Feed it a stream (`feed_stream`), numbered raw lines (`feed_lines`) or parsed objects (`check`), then
    call `finish()` for the file-level checks. `provider` is a provider (name or row) or `Options`; the
    keywords override its limits. `dialect` is the lines' format (default: OpenAI's). `ids="hashed"` keeps
    only a hash per id; its repeats are then resolved by `finish(rescan=...)` from a second read of the
    file, or by whoever joins the hashes of several parts (`ids` is then the part's own HashedIds).
    `first_model` and `first_endpoint` are (value, line) of the file's first request, for a validator of
    a later byte range or partition. A line longer than `max_line_bytes` (default: the provider's file limit, at most
    MAX_LINE_BYTES) is one finding, skipped without being held.
    """

    def __init__(
        self,
        provider: str | Provider | Options | None = None,
        *,
        dialect: str | Dialect | None = None,
        max_requests: int | None = None,
        max_bytes: int | str | None = None,
        max_findings: int | None = None,
        max_line_bytes: int | None = None,
        file: str = "<stdin>",
        ids: str | ExactIds | HashedIds = "exact",
        strict: bool = False,
        first_model: tuple[str, int] | None = None,
        first_endpoint: tuple[str, int] | None = None,
    ):
        options = Options.of(provider, max_requests=max_requests, max_bytes=max_bytes)
        self.dialect = get_dialect(dialect) if dialect is not None else options.dialect_for(None)
        self.provider = options.provider
        wrong = wrong_dialect(self.dialect, self.provider, file)
        # Lines of a format the provider does not take are checked as lines of no provider: its limits and
        # id rule apply to what `convert` writes from them, not to them.
        rules_provider = (
            self.provider
            if wrong is None
            else NO_PROVIDER.with_limits(self.provider.max_requests, self.provider.max_bytes)
        )
        max_findings = options.max_findings if max_findings is None else max_findings
        self.report = Report(
            file, self.provider.name, max_findings=max_findings, strict=strict or options.strict
        )
        self.rules = LineRules(
            rules_provider,
            _ids_kept(ids, self.dialect),
            first_model,
            first_endpoint,
            self.dialect,
            options.model,
        )
        self.max_line = max_line_bytes or options.max_line
        self._has_content = False
        self._reader: LineReader | None = None
        self._stream = None  # the stream lines are read from, to read past an overlong line's rest
        self._skipped = 0  # bytes of overlong lines read past without being held
        self._stopped = False  # an endless line ended the reading
        self._verdicts: dict[tuple[str, str, bytes], bool] = {}  # see _clean_value
        self._decode = None  # the fast path's decoder as widened by the lines fed so far
        self._check_value = None
        # Raw lines are checked for a key repeated in an object; a writer of lines encoded from dicts,
        # which cannot repeat one, turns it off (the check is a second parse of each line).
        self.checks_repeats = True
        if wrong is not None:
            self.report.add(wrong)

    @property
    def has_content(self) -> bool:
        """Whether any line read so far was not blank."""
        return self._has_content

    def check(self, number: int, obj: dict, raw: bytes | None = None) -> None:
        """The reference path for one parsed line; `raw`, the line it was read from, is checked for
        repeated keys (which the parsed object no longer shows)."""
        add = self.report.add
        summary = self.report.summary
        summary.requests += 1
        self._has_content = True
        if raw is not None and self.checks_repeats:
            for where in repeated_keys(raw):
                add(repeated_key_finding(number, where))
        said = set()
        schema, body = self.dialect.line_schema(obj, self.rules.job_model)
        if body is not None:
            summary.bodies[body] += 1
        for finding in schema_findings(number, obj, self.dialect, schema, raw):
            add(finding)
            said.add((finding.code, finding.path))

        def add_new(finding: Finding) -> None:  # a rule (a provider's body schema) may say it again
            if (finding.code, finding.path) not in said:
                add(finding)

        request = self.dialect.read(obj, number)
        self.rules.check(number, obj, request, add_new)
        if request.endpoint is not None:
            summary.endpoints[request.endpoint] += 1
        if request.model is not None:
            summary.models[request.model] += 1

    def feed_stream(self, stream, at_file_start: bool = True, size: int | None = None) -> None:
        """Every line of a stream (a binary file, or any iterable of lines and their total `size`).

        A binary file is read with a bounded buffer: a line past the cap is reported and skipped."""
        is_seekable = seekable(stream)
        if hasattr(stream, "readline"):
            self._stream = stream
            lines = bounded_lines(stream)
        else:
            lines = stream
        if size is None and not is_seekable:
            lines, counted = _counting(lines)
        self.feed_lines(enumerate(lines, 1), at_file_start)
        self._stream = None
        if size is None:
            size = stream.tell() if is_seekable else counted[0] + self._skipped
        self.report.summary.bytes = size

    def feed_lines(self, numbered, at_file_start: bool = True) -> None:  # noqa: C901, PLR0912, PLR0915 (one loop, no calls)
        """(line number, raw line) pairs, numbers ascending; may be called again with later lines.

        This is the hot loop of validation: keep per-line work out of it. It counts lines, not bytes:
        callers set `report.summary.bytes`.
        """
        if self._reader is None:
            self._reader = LineReader(self.report.add, at_file_start, self.provider.name)
        reader, summary = self._reader, self.report.summary
        decode, widen, keys, urls, pairs_needing_rules, valued = decoder_for(self.dialect)
        decode = self._decode or decode  # the endpoints earlier calls learned
        clean = self._clean_value
        keys = self._keys(keys)
        fast_limit = min(self.max_line, READ_CHUNK - 1)  # a longer line may be only the start of one
        remember, hash_of, allowed = self._inline_ids()
        minimums = self.provider.body_minimums  # (of OpenAI bodies, read here when keys is None)
        # the (url, model) of a line the one-model and one-endpoint rules passed (None: no such rule); a line
        # with another pair is checked by them
        passed = NOT_YET if self.provider.one_model or self.provider.one_endpoint else None
        check_keys, add = self.rules.check_id_url_model, self.report.add
        pairs: dict[tuple, int] = {}  # (url, model) → requests: cheaper per line than two Counters
        pairs_get = pairs.get
        number = summary.lines
        # Until the first content line is known to be an ordinary one, lines take the reference path: that
        # line may carry a byte-order mark or open a JSON array, which the reader must see.
        fast_ok = reader.seen_content and not reader.spread
        unrepeated = self.checks_repeats
        for number, raw in numbered:  # noqa: B007 (number is read after the loop)
            # (an Overlong a reader of a shorter bound gave is no bytes: the reference path reports it)
            if (
                (fast_ok or (fast_ok := reader.opens_plainly(raw)))
                and len(raw) <= fast_limit
                and type(raw) is bytes
            ):
                try:
                    line = decode(raw)  # JSON allows the trailing newline as whitespace
                except DECODE_ERRORS:
                    decode, line = widen(decode, raw)
                if line is not None:
                    if keys is None:  # OpenAI's lines are read right here: a call per line costs 4%
                        body, text = line.body, raw
                        for first, second in pairs_needing_rules:
                            if (
                                getattr(body, first, UNSET) is not UNSET
                                and getattr(body, second, UNSET) is not UNSET
                            ):
                                break
                        else:
                            for schema, field in valued[type(line)]:
                                value = getattr(body, field)
                                if value is not UNSET:
                                    value = bytes(value)
                                    if not clean(schema, field, value):
                                        break
                                    if unrepeated:  # its keys were checked with its verdict
                                        text = without_value(text, value)
                            else:
                                for field, least in minimums:
                                    value = getattr(body, field, UNSET)
                                    if type(value) is int and value < least:
                                        break
                                else:
                                    # msgspec keeps the last of a repeated key: the reference path says so
                                    if not (unrepeated and repeats_a_key(text)):
                                        custom_id, url, model = line.custom_id, urls[type(line)], body.model
                                        key = (url, model)
                                        if (
                                            remember is not None
                                            and (allowed is None or url in allowed)
                                            and (passed is None or key == passed)
                                        ):
                                            remember(hash_of(custom_id))
                                        else:
                                            check_keys(number, custom_id, url, model, add)
                                            if passed is NOT_YET and self._one_pair(url, model):
                                                passed = key
                                        pairs[key] = pairs_get(key, 0) + 1
                                        continue
                    elif (found := keys(line)) is not None and not (unrepeated and repeats_a_key(raw)):
                        self._fast(number, found, pairs)
                        continue
            self._reference(number, raw)
            if self._stopped:
                break
            fast_ok = reader.seen_content and not reader.spread
        self._decode = decode
        self._count(pairs)
        summary.lines = number
        self._has_content = self._has_content or reader.seen_content

    def _clean_value(self, schema: str, field: str, raw: bytes) -> bool:
        """Whether a body field left raw on the fast path is clean (see fastpath.value_checker), decided
        once per distinct value: a batch usually repeats one response schema or tool list on every line."""
        key = (schema, field, raw)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()  # memory stays bounded when every line's value differs
            if self._check_value is None:
                self._check_value = value_checker(self.provider)
            verdict = self._check_value(schema, field, raw)
            # the hot loop leaves a clean value's keys out of the line's own check for repeated ones
            verdict = self._verdicts[key] = verdict and not (self.checks_repeats and repeats_a_key(raw))
        return verdict

    def _keys(self, keys):
        """The fast path's keys function for this provider's lines (None: OpenAI lines read in the hot
        loop). A provider's own body schema is read on the reference path."""
        if any(d == self.dialect.name for d, _, _ in self.rules.provider.body_schemas):
            return _reference_only
        return keys

    def _inline_ids(self):
        """(append a hash, the hash, endpoints allowed) when the common rules are checked in the hot loop
        itself (ids hashed, no id rule), else (None, None, None). The one-model and one-endpoint rules are
        checked there by the (url, model) of a line they passed."""
        rules = self.rules
        if not isinstance(rules.ids, HashedIds) or rules.id_match is not None:
            return None, None, None
        return rules.ids.hashes.append, rules.ids.hash_of, rules.allowed

    def _one_pair(self, url: str, model: str) -> bool:
        """Whether a line to `url` and `model` is what the one-model and one-endpoint rules hold the file
        to (after the rules have seen it)."""
        provider, rules = self.provider, self.rules
        return (not provider.one_endpoint or rules.first_endpoint[0] == url) and (
            not provider.one_model or rules.first_model[0] == model
        )

    def _fast(self, number: int, found: tuple, pairs: dict) -> None:
        """A line of another format that the fast path read: (id, endpoint, model) checked and counted."""
        custom_id, url, model = found
        self.rules.check_id_url_model(number, custom_id, url, model, self.report.add)
        pairs[(url, model)] = pairs.get((url, model), 0) + 1

    def _count(self, pairs: dict[tuple, int]) -> None:
        """Adds the fast path's requests per (url, model) to the summary."""
        summary = self.report.summary
        for (url, model), count in pairs.items():
            summary.requests += count
            if url is not None:
                summary.endpoints[url] += count
            if model is not None:
                summary.models[model] += count

    def _reference(self, number: int, raw: bytes | Overlong) -> None:
        """One raw line the fast path did not take: read it, report what is wrong with it, check it."""
        if not isinstance(raw, Overlong):
            raw = self._whole(raw)
        if isinstance(raw, Overlong):
            self._has_content = True
            self._stopped = raw.endless
        elif raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        obj = self._reader.parse(number, raw)
        if obj is not None:
            self.check(number, obj, raw)

    def _whole(self, raw: bytes) -> bytes | Overlong:
        """The whole line `raw` begins (the rest read from the stream), or an Overlong past the limit."""
        line = whole_line(self._stream, raw, self.max_line)
        self._skipped += len(line) - len(raw)  # bytes the stream read that the line iterator did not count
        return line

    def finish(self, rescan: BinaryIO | None = None, has_content: bool | None = None) -> Report:
        """Adds the file-level findings and returns the report (findings in line order).

        With hashed ids, `rescan` is a fresh stream of the same file for the exact pass over repeats
        (without one, the repeats are left to the caller that joins the hashes).
        `has_content` tells whether the file had any non-blank line, when the lines were read elsewhere.
        """
        if has_content is not None:
            self._has_content = has_content
        report, summary, p = self.report, self.report.summary, self.provider
        ids = self.rules.ids
        if isinstance(ids, HashedIds) and rescan is not None:
            for finding in ids.duplicates(_ids(rescan, self.max_line, self.dialect)):
                report.add(finding)
        if not self._has_content:
            message = "the file has no requests; a batch file needs at least one request line"
            report.add(Finding("empty-file", message, None))
        if p.max_requests is not None and summary.requests > p.max_requests:
            message = (
                f"{summary.requests:,} requests; {p.name} accepts at most {p.max_requests:,} per file: "
                "split it (`batchkit split`)"
            )
            report.add(Finding("too-many-requests", message, None))
        if p.max_bytes is not None and summary.bytes > p.max_bytes:
            message = (
                f"{summary.bytes:,} bytes; {p.name} accepts at most {p.max_bytes:,} per file: "
                "split it (`batchkit split`)"
            )
            report.add(Finding("file-too-large", message, None))
        report.sort()
        return report


def _ids_kept(ids: str | ExactIds | HashedIds, dialect: Dialect) -> ExactIds | HashedIds:
    if not isinstance(ids, str):
        return ids
    return HashedIds(dialect) if ids == "hashed" else ExactIds(dialect)


NO_PROVIDER = get_provider("generic")  # the row of per-line checks only


def wrong_dialect(dialect: Dialect, provider: Provider, file: str | None = None) -> Finding | None:
    """The file-level finding for a file in `dialect` when `provider` does not take it (else None); the
    convert command it gives names `file` when it is a file's path."""
    accepted = provider.dialects
    if not accepted or dialect.name in accepted:
        return None
    name = shlex.quote(file) if file and not file.startswith("<") and file != "-" else "FILE"
    message = (
        f"this file is in the {dialect.name} dialect; {provider.name} takes {' or '.join(accepted)} "
        f"lines (`batchkit convert {name} -o OUT --provider {provider.name}`)"
    )
    return Finding("wrong-dialect", message, None)


def without_value(text: bytes, value: bytes) -> bytes:
    """`text` (a JSON line) with an occurrence of `value` (the raw text of one of its values) made `0`,
    when `value` starts `{"` or `[{"` and a key character (an object, or an array that starts with one);
    else `text` as it is. A check of the result for repeated keys then reads everything but that value.

    Every occurrence of such a value is a whole value, so the result has the same keys elsewhere: it
    cannot start inside a string, as its first quote would end that string and the key character after
    it could not follow there."""
    start = 2 if value[:2] == b'{"' else 3 if value[:3] == b'[{"' else 0
    if not start or value[start : start + 1] in AFTER_A_STRING:
        return text
    at = text.rfind(value)  # the raw fields come late in a body
    return text if at < 0 else text[:at] + b"0" + text[at + len(value) :]


AFTER_A_STRING = frozenset((b"", b":", b",", b"}", b"]", b" ", b"\t", b"\r", b"\n"))


def _reference_only(line) -> None:
    return None


def _counting(stream):
    """Lines of a stream that cannot tell its position, and a one-item list that adds up their bytes."""
    counted = [0]

    def lines():
        for raw in stream:
            counted[0] += len(raw)
            yield raw

    return lines(), counted


def _ids(stream: BinaryIO, max_line: int, dialect: Dialect) -> Iterator[tuple[int, str]]:
    """(line, id) of every request line, read as the first pass read them."""
    reader = LineReader(lambda finding: None)
    for number, _end, raw in iter_lines(stream, max_line=max_line):
        obj = reader.parse(number, raw)
        ident = dialect.id_of(obj) if obj is not None else None
        if type(ident) is str:
            yield number, ident


def validate_request(obj, provider: str | Provider | Options | None = None) -> list[Finding]:
    """The findings for one request line's object (per-line checks only), in the format it is written in."""
    if type(obj) is not dict:
        return [Finding("not-an-object", "a request must be a JSON object", None)]
    if too_deep(obj):
        return [too_deep_finding(None)]
    where = wide_integer(obj)
    if where is not None:
        message = f"{label(where)} is an integer wider than 64 bits; no JSON reader takes it"
        return [Finding("out-of-range", message, None, pointer(where))]
    options = Options.of(provider)
    validator = Validator(options, dialect=options.dialect_for(detect(obj)))
    validator.check(0, obj)
    return [Finding(f.code, f.message, None, f.path, f.severity) for f in validator.report.findings]
