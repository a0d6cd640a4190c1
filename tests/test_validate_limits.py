"""Hostile input meets bounds: deep nesting, huge numbers, long lines, compressed and growing files,
ECMA-262 patterns, and the rules the spec states in words. Each is a finding, never a crash."""

import gzip
import io
import json
import os
import tracemalloc

import orjson
import pytest

from batchkit.errors import InputError
from batchkit.validate import Validator, schema_findings, validate_file, validate_request
from batchkit.validate import files as validate_files
from batchkit.validate import validator as validate

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def line(custom_id="r1", url="/v1/chat/completions", **body) -> bytes:
    return (
        orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": {**BODY, **body}}) + b"\n"
    )


def deep_array(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def codes(report):
    return [(f.code, f.line, f.path) for f in report.findings]


def every_path(tmp_path, monkeypatch, data: bytes, provider="openai"):
    """The findings of the fast path (a stream), the parallel path and the reference path alone."""
    fast = validate_file(io.BytesIO(data), provider)
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    parallel = validate_file(path, provider, jobs=3)
    reference = Validator(provider, file="f")
    for number, raw in enumerate(data.splitlines(), 1):
        obj = orjson.loads(raw)
        reference.check(number, obj, raw)
    reference.report.summary.lines = data.count(b"\n")
    return codes(fast), codes(parallel), codes(reference.finish())


def test_a_line_too_deep_for_the_fast_decoder_takes_the_reference_path():
    # msgspec raises RecursionError past ~998 levels; orjson reads up to 1024
    deep = line().replace(b'"Hi"}]', b'"Hi"}],"temperature":' + deep_array(1000), 1)
    data = line("r0") + deep
    report = validate_file(io.BytesIO(data), "openai")
    assert codes(report) == [("too-deep", 2, "")]


@pytest.mark.parametrize("levels", [260, 600])
def test_deep_nesting_in_a_wrong_typed_field_is_one_too_deep_finding(levels):
    value = 1
    for _ in range(levels):
        value = [value]
    request = orjson.loads(line())
    request["body"]["temperature"] = value
    assert [(f.code, f.path) for f in validate_request(request)] == [("too-deep", "")]
    data = line("r0") + json.dumps(request).encode() + b"\n"
    assert codes(validate_file(io.BytesIO(data), "openai")) == [("too-deep", 2, "")]


def test_deep_nesting_a_schema_allows_is_too_deep_all_the_same():
    # no job could write the line back (orjson writes 255 levels at most), so it is not read at all
    schema = {"type": "object"}
    for _ in range(300):
        schema = {"type": "object", "properties": {"a": schema}}
    response_format = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    request = orjson.loads(line())
    request["body"]["response_format"] = response_format
    data = json.dumps(request).encode() + b"\n"
    assert codes(validate_file(io.BytesIO(data), "openai")) == [("too-deep", 1, "")]


def test_integers_wider_than_64_bits_are_a_finding_in_validate_request():
    request = orjson.loads(line())
    request["body"]["max_completion_tokens"] = 2**70
    (finding,) = validate_request(request)
    assert (finding.code, finding.path) == ("out-of-range", "/body/max_completion_tokens")
    assert "64 bits" in finding.message
    request["body"]["messages"][0]["content"] = [{"type": "text", "text": "x", "n": -(2**64)}]
    request["body"]["max_completion_tokens"] = 5
    assert [f.path for f in validate_request(request)] == ["/body/messages/0/content/0/n"]


def test_a_wide_integer_inside_a_user_schema_is_the_schema_s_own_keyword():
    request = orjson.loads(line())
    wide = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10**20}}}
    request["body"]["tools"] = [{"type": "function", "function": {"name": "f", "parameters": wide}}]
    request["body"]["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": wide}}
    assert validate_request(request, "openai") == []
    request["body"]["seed"] = 10**20  # a request field keeps its 64-bit bound
    assert [f.path for f in validate_request(request, "openai")] == ["/body/seed"]


def test_a_5000_digit_number_is_named_too_large_not_infinity():
    data = line()[:-3] + b',"seed":' + b"9" * 5000 + b"}}\n"
    (finding,) = validate_file(io.BytesIO(data), "openai").findings
    assert finding.code == "invalid-json"
    assert "too large" in finding.message and "infinity" not in finding.message


@pytest.mark.parametrize(
    "body",
    [
        {"tools": [{"type": "function", "function": {"name": "get_weather\n"}}]},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "s\n"}}},
        {"logit_bias": {"50256\n": 1}},
    ],
)
def test_dollar_in_a_pattern_is_the_end_of_the_string_on_every_path(body, tmp_path, monkeypatch):
    data = line("r0") + line(**body)
    fast, parallel, reference = every_path(tmp_path, monkeypatch, data)
    assert fast == parallel == reference
    assert [c for c, n, _ in fast if n == 2] == ["invalid-value"]
    obj = orjson.loads(line(**body))
    assert not validate._compiled("batch-request").is_valid(obj)
    assert schema_findings(2, obj)


def test_an_invalid_line_the_explanation_misses_still_gets_a_schema_finding(monkeypatch):
    monkeypatch.setattr(validate, "explain", lambda errors, number: [])
    monkeypatch.setattr(validate, "_EXPLAINED", {})  # nothing explained earlier in this process
    obj = orjson.loads(line(temperature=5))
    assert [(f.code, f.line) for f in schema_findings(3, obj)] == [("schema", 3)]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"top_logprobs": 3}, [("missing-field", "/body/logprobs")]),
        ({"top_logprobs": 3, "logprobs": False}, [("invalid-value", "/body/logprobs")]),
        ({"top_logprobs": 3, "logprobs": True}, []),
        ({"top_logprobs": None}, []),
        ({"modalities": ["text", "audio"]}, [("missing-field", "/body/audio")]),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, []),
        ({"modalities": ["text"]}, []),
        (
            {"stream_options": {"include_usage": True}},
            [("stream-options-without-stream", "/body/stream_options")],
        ),
        ({"stream_options": None}, []),
    ],
)
def test_rules_the_spec_states_in_words(body, expected, tmp_path, monkeypatch):
    request = orjson.loads(line(**body))
    found = [(f.code, f.path) for f in validate_request(request, "openai")]
    assert found == expected
    assert all(f.is_error for f in validate_request(request, "openai"))
    fast, parallel, reference = every_path(tmp_path, monkeypatch, line("r0") + line(**body))
    assert fast == parallel == reference == [(c, 2, p) for c, p in expected]


@pytest.mark.parametrize(
    "best_of, n, expected", [(2, 3, ["out-of-range"]), (3, 3, []), (4, 2, []), (2, None, [])]
)
def test_best_of_must_be_at_least_n(best_of, n, expected):
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "best_of": best_of}
    if n is not None:
        body["n"] = n
    request = {"custom_id": "a", "method": "POST", "url": "/v1/completions", "body": body}
    assert [f.code for f in validate_request(request, "generic")] == expected


def test_a_gzip_file_is_read_as_the_data_it_holds(tmp_path):
    path = tmp_path / "batch.jsonl.gz"
    path.write_bytes(gzip.compress(line("a") + line("a")))
    report = validate_file(path, "openai")
    assert codes(report) == [("duplicate-custom-id", 2, "/custom_id")]
    assert report.summary.requests == 2 and report.summary.bytes == len(line("a")) * 2


def test_a_zstd_file_gets_one_clear_message(tmp_path):
    path = tmp_path / "batch.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + os.urandom(64))
    with pytest.raises(InputError, match="zstd-compressed file: decompress it"):
        validate_file(path)


def test_a_damaged_gzip_file_is_an_input_error(tmp_path):
    path = tmp_path / "batch.jsonl.gz"
    path.write_bytes(gzip.compress(line() * 50)[:60])
    with pytest.raises(InputError, match="gzip data is damaged"):
        validate_file(path)


def test_a_file_growing_while_read_is_validated_at_its_size_at_the_start(tmp_path):
    path = tmp_path / "batch.jsonl"
    first = line("a") + line("b")
    path.write_bytes(first)

    class Growing(io.FileIO):
        """Appends a duplicate request and half a line once its size has been taken (the first
        `fileno()` is for that), before anything is read."""

        calls = 0
        grown = False

        def fileno(self):
            Growing.calls += 1
            if Growing.calls == 2:
                Growing.grown = True
                with open(path, "ab") as f:
                    f.write(line("a") + b'{"partial')
            return super().fileno()

    with Growing(path, "rb") as raw, io.BufferedReader(raw) as stream:
        report = validate_file(stream, "openai")
    assert Growing.grown
    assert (report.summary.lines, report.summary.requests, report.summary.bytes) == (2, 2, len(first))
    assert codes(report) == []


def test_an_overlong_line_is_one_finding_and_is_never_held(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(line("a"))
        f.write(b'{"custom_id":"b","x":"' + b"y" * (32 * 2**20) + b'"}\n')
        f.write(line("c"))
    validator = Validator("openai", max_line_bytes=2**20, file="big")
    tracemalloc.start()
    with open(path, "rb") as f:
        validator.feed_stream(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    report = validator.finish()
    assert codes(report) == [("line-too-long", 2, "")]
    assert report.summary.lines == 3 and report.summary.requests == 2
    assert report.summary.bytes == path.stat().st_size
    assert peak < 6 * 2**20, peak  # the 1 MiB cap, a chunk being skipped, buffers: never the line


def test_a_stream_without_newlines_is_read_in_bounded_memory():
    class Zeros(io.RawIOBase):
        """Like /dev/zero, but ending after `left` bytes."""

        def __init__(self, left):
            self.left = left

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    validator = Validator("generic", max_line_bytes=2**20)
    tracemalloc.start()
    validator.feed_stream(io.BufferedReader(Zeros(64 * 2**20)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    report = validator.finish()
    assert codes(report) == [("line-too-long", 1, "")]
    assert report.summary.bytes == 64 * 2**20
    assert peak < 6 * 2**20, peak  # the 1 MiB cap, a chunk being skipped, buffers: never the line


def test_findings_past_the_cap_are_counted_per_code_not_kept(monkeypatch):
    monkeypatch.setattr("batchkit.findings.KEEP_FINDINGS", 50)
    data = b"".join(line("same") for _ in range(2000)) + b"not json\n"
    report = validate_file(io.BytesIO(data), "generic")
    assert len(report.findings) == 50
    assert [f.line for f in report.findings] == list(range(2, 52))
    assert report.omitted == {"duplicate-custom-id": 1949, "invalid-json": 1}
    assert report.summary.errors == 2000
    assert report.to_dict()["omitted"] == {"duplicate-custom-id": 1949, "invalid-json": 1}


@pytest.mark.parametrize("jobs", [1, 3])
def test_max_findings_keeps_the_first_by_line(jobs, tmp_path, monkeypatch):
    # line 2's duplicate id is found only at the end (hashed ids): it must still come first
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    lines = [line("a"), line("a")] + [line(f"x{i}", temperature=9) for i in range(30)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))
    report = validate_file(path, "generic", max_findings=3, jobs=jobs)
    assert [f.line for f in report.findings] == [2, 3, 4]
    assert report.summary.errors == 31
    assert sum(report.omitted.values()) == 28


@pytest.mark.parametrize(("provider", "bad"), [("anthropic", "abc\n"), ("together", "x" * 64 + "\n")])
def test_id_rules_match_whole_ids_wherever_they_are_used(provider, bad, tmp_path):
    from batchkit.convert import convert_file
    from batchkit.providers import PROVIDERS, get_provider

    for row in PROVIDERS.values():  # however a caller asks the row's rule, a final newline is no match
        if row.custom_id_re is not None:
            assert not any(ask("x" * 64 + "\n") for ask in (row.custom_id_re.match, row.custom_id_re.search))
            assert not row.custom_id_re.match("abc\n")
    dialect = get_provider(provider).dialect
    good = {
        "custom_id": "ok",
        "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    }
    if dialect != "anthropic":
        good = {"custom_id": "ok", "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}
    data = orjson.dumps(good) + b"\n" + orjson.dumps({**good, "custom_id": bad}) + b"\n"
    report = validate_file(io.BytesIO(data), provider)
    assert codes(report) == [("invalid-custom-id", 2, "/custom_id")]
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    converted = convert_file(source, tmp_path / "out.jsonl", dialect, provider=provider)
    assert [orjson.loads(x)["custom_id"] for x in converted.paths[0].read_bytes().splitlines()] == [
        "ok",
        "line-2",
    ]


def test_a_key_written_twice_is_a_finding_at_its_pointer_on_every_path(tmp_path, monkeypatch):
    twice = line("b").replace(b'{"custom_id":"b"', b'{"custom_id":"a","custom_id":"b"', 1)
    twice = twice.replace(b'"model"', b'"temperature":0.5,"temperature":1,"model"', 1)
    data = line("r0") + twice + line("r2")
    fast, parallel, reference = every_path(tmp_path, monkeypatch, data)
    repeats = [("duplicate-key", 2, "/body/temperature"), ("duplicate-key", 2, "/custom_id")]
    assert fast == parallel == reference == repeats
    messages = [f.message for f in validate_file(io.BytesIO(data), "openai").findings]
    assert "`custom_id` appears more than once in its object" in messages[1]
