"""What identifies an answer: the server it comes from, the endpoint, the model and the request body in its
own format, canonicalised, so that two requests a provider cannot tell apart share a key and any field it
reads (temperature, seed, a tool, the system prompt) makes another one. The request's id is never part
of it: the same question under another custom_id is the same question.

Canonical means: object keys in sorted order, and numbers by value (1, 1.0 and 1e0 are one number; 0.10
and 0.1 too), as the provider reads them. Nothing else is changed: strings, arrays and their order stay
as they are.
"""

from __future__ import annotations

import hashlib

import orjson

KEY_BYTES = 16  # 128 bits: a chance collision among a billion answers is about 1 in 10^21
EXACT_INTEGERS = 2**53  # a float above this is not an exact integer on every reader


def address(api: str, base_url: str) -> str:
    """The server an answer comes from, as the key names it: the API it was asked through (its answers'
    shape) and the address, without a trailing slash."""
    return f"{api} {base_url.rstrip('/')}"


def canonical(value):
    """`value` with every float that holds an integer written as that integer (dict order is left to
    the serialiser, which sorts keys)."""
    kind = type(value)
    if kind is dict:
        return {key: canonical(item) for key, item in value.items()}
    if kind is list:
        return [canonical(item) for item in value]
    if kind is float and value.is_integer() and -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return int(value)
    return value


def answer_key(where: str, endpoint: str | None, model: str | None, body: dict) -> bytes:
    """The key of a request's answer: `where` (see `address`), the endpoint it goes to, the model that
    answers it (the body's, or the batch's where the body names none) and the canonical body."""
    material = orjson.dumps([where, endpoint, model, canonical(body)], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(material, digest_size=KEY_BYTES).digest()
