"""Writes realistic chat batch files: varied prompts of a few hundred words, several models, ~1.1 kB a line;
and the same lines classified into a strict JSON schema, as `build --response-schema` writes them."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson

MODELS = [
    "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct",
]
SYSTEMS = [
    "You are a helpful assistant.",
    "You are an experienced maths tutor.",
    "You summarise customer reviews in one sentence and classify their sentiment.",
]
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no what up out who them some "
    "review product delivery quality price battery screen support refund excellent poor average"
).split()


def chat_lines(count: int, seed: int = 7):
    rng = random.Random(seed)
    for i in range(1, count + 1):
        words = rng.choices(WORDS, k=rng.randint(120, 190))
        body = {
            "model": MODELS[i % len(MODELS)],
            "messages": [
                {"role": "system", "content": SYSTEMS[i % len(SYSTEMS)]},
                {"role": "user", "content": f"Review #{i}: " + " ".join(words)},
            ],
            "max_tokens": rng.choice([256, 512, 1000]),
            "temperature": round(rng.random(), 2),
        }
        yield (
            orjson.dumps(
                {"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
            )
            + b"\n"
        )


# What `build --response-schema` writes on every line: the most common batch job is classification.
CLASSIFICATION = {
    "type": "json_schema",
    "json_schema": {
        "name": "review",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
                "confidence": {"type": "number"},
                "topics": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["sentiment", "confidence", "topics"],
            "additionalProperties": False,
        },
    },
}


def one_model_lines(count: int):
    """The chat lines, all to one model: valid under OpenAI's rules (one model a file)."""
    for line in chat_lines(count):
        request = orjson.loads(line)
        request["body"]["model"] = "gpt-4o-mini"
        yield orjson.dumps(request) + b"\n"


def structured_lines(count: int):
    for line in one_model_lines(count):
        request = orjson.loads(line)
        request["body"]["response_format"] = CLASSIFICATION
        yield orjson.dumps(request) + b"\n"


def one_mistake_lines(count: int):
    """The chat lines, each with the same mistake (what a file gets when something upstream is wrong)."""
    for line in chat_lines(count):
        request = orjson.loads(line)
        request["body"]["temperature"] = 5  # past the maximum of 2
        yield orjson.dumps(request) + b"\n"


def write(path: Path, count: int, lines=chat_lines) -> Path:
    with open(path, "wb") as f:
        for line in lines(count):
            f.write(line)
    return path


if __name__ == "__main__":
    out = write(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200_000)
    print(f"{out}: {out.stat().st_size:,} bytes")
