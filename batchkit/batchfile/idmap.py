"""The id map `convert` writes beside its output (`out.jsonl` → `out.ids.jsonl`): each id it had to replace
(`{"custom_id": ORIGINAL, "id": WRITTEN}`), so results of the converted file join back to the original."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..atomic import atomic_write
from ..errors import InputError
from ..findings import Finding
from ..lines import dumps_line, open_binary, read_objects, source_name


def id_map_path(output: str | os.PathLike) -> Path:
    """Where the id map of `output` is written: out.jsonl → out.ids.jsonl."""
    output = Path(output)
    return output.with_name(f"{output.stem}.ids.jsonl")


def write_id_map(pairs: Iterable[tuple[str | None, str]], path: Path) -> Path:
    """(original id, written id) pairs, written whole or not at all."""
    with atomic_write(path) as f:
        for original, mapped in pairs:
            f.write(dumps_line({"custom_id": original, "id": mapped}))
    return path


def read_id_map(path: str | os.PathLike) -> dict[str, str | None]:
    """An id map written by `convert_file`: the id written → the original id (None if it had none).

    A line that is not such a pair is an InputError naming the file and the line."""
    mapping: dict[str, str | None] = {}
    name = source_name(path)

    def broken(finding: Finding) -> None:
        raise InputError(f"{name}:{finding.line}: not an id map: {finding.message}")

    with open_binary(path) as stream:
        for number, entry, _raw in read_objects(stream, broken):
            written, original = entry.get("id"), entry.get("custom_id")
            if type(written) is not str or not (original is None or type(original) is str):
                raise InputError(
                    f'{name}:{number}: not an id map line: `convert` writes {{"custom_id": ORIGINAL, "id": WRITTEN}}'
                )
            mapping[written] = original
    return mapping
