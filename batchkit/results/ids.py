"""The custom_ids of a merge's requests, row by row, and the row each id names, in compact arrays.

A merge keeps every request's id for the whole join (a million requests is common). As a list of str and
a dict of str → row, that is about 140 bytes a request; here the ids are UTF-8 in one buffer and the rows
are found through an open-addressing table of the ids' hashes: about 45 bytes a request.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

EMPTY = -1
LOAD = 0.5  # the table doubles past half full: linear probing stays short


class Ids:
    """Ids by row (`ids[row]`, slices, iteration), and `row_of(id)`: the first row added as its id's
    first (`append(id, first=True)`), or the row it was given as an alias. Ids are hashed with Python's
    `hash`, so a table is read in the process that made it (or a fork), or after a pickle's round trip,
    which makes it again."""

    def __init__(self):
        self._text = bytearray()
        self._ends = array("Q")  # row → where its id ends in _text
        self._hashes = array("q")  # row → hash(id)
        self._slots = array("q", [EMPTY]) * 8  # rows that are their id's first, at hash & mask
        self._used = 0
        self._free: tuple[int | None, int] = (None, 0)  # the hash `row_of` missed last and its free slot
        self._aliases: dict[str, int] = {}  # other names of rows (ids a conversion wrote)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        start = self._ends[row - 1] if row else 0
        return self._text[start : self._ends[row]].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return (self[row] for row in range(len(self)))

    def append(self, custom_id: str, first: bool) -> int:
        """Adds `custom_id` as the next row, found by `row_of` when `first`; returns its row."""
        row = len(self._ends)
        text = self._text
        text += custom_id.encode("utf-8", "surrogatepass")  # any str an id can be, lone surrogates too
        self._ends.append(len(text))
        h = hash(custom_id)
        self._hashes.append(h)
        if first:
            if self._used >= len(self._slots) * LOAD:
                self._grow()
            free_hash, i = self._free
            self._place(row, i if free_hash == h and self._slots[i] == EMPTY else h)
            self._used += 1
        return row

    def row_of(self, custom_id: str) -> int | None:
        """The first row of `custom_id`, or of the request it is another name of; None if none."""
        h = hash(custom_id)
        slots, hashes = self._slots, self._hashes
        mask = len(slots) - 1
        i = h & mask
        while (row := slots[i]) != EMPTY:
            if hashes[row] == h and self[row] == custom_id:
                return row
            i = (i + 1) & mask
        self._free = (h, i)  # where `append` puts the id that was not found, as a request's is next
        return self._aliases.get(custom_id)

    def alias(self, name: str, row: int) -> None:
        """Lets `row_of(name)` find `row` (unless `name` is an id itself)."""
        self._aliases[name] = row

    def _place(self, row: int, start: int) -> None:
        """Puts `row` in the first free slot from `start` (its id's hash, or where a probe for it ended)."""
        slots = self._slots
        mask = len(slots) - 1
        i = start & mask
        while slots[i] != EMPTY:
            i = (i + 1) & mask
        slots[i] = row

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("q", [EMPTY]) * (len(old) * 2)
        self._free = (None, 0)
        for row in old:
            if row != EMPTY:
                self._place(row, self._hashes[row])

    def __getstate__(self) -> dict:
        firsts = [row for row in self._slots if row != EMPTY]
        return {"text": self._text, "ends": self._ends, "first": firsts, "aliases": self._aliases}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        self._text, self._ends, self._aliases = state["text"], state["ends"], state["aliases"]
        self._hashes = array("q", map(hash, self))  # hashes differ between processes: made again
        firsts, size = state["first"], len(self._slots)
        while len(firsts) > size * LOAD:
            size *= 2
        self._slots = array("q", [EMPTY]) * size
        for row in firsts:
            self._place(row, self._hashes[row])
        self._used = len(firsts)
