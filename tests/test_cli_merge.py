"""`batchkit merge` and `batchkit retry` on the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest
from click.testing import CliRunner

from batchkit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "results"
OPENAI = [str(DATA / "openai" / "input.jsonl"), "--results", str(DATA / "openai" / "output.jsonl"),
          str(DATA / "openai" / "errors.jsonl")]  # fmt: skip


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_seed_example_end_to_end_in_a_real_subprocess(tmp_path):
    seed = DATA / "seed"
    merged = tmp_path / "merged.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "batchkit", "merge", str(seed / "batch_tasks.jsonl"),
               "--results", str(seed / "output.jsonl"), "-o", str(merged)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()
    assert merged.read_bytes() == (seed / "expected.csv").read_bytes()
    assert b"requests: 3 (ok 3)" in proc.stdout and b"tokens: 160 in, 72 out, 232 total" in proc.stdout
    proc = subprocess.run(
        [*command[:5], "/nonexistent.jsonl", *command[5:]], capture_output=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert proc.stderr.decode().strip() == "batchkit: error: /nonexistent.jsonl: no such file"


def test_dash_prints_csv_to_stdout_and_the_summary_to_stderr():
    result = run("merge", *OPENAI, "-o", "-")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("custom_id,status,status_code,model,content,content_2,")
    assert lines[7].startswith("q-7,missing,")
    assert "requests: 8 (ok 4, http_error 2, expired 1, missing 1)" in result.stderr
    assert "2 × http_error context_length_exceeded" in result.stderr and "e.g. q-4, q-6" in result.stderr
    assert "1 × missing: no result for this request" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx", ".parquet", ".jsonl"])
def test_output_format_by_extension(tmp_path, suffix):
    from batchkit.tables import read_table

    out = tmp_path / f"merged{suffix}"
    result = run("merge", *OPENAI, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (8 rows)" in result.stdout
    frame = read_table(out)
    assert list(frame["custom_id"]) == [f"q-{i}" for i in range(1, 9)]
    assert list(frame["status"])[3:7] == ["http_error", "expired", "http_error", "missing"]
    assert frame["content_2"][2] == "Red."
    assert not list(tmp_path.glob(".*.part"))  # written atomically, nothing left behind


def test_embeddings_are_json_text_in_csv_and_lists_in_parquet(tmp_path):
    args = [DATA / "embeddings" / "input.jsonl", "-r", DATA / "embeddings" / "output.jsonl",
            DATA / "embeddings" / "errors.jsonl"]  # fmt: skip
    assert run("merge", *args, "-o", tmp_path / "e.csv").exit_code == 0
    assert json.loads(pd.read_csv(tmp_path / "e.csv")["embedding"][0]) == [0.5, 0.0, -0.25]
    assert run("merge", *args, "-o", tmp_path / "e.parquet").exit_code == 0
    assert list(pd.read_parquet(tmp_path / "e.parquet")["embedding"][1]) == [0.25, -0.5, 0.125]


def test_problems_are_reported_and_json_summary(tmp_path):
    problems = DATA / "problems"
    args = [
        "merge",
        problems / "input.jsonl",
        "--results",
        problems / "output-1.jsonl",
        problems / "output-2.jsonl",
    ]
    result = run(*args, "-o", tmp_path / "m.csv")
    assert result.exit_code == 0
    out = result.stdout
    assert "output-1.jsonl:3: error[invalid-json]" in out
    assert "orphan results (custom_id not in the input; left out): 1" in out and "p-9 at" in out
    assert "duplicate results: 2 custom_id(s); a successful result wins over a failed one" in out
    assert "p-1: kept" in out and "output-1.jsonl:1 (http_error)" in out
    assert "requests with no result: 1: p-3" in out
    result = run(*args, "-o", tmp_path / "m.csv", "--json")
    summary = json.loads(result.stdout)
    assert summary["counts"] == {
        "ok": 3,
        "http_error": 0,
        "batch_error": 1,
        "expired": 0,
        "canceled": 0,
        "missing": 1,
    }
    assert [o["custom_id"] for o in summary["orphans"]] == ["p-9"] and summary["orphans_count"] == 1
    assert summary["missing_count"] == 1 and summary["duplicates_count"] == 2
    assert run(*args, "-o", tmp_path / "m.csv", "-q").stdout == ""


def test_results_option_also_repeats_and_source_by_id_column(tmp_path):
    from batchkit.build import build_file

    table = tmp_path / "questions.csv"
    table.write_text("id,question,answer\nA1,Capital of Peru?,Lima\nB2,2+2?,4\n")
    batch = tmp_path / "batch.jsonl"
    build_file(table, batch, model="m", user="{question}", id_column="id")
    out = tmp_path / "out.jsonl"
    out.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "custom_id": cid,
                    "response": {
                        "status_code": 200,
                        "body": {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                }
                            ]
                        },
                    },
                    "error": None,
                }
            )
            + b"\n"
            for cid, text in (("B2", "Four."), ("A1", "Lima."))
        )  # fmt: skip
    )
    empty = tmp_path / "errors.jsonl"
    empty.write_bytes(b"")
    merged = tmp_path / "merged.xlsx"
    result = run("merge", batch, "-r", out, "-r", empty, "--source", table, "--id-column", "id", "-o", merged)
    assert result.exit_code == 0, result.output
    frame = pd.read_excel(merged)
    assert list(frame.columns[:4]) == ["id", "question", "answer", "custom_id"]
    assert list(frame["content"]) == ["Lima.", "Four."] and list(frame["answer"].astype(str)) == ["Lima", "4"]
    assert "source: " in result.stdout and "2 rows" in result.stdout


def test_usage_errors(tmp_path):
    assert run("merge", *OPENAI).exit_code == 2  # no -o
    result = run("merge", DATA / "openai" / "input.jsonl", "-o", "-")
    assert result.exit_code == 2 and "--results" in result.output
    result = run("merge", *OPENAI, "-o", tmp_path / "merged.unknown")
    assert result.exit_code == 2 and "cannot tell the table format" in result.output
    result = run("retry", *OPENAI, "-o", tmp_path / "r.jsonl", "--only", "nope")
    assert result.exit_code == 2 and "unknown status nope" in result.output
    assert list(tmp_path.iterdir()) == []


def test_retry_then_merge_again(tmp_path):
    retry_file = tmp_path / "retry.jsonl"
    result = run("retry", *OPENAI, "-o", retry_file, "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert "retry: 4 request(s) (expired 1, http_error 2, missing 1) written to" in result.stdout
    original = (DATA / "openai" / "input.jsonl").read_bytes().splitlines(keepends=True)
    assert retry_file.read_bytes() == b"".join(original[3:7])
    answers = tmp_path / "retry-output.jsonl"
    answers.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "custom_id": orjson.loads(line)["custom_id"],
                    "response": {
                        "status_code": 200,
                        "body": {
                            "created": 1800000000,
                            "choices": [{"index": 0, "message": {"content": "again"}}],
                        },
                    },
                }
            )
            + b"\n"
            for line in retry_file.read_bytes().splitlines()
        )  # fmt: skip
    )
    result = run("merge", *OPENAI, answers, "-o", "-")
    assert result.exit_code == 0
    assert [line.split(",")[1] for line in result.stdout.splitlines()[1:]] == ["ok"] * 8
    result = run("retry", *OPENAI, answers, "-o", tmp_path / "nothing.jsonl", "--json")
    assert json.loads(result.stdout)["files"] == [] and not (tmp_path / "nothing.jsonl").exists()


def test_retry_refuses_invalid_lines_unless_forced(tmp_path):
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n'
    )
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    result = run("retry", batch, "--results", empty, "-o", tmp_path / "r.jsonl")
    assert result.exit_code == 1 and not (tmp_path / "r.jsonl").exists()
    assert "missing-field" in result.stderr
    result = run("retry", batch, "--results", empty, "-o", tmp_path / "r.jsonl", "--force")
    assert result.exit_code == 0 and (tmp_path / "r.jsonl").read_bytes() == batch.read_bytes()


def test_merge_does_not_touch_its_inputs(tmp_path):
    before = {p: p.read_bytes() for p in (DATA / "openai").iterdir()}
    assert run("merge", *OPENAI, "-o", tmp_path / "m.parquet").exit_code == 0
    assert {p: p.read_bytes() for p in (DATA / "openai").iterdir()} == before
