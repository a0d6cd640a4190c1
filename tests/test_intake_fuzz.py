"""The server's validating stage takes anything a client uploads: random bytes, JSON nested past every
limit and numbers past 64 bits become `errors.data` entries, never an exception (which would fail the
batch with server_error)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchkit.server.intake import check_input

GOOD = orjson.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                     "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})  # fmt: skip


def nested(depth: int, leaf: bytes) -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


hostile_lines = st.one_of(
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda d: nested(d, b"1")),
    st.integers(min_value=1, max_value=3000).map(
        lambda d: (
            b'{"custom_id":"x","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":'
            + b"[" * d
            + b"]" * d
            + b"}}"
        )
    ),
    st.integers(min_value=19, max_value=5000).map(
        lambda n: (
            b'{"custom_id":"n","method":"POST","url":"/v1/chat/completions","body":{"model":"m",'
            b'"messages":[{"role":"user","content":"hi"}],"max_tokens":' + b"9" * n + b"}}"
        )
    ),
    st.just(GOOD),
)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(hostile_lines, min_size=1, max_size=12))
def test_the_validating_stage_turns_anything_into_batch_errors(tmp_path, lines):
    path = tmp_path / "upload.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    intake = check_input(path, "/v1/chat/completions", frozenset({"m"}))
    assert all({"code", "message", "param", "line"} <= set(e) for e in intake.errors)
    if all(line == GOOD for line in lines) and len(lines) == 1:
        assert intake.errors == [] and intake.total == 1
