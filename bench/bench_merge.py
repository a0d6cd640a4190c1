"""Benchmark `batchkit merge` beside plain pandas (`read_json(lines=True)` + `merge`) on the same files.

Writes a chat batch of BENCH_MERGE_ROWS requests (default 1,000,000) with ~2 kB bodies, and its results
with ~2 kB response bodies: successes in a shuffled output file, 2 % failures (HTTP 400 and expired) in an
error file, 0.5 % with no result. Each side runs in a child process of its own; reported: wall seconds,
rows/s and peak RSS (the child's ru_maxrss). A child is stopped when its memory passes BENCH_MERGE_CAP_GB
(default 70 % of the memory available at start), and reported as stopped, so the machine stays usable.

    python bench/bench_merge.py            # runs alone, prints a table
    BENCH_MERGE_ROWS=100000 python bench/bench_merge.py
    BENCH_MERGE_FORMATS=csv,jsonl,parquet BENCH_MERGE_BASELINE=0 python bench/bench_merge.py

BENCH_MERGE_FORMATS names the output formats batchkit writes, each measured on its own (default csv, jsonl,
parquet and csv+parsed, CSV with each JSON answer's fields as columns (`--parse-json`): the targets are for
each); BENCH_MERGE_BASELINE=0 leaves the pandas side out. The targets
(issue 16, at 1M requests × 2 kB answers): peak RSS ≤ 300 MB and ≥ 100k rows/s for every format.

`run(tmpdir)` returns the numbers as a dict (for bench/run.py); its files go in `tmpdir/merge/`, removed after.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
BODY_BYTES = 2000
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"
LABELS = ("positive", "negative", "mixed")
WORDS = ("the of and to in is that for it as was with be by on not this are or from at which but have an they "
         "you were there been one all we their has would when if so no what up out who them some review product "
         "delivery quality price battery screen support refund excellent poor average").split()  # fmt: skip

BASELINE = """
import sys
import pandas as pd

batch, output, errors, dest = sys.argv[1:5]
requests = pd.read_json(batch, lines=True)
results = pd.concat([pd.read_json(output, lines=True), pd.read_json(errors, lines=True)], ignore_index=True)
merged = requests[["custom_id"]].merge(results, on="custom_id", how="left")


def content(response):
    try:
        return response["body"]["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return None


merged["status_code"] = [r.get("status_code") if isinstance(r, dict) else None for r in merged["response"]]
merged["content"] = [content(r) for r in merged["response"]]
merged[["custom_id", "status_code", "content"]].to_parquet(dest, index=False)
"""


def _texts(rng: random.Random, count: int, size: int) -> list[str]:
    """A pool of word salads of about `size` characters."""
    pool = []
    for _ in range(count):
        words, length = [], 0
        while length < size:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        pool.append(" ".join(words))
    return pool


def write_files(folder: Path, rows: int, seed: int = 11) -> dict[str, Path]:
    """The batch file, its output file (shuffled) and its error file."""
    rng = random.Random(seed)
    prompts = _texts(rng, 997, BODY_BYTES - 250)
    # answers are JSON objects, as structured output gives them (`csv+parsed` reads them into columns)
    answers = [
        orjson.dumps({"label": rng.choice(LABELS), "score": round(rng.random(), 3), "reason": text}).decode()
        for text in _texts(rng, 991, BODY_BYTES - 500)
    ]
    paths = {name: folder / f"{name}.jsonl" for name in ("batch", "output", "errors")}
    with open(paths["batch"], "wb") as f:
        for i in range(1, rows + 1):
            body = {"model": MODEL, "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                                 {"role": "user", "content": f"#{i} {prompts[i % 997]}"}],
                    "max_tokens": 1000}  # fmt: skip
            f.write(orjson.dumps({"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
                                  "body": body}) + b"\n")  # fmt: skip
    order = list(range(1, rows + 1))
    rng.shuffle(order)
    with open(paths["output"], "wb") as out, open(paths["errors"], "wb") as err:
        for i in order:
            kind = i % 200
            if kind == 0:
                continue  # missing
            custom_id = f"request-{i}"
            if kind < 3:
                err.write(orjson.dumps({"id": f"batch_req_{i}", "custom_id": custom_id, "response": None,
                                        "error": {"code": "batch_expired",
                                                  "message": "This request could not be executed before the "
                                                             "completion window expired."}}) + b"\n")  # fmt: skip
            elif kind < 5:
                body = {"error": {"message": f"This model's maximum context length is 8192 tokens. However, you "
                                             f"requested {8192 + i % 5000} tokens.",
                                  "type": "invalid_request_error", "param": "messages",
                                  "code": "context_length_exceeded"}}  # fmt: skip
                err.write(orjson.dumps({"id": f"batch_req_{i}", "custom_id": custom_id, "error": None,
                                        "response": {"status_code": 400, "request_id": f"req_{i}",
                                                     "body": body}}) + b"\n")  # fmt: skip
            else:
                body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1733832777 + i,
                        "model": MODEL, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                                     "message": {"role": "assistant",
                                                                 "content": answers[i % 991]}}],
                        "usage": {"prompt_tokens": 420 + i % 50, "completion_tokens": 300 + i % 90,
                                  "total_tokens": 720 + i % 50 + i % 90}}  # fmt: skip
                out.write(orjson.dumps({"id": f"batch_req_{i}", "custom_id": custom_id, "error": None,
                                        "response": {"status_code": 200, "request_id": f"req_{i}",
                                                     "body": body}}) + b"\n")  # fmt: skip
    return paths


def measure(command: list[str], cap_bytes: int) -> dict:
    """Run `command` as a child; its wall time, peak RSS (ru_maxrss) and whether it had to be stopped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched = psutil.Process(proc.pid)
    stopped = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            if not stopped and watched.memory_info().rss > cap_bytes:
                proc.kill()
                stopped = True
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")[-2000:]
    proc.stderr.close()
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # steadier than wall time on a busy machine
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # kilobytes on Linux
        "exit_code": proc.returncode,
        "stopped_at_cap": stopped,
        "stderr": stderr if proc.returncode else "",
    }


def run(tmpdir: str | os.PathLike, rows: int | None = None) -> dict:
    """Generate the files under `tmpdir`, measure both sides, return the numbers."""
    rows = rows or int(os.environ.get("BENCH_MERGE_ROWS", 1_000_000))
    cap_gb = os.environ.get("BENCH_MERGE_CAP_GB")
    cap = int(float(cap_gb) * 1e9) if cap_gb else int(psutil.virtual_memory().available * 0.7)
    folder = Path(tmpdir) / "merge"  # a folder of its own: other benchmarks may share tmpdir
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = write_files(folder, rows)
    generated = time.perf_counter() - started
    sizes = {name: path.stat().st_size for name, path in paths.items()}
    formats = os.environ.get("BENCH_MERGE_FORMATS", "csv,jsonl,parquet,csv+parsed").split(",")
    by_format = {}
    for fmt in formats:
        suffix, _, parsed = fmt.partition("+")  # csv+parsed: each answer's fields as answer.FIELD columns
        by_format[fmt] = measure(
            [sys.executable, "-m", "batchkit", "merge", str(paths["batch"]), "--results", str(paths["output"]),
             str(paths["errors"]), "-o", str(folder / f"merged.{suffix}"), "--allow-missing", "-q",
             *(["--parse-json"] if parsed else [])],
            cap,
        )  # fmt: skip
        (folder / f"merged.{suffix}").unlink(missing_ok=True)
    baseline = None
    if os.environ.get("BENCH_MERGE_BASELINE", "1") != "0":
        baseline = measure(
            [sys.executable, "-c", BASELINE, str(paths["batch"]), str(paths["output"]), str(paths["errors"]),
             str(folder / "baseline.parquet")],
            cap,
        )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)  # gigabytes of generated files
    for side in (*by_format.values(), baseline):
        if side is not None:
            ok = side["exit_code"] == 0
            side["rows_per_s"] = round(rows / side["seconds"]) if ok and side["seconds"] else None
    return {
        "name": "merge",
        "rows": rows,
        "input_mb": round(sizes["batch"] / 1e6),
        "results_mb": round((sizes["output"] + sizes["errors"]) / 1e6),
        "generate_s": round(generated, 1),
        "memory_cap_mb": round(cap / 1e6),
        "batchkit_merge": by_format.get("parquet", by_format[formats[0]]),
        "batchkit_merge_by_format": by_format,
        "pandas_read_json_merge": baseline,
        "targets": {
            f"{fmt}: {name}": ok
            for fmt, side in by_format.items()
            for name, ok in (
                ("peak RSS <= 300 MB", side["peak_rss_mb"] <= MEMORY_TARGET_MB),
                (">= 100k rows/s", (side["rows_per_s"] or 0) >= SPEED_TARGET),
            )  # fmt: skip
        },
    }


def _row(name: str, side: dict) -> str:
    if side["exit_code"]:
        why = "stopped at the memory cap" if side["stopped_at_cap"] else f"failed ({side['exit_code']})"
        return f"{name:<34} {why:>12}   peak RSS {side['peak_rss_mb']:>7,} MB"
    return (
        f"{name:<34} {side['rows_per_s']:>10,} rows/s  {side['seconds']:>7.1f} s  cpu {side['cpu_s']:>6.1f} s  "
        f"peak RSS {side['peak_rss_mb']:>7,} MB"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        print_table(run(tmp))


MEMORY_TARGET_MB, SPEED_TARGET = 300, 100_000  # at 1M requests with 2 kB answers


def print_table(result: dict) -> None:
    print(
        f"merge: {result['rows']:,} requests, input {result['input_mb']:,} MB, results {result['results_mb']:,} MB"
    )
    by_format = result.get("batchkit_merge_by_format") or {"parquet": result["batchkit_merge"]}
    for fmt, side in by_format.items():
        print(_row(f"batchkit merge → {fmt}", side))
    if result["pandas_read_json_merge"] is not None:
        print(_row("pandas read_json + merge → parquet", result["pandas_read_json_merge"]))
    for target, ok in result.get("targets", {}).items():
        print(f"  {'met' if ok else 'MISSED'}: {target}")
    for name, side in [*by_format.items(), ("pandas", result["pandas_read_json_merge"])]:
        if side is not None and side["stderr"]:
            print(f"{name} stderr:\n{side['stderr']}", file=sys.stderr)


if __name__ == "__main__":
    main()
