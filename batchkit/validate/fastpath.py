"""The fast path: msgspec decoders derived from the JSON Schemas, which parse and check a line in one pass.

A derived decoder is never looser than its schema, only ever stricter: whatever it cannot express
exactly (a conditional `then`, a union msgspec cannot decode, an unknown keyword) becomes stricter or
rejects. So a line it accepts is valid by the schema, and a line it rejects goes to the reference path
(python-jsonschema), which decides and explains. Tests hold the two paths to identical findings.
"""

from __future__ import annotations

import functools
import keyword
import typing
from typing import Annotated, Any, Literal, Union

import msgspec

from .. import schemas
from ..formats import OPENAI, Dialect
from ..lines import MAX_DEPTH, nesting
from .rules import BODY_RULES, RULE_ROLES

# Keywords that only annotate.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "$comment",
        "default",
        "examples",
        "deprecated",
        "$schema",
        "$id",
        "$defs",
        "readOnly",
        "writeOnly",
    }
)


INT_RANGE = (-(2**63), 2**63 - 1)  # what msgspec can bound; orjson reads up to 2**64 - 1 as integers
# The typed part of a fast-path line nests at most this deep (a test holds every decoder to it), so a
# free-form value in it (`Any`: a JSON schema, a parameters object) may nest MAX_DEPTH - TYPED_DEPTH
# more; a deeper one sends the line to the reference path, which decides whether it is too deep.
TYPED_DEPTH = 16


class Reject(msgspec.Struct, forbid_unknown_fields=True):
    """Matches no JSON value a real request has: where the fast path cannot follow the schema."""

    batchkit_never_present: int


class Converter:
    """Turns one schema document (and the documents it refers to) into msgspec types.

    `closed` closes the top-level object (unknown fields are warnings, so such lines take the reference
    path); `drop` removes top-level properties whose presence needs a rule; `drop_tags` removes union
    members by tag value; `nonempty` gives the string form of properties with these names minLength 1;
    `raw` leaves top-level properties undecoded (msgspec.Raw) for a second decoder to read; `require` makes
    top-level string properties required and non-null. A closed object's `dependentSchemas`/
    `dependentRequired` keys are dropped too: a value that has one takes the reference path.
    """

    def __init__(
        self,
        name: str,
        *,
        closed=False,
        drop=frozenset(),
        drop_tags=frozenset(),
        nonempty=frozenset(),
        raw=frozenset(),
        require=frozenset(),
    ):
        self.name = name
        self.require = require
        self.closed, self.drop, self.drop_tags, self.nonempty, self.raw = (
            closed,
            drop,
            drop_tags,
            nonempty,
            raw,
        )
        self.refs: dict[tuple[str, str], Any] = {}
        self.counter = 0

    def root(self):
        return self.convert(schemas.load(self.name), self.name, top=True)

    def convert(self, node, doc: str, *, top=False, tag=None, field=None):
        if node is True:
            return Any
        if node is False or not isinstance(node, dict):
            return Reject
        if "$ref" in node:
            if set(node) - ANNOTATIONS - {"$ref", "type"}:
                return Reject
            return self.ref(node["$ref"], doc)
        if "allOf" in node:
            return self.all_of(node, doc)
        if "anyOf" in node:
            if set(node) - ANNOTATIONS - {"anyOf"}:
                node = first_alternative(node)
                return Reject if node is None else self.convert(node, doc, top=top, tag=tag, field=field)
            return self.union([self.convert(b, doc, field=field) for b in node["anyOf"]])
        keys = set(node) - ANNOTATIONS
        if "if" in keys:
            node = without_condition(node)
            return Reject if node is None else self.convert(node, doc, top=top, tag=tag, field=field)
        if "enum" in keys or "const" in keys:
            values = node["enum"] if "enum" in node else [node["const"]]
            if all(v is None or type(v) in (str, int) for v in values) and not keys - {
                "enum",
                "const",
                "type",
            }:
                return Literal[tuple(values)]  # type: ignore[valid-type]
            return Reject
        types = node.get("type")
        if types is None:
            return Any if not keys else Reject
        if isinstance(types, list):
            return self.union([self.convert({**node, "type": t}, doc, field=field) for t in types])
        return self.typed(types, node, keys - {"type"}, doc, top=top, tag=tag, field=field)

    def typed(self, kind, node, keys, doc, *, top, tag, field):
        meta = {}
        if kind == "string":
            allowed = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}
            if keys - set(allowed):
                return Reject
            meta = {allowed[k]: node[k] for k in keys}
            if "pattern" in meta:
                meta["pattern"] = schemas.python_pattern(meta["pattern"])  # `$` as JSON Schema means it
            if field in self.nonempty:
                meta["min_length"] = max(meta.get("min_length", 0), 1)
            return Annotated[str, msgspec.Meta(**meta)] if meta else str
        if kind in ("number", "integer"):
            allowed = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
            if keys - set(allowed):
                return Reject
            base = int if kind == "integer" else float
            meta = {allowed[k]: node[k] for k in keys}
            if base is int:
                # msgspec reads integers of any size; orjson, on the reference path, only those of 64 bits
                # (larger ones become floats, and past about 1e308 an error): beyond, the reference decides.
                meta = {"ge": INT_RANGE[0], "le": INT_RANGE[1], **meta}
            return Annotated[base, msgspec.Meta(**meta)] if meta else base
        if kind == "boolean":
            return bool if not keys else Reject
        if kind == "null":
            return None if not keys else Reject
        if kind == "array":
            if keys - {"items", "minItems", "maxItems"}:
                return Reject
            item = self.convert(node.get("items", True), doc)
            meta = {
                k: node[m] for m, k in (("minItems", "min_length"), ("maxItems", "max_length")) if m in node
            }
            return Annotated[list[item], msgspec.Meta(**meta)] if meta else list[item]
        if kind == "object":
            return self.object(node, keys, doc, top=top, tag=tag)
        return Reject

    def object(self, node, keys, doc, *, top, tag):
        if "properties" in node or "required" in node:
            extra = node.get("additionalProperties", True)
            dependent = set(DEPENDENT) & keys
            if keys - {"properties", "required", "additionalProperties", *DEPENDENT} or extra not in (
                True,
                False,
            ):
                return Reject
            closed = (top and self.closed) or extra is False
            if dependent and not closed:
                return Reject  # an open struct would take a dependent key as an unknown field: looser
            return self.struct(node, doc, closed=closed, top=top, tag=tag)
        if keys - {"additionalProperties", "propertyNames", "minProperties", "maxProperties"}:
            return Reject
        value = self.convert(node.get("additionalProperties", True), doc)
        names = node.get("propertyNames", {"type": "string"})
        key = self.convert({"type": "string", **names}, doc)
        meta = {
            k: node[m]
            for m, k in (("minProperties", "min_length"), ("maxProperties", "max_length"))
            if m in node
        }
        return Annotated[dict[key, value], msgspec.Meta(**meta)] if meta else dict[key, value]

    def struct(self, node, doc, *, closed, top, tag):
        required = set(node.get("required", []))
        properties = dict(node.get("properties", {}))
        if tag is not None:
            properties.pop(tag[0], None)
            required.discard(tag[0])
        if top:
            for name in self.drop:
                properties.pop(name, None)
            for name in self.require & properties.keys():
                if properties[name].get("type") not in ("string", ["string", "null"]):
                    return Reject
                required.add(name)
                properties[name] = {**properties[name], "type": "string"}
        for dependent in DEPENDENT:
            for name in node.get(dependent, {}):
                properties.pop(name, None)
        if not required <= set(properties):
            return Reject
        fields, rename = [], {}
        for i, (name, sub) in enumerate(sorted(properties.items(), key=lambda kv: kv[0] not in required)):
            attr = name if name.isidentifier() and not keyword.iskeyword(name) else f"field_{i}"
            rename[attr] = name
            annotation = msgspec.Raw if top and name in self.raw else self.convert(sub, doc, field=name)
            if name in required:
                fields.append((attr, annotation))
            else:
                fields.append((attr, Union[annotation, msgspec.UnsetType], msgspec.UNSET))  # noqa: UP007 (built at run time)
        self.counter += 1
        # gc=False: a decoded line holds no cycles; untracked structs cost less to make and never wake the
        # collector
        options = {"tag_field": tag[0], "tag": tag[1]} if tag else {}
        free = tuple(f[0] for f in fields if _holds_free(f[1]))
        if free:  # only structs that hold free-form values pay for a depth check
            options["namespace"] = {"__post_init__": _depth_check(free)}
        return msgspec.defstruct(
            f"S{self.counter}", fields, rename=rename, forbid_unknown_fields=closed, gc=False, **options
        )

    def ref(self, ref: str, doc: str):
        target_doc, _, fragment = ref.partition("#")
        if target_doc:
            target_doc = target_doc.removesuffix(".schema.json").rsplit("/", 1)[-1]
        else:
            target_doc = doc
        key = (target_doc, fragment)
        if key in self.refs:
            return self.refs[key] or Reject  # None: recursion in progress
        self.refs[key] = None
        node = schemas.load(target_doc)
        for part in filter(None, fragment.split("/")):
            node = node[part]
        self.refs[key] = result = self.convert(node, target_doc)
        return result

    def all_of(self, node, doc):
        """The discriminated union: `allOf` of `if {F: const V} then $ref`, one branch per tag value."""
        branches = node["allOf"]
        tags = []
        for branch in branches:
            cond = branch.get("if", {}) if isinstance(branch, dict) else {}
            props = cond.get("properties", {})
            if set(branch) != {"if", "then"} or len(props) != 1:
                return Reject
            ((field, spec),) = props.items()
            if "const" not in spec or "$ref" not in branch["then"]:
                return Reject
            tags.append((field, spec["const"], branch["then"]["$ref"]))
        if len({t[0] for t in tags}) != 1:
            return Reject
        members = []
        for field, value, ref in tags:
            if value in self.drop_tags:
                continue
            members.append(self.tagged(ref, doc, (field, value)))
        return self.union(members)

    def tagged(self, ref, doc, tag):
        _, _, fragment = ref.partition("#")
        node = schemas.load(doc)
        for part in filter(None, fragment.split("/")):
            node = node[part]
        if "if" in node:
            node = without_condition(node)
            if node is None:
                return Reject
        if node.get("type") != "object" or set(node) - ANNOTATIONS - {"type", "properties", "required"}:
            return Reject
        return self.struct(node, doc, closed=False, top=False, tag=tag)

    @staticmethod
    def union(members):
        members = list(dict.fromkeys(members))
        if Reject in members:
            members.remove(Reject)
        if not members:
            return Reject
        if len(members) == 1 and _tag_of(members[0]) is not None:
            members.append(_untagged(*_tag_of(members[0])))  # msgspec requires a tag only in a union
        candidate = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
        try:
            msgspec.json.Decoder(candidate)
        except TypeError:
            return Reject  # a union msgspec cannot decode: such values take the reference path
        return candidate


def _tag_of(member) -> tuple | None:
    """(tag field, tag) of a tagged struct type; None for any other type."""
    config = getattr(member, "__struct_config__", None)
    return None if config is None or config.tag_field is None else (config.tag_field, config.tag)


@functools.cache
def _untagged(field: str, tag):
    """A struct tagged by `field` that no object decodes to: beside a struct of another tag, it makes
    that struct's tag required."""
    never = Annotated[str, msgspec.Meta(min_length=1, max_length=0)]
    other = tag + 1 if type(tag) is int else f"not {tag}"
    return msgspec.defstruct("Untagged", [("never", never)], tag_field=field, tag=other, gc=False)


DEPENDENT = ("dependentSchemas", "dependentRequired")


def _holds_free(annotation) -> bool:
    """Whether a field's type lets a value nest freely (an `Any` outside a struct of its own)."""
    if annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return False
    return any(_holds_free(arg) for arg in typing.get_args(annotation))


def _depth_check(names: tuple[str, ...]):
    """A struct's `__post_init__` refusing free-form values nested past what the fast path may take."""
    budget = MAX_DEPTH - TYPED_DEPTH

    def __post_init__(self) -> None:
        for name in names:
            if nesting(getattr(self, name), budget) > budget:
                raise ValueError(f"nested more than {budget} levels: for the reference path")

    return __post_init__


def without_condition(node: dict) -> dict | None:
    """`node` with its `if`/`then` applied unconditionally, which is stricter, never looser. Only a `then`
    that requires fields is understood; anything else (an `else`, other keywords in `then`) gives None."""
    then = node.get("then", {})
    if "else" in node or not isinstance(then, dict) or set(then) - ANNOTATIONS - {"required"}:
        return None
    plain = {k: v for k, v in node.items() if k not in ("if", "then")}
    if then.get("required"):
        plain["required"] = sorted(set(node.get("required", [])) | set(then["required"]))
    return plain


def first_alternative(node: dict) -> dict | None:
    """An object whose `anyOf` only names which fields it needs (one of several sets) with its first set
    required, which is stricter, never looser: bodies with another set take the reference path. Any other
    `anyOf` beside more keywords gives None."""
    branches = node["anyOf"]
    if not all(isinstance(b, dict) and not set(b) - ANNOTATIONS - {"required"} for b in branches):
        return None
    plain = {k: v for k, v in node.items() if k != "anyOf"}
    plain["required"] = sorted(set(node.get("required", [])) | set(branches[0].get("required", [])))
    return plain


@functools.cache
def body_type(name: str):
    """The stricter msgspec type of an endpoint's body: closed, without what needs a rule, and with a string
    `model` (requests are counted by model; a body where the schema lets it be absent or null takes the
    reference path).

    Which lines need a rule is read from rules.BODY_RULES (the fields each rule needs) and RULE_ROLES:
    a line with a rule's one field fails to decode; one with both fields of a rule's pair decodes, and
    `Validator.feed_lines` sends it on by `rule_pairs()` (a decoder hook would cost more per line).
    """

    single = frozenset(r.fields[0] for r in BODY_RULES if len(r.fields) == 1 and not r.by_value)
    return Converter(
        name,
        closed=True,
        drop=single,
        drop_tags=RULE_ROLES,
        nonempty={"content"},
        raw=VALUED_FIELDS,
        require={"model"},
    ).root()


# Body fields left undecoded on the fast path (msgspec.Raw), each decided by its value (`value_checker`).
VALUED_FIELDS = frozenset(r.fields[0] for r in BODY_RULES if r.by_value)


@functools.cache
def value_decoders(name: str) -> dict[str, Any]:
    """{field: decode} for the VALUED_FIELDS an endpoint's body has, each by the field's own schema."""
    properties = schemas.load(name).get("properties", {})
    converter = Converter(name, nonempty={"content"})
    return {
        field: msgspec.json.Decoder(converter.convert(properties[field], name, field=field)).decode
        for field in sorted(VALUED_FIELDS & properties.keys())
    }


def value_checker(provider):
    """check(body schema, field, raw value) -> whether a body with this value of the field is clean under
    its schema and every by-value rule for `provider`. False sends the line to the reference path, which
    decides and explains; so it may be stricter, never more lenient (a value nested past what the fast path
    may take is False too)."""
    rules = {field: [r for r in BODY_RULES if r.by_value and r.fields == (field,)] for field in VALUED_FIELDS}
    budget = MAX_DEPTH - TYPED_DEPTH

    def check(name: str, field: str, raw: bytes) -> bool:
        try:
            value = msgspec.to_builtins(value_decoders(name)[field](raw))
        except DECODE_ERRORS:
            return False
        if nesting(value, budget) > budget:
            return False
        found = []
        for rule in rules[field]:
            rule.check(None, {field: value}, found.append, provider)
        return not found

    return check


@functools.cache
def rule_pairs() -> tuple[tuple[str, str], ...]:
    """The body fields whose presence together needs a rule: a decoded line whose body has both of a
    pair takes the reference path."""

    pairs = tuple(r.fields for r in BODY_RULES if len(r.fields) > 1)
    if any(len(p) != 2 or not all(f.isidentifier() for f in p) for p in pairs):
        raise RuntimeError("a body rule needs more than one or two fields; teach the fast path about it")
    return pairs


class _Url(msgspec.Struct):
    url: str


# For every line type made (see line_type): its url, and ((body schema, field), …) of the VALUED_FIELDS
# it leaves raw.
LINE_URLS: dict[type, str] = {}
LINE_VALUED: dict[type, tuple] = {}


@functools.cache
def _envelope() -> list:
    request = schemas.load(schemas.REQUEST)
    converter = Converter(schemas.REQUEST)
    envelope = [
        (name, converter.convert(spec, schemas.REQUEST, field=name))
        for name, spec in request["properties"].items()
        if name not in ("url", "body")
    ]
    if set(request["required"]) != {name for name, _ in envelope} | {"url", "body"}:
        raise RuntimeError("the request line schema changed shape; teach the fast path about it")
    return envelope


@functools.cache
def line_type(url: str):
    """The struct of a whole request line to `url`, tagged by it, or None when such lines take the
    reference path (no body schema, or one the fast path cannot follow). Made on first use: a file
    usually names one endpoint, and making all of them is most of a one-line validation's time."""
    name = schemas.body_schemas().get(url)
    if name is None or (body := body_type(name)) is Reject:
        return None
    line = msgspec.defstruct(
        f"Line{sorted(schemas.body_schemas()).index(url)}",
        [*_envelope(), ("body", body)],
        tag_field="url",
        tag=url,
        forbid_unknown_fields=True,
        gc=False,
    )
    LINE_URLS[line] = url
    # (a field another one depends on is not in the struct: a line with it takes the reference path)
    LINE_VALUED[line] = tuple((name, f) for f in value_decoders(name) if f in body.__struct_fields__)
    return line


@functools.cache
def line_decoder(urls: frozenset[str] | None = None):
    """(decode, {line type: url}, {line type: ((body schema, field), …)}): one decoder for whole request
    lines to `urls` (every endpoint by default), and the VALUED_FIELDS each line type leaves raw.

    A line type per endpoint, tagged by `url`, so one pass both picks the body schema (as the request
    schema's if/then on `url` does) and checks the body. Any other url decodes to an error and takes the
    reference path.
    """
    every = sorted(schemas.body_schemas())
    types = [
        line for url in (every if urls is None else sorted(urls)) if (line := line_type(url)) is not None
    ]
    if not types:
        return _decode_nothing, LINE_URLS, LINE_VALUED
    if len(types) == 1:  # a tagged struct alone does not require its tag: a union of two does
        types.append(next(t for url in every if (t := line_type(url)) not in (None, types[0])))
    return msgspec.json.Decoder(Union[tuple(types)]).decode, LINE_URLS, LINE_VALUED  # noqa: UP007


def _decode_nothing(raw):
    raise msgspec.ValidationError("no endpoint is known yet")


def widening_decoder():
    """widen(decode, raw) -> (decode, line or None), for a line `decode` refused: when the line names an
    endpoint the decoder does not know yet, a decoder that also knows it, and the line decoded by it. The
    validator starts from a decoder of no endpoint, so only the endpoints a file names are ever made."""
    known: set[str] = set()
    url_of = msgspec.json.Decoder(_Url).decode

    def widen(decode, raw):
        try:
            url = url_of(raw).url
        except DECODE_ERRORS:
            return decode, None
        if url in known or line_type(url) is None:
            return decode, None
        known.add(url)
        decode = line_decoder(frozenset(known))[0]
        try:
            return decode, decode(raw)
        except DECODE_ERRORS:
            return decode, None

    return widen


def _unwidened(decode, raw):
    return decode, None


# Any failure to decode a line on the fast path sends it to the reference path, which decides and
# explains: msgspec's own errors, bytes that are not UTF-8, and a line nested past its recursion limit.
DECODE_ERRORS = (msgspec.MsgspecError, ValueError, KeyError, RecursionError)


UNSET = msgspec.UNSET


def decoder_for(dialect: Dialect):
    """(decode, widen, keys, urls, pairs, valued) for one format's lines: `decode` parses and checks a line
    against its schema (raising for any line the reference path must see), and `widen(decode, raw)` gives
    (decode, line or None) again for a line it refused (see `widening_decoder`). `keys(line)` gives (id,
    endpoint, model) of a decoded line, or None when a rule needs the whole line (the reference path then
    reads it); for OpenAI's lines it is None and the validator reads them itself by `urls` (line type →
    url), `pairs` (the body fields a rule needs together, see `rule_pairs`) and `valued` (line type → the
    raw fields decided by value, see `value_checker`)."""
    if dialect is OPENAI:
        decode, urls, valued = line_decoder(frozenset())
        return decode, widening_decoder(), None, urls, rule_pairs(), valued
    decode, keys = _dialect_decoder(dialect)
    return decode, _unwidened, keys, {}, (), {}


@functools.cache
def _dialect_decoder(dialect: Dialect):
    decode = msgspec.json.Decoder(Converter(dialect.schema, closed=True).root()).decode
    to_builtins, read = msgspec.to_builtins, dialect.read

    def keys(line):
        request = read(to_builtins(line))
        if dialect.body_findings(request, None):
            return None  # a rule on the body fires: the reference path reports it
        return request.id, request.endpoint, request.model

    return decode, keys
