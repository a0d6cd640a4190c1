"""`batchkit.map`: from a column of prompts to a column of answers in one call, to one model or fanned out
to several (each target's round trip in its own thread, so one slow or failing target holds up no other)."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..errors import UsageError
from ..remote import Event, submit, tqdm_progress
from .shape import PROMPT, MapResult, answers, rows_of, with_answers
from .targets import MapTarget, targets_of
from .trip import Steps, TargetResult, round_trip

ProgressArg = Callable[[Event], None] | bool | None


def fan_out(data, targets: list[MapTarget], steps: Steps, progress: ProgressArg = None) -> MapResult:
    """Every target's round trip over the rows of `data`, at once (a thread each); a target that fails
    keeps its error and leaves the others to finish."""
    rows, table = rows_of(data)
    if steps.user is None and rows is not data and list(table.columns) == [PROMPT]:
        steps = replace(steps, user="{" + PROMPT + "}")  # a list of strings: each string is the prompt
    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="batchkit-map") as pool:
        futures = [pool.submit(round_trip, rows, t, _with_progress(steps, progress)) for t in targets]
        results = [future.result() for future in futures]
    return MapResult(table, results)


def _with_progress(steps: Steps, progress: ProgressArg) -> Steps:
    """The steps with this target's own progress callback (a bar set per target for True)."""
    if progress is True:
        return replace(steps, progress=tqdm_progress())
    return replace(steps, progress=progress) if callable(progress) else steps


def map(  # noqa: A001 (the name says what it does, as Python's own map does)
    data,
    *,
    model: str | None = None,
    user: str | None = None,
    system: str | None = None,
    provider: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    params: Mapping | None = None,
    max_tokens: int | None = None,
    on_empty: str | Mapping[str, str] = "error",
    response_schema: dict | type | None = None,
    schema_name: str | None = None,
    targets: Iterable[MapTarget | Mapping | str] | None = None,
    long: bool = False,
    max_cost: float | None = None,
    prices: str | os.PathLike | None = None,
    max_enqueued_tokens: int | None = None,
    max_batches: int | None = None,
    interval: float = 10.0,
    completion_window: str = "24h",
    metadata: dict[str, str] | None = None,
    progress: ProgressArg = True,
    cache=None,
    until_done: bool | None = None,
):
    """Prompts in, answers out: build → validate → estimate → submit → wait → download → merge.

    `data`: a list of strings (each the user message), a list of dicts or a DataFrame (`user`/`system` are
    templates over its columns, `{question}`). Returns, for one `model`: a list of answers in input order
    (None where a row has none; `.errors` says why, `.result` holds the merge and its report), or for a
    DataFrame the table with `answer` (typed `answer.FIELD` columns for a `response_schema`: a JSON Schema
    dict or a pydantic class), `status`, `error`, usage and `cost` columns. `on_empty`: what a row with an
    empty cell the templates use does, as in `build_requests` ("skip": no request, status "skipped").

    `targets=["openai:gpt-4o-mini", {"provider": "anthropic", "model": "…", "params": {...}}, …]` sends the
    same rows to each (in its format, natively, at once) and returns one row per input with
    LABEL.answer, LABEL.status, … columns per target (`long=True`: one row per input and target, with a
    `target` column). A target that fails gets status `target_failed` and its error on every row, and a
    warning names it; the others are complete.

    Invalid requests raise ValidationFailed (with the findings) before anything is sent; `max_cost` refuses
    when the estimate's upper bound is over it; an enqueued-token cap (`max_enqueued_tokens`, or the
    provider's own) or `max_batches` sends the shards as a queue. The files are named by their content, so
    the same call again (after a kernel restart too) finds its batches in the ledger and sends nothing.
    `cache`, `until_done`: passed to `batchkit.submit` when given.
    """
    chosen = targets_of(targets, model, provider, base_url, api_key_env)
    steps = steps_of(user, system, params, response_schema, schema_name, max_tokens=max_tokens,
                     max_cost=max_cost, prices=prices, max_enqueued_tokens=max_enqueued_tokens,
                     max_batches=max_batches, interval=interval, completion_window=completion_window,
                     metadata=metadata, on_empty=on_empty, submit_options=_passed(cache=cache, until_done=until_done))  # fmt: skip
    result = fan_out(data, chosen, steps, progress)
    if targets is None:
        return _one(result, data, structured=steps.response_schema is not None)
    if result.failed:
        named = "; ".join(f"{label}: {why}" for label, why in result.failed.items())
        warnings.warn(f"{len(result.failed)} target(s) gave no answers: {named}", stacklevel=2)
    return result.long() if long else result.wide()


def _one(result: MapResult, data, structured: bool):
    (only,) = result.results
    if only.error is not None:
        raise only.error
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return with_answers(data, only)
    return answers(only, len(result.table), structured)


def steps_of(user, system, params, response_schema, schema_name, **options) -> Steps:
    """The Steps of a call: templates, params, the response schema (a JSON Schema dict or a pydantic class)
    and the sending options."""
    if response_schema is not None and not isinstance(response_schema, dict):
        if not hasattr(response_schema, "model_json_schema"):
            raise UsageError(
                "response_schema= takes a JSON Schema dict or a pydantic class, "
                f"not {type(response_schema).__name__}"
            )
        schema_name = schema_name or response_schema.__name__
        response_schema = response_schema.model_json_schema()
    if options.get("submit_options") and (options.get("max_enqueued_tokens") or options.get("max_batches")):
        raise UsageError(
            f"{', '.join(options['submit_options'])}= go through submit, not the queue: drop "
            "max_enqueued_tokens= / max_batches=, or them"
        )
    return Steps(user, system, dict(params or {}), response_schema, schema_name or "answer", **options)


def _passed(**options) -> dict:
    """The options given, each refused clearly when this batchkit's submit does not take it."""
    given = {name: value for name, value in options.items() if value is not None}
    takes = inspect.signature(submit).parameters
    for name in given:
        if name not in takes:
            raise UsageError(f"{name}= is not available: batchkit.submit takes no {name}= yet")
    return given


__all__ = ["MapResult", "MapTarget", "TargetResult", "fan_out", "map", "steps_of"]
