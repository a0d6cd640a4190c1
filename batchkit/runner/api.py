"""`batchkit.run` for Python users: `run_batch` with the key read from the environment and a ready-made bar."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, overload

from ..cache import CacheArg, open_cache
from ..keys import key_from_env
from ..providers import Provider
from .batch import LOCAL, RunResult, run_batch
from .rounds import RunRounds, run_until_done


@overload
def run(
    path: str | os.PathLike,
    *,
    base_url: str,
    output: str | os.PathLike,
    errors: str | os.PathLike | None = None,
    api_key_env: str | None = None,
    concurrency: int = 8,
    max_rps: float | None = None,
    provider: str | Provider = LOCAL,
    max_attempts: int = 6,
    progress: Callable[[int, int, int], None] | bool | None = None,
    cache: CacheArg = True,
    until_done: Literal[False] = False,
    max_rounds: int = 5,
) -> RunResult: ...


@overload
def run(
    path: str | os.PathLike,
    *,
    base_url: str,
    output: str | os.PathLike,
    errors: str | os.PathLike | None = None,
    api_key_env: str | None = None,
    concurrency: int = 8,
    max_rps: float | None = None,
    provider: str | Provider = LOCAL,
    max_attempts: int = 6,
    progress: Callable[[int, int, int], None] | bool | None = None,
    cache: CacheArg = True,
    until_done: Literal[True],
    max_rounds: int = 5,
) -> RunRounds: ...


def run(
    path: str | os.PathLike,
    *,
    base_url: str,
    output: str | os.PathLike,
    errors: str | os.PathLike | None = None,
    api_key_env: str | None = None,
    concurrency: int = 8,
    max_rps: float | None = None,
    provider: str | Provider = LOCAL,
    max_attempts: int = 6,
    progress: Callable[[int, int, int], None] | bool | None = None,
    cache: CacheArg = True,
    until_done: bool = False,
    max_rounds: int = 5,
) -> RunResult | RunRounds:
    """Send every request of the batch file `path` to `base_url` (an OpenAI-compatible server, e.g.
    http://127.0.0.1:8000/v1) and write the answers as batch result lines to `output` (failures to
    `errors`, default OUTPUT.errors.jsonl). Like `batchkit run`: the file is validated first; requests
    already answered successfully in `output` are not sent again, so running again resumes.
    The key is read from the environment variable `api_key_env`. `progress`: a callable
    (answered, failed, total), or True for a `tqdm.auto` bar.

    `cache`: the answer cache (True: the default one in the batchkit home; a path: another; False: none):
    requests it has a good answer for are not sent (their answers go into `output`, marked as cached) and
    the good answers are kept there. `until_done`: run again, round after round (at most `max_rounds` in
    all), what failed for a reason that passes, has no result or does not follow its response schema;
    then the result is a RunRounds (its `rounds`, one RunResult each, and `done`)."""
    if progress is True:
        progress = tqdm_run_progress()
    options = dict(
        base_url=base_url,
        output=output,
        errors=errors,
        api_key=key_from_env(api_key_env),
        concurrency=concurrency,
        max_rps=max_rps,
        provider=provider,
        max_attempts=max_attempts,
        progress=progress or None,
        cache=open_cache(cache),
    )
    if until_done:
        return run_until_done(path, max_rounds=max_rounds, **options)
    return run_batch(path, **options)


def tqdm_run_progress(**options: Any) -> Callable[[int, int, int], None]:
    """A callback for `run` (answered, failed, total): one bar of requests answered, failures shown."""
    from tqdm.auto import tqdm

    bar = tqdm(desc="requests", unit="req", **options)

    def show(answered: int, failed: int, total: int) -> None:
        bar.total = total
        bar.n = answered
        bar.set_postfix_str(f"{failed} failed", refresh=False)
        bar.refresh()
        if answered >= total:
            bar.close()

    return show
