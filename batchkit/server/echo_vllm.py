"""What the echo backend answers on vLLM's own endpoints, in vLLM's response shapes
(vllm/entrypoints/pooling/scoring/protocol.py, vllm/entrypoints/speech_to_text/*/protocol.py):

- `/score`: ScoreResponse, one `score` per pair — the word overlap of the two texts (shared words over all
  words, so a document about the query scores higher than one that is not), pairs made 1:1, 1:N or N:N as
  vLLM makes them.
- `/rerank`: RerankResponse, the documents by that score, best first, `top_n` of them when it is above 0.
- `/audio/transcriptions` and `/audio/translations`: the text echo can give without hearing the audio —
  the request's `prompt`, else what the audio is (its size for a data URL, its address for a URL, which
  is never fetched); a WAV's duration in `usage`.

A body vLLM would refuse at run time raises `Refused` with vLLM's words; the caller answers HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import time
import wave

from ..wire import new_id

WORD = re.compile(r"\w+")
MAX_SHOWN_URL = 200  # characters of an audio URL repeated in an answer


class Refused(ValueError):
    """The request is one vLLM refuses when it runs (HTTP 400), in vLLM's words."""


def _text(value) -> str:
    """The text of a score input: a string, or the text parts of multimodal content."""
    if isinstance(value, str):
        return value
    parts = value.get("content") if isinstance(value, dict) else None
    return " ".join(p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str))


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _overlap(first: str, second: str) -> float:
    a, b = set(WORD.findall(first.lower())), set(WORD.findall(second.lower()))
    return round(len(a & b) / len(a | b), 6) if a | b else 0.0


def _pairs(first, second) -> list[tuple[str, str]]:
    """The pairs vLLM scores: one against each of the other side (1:N), or side by side (N:N)."""
    first, second = _listed(first), _listed(second)
    if not first:
        raise Refused("At least one text element must be given")
    if not second:
        raise Refused("At least one text_pair element must be given")
    if len(first) > 1 and len(first) != len(second):
        raise Refused("Input lengths must be either 1:1, 1:N or N:N")
    if len(first) == 1:
        first = first * len(second)
    return [(_text(a), _text(b)) for a, b in zip(first, second, strict=True)]


def _words(pairs) -> int:
    return sum(len(a.split()) + len(b.split()) for a, b in pairs)


SIDES = (("queries", "documents"), ("queries", "items"), ("data_1", "data_2"), ("text_1", "text_2"))


def score(body: dict, model: str) -> dict:
    first, second = next(((body[a], body[b]) for a, b in SIDES if a in body and b in body), ([], []))
    pairs = _pairs(first, second)
    tokens = _words(pairs)
    return {
        "id": new_id("score-"),
        "object": "list",
        "created": int(time.time()),
        "model": model,
        "data": [{"index": i, "object": "score", "score": _overlap(a, b)} for i, (a, b) in enumerate(pairs)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0},
    }


def rerank(body: dict, model: str) -> dict:
    documents = _listed(body["documents"])
    pairs = _pairs(body["query"], documents)
    ranked = sorted(range(len(pairs)), key=lambda i: -_overlap(*pairs[i]))
    top_n = body.get("top_n") or 0
    results = [
        {
            "index": i,
            "document": {"text": documents[i]}
            if isinstance(documents[i], str)
            else {"multi_modal": documents[i].get("content")},
            "relevance_score": _overlap(*pairs[i]),
        }
        for i in (ranked[:top_n] if top_n > 0 else ranked)
    ]
    tokens = _words(pairs)
    return {
        "id": new_id("rerank-"),
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "results": results,
    }


def _audio(file_url: str, operation: str) -> tuple[str, int]:
    """(what the audio is, its whole seconds when it is a WAV) from a request's `file_url`."""
    if not file_url.startswith("data:"):
        shown = file_url if len(file_url) <= MAX_SHOWN_URL else file_url[: MAX_SHOWN_URL - 1] + "…"
        return f"audio from {shown}", 0
    _, _, data = file_url.partition(",")
    try:
        audio = base64.b64decode(data, validate=True)
    except binascii.Error as e:
        raise Refused(f"Failed to process {operation}: {e}") from None
    try:
        with wave.open(io.BytesIO(audio)) as sound:
            seconds = math.ceil(sound.getnframes() / (sound.getframerate() or 1))
    except (wave.Error, EOFError):
        seconds = 0
    return f"{len(audio):,} bytes of audio", seconds


def _speech(body: dict, operation: str) -> tuple[str, int]:
    described, seconds = _audio(body["file_url"], operation)
    return body.get("prompt") or described, seconds


def transcription(body: dict, model: str) -> dict:
    text, seconds = _speech(body, "transcription")
    if body.get("response_format") == "verbose_json":
        return _verbose(body, text, seconds)
    return {"text": text, "usage": {"type": "duration", "seconds": seconds}}


def translation(body: dict, model: str) -> dict:
    text, seconds = _speech(body, "translation")
    if body.get("response_format") == "verbose_json":
        return _verbose(body, text, seconds)
    return {"text": text}


def _verbose(body: dict, text: str, seconds: int) -> dict:
    language = body.get("language") or "en"
    return {"duration": str(seconds), "language": language, "text": text, "segments": None, "words": None}


ANSWERS = {
    "/score": score,
    "/rerank": rerank,
    "/audio/transcriptions": transcription,
    "/audio/translations": translation,
}
