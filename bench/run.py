"""`make bench`: validation throughput as ratios to an orjson parse of the same file, in one run.

Generates realistic chat batch files in a temporary folder (200k lines; 1M with BENCH_LARGE=1), measures
each contender in a fresh child process (best of BENCH_REPEAT runs, interleaved, since these machines are
shared and noisy), prints a table and writes it to bench/results.json (or $BENCH_OUT), printing the change
from the previous results. Then runs the builder's, the merge's, the estimate's and the answer cache's
benchmarks, and batchkit beside its peers (speed and coverage of planted mistakes, bench_peers.py).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
SAMPLE = 2_000  # lines given to per-line python-jsonschema, whose time is scaled to the whole file

# name → (setup, timed code). Module imports stay outside the timing (building validators stays in): the
# table is about throughput, which is what decides a 1 GB file.
CONTENDERS = {
    "orjson parse (baseline)": (
        "import orjson",
        """
with open(PATH, "rb") as f:
    for line in f:
        orjson.loads(line)
""",
    ),
    "batchkit validate --jobs 1": (
        "from batchkit import validate_file",
        """
report = validate_file(PATH, "generic", jobs=1)
assert report.summary.requests == LINES, report.summary
""",
    ),
    "batchkit validate --jobs 2": (
        "from batchkit import validate_file\nimport batchkit.validate.parallel",
        """
report = validate_file(PATH, "generic", jobs=2)
assert report.summary.requests == LINES, report.summary
""",
    ),
    "python-jsonschema per line (sample, scaled)": (
        "import orjson\nfrom batchkit import schemas\nvalidator = schemas.validator()",
        """
with open(PATH, "rb") as f:
    for _, line in zip(range(SAMPLE), f):
        for error in validator.iter_errors(orjson.loads(line)):
            pass
""",
    ),
}

# The same file's lines, each with a strict response schema, under OpenAI's rules (structured outputs).
STRUCTURED = {
    "orjson parse (baseline)": CONTENDERS["orjson parse (baseline)"],
    "batchkit validate --provider openai --jobs 1": (
        "from batchkit import validate_file",
        """
report = validate_file(PATH, "openai", jobs=1)
# past OpenAI's 50,000 requests a file: that file-level error alone
assert report.summary.requests == LINES and all(f.line is None for f in report.findings), report.findings
""",
    ),
}
# The same lines, each with one shared mistake: every line is explained, once per distinct failure.
ONE_MISTAKE = {
    "orjson parse (baseline)": CONTENDERS["orjson parse (baseline)"],
    "batchkit validate --jobs 1, every line invalid": (
        "from batchkit import validate_file",
        """
report = validate_file(PATH, "generic", jobs=1)
assert report.summary.requests == LINES and report.summary.errors == LINES, report.summary
""",
    ),
}
# A command's whole process on a one-line file: what a user waits for on a small file.
STARTUP = [sys.executable, "-m", "batchkit", "validate", str(HERE.parent / "samples" / "clean-chat.jsonl")]

CHILD = """
import resource, sys, time
PATH, LINES, SAMPLE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
{setup}
start = time.perf_counter()
{code}
elapsed = time.perf_counter() - start
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(elapsed, rss)
"""


def measure(setup: str, code: str, path: Path, lines: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=setup, code=code), str(path), str(lines), str(SAMPLE)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def contest(contenders: dict, path: Path, lines: int) -> tuple[dict, list[dict]]:
    """The best time and peak RSS of each contender on one file, interleaved; and the table's rows."""
    size = path.stat().st_size
    best: dict[str, tuple[float, float]] = {}
    for _ in range(REPEAT):
        for name, (setup, code) in contenders.items():
            elapsed, rss = measure(setup, code, path, lines)
            if "sample" in name:
                elapsed *= lines / SAMPLE
            old = best.get(name)
            best[name] = (min(old[0], elapsed), max(old[1], rss)) if old else (elapsed, rss)
    base = best["orjson parse (baseline)"][0]
    rows = [
        {
            "name": name,
            "seconds": round(t, 3),
            "lines_per_s": round(lines / t),
            "mb_per_s": round(size / t / 1e6, 1),
            "ratio_to_orjson": round(base / t, 3),
            "peak_rss_mb": round(rss, 1),
        }
        for name, (t, rss) in best.items()
    ]
    return best, rows


def startup_seconds() -> float:
    """CPU seconds (user + system) of the best of REPEAT whole `validate` processes on a one-line file."""
    import resource

    best = float("inf")
    for _ in range(REPEAT):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(STARTUP, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def validation(folder: Path) -> dict:
    from generate import one_mistake_lines, structured_lines, write

    lines = 1_000_000 if os.environ.get("BENCH_LARGE") else 200_000
    path = write(folder / f"chat-{lines}.jsonl", lines)
    size = path.stat().st_size
    best, rows = contest(CONTENDERS, path, lines)
    base = best["orjson parse (baseline)"][0]
    structured = write(folder / f"structured-{lines}.jsonl", lines, structured_lines)
    structured_best, structured_rows = contest(STRUCTURED, structured, lines)
    structured_ratio = (
        structured_best["orjson parse (baseline)"][0]
        / structured_best["batchkit validate --provider openai --jobs 1"][0]
    )
    mistaken = write(folder / f"one-mistake-{lines}.jsonl", lines, one_mistake_lines)
    _, mistaken_rows = contest(ONE_MISTAKE, mistaken, lines)
    startup = startup_seconds()
    single = best["batchkit validate --jobs 1"][0]
    reference = best["python-jsonschema per line (sample, scaled)"][0]
    targets = {
        "jobs 1 >= 0.85x orjson": base / single >= 0.85,
        "jobs 2 >= 1.4x orjson": base / best["batchkit validate --jobs 2"][0] >= 1.4,
        ">= 30x per-line jsonschema": reference / single >= 30,
        "peak RSS <= 150 MB": all(r["peak_rss_mb"] <= 150 for r in rows if "batchkit" in r["name"]),
        "structured outputs, openai rules >= 0.6x orjson": structured_ratio >= 0.6,
        "start-up (validate a one-line file) < 0.2 s CPU": startup < 0.2,
    }
    return {
        "file": {"lines": lines, "bytes": size},
        "rows": rows,
        "structured": {"bytes": structured.stat().st_size, "rows": structured_rows},
        "one_mistake": {"bytes": mistaken.stat().st_size, "rows": mistaken_rows},
        "startup_cpu_seconds": round(startup, 3),
        "speedup_vs_jsonschema": round(reference / single, 1),
        "targets": targets,
    }


def table(rows: list[dict]) -> str:
    head = f"{'':46} {'lines/s':>10} {'MB/s':>7} {'× orjson':>9} {'peak RSS':>9}"
    body = [
        f"{r['name']:46} {r['lines_per_s']:>10,} {r['mb_per_s']:>7} {r['ratio_to_orjson']:>9.2f} {r['peak_rss_mb']:>6.0f} MB"
        for r in rows
    ]
    return "\n".join([head, *body])


def main() -> None:
    out = Path(os.environ.get("BENCH_OUT", HERE / "results.json"))
    previous = json.loads(out.read_text()) if out.exists() else None
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory(prefix="batchkit-bench-") as tmp:
        folder = Path(tmp)
        v = results["validation"] = validation(folder)
        print(
            f"validation of {v['file']['lines']:,} lines ({v['file']['bytes'] / 1e6:.0f} MB), best of {REPEAT}:"
        )
        print(table(v["rows"]))
        print(f"speed-up over per-line python-jsonschema: {v['speedup_vs_jsonschema']}×")
        print(
            f"\nthe same lines, each with a strict response schema ({v['structured']['bytes'] / 1e6:.0f} MB):"
        )
        print(table(v["structured"]["rows"]))
        print(f"\nthe same lines, each with one shared mistake ({v['one_mistake']['bytes'] / 1e6:.0f} MB):")
        print(table(v["one_mistake"]["rows"]))
        print(f"start-up, `batchkit validate` of a one-line file: {v['startup_cpu_seconds']:.3f} s CPU")
        for target, ok in v["targets"].items():
            print(f"  {'met' if ok else 'MISSED'}: {target}")
        if previous and "validation" in previous:
            before = {r["name"]: r["ratio_to_orjson"] for r in previous["validation"]["rows"]}
            for r in v["rows"]:
                if r["name"] in before:
                    print(f"  {r['name']}: {before[r['name']]:.2f} → {r['ratio_to_orjson']:.2f} × orjson")
        opt_in = ("bench_dask",) if os.environ.get("BENCH_DASK") else ()  # a cluster of its own: opt-in
        for name in ("bench_build", "bench_merge", "bench_estimate", "bench_cache", "bench_peers", *opt_in):
            if (HERE / f"{name}.py").exists() and not os.environ.get("BENCH_VALIDATION_ONLY"):
                module = __import__(name)
                print()
                results[name] = module.run(folder)
                module.print_table(results[name])
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
