"""The enqueued-token limit (`serve --enqueued-token-limit N`): like OpenAI, the prompt tokens of a model's
in-flight batches (validating, in_progress, finalizing) may not exceed N; a batch that would go over fails
at its validating stage with `token_limit_exceeded` and OpenAI's own message. Tokens are counted with
batchkit.tokens, the same count `batchkit estimate` and `submit --max-enqueued-tokens` use.
"""

from __future__ import annotations

import os

from ..tokens import estimate

IN_FLIGHT = ("validating", "in_progress", "finalizing")
ORGANIZATION = "org-local"
LIMIT_MESSAGE = (
    "Enqueued token limit reached for {model} in organization {organization}. Limit: {limit:,} enqueued "
    "tokens. Please try again once some in_progress batches have been completed."
)


def prompt_tokens(path: str | os.PathLike) -> dict[str, int]:
    """Prompt tokens of a batch input file per model. Runs in a thread."""
    (counted,) = estimate(path).files
    return {group.model: group.prompt_tokens for group in counted.models.values()}


def over_limit(tokens: dict[str, int], in_flight: dict[str, int], limit: int) -> dict | None:
    """The errors.data entry for the first model these tokens would take over the limit, or None."""
    for model, count in tokens.items():
        if in_flight.get(model, 0) + count > limit:
            message = LIMIT_MESSAGE.format(model=model, organization=ORGANIZATION, limit=limit)
            return {"code": "token_limit_exceeded", "line": None, "param": None, "message": message}
    return None
