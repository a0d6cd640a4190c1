"""Tokens and money before a batch is sent: counting (offline vocabularies), prices as data, estimates.

count     counter_for(model, tokenizer) → a Counter (exact for OpenAI families, a tokenizer.json, or ~)
bodies    prompt_of(request) → the texts and fixed tokens a request (of any format) puts before the model
prices    load_prices(file) → (provider, model) → Price; known_models(provider)
models    closest_model / unknown_model_findings: "did you mean" for a model a provider is not known to serve
estimate  estimate(files, …) → Estimate (per file and model: tokens, ceiling, cost, lengths);
          request_tokens(request) → one request's prompt tokens
render    render_text(Estimate) → the text people read
"""

from .bodies import Prompt, prompt_of, read_prompt
from .count import Counter, counter_for, encoding_for_model
from .estimate import DEFAULT_MAX_OUTPUT, Estimate, estimate, request_tokens
from .models import advise_models, closest_model, model_family, unknown_model_findings
from .prices import Price, known_models, load_prices
from .render import render_text

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "Counter",
    "Estimate",
    "Price",
    "Prompt",
    "counter_for",
    "encoding_for_model",
    "known_models",
    "advise_models",
    "closest_model",
    "model_family",
    "unknown_model_findings",
    "estimate",
    "load_prices",
    "prompt_of",
    "read_prompt",
    "render_text",
    "request_tokens",
]
