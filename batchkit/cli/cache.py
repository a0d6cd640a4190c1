"""`batchkit cache stats | prune --older-than AGE | clear`: the answer cache `submit` and `run` read and fill."""

from __future__ import annotations

import re

import click

from .answer_options import cache_path_option
from .common import json_text, say, text_or_json
from .remote_display import table, when

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class Age(click.ParamType):
    """A duration such as 30d, 12h, 90m, 2w or 45s, in seconds."""

    name = "age"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(value))
        if found is None:
            self.fail(f"{value!r} is not an age: write it like 30d, 12h, 90m, 2w or 45s", param, ctx)
        seconds = float(found.group(1)) * UNITS[found.group(2)]
        if seconds > MAX_AGE:  # older than any answer kept (and past what SQLite's integers hold)
            self.fail(f"{value!r} is longer than any answer has been kept: at most 100 years", param, ctx)
        return seconds


MAX_AGE = 100 * 365 * 86400  # seconds


def _cache_option(f):
    return cache_path_option(f, "Another answer cache than the default (cache.db in the batchkit home).")


def _open(cache_path):
    """The cache named, or None (after saying so) when it does not exist yet."""
    from ..cache import AnswerCache

    answers = AnswerCache(cache_path)
    if not answers.path.exists():
        say(f"no answer cache at {answers.path} yet: nothing is cached", err=True)
        return None
    return answers


@click.group("cache")
def cache():
    """The answer cache: good answers `submit` and `run` keep, so a request asked again is not paid for
    again (keyed by server, endpoint, model and the request's body, never its custom_id).

    \b
    batchkit cache stats                   how many answers, how much space, from which servers
    batchkit cache prune --older-than 30d  forget answers stored more than 30 days ago
    batchkit cache clear                   forget every answer
    """


@cache.command()
@_cache_option
@text_or_json
def stats(cache_path, fmt, as_json):
    """How many answers the cache holds, its size on disk, and from which servers."""
    answers = _open(cache_path)
    if answers is None:
        return
    with answers:
        found = answers.stats()
    if as_json or fmt == "json":
        say(json_text(found.to_dict()))
        return
    per = f", {found.bytes_per_answer:,.0f} bytes an answer" if found.answers else ""
    say(f"answer cache: {found.path}")
    say(f"answers: {found.answers:,} ({_size(found.bytes)}{per})")
    if found.answers:
        say(f"stored: from {when(found.oldest)} to {when(found.newest)}")
        table([["ANSWERS", "SERVER"], *[[f"{n:,}", where] for where, n in found.by_address.items()]])


@cache.command()
@_cache_option
@click.option("--older-than", "age", type=Age(), required=True, metavar="AGE", help="e.g. 30d, 12h, 2w.")
def prune(cache_path, age):
    """Forget the answers stored more than AGE ago."""
    answers = _open(cache_path)
    if answers is None:
        return
    with answers:
        gone = answers.prune(age)
        left = answers.stats().answers
    say(f"forgot {gone:,} answer(s); {left:,} remain in {answers.path}")


@cache.command()
@_cache_option
def clear(cache_path):
    """Forget every answer."""
    answers = _open(cache_path)
    if answers is None:
        return
    with answers:
        gone = answers.clear()
    say(f"forgot {gone:,} answer(s); {answers.path} is empty")


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return str(count)
