"""What `submit` and `run` share for getting every request its answer once: the answer cache (`--cache`,
`--no-cache`) and re-sending what failed until every request has one (`--until-done`, `--max-rounds`)."""

from __future__ import annotations

import click

from ..errors import UsageError

DEFAULT_ROUNDS = 5


def cache_path_option(
    f, help: str = "The answer cache to read and fill [default: cache.db in the batchkit home]."
):
    return click.option("--cache", "cache_path", type=click.Path(dir_okay=False), metavar="PATH", help=help)(
        f
    )


def cache_options(f):
    f = click.option(
        "--no-cache",
        is_flag=True,
        help="Send every request, and keep no answer (the cache is neither read nor filled).",
    )(f)
    return cache_path_option(f)


def rounds_options(f):
    f = click.option(
        "--max-rounds",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help=f"With --until-done: at most N rounds, the first included [default: {DEFAULT_ROUNDS}].",
    )(f)
    f = click.option(
        "--until-done",
        is_flag=True,
        help="Re-send what failed for a reason that passes (server errors, rate limits, expired, cancelled), "
        "what has no result, and answers that do not follow their response schema, as new rounds, until "
        "every request has its answer.",
    )(f)
    return f


def chosen_cache(cache_path, no_cache):
    """The AnswerCache the options name, or None for --no-cache."""
    from ..cache import AnswerCache

    if no_cache and cache_path:
        raise UsageError("--cache and --no-cache contradict each other; give one")
    return None if no_cache else AnswerCache(cache_path)


def chosen_rounds(until_done: bool, max_rounds: int | None) -> int | None:
    """The rounds --until-done may take (None without it)."""
    if max_rounds is not None and not until_done:
        raise UsageError("--max-rounds goes with --until-done")
    return (max_rounds or DEFAULT_ROUNDS) if until_done else None
