"""Lines that fail the same way (the same keyword, at the same place, on the same value, as jsonschema-rs
finds it) are explained once: python-jsonschema walks a whole line to explain it, and a file whose lines
share one mistake was 45 times slower to validate than a valid one. Each line still gets exactly the
findings its own explanation gives."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from batchkit.validate import validate_file
from batchkit.validate import validator as validate
from batchkit.validate.validator import schema_findings

URLS = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/images/generations",
]
ODD = st.sampled_from([None, True, -1, 0, 1.5, 5, 300, "", "x", "gpt-4o-mini", [], {}, ["x"], {"a": 1}])
BODY_FIELDS = ["model", "temperature", "max_tokens", "n", "input", "prompt", "messages", "top_p", "max_token"]
MESSAGES = st.sampled_from(
    [
        [{"role": "user", "content": "hi"}],
        [],
        [{"role": "bot", "content": "hi"}],
        [{"role": "user"}],
        [{"role": "user", "content": 5}],
        "hi",
    ]
)


@st.composite
def lines(draw) -> dict:
    """A request line with a few of its fields set to odd values, and text that differs from line to line
    where no mistake is (what makes lines of a real file different)."""
    text = draw(st.text(max_size=12))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {text}"}]}
    for field in draw(st.lists(st.sampled_from(BODY_FIELDS), max_size=3, unique=True)):
        body[field] = draw(MESSAGES) if field == "messages" else draw(ODD)
    if draw(st.booleans()):
        del body["model"]
    line = {"custom_id": f"r-{text}", "method": draw(st.sampled_from(["POST", "POST", "GET"])), "body": body}
    line["url"] = draw(st.sampled_from(URLS))
    return line


class Forgetful(dict):
    """An explanation store that keeps nothing: every line explained on its own."""

    def __setitem__(self, key, value):
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=40))
def test_each_line_gets_the_findings_of_its_own_explanation(objs):
    kept = validate._EXPLAINED
    try:
        validate._EXPLAINED = {}
        raws = [orjson.dumps(obj) for obj in objs]
        shared = [schema_findings(n, orjson.loads(raw), raw=raw) for n, raw in enumerate(raws, 1)]
        validate._EXPLAINED = Forgetful()
        alone = [schema_findings(n, orjson.loads(raw), raw=raw) for n, raw in enumerate(raws, 1)]
    finally:
        validate._EXPLAINED = kept
    assert shared == alone


def test_a_file_of_one_mistake_is_explained_once(tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "_EXPLAINED", {})
    explained, explain = [], validate.explain

    def counted(errors, number):
        explained.append(number)
        return explain(errors, number)

    monkeypatch.setattr(validate, "explain", counted)
    path = tmp_path / "b.jsonl"
    with open(path, "wb") as f:
        for i in range(300):
            body = {
                "model": "gpt-4o-mini",
                "temperature": 5,
                "messages": [{"role": "user", "content": f"q {i}"}],
            }
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
            f.write(orjson.dumps(line) + b"\n")
    report = validate_file(path, "openai")
    assert explained == [1]
    assert [(f.line, f.code, f.path) for f in report.findings] == [
        (i, "out-of-range", "/body/temperature") for i in range(1, 301)
    ]
