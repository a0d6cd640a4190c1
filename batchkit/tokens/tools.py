"""Chat `tools` of type function, counted as the OpenAI cookbook ("How to count tokens with tiktoken",
section 7) counts them: per function a fixed start, "name:description"; per parameter "name:type:
description" (a trailing period dropped) and its enum items; fixed starts and an end. Its constants were
fitted against the API for gpt-4o / gpt-4o-mini (o200k_base) and gpt-3.5-turbo / gpt-4 (cl100k_base).

A tool outside the shape that rule covers (nested objects, arrays, a property without a type or
description) returns None: the caller counts it as JSON text and marks the request estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

from .count import encoding_for_model


@dataclass(frozen=True)
class ToolRule:
    function_start: int
    properties_start: int
    property_start: int
    enum_start: int
    enum_item: int
    end: int


RULES = {
    "o200k_base": ToolRule(7, 3, 3, -3, 3, 12),
    "cl100k_base": ToolRule(10, 3, 3, -3, 3, 12),
}


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _function(function, rule: ToolRule, texts: list[str]) -> int | None:
    """The fixed tokens of one function (its texts appended to `texts`), or None when it is not simple."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return None
    description = function.get("description", "")
    properties = (function.get("parameters") or {}).get("properties") or {}
    if not isinstance(description, str) or not isinstance(properties, dict):
        return None
    fixed = rule.function_start
    texts.append(f"{function['name']}:{_strip_period(description)}")
    if properties:
        fixed += rule.properties_start
    for name, spec in properties.items():
        if not isinstance(spec, dict) or not all(
            isinstance(spec.get(k), str) for k in ("type", "description")
        ):
            return None
        if spec["type"] in ("object", "array"):
            return None
        fixed += rule.property_start
        enum = spec.get("enum")
        if enum is not None:
            if not isinstance(enum, list) or not all(isinstance(item, str) for item in enum):
                return None
            fixed += rule.enum_start + rule.enum_item * len(enum)
            texts.extend(enum)
        texts.append(f"{name}:{spec['type']}:{_strip_period(spec['description'])}")
    return fixed


def function_tools(tools, model: str) -> tuple[list[str], int] | None:
    """(texts to count, fixed tokens) of a chat body's `tools`, or None when the rule does not cover them."""
    rule = RULES.get(encoding_for_model(model) or "")
    if rule is None or not isinstance(tools, list) or not tools:
        return None
    texts: list[str] = []
    fixed = rule.end
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return None
        tokens = _function(tool.get("function"), rule, texts)
        if tokens is None:
            return None
        fixed += tokens
    return texts, fixed
