"""A hash partitioning by hand: the rows of every part go to buckets by a hash of their key that every
process computes alike (`stable_hash`), in scratch files in a private folder that every worker can
read, so a bucket holds every row of its keys from every part. The rounds of plain tasks that fill and
read them are the jobs' own (merge, merge onto a source)."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable
from pathlib import Path


def stable_hash(value: str | bytes) -> int:
    """An 8-byte hash of a custom_id (or a line's bytes) that is the same in every process (Python's
    `hash` is not)."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def spread(keys: Iterable[str], buckets: int) -> list[list[int]]:
    """The positions of `keys` that fall in each bucket, in order."""
    positions: list[list[int]] = [[] for _ in range(buckets)]
    for i, key in enumerate(keys):
        positions[stable_hash(key) % buckets].append(i)
    return positions


def put(pieces: list, folder: Path, name: str) -> None:
    """One part's piece of every bucket (a list of rows, a frame; None for none), as
    `folder/bNNNNN/name.pkl`."""
    for bucket, piece in enumerate(pieces):
        if piece is not None:
            save(piece, folder, bucket, name)


def save(piece, folder: Path, bucket: int, name: str) -> None:
    target = Path(folder) / f"b{bucket:05d}"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / f"{name}.pkl", "wb") as f:
        pickle.dump(piece, f, protocol=pickle.HIGHEST_PROTOCOL)


def take(folder: Path, bucket: int) -> dict[str, object]:
    """Every part's piece of one bucket, by the part's name, in name order."""
    pieces = {}
    for path in sorted((Path(folder) / f"b{bucket:05d}").glob("*.pkl")):
        with open(path, "rb") as f:
            pieces[path.stem] = pickle.load(f)
    return pieces
