"""The planted-mistakes file of `make bench`'s peer comparison: batchkit finds all ten and rejects no clean
line (the bench's coverage column for batchkit must be a fact, not a claim)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_peers  # noqa: E402
import peers  # noqa: E402


def test_batchkit_finds_every_planted_mistake_and_no_clean_line(tmp_path):
    planted = bench_peers.write_mistakes(tmp_path / "planted.jsonl")
    assert len(planted) == len(bench_peers.MISTAKES) == 10
    found = peers.check_batchkit(tmp_path / "planted.jsonl")
    assert found == set(planted)
