"""Image tokens by OpenAI's documented tile rule, where the image's size is known.

The rule ("Calculating costs", OpenAI vision guide): `detail: low` costs the base tokens; otherwise the
image is scaled to fit 2048×2048, then so its shortest side is at most 768 px, and each 512 px tile costs
the tile tokens, plus the base. The size is known only for an inline `data:` URL (read from the image's
header); an http(s) URL's image is not fetched, so it is not counted, and neither is an image for a model
whose rule is not a tile rule.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct

# model (longest prefix wins) → (base tokens, tokens per 512 px tile)
TILE_RULES = {
    "gpt-4o": (85, 170),
    "chatgpt-4o": (85, 170),
    "gpt-4-turbo": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-4o-mini": (2833, 5667),
}
HEADER_BASE64 = 262_144  # base64 characters decoded to find a size (a JPEG's frame header can follow EXIF)


def tile_rule(model: str) -> tuple[int, int] | None:
    name = model.lower()
    prefixes = [p for p in TILE_RULES if name == p or name.startswith(p + "-")]
    return TILE_RULES[max(prefixes, key=len)] if prefixes else None


def tokens_for_size(width: int, height: int, detail: str, rule: tuple[int, int]) -> int:
    base, per_tile = rule
    if detail == "low":
        return base
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    return base + per_tile * math.ceil(width / 512) * math.ceil(height / 512)


def _png(data: bytes):
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif(data: bytes):
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    return None


def _webp(data: bytes):
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg(data: bytes):
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) of a base64 `data:image/…` URL, read from its header; None when unknown."""
    if not url.startswith("data:image/") or ";base64," not in url[:64]:
        return None
    payload = url[url.index(";base64,") + 8 :][:HEADER_BASE64]
    try:
        data = base64.b64decode(payload[: len(payload) // 4 * 4])
    except (binascii.Error, ValueError):
        return None
    for reader in (_png, _jpeg, _gif, _webp):
        size = reader(data)
        if size and all(size):
            return size
    return None


def image_tokens(model: str, url, detail) -> tuple[int | None, bool]:
    """(tokens, estimated) of one image, or (None, _) when it cannot be counted. `auto` (the default)
    lets the model choose its detail; it is counted as high, the upper bound, and marked estimated."""
    rule = tile_rule(model)
    size = data_url_size(url) if isinstance(url, str) and rule else None
    if size is None:
        return None, False
    detail = detail if detail in ("low", "high") else "auto"
    return tokens_for_size(*size, "low" if detail == "low" else "high", rule), detail == "auto"
