"""Every line `convert` writes, for every target, as the provider's own SDK types take it (tests/sdk_types.py:
strict, an extra field fails), over a corpus of varied chat lines (tests/data/fidelity/chat-corpus.jsonl:
system and developer prompts, several turns, prefills, images by URL and data URL, tools, tool calls and
results, json_schema and json_object, stop, temperature, top_p, n, seed, user, metadata, penalties, files).
Every refusal is pinned, with the finding that says why: no line the provider would take is refused."""

import copy
import json
from pathlib import Path

import pytest
import sdk_types as sdk

from batchkit.convert import convert_request

CORPUS = [
    json.loads(x)
    for x in (Path(__file__).resolve().parent / "data" / "fidelity" / "chat-corpus.jsonl")
    .read_text()
    .splitlines()
]

CLAUDE_WITH_SAMPLING, CLAUDE_WITHOUT_SAMPLING = "claude-sonnet-4-5", "claude-opus-4-7"

# target → (convert_request's settings, the SDK check of a written line)
TARGETS = {
    "openai-chat": ({"to": "openai", "provider": "openai"}, sdk.openai_chat),
    "openai-responses": (
        {"to": "openai", "provider": "openai", "endpoint": "/v1/responses"},
        sdk.openai_responses,
    ),
    "anthropic-sampling": (
        {"to": "anthropic", "model": CLAUDE_WITH_SAMPLING, "max_tokens": 1024},
        lambda line: sdk.anthropic(line, sampling=True),
    ),
    "anthropic-no-sampling": (
        {"to": "anthropic", "model": CLAUDE_WITHOUT_SAMPLING, "max_tokens": 1024},
        lambda line: sdk.anthropic(line, sampling=False),
    ),
    "bedrock-claude": (
        {"to": "bedrock", "model": "anthropic.claude-sonnet-4-5-20250929-v1:0", "max_tokens": 1024},
        sdk.bedrock_anthropic,
    ),
    "bedrock-nova": (
        {"to": "bedrock", "model": "amazon.nova-pro-v1:0", "max_tokens": 1024},
        sdk.bedrock_nova,
    ),
    "gemini": ({"to": "gemini"}, sdk.gemini),
    "vertex": ({"to": "vertex"}, sdk.vertex),
    "mistral": ({"to": "custom-body", "provider": "mistral"}, sdk.mistral),
    "together": ({"to": "custom-body", "provider": "together"}, sdk.together),
    "fireworks": ({"to": "custom-body", "provider": "fireworks"}, sdk.fireworks),
}

# What each target refuses without --drop-unsupported: a field or value it has no place for.
ANTHROPIC = {"prefill-trailing-space", "image-data-svg", "image-detail", "json-object", "temperature-high", "n-3",
             "seed", "metadata", "penalties"}  # fmt: skip
BEDROCK = {"tool-strict", "image-url-png", "image-url-jpg", "image-url-no-extension", "image-data-svg", "image-detail",
           "tools-no-parallel", "json-schema", "json-object", "temperature-high", "n-3", "seed", "user", "metadata",
           "penalties", "file-pdf"}  # fmt: skip
GOOGLE = {
    "tool-strict",
    "image-url-no-extension",
    "image-data-svg",
    "image-detail",
    "tools-no-parallel",
    "user",
    "metadata",
}
REFUSED = {
    "openai-chat": set(),
    "openai-responses": {"stop-string", "stop-list", "n-3", "seed", "max-tokens", "penalties"},
    "anthropic-sampling": ANTHROPIC,
    "anthropic-no-sampling": ANTHROPIC,
    "bedrock-claude": BEDROCK | {"prefill-trailing-space"},
    "bedrock-nova": BEDROCK,
    "gemini": GOOGLE | {"file-pdf"},  # a file's name: Vertex has displayName, Gemini nothing
    "vertex": GOOGLE,
    "mistral": {"user", "metadata", "file-pdf"},
    "together": {
        "two-system-parts",
        "image-detail",
        "tools-no-parallel",
        "tool-strict",
        "user",
        "metadata",
        "file-pdf",
    },
    "fireworks": {"metadata", "file-pdf"},
}
# What is still refused under --drop-unsupported: what cannot be left out without changing the request (a file
# part the body has no type for; system text Together takes as one string only; an image setting in Together's
# closed image_url type)
REFUSED_WHEN_DROPPING = {
    "mistral": {"file-pdf"},
    "together": {"two-system-parts", "image-detail", "file-pdf"},
    "fireworks": {"file-pdf"},
}
REASONS = {"unsupported-field", "unsupported-value", "missing-field", "wrong-type", "invalid-value"}


def convert_corpus(target: str, drop: bool) -> tuple[dict, dict]:
    """(custom_id → the line written, custom_id → the errors of a refused line)."""
    settings, _check = TARGETS[target]
    written, refused = {}, {}
    for number, line in enumerate(CORPUS, 1):
        before = copy.deepcopy(line)
        converted = convert_request(line, line=number, drop_unsupported=drop, **settings)
        assert line == before, f"{line['custom_id']}: convert changed the line it read"
        if converted.line is None:
            refused[line["custom_id"]] = [f for f in converted.findings if f.is_error]
        else:
            written[line["custom_id"]] = converted.line
    return written, refused


def test_the_corpus_is_varied_and_valid_openai():
    assert len(CORPUS) >= 30
    assert len({x["custom_id"] for x in CORPUS}) == len(CORPUS)
    assert {
        name: problems for x in CORPUS if (problems := sdk.openai_chat(x)) for name in [x["custom_id"]]
    } == {}


@pytest.mark.parametrize("drop", [False, True], ids=["strict", "drop-unsupported"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_every_line_written_is_taken_by_the_provider_sdk_and_every_refusal_says_why(target, drop):
    written, refused = convert_corpus(target, drop)
    check = TARGETS[target][1]
    rejected = {name: problems for name, line in written.items() if (problems := check(line))}
    assert rejected == {}
    expected = REFUSED_WHEN_DROPPING.get(target, set()) if drop else REFUSED[target]
    assert set(refused) == expected
    for name, errors in refused.items():
        assert errors and all(f.code in REASONS and f.message for f in errors), (name, errors)
    assert len(written) + len(refused) == len(CORPUS)


def test_leaving_out_under_drop_unsupported_is_listed():
    settings = TARGETS["gemini"][0]
    line = next(x for x in CORPUS if x["custom_id"] == "tool-strict")
    converted = convert_request(line, drop_unsupported=True, **settings)
    declaration = converted.line["request"]["tools"][0]["functionDeclarations"][0]
    assert "strict" not in declaration and sdk.gemini(converted.line) == []
    assert any("strict" in path for path in converted.dropped)


@pytest.mark.parametrize(
    ("check", "line"),
    [
        (sdk.gemini, {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                      "tools": [{"functionDeclarations": [{"name": "f", "strict": True}]}]}}),
        (sdk.vertex, {"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "store": True}}),
        (sdk.mistral, {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "x"}], "seed": 1}}),
        (sdk.mistral, {"custom_id": "a", "body": {"messages": [{"role": "developer", "content": "x"}]}}),
        (sdk.openai_responses, {"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {
            "model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}]}}),
        (lambda line: sdk.anthropic(line, sampling=False), {"custom_id": "a", "params": {
            "model": CLAUDE_WITHOUT_SAMPLING, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.5}}),
        (sdk.bedrock_anthropic, {"recordId": "a", "modelInput": {"anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": "u"}}}),
        (sdk.bedrock_nova, {"recordId": "a", "modelInput": {"messages": [{"role": "user", "content": [{"text": "x"}]}],
            "inferenceConfig": {"max_new_tokens": 5}}}),
        (sdk.together, {"custom_id": "a", "body": {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "user": "u"}}),
        (sdk.fireworks, {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "x"}], "store": True}}),
    ],
)  # fmt: skip
def test_the_sdk_checks_refuse_what_the_provider_refuses(check, line):
    # the checks above could not pass a line the provider refuses: an extra field, a role it lacks
    assert check(line) != []
