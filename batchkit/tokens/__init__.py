"""Tokens and money before a batch is sent: counting (offline vocabularies), prices as data, estimates.

count     counter_for(model, tokenizer) → a Counter (exact for OpenAI families, a tokenizer.json, or ~)
bodies    prompt_of(request) → the texts and fixed tokens a request (of any format) puts before the model
prices    load_prices(file) → (provider, model) → Price; known_models(provider)
models    closest_model / unknown_model_findings: "did you mean" for a model a provider is not known to serve
estimates estimate(files, …) → Estimate (per file and model: tokens, ceiling, cost, lengths);
          request_tokens(request) → one request's prompt tokens
render    render_text(Estimate) → the text people read

Names are imported on first use, so a command that only needs model names (validate) does not pay for
the counters and the estimate.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bodies import Prompt, prompt_of, read_prompt
    from .count import Counter, counter_for, encoding_for_model
    from .estimates import DEFAULT_MAX_OUTPUT, Estimate, estimate, request_tokens
    from .models import advise_models, closest_model, model_family, unknown_model_findings
    from .prices import Price, known_models, load_prices
    from .render import render_text

_MODULES = {
    "bodies": ("Prompt", "prompt_of", "read_prompt"),
    "count": ("Counter", "counter_for", "encoding_for_model"),
    "estimates": ("DEFAULT_MAX_OUTPUT", "Estimate", "estimate", "request_tokens"),
    "models": ("advise_models", "closest_model", "model_family", "unknown_model_findings"),
    "prices": ("Price", "known_models", "load_prices"),
    "render": ("render_text",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "Counter",
    "Estimate",
    "Price",
    "Prompt",
    "advise_models",
    "closest_model",
    "counter_for",
    "encoding_for_model",
    "estimate",
    "known_models",
    "load_prices",
    "model_family",
    "prompt_of",
    "read_prompt",
    "render_text",
    "request_tokens",
    "unknown_model_findings",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
