"""Schema errors read like a person wrote them: one finding where the value went wrong, with what to do."""

import pytest

from batchkit import validate_request


def findings(**body):
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}}  # fmt: skip
    return [(f.code, f.path, f.message) for f in validate_request(line)]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {"stop": ["a", "b", "c", "d", "e"]},
            ("invalid-length", "/body/stop", "`body.stop` must have at most 4 items (has 5)"),
        ),
        (
            {"stop": 5},
            (
                "wrong-type",
                "/body/stop",
                "`body.stop` must be a string, an array or null, not an integer (5)",
            ),
        ),
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            (
                "invalid-value",
                "/body/messages/0/role",
                '`body.messages[0].role` must be one of "system", "developer", "user", "assistant", "tool", "function"; got "robot"',
            ),
        ),
        (
            {"temperature": 3},
            ("out-of-range", "/body/temperature", "`body.temperature` must be between 0 and 2 (got 3)"),
        ),
        (
            {"max_tokens": 0},
            ("out-of-range", "/body/max_tokens", "`body.max_tokens` must be at least 1 (got 0)"),
        ),
        (
            {"logit_bias": {"abc": 5}},
            (
                "invalid-value",
                "/body/logit_bias/abc",
                'key "abc" of `body.logit_bias` is not allowed: keys must match ^[0-9]+$',
            ),
        ),
        (
            {"metadata": {"k" * 65: "v"}},
            (
                "invalid-length",
                "/body/metadata/" + "k" * 65,
                'key "'
                + "k" * 58
                + "… of `body.metadata` is not allowed: a key must have at most 64 characters (has 65)",
            ),
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "ultra"}}],
                    }
                ]
            },
            (
                "invalid-value",
                "/body/messages/0/content/0/image_url/detail",
                '`body.messages[0].content[0].image_url.detail` must be one of "auto", "low", "high"; got "ultra"',
            ),
        ),
    ],
)
def test_one_finding_where_the_value_went_wrong(body, expected):
    assert findings(**body) == [expected]


def test_short_names_a_value_json_cannot_hold_by_its_type():
    from batchkit.validate.explain import short

    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert short(2**70) == "<integer>"
    assert short(deep) == "<array>"
    assert short("x" * 100).endswith("…") and len(short("x" * 100)) == 60
