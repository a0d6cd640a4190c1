"""What answers the requests of a batch (and the server's own /chat/completions, /embeddings, /completions,
/responses, /moderations).

- `EchoBackend`: deterministic answers computed locally. Chat: the last user message's text, as a real
  `chat.completion` with `usage` (tokens counted as words); when the request asks for a `json_schema`
  response (chat or Responses), JSON that follows the schema, made from the prompt (`fake_json`). Either
  is cut at `max_tokens` words with finish_reason `length`. Embeddings: vectors derived from a hash of each
  input. Responses: a `response` whose one output message repeats the input. Moderations: one unflagged
  result per input. vLLM's score, rerank and audio endpoints: see `echo_vllm`. Every body is checked with batchkit's validator first; a bad one gets HTTP 400 with an OpenAI
  error envelope, as a real server would. With `--model` names it serves only those (others: 404
  `model_not_found`); without, it answers any model name and lists `batchkit-echo`. With `Faults` (`serve
  --fail-rate P --expire-rate Q --seed S`) a seeded share of requests fail with an error that passes (500
  or 429) or, in a batch, are left unanswered until the batch expires (`LeftUnanswered`).
- `UpstreamBackend`: forwards to an OpenAI-compatible server through `upstream.Sender`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import struct
import time

import orjson

from ..keys import has_key, keys_in_use, redact_json
from ..results.read import NO_ANSWER, NO_ANSWER_CODE, answers_nothing
from ..validate import validate_request
from ..wire import LOCAL, Answer, Sender, api_path, error_body, new_id, request_error
from . import echo_vllm
from .fake_json import fake_json, requested_schema

DEFAULT_ECHO_MODEL = "batchkit-echo"
ECHO_DIMENSIONS = 16


def model_object(model_id: str, owned_by: str = "batchkit") -> dict:
    """A model as OpenAI lists it, with what Mistral's list adds (its SDK reads models by `type`)."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by, "type": "base",
            "capabilities": {"completion_chat": True, "function_calling": True}}  # fmt: skip


def model_not_found(model) -> Answer:
    return Answer(
        404,
        error_body(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        ),
        new_id("req_"),
    )


def _text(content) -> str:
    """The text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _answer(prompt: str, body: dict) -> str:
    """What echo answers: the prompt, or JSON shaped as the requested schema says."""
    schema = requested_schema(body)
    return prompt if schema is None else fake_json(schema, prompt)


def _limit(text: str, max_tokens) -> tuple[str, str]:
    """The answer cut to `max_tokens` words, and its finish_reason."""
    if isinstance(max_tokens, int) and 0 <= max_tokens < _words(text):
        return " ".join(text.split()[:max_tokens]), "length"
    return text, "stop"


def _vector(text: str, dimensions: int) -> list[float]:
    digest = b""
    counter = 0
    while len(digest) < dimensions * 4:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    raw = struct.unpack(f"<{dimensions}I", digest[: dimensions * 4])
    values = [v / 2**31 - 1.0 for v in raw]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


class LeftUnanswered(Exception):  # noqa: N818 (what happened, not an error of the server's)
    """A request of a batch that the echo backend leaves unanswered: its batch can only expire."""


SIMULATED = {
    429: ("Rate limit reached (simulated).", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error while processing your request (simulated).",
        "server_error",
        "server_error",
    ),
    503: ("The server is overloaded (simulated).", "server_error", None),
}


def simulated_failure(status: int) -> Answer:
    """A failure that passes, as a real server gives it: a rate limit (429), a server error (500), an
    overloaded server (503)."""
    message, kind, code = SIMULATED[status]
    return Answer(status, error_body(message, kind, code=code), new_id("req_"))


class Faults:
    """A seeded share of requests answered with a failure that passes (`fail_rate`: 500 or 429, half
    each) or, in a batch, left unanswered (`expire_rate`). One draw per request, in the order they come,
    so a server started with the same seed fails the same share."""

    def __init__(self, fail_rate: float = 0.0, expire_rate: float = 0.0, seed: int | None = None):
        if not 0 <= fail_rate + expire_rate <= 1:
            raise ValueError("fail_rate + expire_rate must be between 0 and 1")
        self.fail_rate, self.expire_rate = fail_rate, expire_rate
        self._draws = random.Random(seed)

    def __bool__(self) -> bool:
        return bool(self.fail_rate or self.expire_rate)

    def describe(self) -> str:
        return f"{self.fail_rate:.0%} fail (500/429), {self.expire_rate:.0%} left to expire"

    def draw(self, in_batch: bool) -> Answer | None:
        """The failure for the next request, or None to answer it; raises LeftUnanswered for one of a batch
        to leave unanswered."""
        value = self._draws.random()
        if value < self.fail_rate:
            return simulated_failure(429 if self._draws.random() < 0.5 else 500)
        if in_batch and value < self.fail_rate + self.expire_rate:
            raise LeftUnanswered()
        return None


class EchoBackend:
    name = "echo"

    def __init__(
        self,
        models: tuple[str, ...] = (),
        latency: float = 0.0,
        fail_every: int = 0,
        faults: Faults | None = None,
    ):
        self.served = frozenset(models) or None  # None: any model name
        self.listed = tuple(models) or (DEFAULT_ECHO_MODEL,)
        self.latency = latency
        self.fail_every = fail_every
        self.faults = faults or Faults()
        self._direct_calls = 0

    def describe(self) -> str:
        models = ", ".join(self.listed) if self.served else f"any model name (lists {DEFAULT_ECHO_MODEL})"
        faults = f"; faults: {self.faults.describe()}" if self.faults else ""
        return f"echo backend, models: {models}{faults}"

    async def models(self) -> Answer:
        return Answer(200, {"object": "list", "data": [model_object(m) for m in self.listed]}, new_id("req_"))

    async def served_models(self) -> frozenset[str] | None:
        return self.served

    async def aclose(self) -> None:
        pass

    async def call(self, endpoint: str, body, *, direct: bool = False) -> Answer:
        """Answer one request. `direct` marks the server's own HTTP routes, where `--fail-every` applies."""
        if self.faults and (failure := self.faults.draw(in_batch=not direct)) is not None:
            return failure
        if direct and self.fail_every:
            self._direct_calls += 1
            if self._direct_calls % self.fail_every == 0:
                # alternate a rate limit (with Retry-After) and an overloaded server, to exercise retries
                return simulated_failure(429 if (self._direct_calls // self.fail_every) % 2 else 503)
        if self.latency:
            await asyncio.sleep(self.latency)
        line = {"custom_id": "request", "method": "POST", "url": endpoint, "body": body}
        for finding in validate_request(line, LOCAL):
            if finding.is_error:
                return Answer(400, request_error(finding), new_id("req_"))
        model = body.get("model")
        if self.served is not None and model is not None and model not in self.served:
            return model_not_found(model)
        try:
            answer = ECHO_ANSWERS[api_path(endpoint)](body)
        except echo_vllm.Refused as e:
            return Answer(400, error_body(str(e), code="invalid_value"), new_id("req_"))
        if keys_in_use() and has_key(orjson.dumps(answer).decode()):
            answer = redact_json(answer)  # a prompt that held the server's key: never echoed, nor stored
        return Answer(200, answer, new_id("req_"))

    @staticmethod
    def _chat(body: dict) -> dict:
        messages = body["messages"]
        prompt = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        text, finish = _limit(
            _answer(prompt, body), body.get("max_completion_tokens", body.get("max_tokens"))
        )
        n = body.get("n") or 1
        prompt_tokens = sum(_words(_text(m.get("content"))) for m in messages)
        completion_tokens = _words(text) * n
        return {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "batchkit-echo",
        }

    @staticmethod
    def _completion(body: dict) -> dict:
        prompt = body.get("prompt")
        prompt = (
            prompt if isinstance(prompt, str) else " ".join(p for p in prompt or () if isinstance(p, str))
        )
        text, finish = _limit(prompt, body.get("max_tokens"))
        return {
            "id": new_id("cmpl-"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": _words(prompt),
                "completion_tokens": _words(text),
                "total_tokens": _words(prompt) + _words(text),
            },
        }

    @staticmethod
    def _embeddings(body: dict) -> dict:
        inputs = body["input"]
        inputs = [inputs] if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)) else inputs
        dimensions = body.get("dimensions") or ECHO_DIMENSIONS
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += _words(text) if isinstance(item, str) else len(item)
            vector = _vector(text, dimensions)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _response_input_text(value) -> str:
    """The text a Responses request asks about: its input string, or the last user message's text."""
    if isinstance(value, str):
        return value
    for item in reversed(value if isinstance(value, list) else ()):
        if isinstance(item, dict) and item.get("role", "user") == "user":
            content = item.get("content")
            if isinstance(content, list):
                return "\n".join(
                    p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
            return content if isinstance(content, str) else ""
    return ""


def echo_response(body: dict) -> dict:
    """A Responses API `response` object whose one output message repeats the input text."""
    prompt = _response_input_text(body.get("input"))
    text, finish = _limit(_answer(prompt, body), body.get("max_output_tokens"))
    input_tokens = _words(prompt) + _words(body.get("instructions") or "")
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed" if finish == "stop" else "incomplete",
        "incomplete_details": None if finish == "stop" else {"reason": "max_output_tokens"},
        "error": None,
        "model": body.get("model"),  # (a Responses body may name a stored prompt instead)
        "output": [
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": _words(text),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + _words(text),
        },
    }


MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


def echo_moderation(body: dict) -> dict:
    """A moderation object: one unflagged result (every score 0) per input."""
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and isinstance(inputs[0], str) else 1
    result = {
        "flagged": False,
        "categories": dict.fromkeys(MODERATION_CATEGORIES, False),
        "category_scores": dict.fromkeys(MODERATION_CATEGORIES, 0.0),
    }
    return {
        "id": new_id("modr-"),
        "model": body.get("model") or DEFAULT_MODERATION_MODEL,
        "results": [result] * count,
    }


def _with_model(answer):
    """A vLLM echo answer, told the model to name (the request's, else echo's own)."""
    return lambda body: answer(body, body.get("model") or DEFAULT_ECHO_MODEL)


ECHO_ANSWERS = {
    "/chat/completions": EchoBackend._chat,
    "/embeddings": EchoBackend._embeddings,
    "/completions": EchoBackend._completion,
    "/responses": echo_response,
    "/moderations": echo_moderation,
    **{path: _with_model(answer) for path, answer in echo_vllm.ANSWERS.items()},
}


class UpstreamBackend:
    name = "upstream"

    def __init__(self, url: str, api_key: str | None, *, concurrency: int, models: tuple[str, ...] = ()):
        self.url = url.rstrip("/")
        self.sender = Sender(self.url, api_key, concurrency=concurrency)
        self.restrict = frozenset(models) or None

    def describe(self) -> str:
        only = f", models: {', '.join(sorted(self.restrict))}" if self.restrict else ""
        return f"upstream backend, forwarding to {self.url}{only}"

    async def models(self) -> Answer:
        answer = await self.sender.get("/models")
        if answer.status_code == 200 and self.restrict and isinstance(answer.body.get("data"), list):
            data = [m for m in answer.body["data"] if isinstance(m, dict) and m.get("id") in self.restrict]
            return answer._replace(body={**answer.body, "data": data})
        return answer

    async def served_models(self) -> frozenset[str] | None:
        """The upstream's model ids (narrowed by --model); None when it cannot say, so nothing is refused."""
        answer = await self.models()
        data = answer.body.get("data") if answer.status_code == 200 else None
        if not isinstance(data, list):
            return self.restrict
        return frozenset(m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str))

    async def aclose(self) -> None:
        await self.sender.aclose()

    async def call(self, endpoint: str, body, *, direct: bool = False) -> Answer:
        if self.restrict and isinstance(body, dict) and body.get("model") not in self.restrict:
            return model_not_found(body.get("model"))
        answer = await self.sender.post(api_path(endpoint), body)
        if not direct and 200 <= answer.status_code < 300 and answers_nothing(answer.body):
            # a batch request answered with nothing (no choices) failed: no surface makes it a success
            said = error_body(NO_ANSWER.format(answer.status_code), "upstream_error", code=NO_ANSWER_CODE)
            return Answer(502, said, answer.request_id)
        return answer
