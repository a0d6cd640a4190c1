"""`make bench` with BENCH_DASK=1: `batchkit build` of a partitioned Parquet table on a 2-worker LocalCluster
beside the single-process build of the same table, in the same run.

Writes a questions table of BENCH_DASK_ROWS rows (default 5,000,000) as BENCH_DASK_PARTS Parquet files
(default 20), then builds it twice, each in a child process of its own: single-process (`batchkit build
FOLDER`, which reads a folder of Parquet files as one table) and on Dask (`--local-cluster 2`). Reported:
wall seconds, rows/s, the ratio cluster / single (target ≥ 0.8 on 2 cores), the peak resident memory of
the single process and of each Dask worker (read from the workers themselves), and whether the two
builds wrote the same lines.

    BENCH_DASK_ROWS=500000 .venv/bin/python bench/bench_dask.py
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

OPTIONS = ["--model-column", "model", "--system", "You are a helpful {topic} tutor.", "--user", "{question}",
           "--id-column", "id", "--param", "max_tokens=512", "-q"]  # fmt: skip

DASK_CHILD = """
import resource, sys, time
from pathlib import Path
from batchkit import dask as bkdask

def worker_rss():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

if __name__ == "__main__":
    table, out = sys.argv[1:3]
    options = dict(model_column="model", system="You are a helpful {topic} tutor.", user="{question}",
                   id_column="id", params={"max_tokens": 512})
    with bkdask.client(local_cluster=2) as client:
        start = time.perf_counter()
        result = bkdask.build(table, out, dask_client=client, **options)
        seconds = time.perf_counter() - start
        peaks = client.run(worker_rss)
    print(seconds, result.requests, max(peaks.values()), len(peaks))
"""


def write_partitioned(folder: Path, rows: int, parts: int) -> None:
    import pandas as pd
    from bench_build import write_table

    folder.mkdir()
    csv = folder.parent / "questions.csv"
    write_table(csv, rows)
    step = -(-rows // parts)
    for i, chunk in enumerate(pd.read_csv(csv, dtype=str, keep_default_na=False, chunksize=step)):
        chunk.to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    csv.unlink()


def _lines_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                digest.update(line)
    return digest.hexdigest()


def run(tmpdir, rows: int | None = None) -> dict:
    from bench_build import _measure

    rows = rows or int(os.environ.get("BENCH_DASK_ROWS", "5000000"))
    parts = int(os.environ.get("BENCH_DASK_PARTS", "20"))
    with tempfile.TemporaryDirectory(prefix="bench-dask-", dir=tmpdir) as tmp:
        tmp = Path(tmp)
        write_partitioned(tmp / "table", rows, parts)
        (tmp / "single").mkdir()
        (tmp / "cluster").mkdir()
        single = _measure([sys.executable, "-m", "batchkit", "build", str(tmp / "table"), "-o",
                           str(tmp / "single" / "b.jsonl"), *OPTIONS])  # fmt: skip
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", DASK_CHILD, str(tmp / "table"), str(tmp / "cluster" / "b.jsonl")],
                             check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
        wall = time.perf_counter() - start
        build_seconds, requests, worker_peak, workers = float(out[0]), int(out[1]), int(out[2]), int(out[3])
        same = _lines_digest(sorted((tmp / "single").glob("b*.jsonl"))) == _lines_digest(
            sorted((tmp / "cluster").glob("b-p*.jsonl"))
        )
    return {
        "rows": rows,
        "partitions": parts,
        "single": {
            "seconds": round(single["seconds"], 2),
            "rows_per_s": round(rows / single["seconds"]),
            "peak_rss_mb": round(single["peak_rss_bytes"] / 1e6),
        },  # fmt: skip
        "cluster": {
            "seconds": round(build_seconds, 2),
            "with_startup_seconds": round(wall, 2),
            "rows_per_s": round(rows / build_seconds),
            "workers": workers,
            "peak_rss_per_worker_mb": round(worker_peak / 1e6),
        },  # fmt: skip
        "ratio_cluster_to_single": round(single["seconds"] / build_seconds, 2),
        "requests": requests,
        "same_lines": same,
        "targets": {
            "cluster >= 0.8x single-process": single["seconds"] / build_seconds >= 0.8,
            "same lines": same,
        },
    }


def print_table(result: dict) -> None:
    s, c = result["single"], result["cluster"]
    print(f"build of {result['rows']:,} rows in {result['partitions']} Parquet partitions:")
    print(
        f"  single process      {s['seconds']:>8.1f} s  {s['rows_per_s']:>9,} rows/s  peak {s['peak_rss_mb']} MB"
    )
    print(f"  LocalCluster, {c['workers']} wk  {c['seconds']:>8.1f} s  {c['rows_per_s']:>9,} rows/s  "
          f"peak {c['peak_rss_per_worker_mb']} MB per worker ({c['with_startup_seconds']:.1f} s with start-up)")  # fmt: skip
    print(f"  ratio {result['ratio_cluster_to_single']}× single-process; same lines: {result['same_lines']}")
    for target, ok in result["targets"].items():
        print(f"  {'met' if ok else 'MISSED'}: {target}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print_table(run(tmp))
