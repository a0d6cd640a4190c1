"""A key in every encoding an upstream might send it back in, and a check that none of them is in a text.

from leaks import ENCODINGS, leaked

ENCODINGS["json-escaped"](key)  # 'sk-…' with every character written as \\uXXXX
leaked(text, key)               # None, or how the text gives the key (a piece of it) away
"""

from __future__ import annotations

import base64
import html
import re
import urllib.parse

PIECE = 7  # characters of the key that count as a leak


def _json_escaped(key: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in key)


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"batchkit-user:{key}".encode()).decode()


def _url_encoded(key: str) -> str:
    return "".join(f"%{b:02X}" for b in key.encode())


# how each encoding writes the key into the raw text of an answer (a JSON string's contents)
ENCODINGS = {
    "plain": lambda key: key,
    "json-escaped": _json_escaped,
    "base64": _basic,
    "url-encoded": _url_encoded,
}

_ESCAPE = re.compile(r"\\+(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def _unescaped(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def _base64_decodings(text: str):
    for word in _BASE64_WORD.findall(text):
        for start in range(4):
            part = word[start:]
            part = part[: len(part) - len(part) % 4]
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    yield decode(part).decode("latin-1")
                except ValueError:
                    pass


def leaked(text: str, key: str) -> str | None:
    """How `text` gives away a piece of `key` (which decoding showed it), or None."""
    views = {"as written": text}
    views["JSON-unescaped"] = _unescaped(text)
    views["URL-decoded"] = urllib.parse.unquote(views["JSON-unescaped"])
    views["HTML-unescaped"] = html.unescape(views["URL-decoded"])
    for name, view in list(views.items()):
        views[f"base64 in {name}"] = "\n".join(_base64_decodings(view))
    pieces = [key[i : i + PIECE] for i in range(len(key) - PIECE + 1)]
    for name, view in views.items():
        for piece in pieces:
            if piece in view:
                return f"{piece!r} {name}"
    return None
