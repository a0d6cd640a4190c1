"""What no schema can say: uniqueness across lines, one model or endpoint per file, provider endpoints
and id rules, tool-call pairing, and advice. Everything provider-specific is read from the Provider row."""

from __future__ import annotations

from collections.abc import Callable

from . import schemas
from .explain import did_you_mean
from .findings import Finding
from .providers import Provider

LINE_FIELDS = frozenset(schemas.load(schemas.REQUEST)["properties"])

# Sampling and decoding fields that open-weight servers (vLLM, kluster.ai, llama.cpp …) accept beyond the
# OpenAI body: still reported, since OpenAI rejects them, but never with a misleading "did you mean".
EXTENSION_FIELDS = frozenset(
    {
        "top_k",
        "min_p",
        "typical_p",
        "repetition_penalty",
        "length_penalty",
        "min_tokens",
        "ignore_eos",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "best_of",
        "use_beam_search",
        "early_stopping",
        "stop_token_ids",
        "include_stop_str_in_output",
        "guided_json",
        "guided_regex",
        "guided_choice",
        "guided_grammar",
        "chat_template",
        "chat_template_kwargs",
        "add_generation_prompt",
        "truncate_prompt_tokens",
    }
)


class LineRules:
    """Checks each request line in order; keeps the little state that spans lines."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.id_re = provider.custom_id_re
        self.first_line: dict[str, int] = {}  # custom_id → line that first used it
        self.first_model: tuple[str, int] | None = None
        self.first_endpoint: tuple[str, int] | None = None
        self.bodies = schemas.body_schemas()

    def check(self, number: int, obj: dict, emit: Callable[[Finding], None]) -> None:
        custom_id = obj.get("custom_id")
        if type(custom_id) is str:
            self._custom_id(number, custom_id, emit)
        if len(obj) > 4 or not obj.keys() <= LINE_FIELDS:
            for key in obj.keys() - LINE_FIELDS:
                emit(
                    Finding(
                        "unknown-field",
                        f"unknown field `{key}` on the request line; it is ignored"
                        f"{did_you_mean(key, LINE_FIELDS)}",
                        number,
                        f"/{key}",
                    )
                )
        url = obj.get("url")
        if type(url) is str:
            self._endpoint(number, url, emit)
        body = obj.get("body")
        if type(body) is dict:
            self._body(number, url, body, emit)

    def _custom_id(self, number, custom_id, emit):
        first = self.first_line.setdefault(custom_id, number)
        if first != number:
            emit(
                Finding(
                    "duplicate-custom-id",
                    f"custom_id {custom_id!r} is already used on line {first}; "
                    "every request needs its own id (`batchkit fix --dedupe-ids` renames repeats)",
                    number,
                    "/custom_id",
                    related_lines=(first,),
                )
            )
        if self.id_re is not None and not self.id_re.match(custom_id):
            emit(
                Finding(
                    "invalid-custom-id",
                    f"custom_id {custom_id[:80]!r} is not accepted by "
                    f"{self.provider.name}: it must match {self.provider.custom_id_pattern}",
                    number,
                    "/custom_id",
                )
            )

    def _endpoint(self, number, url, emit):
        p = self.provider
        if p.endpoints is not None and url not in p.endpoints:
            suggestion = next((e for e in p.endpoints if e.endswith(url) or url.endswith(e)), None)
            hint = (
                f"; did you mean {suggestion}?" if suggestion else f"; use one of: {', '.join(p.endpoints)}"
            )
            emit(
                Finding("unsupported-endpoint", f"{p.name} does not accept url {url!r}{hint}", number, "/url")
            )
        if p.one_endpoint:
            if self.first_endpoint is None:
                self.first_endpoint = (url, number)
            elif url != self.first_endpoint[0]:
                first_url, first = self.first_endpoint
                emit(
                    Finding(
                        "mixed-endpoint",
                        f"url {url!r} differs from {first_url!r} on line {first}; "
                        f"{p.name} needs one endpoint per file (split it by endpoint)",
                        number,
                        "/url",
                        related_lines=(first,),
                    )
                )

    def _body(self, number, url, body, emit):
        model = body.get("model")
        if self.provider.one_model and type(model) is str:
            if self.first_model is None:
                self.first_model = (model, number)
            elif model != self.first_model[0]:
                first_model, first = self.first_model
                emit(
                    Finding(
                        "mixed-model",
                        f"model {model!r} differs from {first_model!r} on line {first}; "
                        f"{self.provider.name} needs one model per file (split it by model)",
                        number,
                        "/body/model",
                        related_lines=(first,),
                    )
                )
        if body.get("stream") is True:
            emit(
                Finding(
                    "streaming-unsupported",
                    "batch requests cannot stream; remove `stream` or set it to false",
                    number,
                    "/body/stream",
                )
            )
        schema = self.bodies.get(url)
        if schema is not None:
            known = schemas.known_properties(schema)
            if not body.keys() <= known:
                for key in sorted(body.keys() - known):
                    emit(
                        Finding(
                            "unknown-field",
                            self._unknown_body_field(key, schema, known),
                            number,
                            f"/body/{key}",
                        )
                    )
        if "top_logprobs" in body and body.get("logprobs") is not True:
            emit(
                Finding(
                    "top-logprobs-without-logprobs",
                    "`top_logprobs` needs `logprobs: true`; add it",
                    number,
                    "/body/top_logprobs",
                )
            )
        if "stream_options" in body and body.get("stream") is not True:
            emit(
                Finding(
                    "stream-options-without-stream",
                    "`stream_options` only applies when streaming; remove it",
                    number,
                    "/body/stream_options",
                )
            )
        if "max_tokens" in body and "max_completion_tokens" in body:
            emit(
                Finding(
                    "conflicting-max-tokens",
                    "both `max_tokens` and `max_completion_tokens` are set; keep `max_completion_tokens`",
                    number,
                    "/body/max_tokens",
                )
            )
        messages = body.get("messages")
        if type(messages) is list:
            self._messages(number, messages, emit)

    @staticmethod
    def _unknown_body_field(key, schema, known) -> str:
        if key in EXTENSION_FIELDS:
            return (
                f"`{key}` is not an OpenAI {schema} field; open-weight servers (vLLM, kluster.ai) accept "
                "it, others may reject it"
            )
        return (
            f"`{key}` is not a known {schema} field; it is passed through as is (fine only for servers "
            f"that accept it){did_you_mean(key, known)}"
        )

    def _messages(self, number, messages, emit):
        call_ids: set = set()
        for i, message in enumerate(messages):
            if type(message) is not dict:
                continue
            role = message.get("role")
            content = message.get("content")
            if role == "assistant":
                for call in message.get("tool_calls") or ():
                    if type(call) is dict:
                        call_ids.add(call.get("id"))
            elif role == "tool" and "tool_call_id" in message and message["tool_call_id"] not in call_ids:
                emit(
                    Finding(
                        "tool-call-mismatch",
                        f"tool message answers tool_call_id "
                        f"{message['tool_call_id']!r}, which no earlier assistant message's "
                        "`tool_calls` has; add the assistant turn with that call or fix the id",
                        number,
                        f"/body/messages/{i}/tool_call_id",
                    )
                )
            if content in ("", []) and not (role == "assistant" and message.get("tool_calls")):
                emit(
                    Finding(
                        "empty-content",
                        f"message {i} ({role}) has empty content",
                        number,
                        f"/body/messages/{i}/content",
                    )
                )
