"""--limit N / --sample N --seed S on build, run and submit: a dry run on the first or a seeded random N."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner
from polling import poll
from serverutil import running_server
from submitsupport import write_requests

from batchkit.cli import cli
from batchkit.errors import UsageError
from batchkit.subset import Subset, take, write_subset


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def custom_ids(path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


def test_take_first_and_seeded_sample_in_order():
    assert list(take(range(10), Subset(limit=3))) == [0, 1, 2]
    chosen = list(take(range(100), Subset(sample=5, seed=7)))
    assert chosen == sorted(chosen) and len(set(chosen)) == 5
    assert chosen == list(take(range(100), Subset(sample=5, seed=7)))  # the same seed, the same requests
    assert chosen != list(take(range(100), Subset(sample=5, seed=8)))
    assert list(take(range(3), Subset(sample=5))) == [0, 1, 2]  # fewer than N: all of them
    assert list(take(range(4), Subset())) == [0, 1, 2, 3]
    with pytest.raises(UsageError, match="give one of them"):
        Subset(limit=1, sample=1)


def test_write_subset_keeps_lines_and_the_input(tmp_path):
    source = write_requests(tmp_path / "big.jsonl", 20)
    before = source.read_bytes()
    first = write_subset(source, Subset(limit=4))
    assert first.name == "big.first-4.jsonl" and custom_ids(first) == ["q-0", "q-1", "q-2", "q-3"]
    sample = write_subset(source, Subset(sample=3, seed=2))
    assert sample.name == "big.sample-3-seed-2.jsonl" and len(custom_ids(sample)) == 3
    lines = before.splitlines()
    assert all(line in lines for line in sample.read_bytes().splitlines())  # byte for byte
    assert source.read_bytes() == before and write_subset(source, Subset()) == source


def test_build_limit_and_sample(tmp_path):
    table = tmp_path / "q.csv"
    table.write_text("question\n" + "".join(f"q{i}\n" for i in range(10)))
    out = tmp_path / "b.jsonl"
    built = run("build", table, "-o", out, "--model", "m", "--user", "{question}", "--limit", 3)
    assert built.exit_code == 0, built.output
    assert custom_ids(out) == ["row-1", "row-2", "row-3"]
    assert "10 rows read, 3 requests written" in built.output  # was "0 rows read"
    sampled = run(
        "build", table, "-o", out, "--model", "m", "--user", "{question}", "--sample", 4, "--seed", 3
    )
    assert sampled.exit_code == 0, sampled.output
    assert "10 rows read, 10 requests made, 4 written" in sampled.output  # was "10 requests written"
    first = custom_ids(out)
    assert len(first) == 4 and first == sorted(first, key=lambda c: int(c.split("-")[1]))
    run("build", table, "-o", out, "--model", "m", "--user", "{question}", "--sample", 4, "--seed", 3)
    assert custom_ids(out) == first


def test_run_and_submit_send_only_the_chosen_requests(tmp_path):
    source = write_requests(tmp_path / "big.jsonl", 12, models=("m",))
    with running_server(data_dir=tmp_path / "srv") as server:
        answered = tmp_path / "answers.jsonl"
        ran = run("run", source, "--base-url", server.base_url, "-o", answered, "--limit", 5)
        assert ran.exit_code == 0, ran.output
        assert sorted(custom_ids(answered)) == [f"q-{i}" for i in range(5)]
        submitted = run("submit", source, "--base-url", server.base_url, "--sample", 3, "--seed", 1)
        assert submitted.exit_code == 0, submitted.output

        def finished():
            (batch,) = httpx.get(f"{server.base_url}/batches").json()["data"]
            return batch if batch["status"] == "completed" else None

        batch = poll(finished, timeout=30, what="the sampled batch to complete")
        assert batch["request_counts"]["total"] == 3
        assert batch["metadata"]["batchkit_file"] == "big.sample-3-seed-1.jsonl"
