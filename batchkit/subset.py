"""A dry run on real data: only the first N requests (`--limit N`) or a seeded random N (`--sample N
--seed S`), in their original order. The same file, N and seed always choose the same requests.

`take` chooses from any stream of items (reservoir sampling: N items in memory, one pass);
`write_subset` writes the chosen lines of a batch file, byte for byte, to `STEM.first-N.SUFFIX` or
`STEM.sample-N-seed-S.SUFFIX` beside it (the input is never changed), for commands that send a file.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

from .atomic import atomic_write
from .errors import InputError, UsageError
from .lines import Overlong, content_lines, open_binary

T = TypeVar("T")


@dataclass(frozen=True)
class Subset:
    limit: int | None = None
    sample: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.limit is not None and self.sample is not None:
            raise UsageError("--limit and --sample choose requests in two ways; give one of them")
        for name, value in (("--limit", self.limit), ("--sample", self.sample)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, not {value}")

    @property
    def whole(self) -> bool:
        return self.limit is None and self.sample is None

    def name(self, path: Path) -> Path:
        what = f"first-{self.limit}" if self.limit is not None else f"sample-{self.sample}-seed-{self.seed}"
        return path.with_name(f"{path.stem}.{what}{path.suffix}")


def take(items: Iterable[T], subset: Subset) -> Iterator[T]:
    """The items `subset` chooses, in their original order."""
    if subset.limit is not None:
        yield from islice(items, subset.limit)
        return
    if subset.sample is None:
        yield from items
        return
    rng = random.Random(subset.seed)
    kept: list[tuple[int, T]] = []
    for index, item in enumerate(items):
        if index < subset.sample:
            kept.append((index, item))
        else:
            slot = rng.randrange(index + 1)
            if slot < subset.sample:
                kept[slot] = (index, item)
    for _index, item in sorted(kept, key=lambda pair: pair[0]):
        yield item


def write_subset(source: str | os.PathLike, subset: Subset) -> Path:
    """Write the chosen lines of a batch file beside it; the path written (`source` itself when whole)."""
    source = Path(source)
    if subset.whole:
        return source
    target = subset.name(source)
    try:
        with open_binary(source) as stream, atomic_write(target) as sink:
            for number, raw in take(content_lines(stream), subset):
                if isinstance(raw, Overlong):
                    raise InputError(f"{source}:{number}: {raw.finding(number).message}")
                sink.write(raw + b"\n")
    except OSError as e:
        raise InputError(f"cannot write {target}: {e.strerror or e}") from None
    return target
