"""Which format a file is written in, from its first lines, read within the line bound and put back."""

from __future__ import annotations

import orjson

from ..lines import BOM, MAX_LINE_BYTES, Overlong, iter_lines, seekable
from .base import Dialect
from .registry import detect

PEEK_BYTES = 1 << 16
SCAN_LINES = 1000  # lines read to find the format when the first ones are broken
SCAN_LINE_BYTES = 4 << 20  # a longer line is passed over when finding the format
SCAN_BYTES = 16 << 20  # past this, the format is not looked for further (the provider's is taken)


def detect_stream(stream, max_line: int = MAX_LINE_BYTES) -> Dialect | None:
    """The dialect of the first line of a binary stream that parses and names one (None when no line among
    the first SCAN_LINES does), without consuming the stream. Lines past `max_line` are read past, never
    held; a stream that cannot go back is only peeked at."""
    if seekable(stream):
        start = stream.tell()
        try:
            return _first_known(raw for _n, _end, raw in _first_lines(stream, max_line))
        finally:
            stream.seek(start)
    peek = getattr(stream, "peek", None)
    if peek is None:
        return None
    return _first_known(peek(PEEK_BYTES)[:PEEK_BYTES].split(b"\n")[:-1])


def _first_lines(stream, max_line: int):
    lines = iter_lines(stream, max_line=min(max_line, SCAN_LINE_BYTES), give_up=SCAN_BYTES)
    for item in lines:
        if item[0] > SCAN_LINES or item[1] > SCAN_BYTES:
            return
        yield item


def _first_known(lines) -> Dialect | None:
    for raw in lines:
        if isinstance(raw, Overlong):
            if raw.endless:
                return None
            continue
        found = detect(_parse(raw))
        if found is not None:
            return found
    return None


def _parse(raw: bytes) -> dict | None:
    try:
        value = orjson.loads(raw.strip().removeprefix(BOM))
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None
