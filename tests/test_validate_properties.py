"""Arbitrary bytes and arbitrary JSON values as lines never raise, and every finding's line is in the file."""

import io

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchkit import validate_file, validate_request

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Request-shaped values exercise the schema and the rules, not only the reader.
request_like = st.fixed_dictionaries(
    {
        "custom_id": st.one_of(st.text(max_size=5), json_values),
        "method": st.sampled_from(["POST", "GET", 1]),
        "url": st.one_of(
            st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/chat/completions", "/x", 3]),
            json_values,
        ),
        "body": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "model": json_values,
                    "messages": st.lists(
                        st.fixed_dictionaries(
                            {
                                "role": st.sampled_from(["user", "assistant", "tool", "robot", None]),
                                "content": json_values,
                            }
                        ),
                        max_size=3,
                    ),
                },
                optional={"stop": json_values, "temperature": json_values, "stream": json_values},
            ),
        ),
    },
)


def check(data: bytes):
    report = validate_file(io.BytesIO(data), "openai")
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert report.summary.lines == lines
    for f in report.findings:
        assert f.line is None or 1 <= f.line <= lines
    return report


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_arbitrary_bytes_never_raise(chunks):
    check(b"\n".join(chunks))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(json_values, request_like), min_size=1, max_size=6))
def test_arbitrary_json_lines_never_raise(values):
    check(b"\n".join(orjson.dumps(v) for v in values) + b"\n")


@settings(max_examples=200)
@given(st.one_of(json_values, request_like))
def test_validate_request_never_raises(value):
    for f in validate_request(value):
        assert f.line is None
