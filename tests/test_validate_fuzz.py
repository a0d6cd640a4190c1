"""Fuzz: random bytes, deeply nested JSON, huge numbers and keys repeated in an object through every
validation path.

No exception may escape validate_file (fast path, reference path, parallel path) or validate_request, and
the three paths must agree. Each example's handful of generated lines is cycled into a file of 170 to
200 lines: 60 examples read at least 10,200 generated lines (the parallel path splits each file in two
wherever its middle falls).
"""

import io

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchkit.errors import InputError
from batchkit.lines import GZIP_MAGIC, read_objects
from batchkit.validate import Validator, validate_file, validate_request
from batchkit.validate import files as validate_files

pytestmark = pytest.mark.slow

EXAMPLES = 60
LINES_PER_EXAMPLE = (170, 200)

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def nested(depth: int, opener: bytes, closer: bytes, leaf: bytes = b"1") -> bytes:
    return opener * depth + leaf + closer * depth


def request(field: str, value: bytes, custom_id: int) -> bytes:
    head = orjson.dumps({"custom_id": f"r{custom_id}", "method": "POST", "url": "/v1/chat/completions"})
    body = orjson.dumps(BODY)[:-1] + b',"' + field.encode() + b'":' + value + b"}"
    return head[:-1] + b',"body":' + body + b"}"


huge_numbers = st.one_of(
    st.integers(300, 6000).map(lambda n: b"9" * n),
    st.integers(19, 40).map(lambda n: b"-" + b"9" * n),
    st.sampled_from([b"1e400", b"-1e400", b"1e-400", b"18446744073709551616", b"9223372036854775808"]),
)
deep_values = st.one_of(
    st.integers(100, 1100).map(lambda d: nested(d, b"[", b"]")),
    st.integers(100, 1100).map(lambda d: nested(d, b'{"a":', b"}")),
    st.integers(1, 40).map(lambda d: nested(d, b"[", b"]")),
)
fields = st.sampled_from(
    ["temperature", "max_tokens", "seed", "metadata", "response_format", "logit_bias", "n", "x-extra"]
)
request_lines = st.builds(request, fields, st.one_of(huge_numbers, deep_values), st.integers(0, 5))
plain_requests = st.integers(0, 50).map(lambda i: request("temperature", b"0.5", i))


def repeated(custom_id: int, where: int, value: bytes) -> bytes:
    """A valid request line with one key written twice: in the envelope, the body, a message, or a free-form
    value the fast path decodes itself (a legacy function's parameters)."""
    line = request("functions", b'[{"name":"f","parameters":{"type":"object"}}]', custom_id)
    at = [b'"method":', b'"model":', b'"role":', b'"type":', b'"custom_id":'][where]
    head, sep, tail = line.partition(at)
    return head + at + value + b"," + sep + tail


repeats = st.builds(
    repeated,
    st.integers(0, 50),
    st.integers(0, 4),
    st.sampled_from([b'"POST"', b'"x"', b"1", b"{}", b'"user"']),
)
random_lines = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" "))
lines = st.one_of(
    random_lines,
    request_lines,
    plain_requests,
    repeats,
    huge_numbers,
    deep_values,
    st.sampled_from([b"", b"\xef\xbb\xbf{}", b"\xff\xfe", b"[", b"{" * 2000, b"\x1f\x8b\x08\x00"]),
)
files = st.tuples(st.lists(lines, min_size=1, max_size=8), st.integers(*LINES_PER_EXAMPLE))


def build(chunk: list[bytes], count: int) -> bytes:
    return b"\n".join(chunk[i % len(chunk)] for i in range(count)) + b"\n"


def reference(data: bytes) -> list:
    validator = Validator("openai", ids="exact", file="f")
    stats: dict = {}
    for number, obj, raw in read_objects(io.BytesIO(data), validator.report.add, stats):
        validator.check(number, obj, raw)
    validator.report.summary.lines, validator.report.summary.bytes = stats["lines"], stats["bytes"]
    return validator.finish(has_content=stats["content"]).to_dict()["findings"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(files)
def test_hostile_lines_never_escape_validate_file(tmp_path, monkeypatch, spec):
    chunk, count = spec
    data = build(chunk, count)
    fast = validate_file(io.BytesIO(data), "openai").to_dict()["findings"]
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    if data.startswith(GZIP_MAGIC):  # a file named by its path is read as gzip, and this one is damaged
        with pytest.raises(InputError, match="gzip data is damaged"):
            validate_file(path, "openai", jobs=2)
        parallel = fast
    else:
        parallel = validate_file(path, "openai", jobs=2).to_dict()["findings"]
    assert fast == parallel == reference(data)


def deep_object(depth: int, wrap) -> object:
    value: object = 1
    for _ in range(depth):
        value = wrap(value)
    return value


python_values = st.one_of(
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(1, 3000).map(lambda d: deep_object(d, lambda v: [v])),
    st.integers(1, 3000).map(lambda d: deep_object(d, lambda v: {"a": v})),
    st.text(max_size=20),
    st.none(),
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields, python_values, st.booleans())
def test_hostile_values_never_escape_validate_request(field, value, in_envelope):
    obj = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": dict(BODY)}
    if in_envelope:
        obj[field] = value
    else:
        obj["body"][field] = value
    findings = validate_request(obj, "openai")
    if type(value) is int and not -(2**63) <= value < 2**64:
        assert [f.code for f in findings] == ["out-of-range"]


WHERE = ["/method", "/body/model", "/body/messages/0/role", "/body/functions/0/parameters/type", "/custom_id"]


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 50), st.integers(0, 4), st.sampled_from([b'"POST"', b'"x"', b"1", b"{}", b'"user"']))
def test_a_repeated_key_is_one_finding_at_its_pointer_on_every_path(custom_id, where, value):
    line = repeated(custom_id, where, value)
    data = request("temperature", b"0.5", 99) + b"\n" + line + b"\n"
    fast = validate_file(io.BytesIO(data), "openai").to_dict()["findings"]
    assert fast == reference(data)
    assert [(f["code"], f["line"], f["path"]) for f in fast if f["code"] == "duplicate-key"] == [
        ("duplicate-key", 2, WHERE[where])
    ]


JSON_VALUES = [
    None,
    True,
    1,
    2.5,
    "c1",
    [],
    [1],
    ["c1"],
    {},
    {"id": "c1"},
    [{"id": ["c1"]}],
    [{"id": {"a": 1}}],
]


@pytest.mark.parametrize("calls", JSON_VALUES)
@pytest.mark.parametrize("answered", JSON_VALUES)
def test_tool_calls_and_their_ids_of_any_type_are_findings(calls, answered):
    """The rule that pairs tool messages with earlier tool calls reads them whatever their type: a value
    of another type (an id that is a list or an object) is a finding of the schema, never an exception."""
    messages = [
        {"role": "assistant", "content": "x", "tool_calls": calls},
        {"role": "tool", "content": "y", "tool_call_id": answered},
    ]
    body = {**BODY, "messages": [*BODY["messages"], *messages]}
    obj = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}
    assert validate_request(obj, "openai")  # (no pair here is valid)
