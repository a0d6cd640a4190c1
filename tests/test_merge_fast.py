"""The common result line read fast (`results.read.common_record`) gives the very record `normalise` gives, or none."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from batchkit.results import read as read_module
from batchkit.results.read import common_record, normalise, read_result_file

DATA = Path(__file__).parent / "data" / "results"
LINES = [
    (path, number, raw)
    for path in sorted(DATA.rglob("*.jsonl"))
    for number, raw in enumerate(path.read_bytes().splitlines(), 1)
]

OK_LINE = {
    "id": "batch_req_1",
    "custom_id": "request-1",
    "error": None,
    "response": {
        "status_code": 200,
        "request_id": "req_1",
        "body": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1733832777,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
            ],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        },
    },
}


def _variant(path: tuple, value) -> bytes:
    line = orjson.loads(orjson.dumps(OK_LINE))
    node = line
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return orjson.dumps(line)


VARIANTS = [
    orjson.dumps(OK_LINE),
    _variant(("response", "body", "created"), "1733832777"),  # lenient: a string
    _variant(("response", "body", "usage", "prompt_tokens"), 4.0),
    _variant(("response", "body", "usage", "prompt_tokens"), 2**40),  # out of range: a finding
    _variant(("response", "body", "usage", "prompt_tokens_details"), {"cached_tokens": 3}),
    orjson.dumps(OK_LINE).replace(b"1733832777", b"18446744073709551616"),
    _variant(("response", "status_code"), 400),
    _variant(("response", "status_code"), "200"),
    _variant(("response", "body", "system_fingerprint"), [1, 2]),
    _variant(("response", "body", "unknown_member"), 1),
    _variant(("batchkit_cached",), {"batch_id": "batch_1"}),
    _variant(("result",), {}),  # Anthropic's member
    _variant(("response", "body", "choices", 0, "message", "content"), [{"type": "text", "text": "a"}]),
    _variant(("response", "body", "choices", 0, "message", "tool_calls"), [{"id": "c", "arguments": "{}"}]),
    _variant(("response", "body", "choices", 0, "message", "tool_calls"), []),
    _variant(("response", "body", "choices", 0, "message", "tool_calls"), [[[]]] * 3),
    _variant(("response", "body", "choices", 0, "message", "tool_calls"), [[]] * 200),
    _variant(("response", "body", "choices"), [OK_LINE["response"]["body"]["choices"][0]] * 2),
    _variant(("response", "body", "choices"), []),
    _variant(("response", "body", "choices", 0, "message"), None),
    _variant(("response", "body", "choices", 0, "finish_reason"), 3),
    _variant(("response", "body", "model"), None),
    _variant(("error",), {"code": "x", "message": "y"}),
    _variant(("response", "body", "usage"), None),
]
# what orjson refuses anywhere on the line is refused here too, wherever it is
HOSTILE = [
    orjson.dumps(OK_LINE).replace(b'"index":0', b'"index":1e400'),
    orjson.dumps(OK_LINE).replace(b'"index":0', b'"index":123456789012345678901234567890'),
    orjson.dumps(OK_LINE).replace(b'"req_1"', b'"\\ud800"'),
    orjson.dumps(OK_LINE).replace(b'"tool_calls"', b'"x"').replace(b'"role"', b'"tool_calls":[1e400],"role"'),
    orjson.dumps(OK_LINE).replace(b'"request_id":"req_1"', b'"request_id":' + b"[" * 1020 + b"]" * 1020),
    orjson.dumps(OK_LINE).replace(
        b'"custom_id":"request-1"', b'"custom_id":"request-1","custom_id":"request-2"'
    ),
    orjson.dumps(OK_LINE) + b" x",
]


def _both(raw: bytes, number: int = 2, name: str = "f.jsonl"):
    findings = []
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    slow = normalise(obj, number, name, findings.append) if type(obj) is dict else None
    return common_record(raw, number, name), slow, findings


@pytest.mark.parametrize(
    ("path", "number", "raw"), LINES, ids=[f"{p.parent.name}/{p.name}:{n}" for p, n, _ in LINES]
)
def test_every_fixture_line_is_read_as_normalise_reads_it(path, number, raw):
    record, slow, findings = _both(raw, number, path.name)
    if record is not None:
        assert not findings
        assert record == slow


def test_the_fast_reading_reads_most_fixture_successes():
    read = sum(common_record(raw, n, p.name) is not None for p, n, raw in LINES)
    assert read >= 10


@pytest.mark.parametrize("raw", VARIANTS + HOSTILE)
def test_a_line_is_read_as_normalise_reads_it_or_left_to_it(raw):
    record, slow, findings = _both(raw)
    if record is not None:
        assert not findings
        assert record == slow
    if raw is VARIANTS[0]:
        assert record is not None


def test_a_file_reads_the_same_records_either_way(tmp_path, monkeypatch):
    path = tmp_path / "output.jsonl"
    path.write_bytes(b"\n".join([*VARIANTS, *HOSTILE, VARIANTS[0]]) + b"\n")

    def read(**kwargs) -> list:
        findings = []
        return [*read_result_file(path, lambda f, finding: findings.append(finding)), findings]

    both = read()
    monkeypatch.setattr(read_module, "common_record", lambda raw, number, name: None)
    assert both == read()
