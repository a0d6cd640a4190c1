"""The answer cache: never pay twice for the same request. Good answers (status 200, ended on their own,
following the schema their request asked for) are kept in SQLite under the batchkit home, keyed by what
determines them — the server, the endpoint, the model and the request body canonicalised (`keys`), never
the custom_id — with the batch they came from and when (`store`). Before a batch is sent its requests are
looked up; the answered ones are written at once as result lines of the provider's shape, marked as
cached, and the rest is sent (`answers`).

`open_cache(cache)` turns the Python API's `cache=` argument into an `AnswerCache` or None.
"""

from __future__ import annotations

import os

from .answers import COMPLETE, Keeper, Split, cached_line, good_answer, remember, split, stored_line
from .keys import address, answer_key, canonical
from .store import AnswerCache, CacheStats, Hit

CacheArg = AnswerCache | str | os.PathLike | bool | None

__all__ = [
    "COMPLETE",
    "AnswerCache",
    "CacheArg",
    "CacheStats",
    "Hit",
    "Keeper",
    "Split",
    "address",
    "answer_key",
    "cached_line",
    "canonical",
    "good_answer",
    "open_cache",
    "remember",
    "split",
    "stored_line",
]


def open_cache(cache: CacheArg = True) -> AnswerCache | None:
    """The cache `cache=` names: True for the default one (under the batchkit home), a path for another,
    an `AnswerCache` as it is, False or None for none."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return AnswerCache()
    if isinstance(cache, AnswerCache):
        return cache
    return AnswerCache(cache)
