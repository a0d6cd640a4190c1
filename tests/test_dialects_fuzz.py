"""Hostile lines never crash a conversion or a result reading: every outcome is a line or findings."""

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchkit.convert import convert_request
from batchkit.formats import DIALECTS, get_dialect, result_line
from batchkit.results import normalise

KEYS = [
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "tool_calls",
    "tool_call_id",
    "function",
    "name",
    "arguments",
    "parameters",
    "messages",
    "model",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "tools",
    "tool_choice",
    "response_format",
    "json_schema",
    "schema",
    "n",
    "source",
    "input",
    "parts",
    "contents",
    "role",
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "systemInstruction",
    "generationConfig",
    "system",
    "tool_use_id",
    "id",
    "labels",
    "custom_id",
    "result",
    "message",
    "error",
    "response",
    "candidates",
    "modelOutput",
    "output",
    "usage",
    "status",
]
WORDS = [
    "user",
    "assistant",
    "system",
    "tool",
    "model",
    "text",
    "image_url",
    "tool_use",
    "tool_result",
    "image",
    "base64",
    "url",
    "function",
    "auto",
    "required",
    "json_schema",
    "succeeded",
    "errored",
    "expired",
    "canceled",
    "data:image/png;base64,AA",
    "{}",
    '{"a":1}',
    "STOP",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 300)
    | st.floats(-2, 3)
    | st.sampled_from(WORDS)
    | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=25,
)
LINE_FIELDS = ["custom_id", "method", "url", "body", "params", "key", "request", "recordId", "modelInput"]
lines = st.dictionaries(st.sampled_from(LINE_FIELDS), json_values, max_size=4)
URLS = st.sampled_from(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=lines, url=URLS, to=st.sampled_from(sorted(DIALECTS)), drop=st.booleans())
def test_any_line_converts_or_gives_findings(line, url, to, drop):
    if "url" in line:
        line["url"] = url
    result = convert_request(line, to=to, drop_unsupported=drop, max_tokens=8, model="m", line=1)
    assert result.line is not None or result.findings
    assert all(f.line == 1 and f.message for f in result.findings)


RESULT_FIELDS = [
    "custom_id",
    "result",
    "key",
    "response",
    "error",
    "request",
    "status",
    "recordId",
    "modelOutput",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=st.dictionaries(st.sampled_from(RESULT_FIELDS), json_values, max_size=4))
def test_any_result_line_reads_or_gives_findings(line):
    found = []
    record = normalise(line, 1, "f", found.append)
    assert record is not None or found
    result_line(line)


messages = st.lists(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5), max_size=4)
shaped = st.one_of(
    st.builds(
        lambda m, extra, url: {
            "custom_id": "a",
            "method": "POST",
            "url": url,
            "body": {"model": "m", "messages": m, **extra},
        },
        messages,
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
        URLS,
    ),
    st.builds(
        lambda m, extra, url: {
            "custom_id": "a",
            "method": "POST",
            "url": url,
            "body": {"model": "m", "input": m, **extra},
        },
        messages,
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
        st.just("/v1/responses"),
    ),
    st.builds(
        lambda m, s: {
            "custom_id": "a",
            "params": {"model": "m", "max_tokens": 5, "messages": m, "system": s},
        },
        messages,
        json_values,
    ),
    st.builds(
        lambda m, s: {"key": "a", "request": {"contents": m, "systemInstruction": s}}, messages, json_values
    ),
    st.builds(
        lambda m, s: {"request": {"contents": m, "generationConfig": s, "labels": {"custom_id": "x"}}},
        messages,
        json_values,
    ),
    st.builds(
        lambda m: {"recordId": "a", "modelInput": {"anthropic_version": "v", "max_tokens": 5, "messages": m}},
        messages,
    ),
)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=shaped, to=st.sampled_from(sorted(DIALECTS)), drop=st.booleans())
def test_any_shaped_line_converts_or_gives_findings(line, to, drop):
    result = convert_request(line, to=to, drop_unsupported=drop, max_tokens=8, model="m", line=1)
    assert result.line is not None or result.findings


# Valid OpenAI chat lines, varied: what converts must be valid in the target dialect and convert back.
text = st.text(max_size=4)
image = st.sampled_from(
    ["data:image/png;base64,iVBORw0KGgo=", "https://x.example/a.jpg", "gs://b/c.webp"]
).map(lambda url: {"type": "image_url", "image_url": {"url": url}})
parts = st.lists(st.one_of(text.map(lambda t: {"type": "text", "text": t}), image), min_size=1, max_size=3)
call = st.builds(
    lambda i, args: {"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": args}},
    st.integers(0, 2),
    st.sampled_from(['{"a":1}', "{}", "not json", "[1]"]),
)
chat_message = st.one_of(
    st.builds(
        lambda c: {"role": "system", "content": c},
        st.one_of(
            text,
            parts.map(lambda p: [x for x in p if x["type"] == "text"] or [{"type": "text", "text": "s"}]),
        ),
    ),
    st.builds(lambda c: {"role": "user", "content": c}, st.one_of(text, parts)),
    st.builds(
        lambda c, calls: {"role": "assistant", "content": c, **({"tool_calls": calls} if calls else {})},
        st.one_of(st.none(), text),
        st.lists(call, max_size=2),
    ),
    st.builds(
        lambda i, c: {"role": "tool", "tool_call_id": f"call_{i}", "content": c}, st.integers(0, 3), text
    ),
)
params = st.fixed_dictionaries(
    {},
    optional={
        "max_completion_tokens": st.integers(1, 100),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "n": st.integers(1, 3),
        "stop": st.one_of(text, st.lists(text, min_size=1, max_size=3)),
        "seed": st.integers(0, 9),
        "logit_bias": st.just({"1": 2}),
        "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
        "tool_choice": st.sampled_from(
            ["auto", "none", "required", {"type": "function", "function": {"name": "f"}}]
        ),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": {"type": "object", "additionalProperties": False}},
                },
            ]
        ),
    },
)
chat_lines = st.builds(
    lambda m, p: {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": m, **p},
    },
    st.lists(chat_message, min_size=1, max_size=5),
    params,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=chat_lines, to=st.sampled_from(sorted(DIALECTS)), drop=st.booleans())
def test_what_converts_is_valid_in_the_target_and_converts_back(line, to, drop):
    from batchkit.validate import schema_findings

    result = convert_request(line, to=to, drop_unsupported=drop, max_tokens=8)
    if result.line is None:
        assert any(f.is_error for f in result.findings)
        return
    assert [f for f in schema_findings(1, result.line, get_dialect(to)) if f.is_error] == []
    back = convert_request(result.line, to="openai", model="m")
    assert back.line is not None or back.findings


# Lines valid in their own dialect, with odd values wherever the schema leaves room.
def typed(kinds):
    return st.builds(
        lambda kind, rest: {**rest, "type": kind},
        st.sampled_from(kinds),
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
    )


blocks = st.lists(
    typed(["text", "image", "tool_use", "tool_result", "thinking", "document"]), min_size=1, max_size=3
)
gemini_parts = st.lists(
    st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=3), min_size=1, max_size=3
)
native = st.one_of(
    st.builds(
        lambda c, role, s, tools: {
            "custom_id": "a",
            "params": {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": role, "content": c}],
                "system": s,
                "tools": tools,
            },
        },
        st.one_of(text, blocks),
        st.sampled_from(["user", "assistant"]),
        st.one_of(text, blocks),
        st.lists(
            st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3).map(lambda d: {**d, "name": "f"}),
            max_size=2,
        ),
    ),
    st.builds(
        lambda parts, role, config, tools: {
            "key": "k",
            "request": {
                "contents": [{"role": role, "parts": parts}],
                "generationConfig": config,
                "tools": tools,
                "toolConfig": {"functionCallingConfig": config},
            },
        },
        gemini_parts,
        st.sampled_from(["user", "model"]),
        st.dictionaries(
            st.sampled_from(
                ["mode", "allowedFunctionNames", "responseMimeType", "responseSchema", "stopSequences"]
            ),
            json_values,
            max_size=3,
        ),
        st.lists(
            st.dictionaries(
                st.sampled_from(["functionDeclarations", "googleSearch"]), json_values, max_size=2
            ),
            max_size=2,
        ),
    ),
)


@pytest.mark.slow
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(line=native, to=st.sampled_from(sorted(DIALECTS)), drop=st.booleans())
def test_valid_native_lines_convert_or_give_findings(line, to, drop):
    result = convert_request(line, to=to, drop_unsupported=drop, max_tokens=8, model="m")
    assert result.line is not None or any(f.is_error for f in result.findings)


# A key written twice in one object, anywhere in a line of any dialect, is one `duplicate-key` finding at its
# JSON Pointer, on the fast path and the reference path alike.


def objects_of(value, where=()):
    """(path, key) of every key of every object in a parsed line, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield where, key
            yield from objects_of(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from objects_of(item, (*where, i))


def dumps_repeating(value, target, again: bytes, where=()) -> bytes:
    """The line as JSON text, with key `target[1]` of the object at `target[0]` written a second time
    (first with the value `again`, then with its own, which readers that keep the last one read)."""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            name = orjson.dumps(key)
            if (where, key) == target:
                parts.append(name + b":" + again)
            parts.append(name + b":" + dumps_repeating(item, target, again, (*where, key)))
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        return (
            b"["
            + b",".join(dumps_repeating(v, target, again, (*where, i)) for i, v in enumerate(value))
            + b"]"
        )
    return orjson.dumps(value)


def pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    line=st.one_of(chat_lines, native),
    pick=st.integers(0, 10**6),
    again=st.sampled_from([b"null", b'"x"', b"1", b"[]", b'{"a":1}']),
)
def test_a_key_repeated_in_any_object_of_any_dialect_is_found_where_it_is(line, pick, again):
    import io

    from batchkit.formats import detect
    from batchkit.validate import Validator, validate_file

    keys = list(objects_of(line))
    target = keys[pick % len(keys)]
    raw = dumps_repeating(line, target, again)
    dialect = detect(line).name
    expected = ("duplicate-key", 2, pointer((*target[0], target[1])))
    data = orjson.dumps(line) + b"\n" + raw + b"\n"
    fast = validate_file(io.BytesIO(data), "generic", dialect=dialect)
    assert expected in [(f.code, f.line, f.path) for f in fast.findings]
    reference = Validator("generic", dialect=dialect, file="f")
    for number, text in enumerate(data.splitlines(), 1):
        reference.check(number, orjson.loads(text), text)
    reference.report.summary.lines = 2
    assert fast.to_dict()["findings"] == reference.finish().to_dict()["findings"]
