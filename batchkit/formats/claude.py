"""What Claude models take of the sampling parameters (temperature, top_p, top_k), by model family, as
data with its sources, and the rules on a Messages body that no schema states: read by `validate` (for
Anthropic lines and Bedrock's Anthropic bodies) and by `convert` (which leaves out what a model refuses,
and lists it, rather than write a batch that fails on every line).

A family is found in a model id by a pattern, so Anthropic's ids (`claude-opus-4-7`), dated ones
(`claude-sonnet-4-5-20250929`), Bedrock's (`us.anthropic.claude-opus-4-7-v1:0`) and Vertex's
(`claude-opus-4-7@20260416`) all match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..findings import ERROR, Finding

SAMPLING = ("temperature", "top_p", "top_k")
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True)
class Family:
    """A family of Claude models and what it takes of the sampling parameters: `sampling` False — none but
    the default temperature (1.0); `one_of` — temperature or top_p, not both."""

    name: str
    pattern: str
    sampling: bool
    one_of: bool
    source: str

    def matches(self, model: str) -> bool:
        return re.search(self.pattern, model) is not None


FAMILIES = (
    Family(
        "models released after Claude Opus 4.6 (Opus 4.7 and later, Sonnet 5, Haiku 5, Fable, Mythos)",
        r"claude-(?:opus-4-(?:[7-9]|\d\d)|(?:opus|sonnet|haiku)-(?:[5-9]|\d\d)|fable|mythos)",
        sampling=False,
        one_of=False,
        source=(
            "Anthropic's model-deprecations page, 'API parameter deprecations' (a temperature other than 1.0, "
            'top_p or top_k is answered 400: "`temperature` is deprecated for this model"); anthropic SDK 1.0 '
            "and later no longer have them in MessageCreateParams"
        ),
    ),
    Family(
        "Claude Opus 4.1 to 4.6, Sonnet 4.5 and 4.6, and Haiku 4.5",
        r"claude-(?:opus-4-[1-6]|sonnet-4-[56]|haiku-4-5)",
        sampling=True,
        one_of=True,
        source=(
            "AWS Bedrock's Anthropic Claude Messages request page ('Claude Sonnet 4.5 and Claude Haiku 4.5 "
            "support specifying either the temperature or top_p parameter, but not both'); Anthropic's "
            "migration guide ('Use only temperature OR top_p, not both'); the API's 400 'temperature and top_p "
            "cannot both be specified for this model' reported for Opus 4.1, 4.5, 4.6 and Sonnet 4.6"
        ),
    ),
)


def family_of(model) -> Family | None:
    """The family a model id belongs to, or None (an older model, another provider's, no model)."""
    if not isinstance(model, str):
        return None
    return next((f for f in FAMILIES if f.matches(model)), None)


def refused_sampling(params: dict, model) -> list[str]:
    """The sampling fields of `params` the model answers with 400: every one a family without sampling has
    (a temperature of 1.0, the default, excepted), and top_p beside temperature for a one-of family."""
    family = family_of(model)
    if family is None:
        return []
    if not family.sampling:
        return [
            key
            for key in SAMPLING
            if key in params and not (key == "temperature" and params[key] == DEFAULT_TEMPERATURE)
        ]
    if family.one_of and "temperature" in params and "top_p" in params:
        return ["top_p"]
    return []


def blank_stop_sequences(stops) -> list[int]:
    """The indexes of the stop sequences that are empty or whitespace only, which the Messages API refuses
    ("each stop sequence must contain non-whitespace")."""
    if not isinstance(stops, list):
        return []
    return [i for i, stop in enumerate(stops) if isinstance(stop, str) and not stop.strip()]


def ends_with_whitespace(messages) -> bool:
    """Whether the conversation ends with an assistant turn (a prefill) whose text ends in whitespace,
    which the API refuses ("final assistant content cannot end with trailing whitespace")."""
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return False
    content = last.get("content")
    if isinstance(content, list) and content and isinstance(content[-1], dict):
        content = content[-1].get("text") if content[-1].get("type") == "text" else None
    return isinstance(content, str) and content != content.rstrip()


def body_findings(params: dict, model, at: str, line: int | None) -> list[Finding]:
    """The findings for a Messages body sent to `model` that no schema states."""
    out = []
    family = family_of(model)
    if family is not None and not family.sampling:
        for key in refused_sampling(params, model):
            message = (
                f"`{key}` is deprecated for {model}: {family.name} take no sampling parameter but "
                f"temperature {DEFAULT_TEMPERATURE}; remove it (`batchkit convert` leaves it out)"
            )
            out.append(Finding("deprecated-parameter", message, line, f"{at}/{key}"))
    elif family is not None and family.one_of and "temperature" in params and "top_p" in params:
        message = f"{model} takes temperature or top_p, not both ({family.name} do): keep one"
        out.append(Finding("conflicting-sampling", message, line, f"{at}/top_p"))
    out += _thinking_findings(params, at, line)
    for i in blank_stop_sequences(params.get("stop_sequences")):
        message = "a stop sequence must contain non-whitespace (the API answers 400); remove it"
        out.append(Finding("invalid-value", message, line, f"{at}/stop_sequences/{i}"))
    messages = params.get("messages")
    out += conversation_findings(messages, at, line)
    if ends_with_whitespace(messages):
        message = (
            "the final assistant message (a prefill) ends with whitespace, which the API refuses; "
            "remove the trailing whitespace"
        )
        out.append(
            Finding("trailing-whitespace", message, line, f"{at}/messages/{len(messages) - 1}/content")
        )
    return out


def _thinking_findings(params: dict, at: str, line: int | None) -> list[Finding]:
    """A thinking budget of max_tokens or more, which the API refuses ("budget_tokens must be less than
    max_tokens": thinking counts within max_tokens); its minimum, 1024, is the schema's."""
    thinking, tokens = params.get("thinking"), params.get("max_tokens")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if (
        type(budget) is not int
        or type(tokens) is not int
        or thinking.get("type") != "enabled"
        or budget < tokens
    ):
        return []
    message = f"thinking.budget_tokens ({budget}) must be less than max_tokens ({tokens}): raise max_tokens"
    return [Finding("out-of-range", message, line, f"{at}/thinking/budget_tokens")]


def conversation_findings(messages, at: str, line: int | None) -> list[Finding]:
    """What the Messages API refuses in a conversation that its schema cannot say: a message with empty
    content (but for a final assistant one, a prefill), a tool_result whose tool_use_id the message before
    it did not use, and a tool_use the message after it does not answer."""
    out: list[Finding] = []
    if not isinstance(messages, list):
        return out
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if content in ("", []) and not (i == last and role == "assistant"):
            message_text = (
                f"message {i} ({role}) has empty content, which the Messages API refuses but in a final "
                "assistant message (a prefill): give it content or remove it"
            )
            out.append(Finding("empty-content", message_text, line, f"{at}/messages/{i}/content", ERROR))
        out += _repeated_ids(message, f"{at}/messages/{i}", line)
        used = _block_ids(messages[i - 1], "tool_use", "id") if i else {}
        for j, tool_use_id in _block_ids(message, "tool_result", "tool_use_id").items():
            if tool_use_id not in used.values():
                text = (
                    f"tool_result answers tool_use_id {tool_use_id!r}, which the message before it does not "
                    "use: a tool_result goes in the message right after the assistant's tool_use"
                )
                out.append(
                    Finding("tool-call-mismatch", text, line, f"{at}/messages/{i}/content/{j}/tool_use_id")
                )
        if i < last:
            answered = set(_block_ids(messages[i + 1], "tool_result", "tool_use_id").values())
            for j, tool_use_id in _block_ids(message, "tool_use", "id").items():
                if tool_use_id not in answered:
                    text = (
                        f"tool_use {tool_use_id!r} has no tool_result in the message after it, which the API "
                        "requires of every tool_use but one in the final message"
                    )
                    out.append(Finding("tool-call-mismatch", text, line, f"{at}/messages/{i}/content/{j}/id"))
    return out


# The blocks whose ids pair a tool call with its result: one id may stand for one call, and one result
ID_FIELDS = (("tool_use", "id"), ("tool_result", "tool_use_id"))


def _repeated_ids(message, at: str, line: int | None) -> list[Finding]:
    """An id a message's tool_use blocks (or its tool_result blocks) repeat: the API refuses it, and which
    result answers which call is lost."""
    out = []
    for kind, field in ID_FIELDS:
        first: dict[str, int] = {}
        for j, block_id in _block_ids(message, kind, field).items():
            if first.setdefault(block_id, j) != j:
                text = (
                    f"{kind} {field} {block_id!r} is already used by block {first[block_id]} of this message; "
                    f"each {kind} needs its own id"
                )
                out.append(Finding("tool-call-mismatch", text, line, f"{at}/content/{j}/{field}"))
    return out


def _block_ids(message, kind: str, field: str) -> dict[int, str]:
    """{index: id} of the `kind` content blocks of a message (their `field`)."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return {}
    return {
        j: block[field]
        for j, block in enumerate(content)
        if isinstance(block, dict) and block.get("type") == kind and isinstance(block.get(field), str)
    }
