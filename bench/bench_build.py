"""Benchmark `batchkit build` beside pandas' own `to_json(orient="records", lines=True)` on the same table.

Writes a questions CSV of BENCH_ROWS rows (default 1,000,000: id, topic, model, a question of ~150
characters), then runs, each in a child process of its own:
- batchkit: `batchkit build` with --model-column, a --system template, a --user template and a --param,
  validating every request and sharding under kluster's 100 MB per file;
- pandas: `pd.read_csv(table).to_json(out, orient="records", lines=True)`, the fastest plain way to get a
  JSONL file from that table (no request shape, no validation).
Reported per side: wall seconds, rows/s, output bytes and peak RSS (the child's ru_maxrss); and the ratio.

    .venv/bin/python bench/bench_build.py
    BENCH_ROWS=100000 .venv/bin/python bench/bench_build.py

`run(tmpdir) -> dict` returns the numbers (for bench/run.py).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-70B-Instruct",
          "meta-llama/Meta-Llama-3.1-405B-Instruct"]  # fmt: skip
TOPICS = ["geography", "maths", "history", "astronomy", "cooking", "language", "music", "biology"]
WORDS = ("the of and to in is that for it as was with be by on not this are or from at which but have an they "
         "you were there been one all we their has would when if so no what up out who them some river moon "
         "capital theorem distance recipe planet orbit ancient empire chord protein").split()  # fmt: skip

PANDAS_CHILD = """
import sys
import pandas as pd

table, out = sys.argv[1:3]
pd.read_csv(table, dtype=str, keep_default_na=False).to_json(out, orient="records", lines=True, force_ascii=False)
"""


def write_table(path: Path, rows: int, seed: int = 11) -> None:
    """A questions CSV; a few questions carry commas, quotes or non-ASCII text, as real ones do."""
    import csv

    rng = random.Random(seed)
    pool = [" ".join(rng.choices(WORDS, k=rng.randint(18, 32))) for _ in range(4096)]
    extras = ['"quoted", with a comma', "café, naïve and Río", "emoji 🚀", "plain"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "topic", "model", "question"])
        for i in range(1, rows + 1):
            question = f"{pool[i % len(pool)]} ({extras[i % len(extras)]}) question {i}?"
            writer.writerow([f"q{i:07d}", TOPICS[i % len(TOPICS)], MODELS[i % len(MODELS)], question])


def _measure(argv: list[str]) -> dict:
    """Run a child; its wall time, exit code and peak resident memory."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    stderr = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv[:4]} exited {code}: {stderr[-2000:]}")
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # Linux reports kB
    return {"seconds": seconds, "peak_rss_bytes": peak}


def run(tmpdir: str | os.PathLike, rows: int | None = None) -> dict:
    """Measure in a subfolder of `tmpdir` (removed afterwards)."""
    rows = rows or int(os.environ.get("BENCH_ROWS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="bench-build-", dir=tmpdir) as tmp:
        return _measure_all(Path(tmp), rows)


def _measure_all(tmp: Path, rows: int) -> dict:
    table = tmp / "questions.csv"
    write_table(table, rows)

    out = tmp / "built.jsonl"
    build = _measure([
        sys.executable, "-m", "batchkit", "build", str(table), "-o", str(out), "--model-column", "model",
        "--system", "You are a helpful {topic} tutor.", "--user", "{question}", "--id-column", "id",
        "--param", "max_tokens=512", "-q",
    ])  # fmt: skip
    shards = sorted(tmp.glob("built*.jsonl"))
    build["output_bytes"] = sum(p.stat().st_size for p in shards)
    build["files"] = len(shards)

    baseline_out = tmp / "pandas.jsonl"
    pandas = _measure([sys.executable, "-c", PANDAS_CHILD, str(table), str(baseline_out)])
    pandas["output_bytes"] = baseline_out.stat().st_size

    for side in (build, pandas):
        side["rows_per_second"] = rows / side["seconds"]
    return {
        "rows": rows,
        "table_bytes": table.stat().st_size,
        "batchkit_build": build,
        "pandas_to_json": pandas,
        "speed_ratio": build["rows_per_second"] / pandas["rows_per_second"],
    }


def print_table(result: dict) -> None:
    mb = 1_000_000
    print(f"build from a {result['rows']:,}-row CSV ({result['table_bytes'] / mb:.0f} MB)")
    print(f"{'':<18}{'seconds':>9}{'rows/s':>12}{'output MB':>11}{'peak RSS MB':>13}")
    for name, key in (("batchkit build", "batchkit_build"), ("pandas to_json", "pandas_to_json")):
        side = result[key]
        print(f"{name:<18}{side['seconds']:>9.1f}{side['rows_per_second']:>12,.0f}"
              f"{side['output_bytes'] / mb:>11.0f}{side['peak_rss_bytes'] / mb:>13.0f}")  # fmt: skip
    print(f"batchkit build runs at {result['speed_ratio']:.2f}x pandas' rows/s "
          f"({result['batchkit_build']['files']} file(s), every request validated)")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        print_table(run(tmp))


if __name__ == "__main__":
    main()
