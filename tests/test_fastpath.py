"""The fast path (msgspec decoders, hashed ids, --jobs ranges) gives exactly the reference path's findings."""

import io
import json
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchkit import schemas
from batchkit.formats.registry import detect
from batchkit.lines import read_objects, too_deep
from batchkit.validate import Validator, fastpath, validate_file
from batchkit.validate import files as validate_files
from batchkit.validate import validator as validate
from batchkit.validate.fastpath import Converter, Reject, line_decoder, rule_pairs
from batchkit.validate.parallel import byte_ranges

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())
PROVIDERS = ["kluster", "openai", "azure", "doubleword", "generic"]


def reference(data: bytes, provider: str):
    """The reference path alone: orjson, python-jsonschema, exact ids, one process."""
    validator = Validator(provider, ids="exact", file="f")
    stats = {}
    for number, obj, raw in read_objects(io.BytesIO(data), validator.report.add, stats):
        validator.check(number, obj, raw)
    validator.report.summary.lines, validator.report.summary.bytes = stats["lines"], stats["bytes"]
    return validator.finish(has_content=stats["content"]).to_dict()


def fast(data: bytes, provider: str):
    return validate_file(io.BytesIO(data), provider).to_dict() | {"file": "f"}


def parallel(tmp_path, data: bytes, provider: str, monkeypatch):
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    return validate_file(path, provider, jobs=3).to_dict() | {"file": "f"}


def clean_lines():
    return (ROOT / "samples" / "clean-chat.jsonl").read_bytes().splitlines(keepends=True)


def test_clean_lines_take_the_fast_path():
    decode, urls, _ = line_decoder()
    for raw in clean_lines():
        line = decode(raw)
        assert urls[type(line)] == "/v1/chat/completions"


def test_every_endpoint_with_a_body_schema_has_a_fast_decoder():
    _, urls, _ = line_decoder()
    assert set(urls.values()) == set(schemas.body_schemas())
    for name in set(schemas.body_schemas().values()):
        assert Converter(name, closed=True).root() is not Reject


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_golden_files_same_findings_on_every_path(name, provider, tmp_path, monkeypatch):
    data = (ROOT / EXPECTED[name]["file"]).read_bytes()
    expected = reference(data, provider)
    assert fast(data, provider) == expected
    assert parallel(tmp_path, data, provider, monkeypatch) == expected


json_leaf = st.none() | st.booleans() | st.integers(-5, 300) | st.floats(-3, 3) | st.text(max_size=6)
parts = st.lists(
    st.fixed_dictionaries(
        {}, optional={"type": st.sampled_from(["text", "refusal", "image_url"]), "text": json_leaf}
    ),
    max_size=2,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool", "robot"])},
        optional={
            "content": st.one_of(st.text(max_size=5), st.just(""), st.just([]), json_leaf, parts),
            "tool_call_id": st.sampled_from(["c1", "c2"]),
            "name": json_leaf,
        },
    ),
    max_size=3,
)
bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["m1", "m2", "", 5])},
    optional={
        "messages": messages,
        "temperature": json_leaf,
        "max_tokens": json_leaf,
        "max_completion_tokens": json_leaf,
        "max_output_tokens": st.integers(0, 40),  # (OpenAI takes at least 16 on /v1/responses)
        "stop": st.one_of(json_leaf, st.lists(st.text(max_size=2), max_size=5)),
        "stream": json_leaf,
        "top_logprobs": json_leaf,
        "logprobs": json_leaf,
        "top_k": json_leaf,
        "n": json_leaf,
        "input": st.one_of(json_leaf, st.lists(st.integers(-1, 3), max_size=3)),
        "response_format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object", "xml"])}),
        "stream_options": st.one_of(json_leaf, st.just({"include_usage": True})),
        "modalities": st.sampled_from([["text"], ["text", "audio"], ["audio"], None, "audio"]),
        "audio": st.sampled_from([{"voice": "alloy", "format": "wav"}, None, 1]),
        "best_of": json_leaf,
        "logit_bias": st.sampled_from([{"50256": 1}, {"50256\n": 1}, {"x": 1}]),
        "tools": st.sampled_from([[{"type": "function", "function": {"name": n}}] for n in ("f", "f\n", "")]),
    },
)
lines = st.one_of(
    st.fixed_dictionaries(
        {
            "custom_id": st.sampled_from(["a", "b", "c", "with space", ""]),
            "method": st.sampled_from(["POST", "POST", "GET"]),
            "url": st.sampled_from(
                [
                    "/v1/chat/completions",
                    "/v1/chat/completions",
                    "/v1/embeddings",
                    "/v1/responses",
                    "/chat/completions",
                    "/v1/completions",
                    "/v2/x",
                    ["/v1/chat/completions"],
                ]
            ),
            "body": bodies,
        },
        optional={"extra": json_leaf},
    ).map(orjson.dumps),
    st.sampled_from([b"", b"  ", b"[", b"{", b"42", b"\xef\xbb\xbf{}", b"\xff"]),
)
files = st.tuples(
    st.lists(lines, min_size=1, max_size=12), st.sampled_from([b"\n", b"\r\n"]), st.booleans()
).map(lambda t: t[1].join(t[0]) + (t[1] if t[2] else b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files, st.sampled_from(PROVIDERS))
def test_generated_files_same_findings_fast_and_reference(data, provider):
    assert fast(data, provider) == reference(data, provider)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(files, st.sampled_from(PROVIDERS))
def test_generated_files_same_findings_in_parallel(tmp_path, monkeypatch, data, provider):
    assert parallel(tmp_path, data, provider, monkeypatch) == reference(data, provider)


@settings(max_examples=300, deadline=None)
@given(lines)
def test_a_line_the_fast_decoder_accepts_is_valid_by_the_schema(raw):
    decode, _, _ = line_decoder()
    try:
        decode(raw)
    except Exception:
        return
    assert validate.schema_findings(1, orjson.loads(raw)) == []


def test_duplicates_across_range_boundaries_keep_both_line_numbers(tmp_path, monkeypatch):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    ids = [f"id-{i}" for i in range(30)] + ["id-3", "id-29", "id-0"]
    data = b"".join(
        orjson.dumps({"custom_id": i, "method": "POST", "url": "/v1/chat/completions", "body": body}) + b"\n"
        for i in ids
    )
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    assert len(byte_ranges(path, len(data), 3)) == 3
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    report = validate_file(path, jobs=3)
    assert [(f.line, f.related_lines) for f in report.findings] == [(31, (4,)), (32, (30,)), (33, (1,))]


def test_byte_ranges_start_at_line_boundaries(tmp_path):
    data = b"".join(b"x" * (i % 7) + b"\n" for i in range(100))
    path = tmp_path / "f"
    path.write_bytes(data)
    ranges = byte_ranges(path, len(data), 4)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(data[a - 1 : a] == b"\n" for a, _ in ranges[1:])


@pytest.mark.parametrize("sort_from", [0, 10**9])
def test_repeated_hashes_found_by_set_and_by_sort(sort_from, monkeypatch):
    from batchkit.validate import rules

    monkeypatch.setattr(rules, "SORT_FROM", sort_from)
    ids = rules.HashedIds()
    for number, custom_id in enumerate(["a", "b", "c", "b", "d", "a", "b"], 1):
        ids.add(custom_id, number, None)
    assert ids.repeated() == {hash("a"), hash("b")}
    pairs = enumerate(["a", "b", "c", "b", "d", "a", "b"], 1)
    assert [(f.line, f.related_lines) for f in ids.duplicates(pairs)] == [(4, (2,)), (6, (1,)), (7, (2,))]


def test_the_body_rules_alone_decide_which_lines_leave_the_fast_path():
    from batchkit.validate.rules import BODY_RULES

    decode, _, _ = line_decoder()
    values = {"stream": False, "stream_options": {"include_usage": True}, "best_of": 2}
    values |= {"max_tokens": 5, "max_completion_tokens": 5}
    values |= {"response_format": {"type": "text"}, "text": {"format": {"type": "text"}}}
    values |= {"tools": [{"type": "function", "function": {"name": "f"}}]}
    values |= {"stream_include_usage": True, "stream_continuous_usage_stats": True}
    audio = "/v1/audio/transcriptions"
    urls = {("best_of",): "/v1/completions", ("text",): "/v1/responses",
            ("stream_include_usage",): audio, ("stream_continuous_usage_stats",): audio}  # fmt: skip
    prompts = {"/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
               "/v1/completions": {"prompt": "p"}, "/v1/responses": {"input": "hi"},
               audio: {"file_url": "data:audio/wav;base64,UklGRg=="}}  # fmt: skip

    def raw(url="/v1/chat/completions", **body):
        body = {"model": "m", **prompts[url], **body}
        return orjson.dumps({"custom_id": "a", "method": "POST", "url": url, "body": body})

    for rule in BODY_RULES:
        url = urls.get(rule.fields, "/v1/chat/completions")
        decode(raw(url))
        if rule.by_value:  # decoded raw, and decided by its value (see the tests of value_checker)
            line = decode(raw(url, **{f: values[f] for f in rule.fields}))
            assert isinstance(getattr(line.body, rule.fields[0]), msgspec.Raw)
        elif len(rule.fields) == 1:
            with pytest.raises(msgspec.ValidationError):
                decode(raw(url, **{f: values[f] for f in rule.fields}))
        else:  # a pair decodes, and feed_lines sends it on; one field of it stays on the fast path
            assert rule.fields in rule_pairs()
            decode(raw(url, **{rule.fields[0]: values[rule.fields[0]]}))
    # a field a schema makes others depend on (dependentSchemas) leaves it too
    with pytest.raises(msgspec.ValidationError):
        decode(raw(top_logprobs=2, logprobs=True))


def test_a_conditional_is_applied_unconditionally_or_not_followed():
    converter = Converter("chat-completions")
    node = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "if": {"properties": {"b": False}},
        "then": {"required": ["a"]},
    }
    decode = msgspec.json.Decoder(converter.convert(node, "chat-completions")).decode
    assert decode(b'{"a": "x", "b": 1}').a == "x"
    with pytest.raises(msgspec.ValidationError):
        decode(b'{"b": 1}')  # stricter than the schema, which accepts it: the reference path decides
    looser_if_ignored = dict(node, then={"properties": {"a": {"maxLength": 1}}})
    assert converter.convert(looser_if_ignored, "chat-completions") is Reject
    assert converter.convert(dict(node, **{"else": {"required": ["b"]}}), "chat-completions") is Reject


@pytest.mark.parametrize("digits", [19, 20, 25, 309, 400])
def test_integers_past_64_bits_get_the_reference_paths_verdict_on_every_line(tmp_path, digits):
    """msgspec reads integers of any size, orjson only 64-bit ones: such a line must not pass the fast path
    when the reference path would reject it (a 309-digit max_tokens once passed on any line but the first)."""
    good = orjson.dumps({"custom_id": "g", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})  # fmt: skip
    huge = good.replace(b'"custom_id":"g"', b'"custom_id":"h"').replace(
        b"]}}", b'],"max_tokens":' + b"9" * digits + b"}}"
    )
    for name, lines in (("first", [huge, good]), ("later", [good, huge])):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        codes = validate_file(path, "generic").codes()
        assert {code for code, _line, _path in codes} == ({"invalid-json"} if digits >= 309 else set()), codes


def _structured(custom_id: str, url: str = "/v1/chat/completions", **body) -> bytes:
    prompt = {"input": "Classify: great"} if "responses" in url else {
        "messages": [{"role": "user", "content": "Classify: great"}]}  # fmt: skip
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url,
                         "body": {"model": "gpt-4o-mini", **prompt, **body}}) + b"\n"  # fmt: skip


LABEL = {"type": "object", "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
         "required": ["label"], "additionalProperties": False}  # fmt: skip
STRICT = {"type": "json_schema", "json_schema": {"name": "label", "strict": True, "schema": LABEL}}
LOOSE = {**LABEL, "additionalProperties": True}  # strict mode refuses it
TOOL = {"type": "function", "function": {"name": "f", "strict": True, "parameters": LABEL}}


def _structured_file() -> bytes:
    return b"".join(
        [_structured(f"clean-{i}", response_format=STRICT) for i in range(6)]
        + [
            _structured(
                "loose", response_format={**STRICT, "json_schema": {**STRICT["json_schema"], "schema": LOOSE}}
            ),
            _structured("json-mode", response_format={"type": "json_object"}),
            _structured(
                "json-said",
                response_format={"type": "json_object"},
                messages=[{"role": "user", "content": "Answer in JSON"}],
            ),  # fmt: skip
            _structured("no-spec", response_format={"type": "json_schema"}),
            _structured("tools", tools=[TOOL, TOOL]),
            _structured("bad-tool", tools=[{**TOOL, "function": {**TOOL["function"], "parameters": LOOSE}}]),
            _structured(
                "text",
                "/v1/responses",
                text={"format": {"type": "json_schema", "name": "l", "strict": True, "schema": LABEL}},
            ),  # fmt: skip
            _structured(
                "text-loose",
                "/v1/responses",
                text={"format": {"type": "json_schema", "name": "l", "strict": True, "schema": LOOSE}},
            ),  # fmt: skip
            _structured("mixed-tools", tools=[TOOL, {"type": "function", "function": {"name": "g"}}]),
        ]
    )


@pytest.mark.parametrize("provider", ["openai", "generic", "kluster", "azure"])
def test_structured_output_lines_agree_with_the_reference_path(provider):
    data = _structured_file()
    assert fast(data, provider) == reference(data, provider)


def test_clean_structured_output_lines_take_the_fast_path(monkeypatch):
    """Lines whose response_format, text or tools are clean never reach the reference path; a value is
    checked once however many lines repeat it, and the rest decide themselves there."""
    sent, checked = [], []
    reference_path, checker = Validator._reference, fastpath.value_checker

    def spy(self, number, raw):
        sent.append(number)
        return reference_path(self, number, raw)

    def counted(provider):
        check = checker(provider)
        return lambda *args: checked.append(args[1]) or check(*args)

    monkeypatch.setattr(Validator, "_reference", spy)
    monkeypatch.setattr(validate, "value_checker", counted)
    report = validate_file(io.BytesIO(_structured_file()), "openai")
    assert report.summary.requests == 15
    # 7-8: findings (strict schema, JSON mode); 9: JSON mode said, which needs the messages; 10: a schema
    # error; 12, 14: findings; 15: a tool without strict beside one. The first line is an ordinary one.
    assert sent == [7, 8, 9, 10, 12, 14]
    # four distinct values: STRICT once for lines 2-6, the loose schema, json_object (lines 8 and 9), no spec
    assert checked.count("response_format") == 4


def test_the_verdicts_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(validate, "VERDICTS_KEPT", 2)
    data = _structured_file() * 3
    assert fast(data, "openai") == reference(data, "openai")


def test_a_range_sent_to_a_worker_takes_the_fast_path(tmp_path, monkeypatch):
    """What a `--jobs` worker is given crosses by pickle; its dialect must arrive as the same object, or
    the worker's lines all take the reference path (the decoders are chosen and cached by dialect)."""
    import pickle

    from batchkit.formats import DIALECTS, OPENAI
    from batchkit.options import Options
    from batchkit.validate import parallel as parallel_module

    assert all(pickle.loads(pickle.dumps(d)) is d for d in DIALECTS.values())
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(clean_lines()))
    task = pickle.loads(
        pickle.dumps((path, 0, path.stat().st_size, Options.of("openai"), OPENAI, None, None))
    )
    sent, reference_path = [], Validator._reference
    monkeypatch.setattr(
        Validator, "_reference", lambda self, n, raw: sent.append(n) or reference_path(self, n, raw)
    )
    result = parallel_module._check_range(task)
    assert result["requests"] == len(clean_lines()) > 1 and sent == []  # the first line too: an ordinary one


def test_the_decoder_learns_each_endpoint_a_file_names_and_no_other(monkeypatch):
    """Line types are made per endpoint on first use (making all of them was most of a one-line
    validation's time): a file naming chat, then embeddings, then chat again takes the fast path for every
    line, and a line of an unknown url or without one still goes to the reference path."""
    chat = clean_lines()[0]
    embedding = orjson.dumps(
        {"custom_id": "e1", "method": "POST", "url": "/v1/embeddings",
         "body": {"model": "text-embedding-3-small", "input": "hello"}}
    ) + b"\n"  # fmt: skip
    no_url = orjson.dumps({**orjson.loads(chat), "custom_id": "x"})
    no_url = no_url.replace(b'"url":"/v1/chat/completions",', b"") + b"\n"
    lines = [chat, chat.replace(b'"custom_id":"', b'"custom_id":"2'), embedding,
             embedding.replace(b'"e1"', b'"e2"'), no_url, chat.replace(b'"custom_id":"', b'"custom_id":"3')]  # fmt: skip
    sent, reference_path = [], Validator._reference
    monkeypatch.setattr(
        Validator, "_reference", lambda self, n, raw: sent.append(n) or reference_path(self, n, raw)
    )
    widen = fastpath.widening_decoder()
    decode = fastpath.line_decoder(frozenset())[0]
    decode, line = widen(decode, embedding)
    assert fastpath.LINE_URLS[type(line)] == "/v1/embeddings"
    assert widen(decode, no_url) == (decode, None)
    data = b"".join(lines)
    assert fast(data, "openai") == reference(data, "openai")
    assert sent == [5]
    assert [
        f.line for f in validate_file(io.BytesIO(data), "openai").findings if f.code == "missing-field"
    ] == [5]


def test_a_validator_fed_again_keeps_the_endpoints_it_learned(monkeypatch):
    """A second `feed_lines` call of the same validator starts from the decoder the first one widened:
    its chat lines decode at once, with no refused decode to learn the endpoint again."""
    widened = []
    make = validate.decoder_for

    def counting(dialect):
        decode, widen, *rest = make(dialect)
        return (decode, lambda d, raw: widened.append(raw) or widen(d, raw), *rest)

    monkeypatch.setattr(validate, "decoder_for", counting)
    lines = clean_lines()
    validator = Validator("openai")
    validator.feed_lines(enumerate(lines[:2], 1))
    assert len(widened) == 1  # the first line taught it the chat endpoint
    validator.feed_lines(enumerate(lines[2:], 3))
    assert len(widened) == 1 and validator.report.summary.requests == len(lines)


@pytest.mark.parametrize("known", [(), ("/v1/embeddings",), ("/v1/embeddings", "/v1/chat/completions")])
@pytest.mark.parametrize("raw", [b"{}", b'{"url":"\\u0000"}', b'{"body":{},"custom_id":"a","method":"POST"}'])
def test_a_decoder_of_few_endpoints_still_requires_the_url(known, raw):
    decode = fastpath.line_decoder(frozenset(known))[0]
    with pytest.raises(fastpath.DECODE_ERRORS):
        decode(raw)


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_openai_rules_in_the_hot_loop_agree_with_the_reference_path(provider, tmp_path, monkeypatch):
    """Under OpenAI's rules the fast path checks a body's minimums and the one-model and one-endpoint
    rules itself, by the (url, model) of a line those rules passed."""

    def line(i, url="/v1/responses", model="gpt-4.1-mini", **fields):
        body = {"model": model, "input": "Say hi."} if "responses" in url else {"model": model, "input": "hi"}
        return orjson.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": {**body, **fields}})

    lines = [
        line(1),
        line(2, max_output_tokens=16),
        line(3, max_output_tokens=8),  # under OpenAI's least
        line(4),
        line(5, model="gpt-4.1"),  # another model
        line(6, url="/v1/embeddings"),  # another endpoint
        line(7, url="/v1/embeddings", model="gpt-4.1"),
        line(8),
        line(1),  # a repeated id
    ]
    data = b"\n".join(lines) + b"\n"
    expected = reference(data, provider)
    assert fast(data, provider) == expected
    assert parallel(tmp_path, data, provider, monkeypatch) == expected
    said = {(f["code"], f["line"]) for f in expected["findings"]}
    assert {("out-of-range", 3), ("mixed-model", 5), ("mixed-endpoint", 6), ("mixed-model", 7)} <= said
    assert ("duplicate-custom-id", 9) in said
    assert not {n for _code, n in said} & {1, 2, 4, 8}


SCHEMA_FORMAT = (
    b'{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object",'
    b'"properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}'
)


def test_a_raw_value_is_left_out_of_the_line_only_where_it_is_a_whole_value():
    line = b'{"custom_id":"x","body":{"model":"m","response_format":' + SCHEMA_FORMAT + b"}}"
    assert (
        validate.without_value(line, SCHEMA_FORMAT)
        == b'{"custom_id":"x","body":{"model":"m","response_format":0}}'
    )
    tools = b'[{"type":"function","function":{"name":"f"}}]'
    assert validate.without_value(b'{"tools":' + tools + b"}", tools) == b'{"tools":0}'
    # values that could begin inside a string, or that hold no key, stay
    for value in (b'{":x":1}', b'[{" k":1}]', b"[1]", b"{}", b'"auto"', b'{ "a":1}'):
        text = b'{"k":' + value + b"}"
        assert validate.without_value(text, value) == text


def structured(i: int, rf: bytes = SCHEMA_FORMAT, extra: bytes = b"", content: bytes = b'"Hi."') -> bytes:
    return (
        b'{"custom_id":"s%d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",'
        b'"messages":[{"role":"user","content":%s}]%s,"response_format":%s}}' % (i, content, extra, rf)
    )


@pytest.mark.parametrize("provider", ["openai", "generic"])
def test_repeated_keys_are_found_in_and_beside_a_value_decided_once(provider):
    """A raw body value (a response schema) is checked for repeated keys with its verdict, once, and left
    out of its line's own check: a repeat inside it, beside it, or in text that copies it is still found."""
    repeated_inside = SCHEMA_FORMAT.replace(b'"strict":true', b'"strict":true,"strict":true')
    lines = [
        structured(1),
        structured(2, rf=repeated_inside),
        structured(3, extra=b',"temperature":1,"temperature":1'),
        structured(4, extra=b',"metadata":{"copy":"x","copy":"y"}'),
        structured(5, content=orjson.dumps(SCHEMA_FORMAT.decode())),  # the schema's text in a string
        structured(6, extra=b',"metadata":{"a":"b","a":"c"},"seed":1'),
        structured(7),
        structured(8, rf=repeated_inside),  # the verdict kept for it says so again
    ]
    data = b"\n".join(lines) + b"\n"
    expected = reference(data, provider)
    assert fast(data, provider) == expected
    repeats = {(f["line"], f["path"]) for f in expected["findings"] if f["code"] == "duplicate-key"}
    assert repeats == {
        (2, "/body/response_format/json_schema/strict"),
        (3, "/body/temperature"),
        (4, "/body/metadata/copy"),
        (6, "/body/metadata/a"),
        (8, "/body/response_format/json_schema/strict"),
    }


@pytest.mark.parametrize("role", ["system", "developer", "tool"])
def test_a_content_part_without_its_type_is_refused_where_only_one_type_is_allowed(role):
    """A system, developer or tool message's parts may only be text: the fast path's one tagged type
    still requires the tag, as the schema does (msgspec requires a tag only in a union of types)."""
    message = {"role": role, "content": [{"text": "Be brief."}]} | (
        {"tool_call_id": "c"} if role == "tool" else {}
    )
    body = {"model": "m", "messages": [message, {"role": "user", "content": "hi"}]}
    typed = {**message, "content": [{"type": "text", "text": "Be brief."}]}
    lines = [
        {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {**body, "messages": [typed]},
        },
        {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": body},
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    expected = reference(data, "generic")
    assert fast(data, "generic") == expected
    assert ("missing-field", 2, "/body/messages/0/content/0/type") in {
        (f["code"], f["line"], f["path"]) for f in expected["findings"]
    }


def _golden_lines() -> list[tuple[str, dict]]:
    """(provider, request) of every line of an object the samples and golden files hold, in every format."""
    found = [("generic", orjson.loads(raw)) for raw in clean_lines()]
    for case in [
        *EXPECTED.values(),
        *json.loads((GOLDEN / "dialects" / "expected.json").read_text()).values(),
    ]:
        for raw in (ROOT / case["file"]).read_bytes().splitlines():
            try:
                request = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            provider = case.get("provider", "generic")
            # (a line of a format its provider does not take is the format detection's case, not this one's)
            if (
                type(request) is dict
                and not too_deep(request)
                and detect(request) is Validator(provider).dialect
            ):
                found.append((provider, request))
    return found


GOLDEN_LINES = _golden_lines()
LEAVES = [None, True, 0, -1, 2.5, 10**6, "", "x", "text", "user", "image_url", [], {}, [1], {"a": 1}, "auto"]


def _mutated(draw_index, request):
    """`request` with one value replaced, removed or added at a place drawn from all of its values."""
    request = json.loads(json.dumps(request))
    places, stack = [], [(request, key) for key in request]
    while stack:
        parent, key = stack.pop()
        places.append((parent, key))
        value = parent[key]
        stack += [
            (value, k)
            for k in (value if type(value) is dict else range(len(value)) if type(value) is list else ())
        ]
    parent, key = places[draw_index(len(places))]
    change = draw_index(3)
    if change == 0 and type(parent) is dict:
        del parent[key]
    elif change == 1 and type(parent[key]) is dict:
        parent[key][("type", "text", "role", "extra")[draw_index(4)]] = LEAVES[draw_index(len(LEAVES))]
    else:
        parent[key] = LEAVES[draw_index(len(LEAVES))]
    return request


@settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_lines_changed_in_a_few_places_same_findings_fast_and_reference(data):
    """A line of any format with values changed, removed or added anywhere, after the line it was (so it
    is read on the fast path): the same findings as the reference path, and no exception."""
    draw_index = lambda n: data.draw(st.integers(0, n - 1))  # noqa: E731
    provider, request = GOLDEN_LINES[draw_index(len(GOLDEN_LINES))]
    changed = request
    for _ in range(data.draw(st.integers(1, 3))):
        changed = _mutated(draw_index, changed) if changed else changed
    lines = orjson.dumps(request) + b"\n" + orjson.dumps(changed) + b"\n"
    assert fast(lines, provider) == reference(lines, provider)


def test_an_id_two_tool_calls_of_one_message_share_is_an_error_on_every_path():
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}] * 2
    messages = [{"role": "user", "content": "w"}, {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "c1", "content": "x"}]  # fmt: skip
    line = {
        "custom_id": "dup",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": messages},
    }
    data = b"".join(clean_lines()[:3]) + json.dumps(line).encode() + b"\n"
    found = fast(data, "openai")
    assert found == reference(data, "openai")
    assert [(f["line"], f["path"]) for f in found["findings"] if f["code"] == "tool-call-mismatch"] == [
        (4, "/body/messages/1/tool_calls/1/id")
    ]
