"""The custom_ids of a merge's requests, row by row, and the row each id names, in compact arrays.

A merge keeps every request's id for the whole join (a million requests is common). As a list of str and
a dict of str → row, that is about 135 bytes a request (a str object, a list slot, a dict entry and an int
object for the row); here the ids are UTF-8 in one buffer and the rows are found through an
open-addressing table of the ids' hashes: the id's bytes and 32 to 48 more.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

EMPTY = -1
LOAD = 0.5  # the table doubles past half full: linear probing stays short
ROWS = "i"  # rows in 32 bits: 2**31 requests would take hundreds of gigabytes to merge
UTF8 = ("utf-8", "surrogatepass")  # any str an id can be, lone surrogates too


class Ids:
    """Ids by row (`ids[row]`, slices, iteration), and `row_of(id)`: the first row of an id (`add`), or
    the row it was given as an alias. Ids are hashed with Python's `hash`, so a table is read in the
    process that made it (or a fork), or after a pickle's round trip, which makes it again."""

    def __init__(self):
        self._text = bytearray()
        self._ends = array("Q")  # row → where its id ends in _text
        self._hashes = array("q")  # row → hash(id)
        self._slots = array(ROWS, [EMPTY]) * 8  # the first row of each id, at its hash & mask or after
        self._used = 0
        self._aliases: dict[str, int] = {}  # other names of rows (ids a conversion wrote)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        start = self._ends[row - 1] if row else 0
        return self._text[start : self._ends[row]].decode(*UTF8)

    def __iter__(self) -> Iterator[str]:
        return (self[row] for row in range(len(self)))

    def add(self, custom_id: str) -> int | None:
        """Adds `custom_id` as the next row, the first of its id, and returns None; or, when a row has
        that id already, adds nothing and returns that row."""
        h, i = self._probe(custom_id)
        if (row := self._slots[i]) != EMPTY:
            return row
        self._slots[i] = self._push(custom_id, h)
        self._used += 1
        if self._used > len(self._slots) * LOAD:
            self._grow()
        return None

    def append(self, custom_id: str) -> int:
        """Adds `custom_id` as the next row, not its id's first (the id is another request's too)."""
        return self._push(custom_id, hash(custom_id))

    def row_of(self, custom_id: str) -> int | None:
        """The first row of `custom_id`, or of the request it is another name of; None if none."""
        row = self._slots[self._probe(custom_id)[1]]
        return row if row != EMPTY else self._aliases.get(custom_id)

    def _probe(self, custom_id: str) -> tuple[int, int]:
        """The id's hash, and the slot of its first row, or else the free slot where that row goes."""
        h = hash(custom_id)
        slots, hashes, text, ends = self._slots, self._hashes, self._text, self._ends
        mask = len(slots) - 1
        i = h & mask
        while (row := slots[i]) != EMPTY:
            if hashes[row] == h and text[ends[row - 1] if row else 0 : ends[row]].decode(*UTF8) == custom_id:
                break
            i = (i + 1) & mask
        return h, i

    def alias(self, name: str, row: int) -> None:
        """Lets `row_of(name)` find `row` (unless `name` is an id itself)."""
        self._aliases[name] = row

    def _push(self, custom_id: str, h: int) -> int:
        text = self._text
        text += custom_id.encode(*UTF8)
        self._ends.append(len(text))
        self._hashes.append(h)
        return len(self._ends) - 1

    def _grow(self) -> None:
        firsts = [row for row in self._slots if row != EMPTY]
        self._slots = array(ROWS, [EMPTY]) * (len(self._slots) * 2)
        self._place(firsts)

    def _place(self, rows) -> None:
        """Puts rows that are their ids' first in the table (which has room for them)."""
        slots, hashes = self._slots, self._hashes
        mask = len(slots) - 1
        for row in rows:
            i = hashes[row] & mask
            while slots[i] != EMPTY:
                i = (i + 1) & mask
            slots[i] = row

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
        self._slots = array(ROWS, [EMPTY]) * size
        self._place(firsts)
        self._used = len(firsts)
