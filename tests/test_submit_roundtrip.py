"""The whole round trip a user makes, each step its own CLI command (in-process) against `batchkit serve`:
build → validate → submit --wait (which downloads) → merge back onto the table."""

from __future__ import annotations

import csv
import json

from serverutil import running_server
from submitsupport import ROOT, SEED_MODELS, invoke

SERVED = [arg for model in SEED_MODELS for arg in ("--model", model)]


def test_build_validate_submit_wait_download_merge(tmp_path):
    table = ROOT / "samples" / "questions.csv"
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    batch = tmp_path / "questions.jsonl"

    built = invoke("build", table, "-o", batch, "--model-column", "model", "--user", "{question}",
                    "--id-column", "id", "--param", "max_tokens=200")  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert invoke("validate", batch, "--provider", "kluster").returncode == 0

    with running_server("--backend", "echo", *SERVED, data_dir=tmp_path / "server") as server:
        submitted = invoke("submit", batch, "--base-url", server.base_url, "--wait", "--interval", "0.3")
    assert submitted.returncode == 0, submitted.stderr
    assert f"completed ({len(rows)}/{len(rows)} completed, 0 failed)" in submitted.stdout
    output = tmp_path / "questions.output.jsonl"
    assert f"{output}: output, {len(rows)} line(s)" in submitted.stdout

    results = {}
    for line in output.read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        results[result["custom_id"]] = result["response"]["body"]
    assert set(results) == {row["id"] for row in rows}
    for row in rows:  # the echo backend answers with the question; each answer came back to its own row
        body = results[row["id"]]
        assert body["model"] == row["model"]
        assert body["choices"][0]["message"]["content"] == row["question"]

    merged = tmp_path / "answers.csv"
    joined = invoke("merge", batch, "--results", output, "--source", table, "--id-column", "id", "-o", merged)
    assert joined.returncode == 0, joined.stderr
    with merged.open(newline="", encoding="utf-8") as f:
        answers = list(csv.DictReader(f))
    assert [(a["id"], a["status"], a["content"]) for a in answers] == [
        (r["id"], "ok", r["question"]) for r in rows
    ]
