"""Bedrock's `manifest.json.out`, written beside its result files with the job's record and token counts:
`manifest_notes` reports them, and where they disagree with what a merge read."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

MANIFEST = "manifest.json.out"
# The manifest's counts, by the names a merge summary gives what it read
MANIFEST_COUNTS = {
    "records": "totalRecordCount",
    "processed": "processedRecordCount",
    "succeeded": "successRecordCount",
    "failed": "errorRecordCount",
    "input tokens": "inputTokenCount",
    "output tokens": "outputTokenCount",
}
MAX_MANIFEST_BYTES = 1 << 20  # a summary of six numbers: anything larger is not one


def manifest_notes(result_paths, read: dict[str, int]) -> list[str]:
    """Notes on each Bedrock manifest beside a result file: its counts, and each that disagrees with
    what the merge read (`read`: counts named as in MANIFEST_COUNTS, e.g. {"succeeded": 2, …})."""
    notes = []
    for path in _manifests(result_paths):
        counts = _manifest_counts(path)
        if counts is None:
            notes.append(f"note: {path} is not a Bedrock manifest (an object of record and token counts)")
            continue
        shown = ", ".join(f"{counts[name]:,} {name}" for name in MANIFEST_COUNTS if name in counts)
        notes.append(f"note: Bedrock manifest {path}: {shown}")
        for name, value in counts.items():
            if name in read and read[name] != value:
                notes.append(
                    f"note: the manifest counts {value:,} {name}, the results read give {read[name]:,}: "
                    "are all the job's .out files given?"
                )
    return notes


def _manifests(result_paths) -> list[Path]:
    """The manifests beside the result files: `manifest.json.out` as Bedrock writes it, and
    NAME.manifest.json.out as `batchkit download` names it beside NAME.output.jsonl."""
    found = set()
    for given in result_paths:
        if not isinstance(given, (str, os.PathLike)) or str(given) == "-":
            continue
        result = Path(given).resolve()
        name = result.name.removesuffix(".jsonl").removesuffix(".output").removesuffix(".errors")
        for path in (result.parent / MANIFEST, result.parent / f"{name}.{MANIFEST}"):
            if path.is_file():
                found.add(path)
    return sorted(found)


def _manifest_counts(path: Path) -> dict[str, int] | None:
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read(MAX_MANIFEST_BYTES + 1))
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    counts = {
        name: data[key]
        for name, key in MANIFEST_COUNTS.items()
        if type(data.get(key)) is int and data[key] >= 0
    }
    return counts or None
