"""The requests a stopped batch never ran, for APIs that write no result line for them (Vertex, Bedrock): a
cancelled or expired job's outputs hold only what ran, so the download writes each request missing from them
as a `batch_canceled` / `batch_expired` line (OpenAI's shape), and merge shows those rows as such instead
of `missing`."""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write
from ..formats import read_requests, result_line, unrun_line
from ..lines import dumps_line, open_binary, read_objects

OUTCOMES = {"cancelled": "canceled", "expired": "expired"}  # a batch's end → its unrun requests' outcome


def _answered(paths: list[Path]) -> set:
    """The ids of every result line in the files."""
    ids = set()
    for path in paths:
        with open_binary(path) as stream:
            for _, obj, _ in read_objects(stream, lambda finding: None):
                ids.add(result_line(obj).get("custom_id"))
    return ids


def write_unrun(requests: Path, results: list[Path], out: Path, status: str) -> int:
    """Write a line for each request of `requests` with no line in `results` (a batch that ended `status`);
    the number written (nothing is written when every request has its line)."""
    answered = _answered(results)
    outcome = OUTCOMES[status]
    with open_binary(requests) as stream:
        missing = [r.id for r in read_requests(stream, lambda finding: None) if r.id not in answered]
    if missing:
        with atomic_write(out) as sink:
            for custom_id in missing:
                sink.write(dumps_line(unrun_line(custom_id, outcome)))
    return len(missing)


__all__ = ["OUTCOMES", "write_unrun"]
