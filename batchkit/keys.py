"""API keys: read from the environment variable a user names, and kept out of everything batchkit writes.

A key may come back from a server in any encoding: plain, JSON-escaped (`\\u0073\\u006b…`), URL-encoded
(`%73%6B…`), HTML entities, or inside the base64 of an HTTP Basic `user:key`. `redact` removes each of
them from text; `redact_json` from every string of a parsed JSON value (decoded first, so an escape that
JSON itself undoes cannot hide the key).
"""

from __future__ import annotations

import base64
import functools
import os
import re
import urllib.parse

import orjson

from .errors import UsageError
from .words import Option, Text

# What an environment variable's name may be (POSIX: letters, digits, underscore; no leading digit).
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEY_SHAPED_FROM = 24  # characters: a "name" this long that mixes cases and digits is a pasted key


API_KEY_ENV = Option("api_key_env")
BASE_URL = Option("base_url")


def check_variable(variable: str, option: Option | str = API_KEY_ENV) -> str:
    """`variable` when it can name an environment variable; a UsageError that never repeats it when it
    looks like a key pasted where the variable's name belongs."""
    if not _VARIABLE.fullmatch(variable) or _key_shaped(variable):
        raise UsageError(
            Text(
                option,
                " takes the name of the environment variable that holds the key (like OPENAI_API_KEY), not the "
                "key itself; what was given is not a variable name (it is not shown here): export the key in a "
                "variable and name that",
            )
        )
    return variable


def check_address(url: str, option: Option | str = BASE_URL) -> str:
    """`url` when it carries no user name or password; else a UsageError that never repeats it (an address
    is written in the ledger, the answer cache and messages, where a password would be in clear)."""
    try:
        parts = urllib.parse.urlsplit(url)
        credentials = parts.username is not None or parts.password is not None
    except ValueError:
        credentials = "@" in url
    if credentials:
        raise UsageError(
            Text(
                option,
                " carries a user name or password (user:password@…; the address is not shown here): give the "
                "address without it and the key in an environment variable (",
                API_KEY_ENV,
                ")",
            )
        )
    return url


def _key_shaped(name: str) -> bool:
    return (
        len(name) >= KEY_SHAPED_FROM
        and any(c.islower() for c in name)
        and any(c.isupper() for c in name)
        and any(c.isdigit() for c in name)
    )


# Every key this process read (`in_use`): `redact` takes each out of whatever it is given, so a key that
# comes back in a batch's error, a downloaded answer or a note is never repeated. A value too short to be
# a key (a test server's placeholder) is not kept: taking it out would cut words out of every text.
_IN_USE: set[str] = set()
KEY_FROM = 8  # characters


def in_use(key: str | None) -> str | None:
    """`key`, remembered as one this process uses (see `_IN_USE`)."""
    if key and len(key) >= KEY_FROM:
        _IN_USE.add(key)
    return key


def keys_in_use() -> tuple[str, ...]:
    return tuple(sorted(_IN_USE))


def key_from_env(variable: str | None, option: Option | str = API_KEY_ENV) -> str | None:
    """The API key held by the environment variable `variable` (None when no variable is named); a named
    variable that is not set is a UsageError, never a request sent without the key. `option` is how
    messages name the setting (`--api-key-env` for the server)."""
    if not variable:
        return None
    key = os.environ.get(check_variable(variable, option))
    if not key:
        raise UsageError(Text(f"environment variable {variable} (", option, ") is not set"))
    key = key.strip()  # a line end around it (`export K=$(cat key.txt)`) belongs to no key
    if not (key.isascii() and key.isprintable()) or " " in key:
        # an HTTP header cannot carry it, and the SDK's error would quote the whole header
        raise UsageError(
            Text(
                f"environment variable {variable} (",
                option,
                ") holds a character no key has (a space, a control character or a non-ASCII one such as "
                "a typographic dash, as a copy may bring; not shown here): set it to the key alone",
            )
        )
    return in_use(key)


REDACTED = "[redacted]"
# a credential header's value as an upstream may echo it: JSON ("authorization": "…", escaped or not),
# a Python repr ('api-key': '…') or an HTTP dump (x-api-key: …); and any bearer token
_CREDENTIAL = re.compile(
    r"""((?:authorization|x-api-key|api-key)\\*["']?\s*[:=]\s*\\*["']?)[^"'\\\r\n,;}]+""", re.IGNORECASE
)
_BEARER = re.compile(r"""(bearer\s+)[^\s"'\\,;}]+""", re.IGNORECASE)
BASE64_CORE_FROM = 8  # characters of a key's base64 that must match: fewer would match unrelated text
_BASE64_CHARS = {"+": r"[A-Za-z0-9+/]", "-": r"[A-Za-z0-9_-]"}


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without credential header values, bearer tokens, any of `secrets` (the configured key) or
    any key in use, in any of the encodings above."""
    for secret in (*secrets, *_IN_USE):
        if secret:
            text = _encoded(secret).sub(REDACTED, text)
    text = _CREDENTIAL.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def has_key(text: str) -> bool:
    """Whether `text` may hold a key in use, in any of the encodings above (a true answer is checked by
    `redact`). Fast on long text, for a download's every line: the escapes undone and the case folded,
    the key is a plain substring, or its base64 core is one; the one pattern of all encodings (`_encoded`)
    reads a few megabytes a second."""
    if not _IN_USE:
        return False
    plain = _ESCAPE.sub(_unescaped, text).replace("\\", "").lower()
    return any(
        key.lower() in plain or any(core in text for _word, core in _base64_cores(key)) for key in _IN_USE
    )


# a character escaped as `_char` allows: \\uXXXX or \\xXX (any number of backslashes), %XX, &#N; or &#xH;
_ESCAPE = re.compile(
    r"\\+[uU]([0-9a-fA-F]{4})|\\+[xX]([0-9a-fA-F]{2})|%([0-9a-fA-F]{2})|&#0*([0-9]+);|&#[xX]0*([0-9a-fA-F]+);"
)


def _unescaped(match: re.Match) -> str:
    number, base = next((g, 16 if i != 3 else 10) for i, g in enumerate(match.groups()) if g is not None)
    try:
        return chr(int(number, base))
    except (ValueError, OverflowError):
        return match.group()


def redact_json(value, secrets: tuple[str, ...] = ()):
    """A parsed JSON value with `redact` applied to every string in it, object keys included."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(k, secrets): redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, secrets) for v in value]
    return value


class RedactedLines:
    """A binary sink for JSON lines from outside (a downloaded result file) that takes every key in use out
    of them: a line holding one is read, redacted (`redact_json`) and written again; every other line
    passes byte for byte. `finish()` writes a last line that has no line end."""

    def __init__(self, sink):
        self._sink = sink
        self._rest = b""

    def write(self, chunk: bytes) -> int:
        if not _IN_USE:
            return self._sink.write(chunk)
        data = self._rest + chunk
        end = data.rfind(b"\n") + 1
        self._rest, lines = data[end:], data[:end]
        if lines and has_key(lines.decode("utf-8", "replace")):  # the lines one by one only when one needs it
            lines = b"".join(_redacted_line(line) for line in lines.splitlines(keepends=True))
        self._sink.write(lines)
        return len(chunk)

    def finish(self) -> None:
        if self._rest:
            self._sink.write(_redacted_line(self._rest))
            self._rest = b""


def _redacted_line(line: bytes) -> bytes:
    text = line.decode("utf-8", "replace")
    if not has_key(text):
        return line
    end = line[len(line.rstrip(b"\r\n")) :]
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return redact(text.rstrip("\r\n")).encode() + end
    return orjson.dumps(redact_json(value)) + end


@functools.lru_cache(maxsize=16)
def _encoded(secret: str) -> re.Pattern:
    """One pattern for `secret` in every encoding: each character as itself or escaped (mixed freely),
    or the secret inside base64 at any alignment (as in the base64 of `user:secret`)."""
    chars = "".join(_char(c) for c in secret)
    # a base64 word from its start only: tried at every letter of a long word, the search would be quadratic
    words = [f"(?<!{word}){word}*{re.escape(core)}{word}*=*" for word, core in _base64_cores(secret)]
    return re.compile("|".join([chars, *words]))


def _char(c: str) -> str:
    code = ord(c)
    # a letter in either case: a key an upstream upper-cases (`Incorrect API key: SK-…`) is no less given away
    plain = f"(?i:{re.escape(c)})" if c.isalpha() else re.escape(c)
    escapes = [plain, "(?i:" + "".join(f"%{b:02x}" for b in c.encode()) + ")"]
    if code < 0x10000:
        escapes.append(rf"\\+(?i:u{code:04x})")
    if code < 0x100:
        escapes.append(rf"\\+(?i:x{code:02x})")
    escapes += [f"&#0*{code};", f"&#(?i:x0*{code:x});"]
    return r"\\*(?:" + "|".join(escapes) + ")"


@functools.lru_cache(maxsize=16)
def _base64_cores(secret: str) -> list[tuple[str, str]]:
    """(the characters of its alphabet, the core) of a base64 word holding `secret`: for each of the three
    alignments and both alphabets, the characters that depend on the secret's bytes alone."""
    data = secret.encode()
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = -(-offset * 8 // 6)  # the first character made of the secret's bits only
        stop = (offset + len(data)) * 8 // 6
        core = encoded[start:stop]
        if len(core) < BASE64_CORE_FROM:
            continue
        for plus, word in _BASE64_CHARS.items():
            cores.append((word, core if plus == "+" else core.translate(str.maketrans("+/", "-_"))))
    return cores
