"""A key an upstream sends back, in any encoding or mix of encodings, anywhere in a text or in any string of a
JSON body, never survives `redact`/`redact_json` (what `run` writes and `serve` stores and relays)."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from leaks import leaked

from batchkit.keys import REDACTED, redact, redact_json

KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
keys = st.text(KEY_CHARS, min_size=12, max_size=64).map(lambda k: "sk-" + k)
CHAR_ENCODINGS = [
    lambda c: c,
    lambda c: f"\\u{ord(c):04x}",
    lambda c: f"\\u{ord(c):04X}",
    lambda c: f"%{ord(c):02X}",
    lambda c: f"%{ord(c):02x}",
    lambda c: f"&#{ord(c)};",
    lambda c: f"&#x{ord(c):x};",
]


@st.composite
def encoded(draw, key: str) -> str:
    """`key` written one of the ways an upstream may write it."""
    how = draw(st.sampled_from(["mixed", "base64", "urlsafe-base64"]))
    if how == "mixed":  # each character plain or escaped, independently
        return "".join(draw(st.sampled_from(CHAR_ENCODINGS))(c) for c in key)
    user = draw(st.text(KEY_CHARS, max_size=12))
    raw = f"{user}:{key}".encode()
    return (base64.b64encode if how == "base64" else base64.urlsafe_b64encode)(raw).decode()


@st.composite
def key_and_text(draw):
    """A key, a text that carries it, and that text with the key already redacted (the expected skeleton)."""
    key = draw(keys)
    around = st.text(st.characters(codec="utf-8", exclude_characters=KEY_CHARS), max_size=30)
    pieces = [(draw(around), draw(encoded(key)), draw(around)) for _ in range(draw(st.integers(1, 3)))]
    text = " ".join(before + secret + after for before, secret, after in pieces)
    skeleton = " ".join(before + REDACTED + after for before, _, after in pieces)
    return key, text, skeleton


def relayed_body(text: str, depth: int, ascii_only: bool) -> str:
    value = {"error": {"message": text, "details": [text]}, text: 1}  # object keys too
    for _ in range(depth):  # bodies that carry JSON inside a string, escaped once more each time
        value = {"error": {"message": json.dumps(value, ensure_ascii=ascii_only)}}
    return json.dumps(value, ensure_ascii=ascii_only)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(key_and_text())
def test_no_encoding_of_the_key_survives_redact(case):
    key, text, skeleton = case
    assume(leaked(skeleton, key) is None)  # a key that spells "redacted" is found in the marker itself
    assert leaked(redact(text, (key,)), key) is None


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(key_and_text())
def test_the_quick_look_for_a_key_in_use_finds_every_encoding_redact_takes_out(case):
    """`has_key` decides which downloaded lines `redact` reads: it must miss none of what redact finds."""
    from batchkit import keys

    key, text, _skeleton = case
    keys.in_use(key)
    try:
        assert keys.has_key(text) and keys.has_key(json.dumps({"content": text}))
    finally:
        keys._IN_USE.discard(key)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(key_and_text(), st.integers(0, 3), st.booleans())
def test_no_encoding_of_the_key_survives_in_a_relayed_json_body(case, depth, ascii_only):
    key, text, skeleton = case
    # a key that spells a word of the body ("sk-00000message") or of its escapes is found where it never was
    assume(leaked(relayed_body(skeleton, depth, ascii_only), key) is None)
    raw = relayed_body(text, depth, ascii_only)
    relayed = orjson.dumps(redact_json(orjson.loads(raw), (key,))).decode()
    assert leaked(relayed, key) is None
    assert leaked(redact(raw, (key,)), key) is None  # the raw text too, when it is not read as JSON
