"""The distribution of prompt lengths, kept as {length: how many} so a million requests cost a few
thousand entries: min, median, p95, max and a small histogram."""

from __future__ import annotations

import collections

BINS = 8
BAR = 24  # characters of the longest histogram bar


class Lengths:
    def __init__(self):
        self.counts: collections.Counter[int] = collections.Counter()
        self.total = 0

    def add(self, length: int) -> None:
        self.counts[length] += 1
        self.total += 1

    def quantile(self, q: float) -> int:
        """The smallest length with at least q of the requests at or below it (nearest rank)."""
        rank = max(1, -(-int(q * self.total * 1000) // 1000))  # ceil without float drift
        seen = 0
        for length in sorted(self.counts):
            seen += self.counts[length]
            if seen >= rank:
                return length
        raise ValueError("no lengths")

    def histogram(self) -> list[dict]:
        """Up to BINS equal-width bins from min to max: [{"from", "to", "requests"}]."""
        low, high = min(self.counts), max(self.counts)
        width = max(1, -(-(high - low + 1) // BINS))
        bins = [0] * min(BINS, -(-(high - low + 1) // width))
        for length, n in self.counts.items():
            bins[(length - low) // width] += n
        return [
            {"from": low + i * width, "to": min(high, low + (i + 1) * width - 1), "requests": n}
            for i, n in enumerate(bins)
        ]

    def to_dict(self) -> dict | None:
        if not self.total:
            return None
        return {
            "min": min(self.counts),
            "median": self.quantile(0.5),
            "p95": self.quantile(0.95),
            "max": max(self.counts),
            "histogram": self.histogram(),
        }


def bar(n: int, most: int) -> str:
    """A bar of block characters, n out of most, at least one block when n > 0."""
    if not n:
        return ""
    eighths = max(1, round(n / most * BAR * 8))
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
