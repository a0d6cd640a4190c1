"""`make bench`, part 4: batchkit beside what a user would pick instead, speed never without coverage.

Speed: each contender validates the same generated chat file (one model, valid for all) in a fresh child
process, its imports outside the timing, as a ratio to an orjson pass over it measured in the same run
(these machines are shared and noisy). Per-line check-jsonschema runs on a sample and is scaled, like
python-jsonschema in part 1.
Coverage: each contender checks a small file with ten planted mistakes (MISTAKES: one per line, among clean
lines); the table says how many of the ten it reports and how many clean lines it wrongly rejects.

The peers are installed only for the bench (bench/requirements.txt), never as batchkit's dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
SAMPLE = 2_000

CLEAN = {"custom_id": "", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Rate this review."}]}}  # fmt: skip


def _line(custom_id: str, **changes) -> bytes:
    line = orjson.loads(orjson.dumps(CLEAN))
    line["custom_id"] = custom_id
    for key, value in changes.items():
        if key == "url":
            line["url"] = value
        else:
            line["body"][key] = value
    return orjson.dumps(line)


# (what is wrong, the line) — every mistake is one the OpenAI Batch API rejects, per line or per batch
MISTAKES = [
    ("not JSON (cut short)", _line("m1")[:-7]),
    ("duplicate custom_id", _line("c1")),
    ("body.model missing", orjson.dumps({**CLEAN, "custom_id": "m3", "body": {"messages": CLEAN["body"]["messages"]}})),
    ("unknown role", _line("m4", messages=[{"role": "robot", "content": "hi"}])),
    ("temperature out of range", _line("m5", temperature=3.5)),
    ("max_tokens as a string", _line("m6", max_tokens="100")),
    ("stream: true", _line("m7", stream=True)),
    ("url typo", _line("m8", url="/v1/chat/completion")),
    ("tool result without its call", _line("m9", messages=[{"role": "user", "content": "hi"},
                                                           {"role": "tool", "tool_call_id": "x", "content": "1"}])),
    ("empty messages", _line("m10", messages=[])),
]  # fmt: skip


def write_mistakes(path: Path) -> dict[int, str]:
    """The planted file (clean lines between the mistakes); line number → the mistake on it."""
    lines, planted = [], {}
    for i, (what, raw) in enumerate(MISTAKES):
        lines.append(_line(f"c{i}"))  # c1 is clean here; the duplicate repeats it later
        planted[len(lines) + 1] = what
        lines.append(raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return planted


CONTENDERS = {
    "orjson parse (baseline)": None,
    "batchkit validate --jobs 1": "check_batchkit",
    "openbatch validate_batch_file": "check_openbatch",
    "pydantic models, vLLM run_batch style (reconstruction)": "check_pydantic_vllm",
    "check-jsonschema per line, batchkit's schemas (sample, scaled)": "check_jsonschema_per_line",
}

CHILD = """
import resource, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
PATH = Path(sys.argv[1])
{setup}
start = time.perf_counter()
{code}
elapsed = time.perf_counter() - start
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(elapsed, rss, sorted(found) if found is not None else "")
"""


def _child(name: str, path: Path, sample: int | None = None) -> tuple[float, float, set[int]]:
    function = CONTENDERS[name]
    if function is None:
        setup = "import orjson"
        code = "found = None\nwith open(PATH, 'rb') as f:\n    for line in f:\n        orjson.loads(line)"
    else:
        extra = f", sample={sample}" if function == "check_jsonschema_per_line" else ""
        setup = f"import peers\npeers.{function}  # imported outside the timing\nimport batchkit.validate"
        code = f"found = peers.{function}(PATH{extra})"
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(here=str(HERE), setup=setup, code=code), str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.split(maxsplit=2)  # fmt: skip
    found = set(orjson.loads(out[2].strip())) if len(out) > 2 and out[2].strip() else set()
    return float(out[0]), int(out[1]) / 1024, found


def run(folder, lines: int | None = None) -> dict:
    from generate import one_model_lines, write

    folder = Path(folder)
    lines = lines or (1_000_000 if os.environ.get("BENCH_LARGE") else 200_000)
    # one model: a file every contender should pass (OpenAI's rules refuse a file of several models, which
    # batchkit reports line by line; the others do not look), so the time is that of validating
    path = folder / f"one-model-{lines}.jsonl"
    if not path.exists():
        write(path, lines, one_model_lines)
    planted_path = folder / "planted-mistakes.jsonl"
    planted = write_mistakes(planted_path)
    clean_lines = set(range(1, 2 * len(MISTAKES) + 1)) - set(planted)
    rows = []
    for name in CONTENDERS:
        sampled = "sample" in name
        best = None
        for _ in range(int(os.environ.get("BENCH_REPEAT", "3"))):
            elapsed, rss, _ = _child(name, path, SAMPLE if sampled else None)
            elapsed *= lines / SAMPLE if sampled else 1
            best = (min(best[0], elapsed), max(best[1], rss)) if best else (elapsed, rss)
        found = _child(name, planted_path)[2] if CONTENDERS[name] else set()
        rows.append({"name": name, "seconds": round(best[0], 3), "lines_per_s": round(lines / best[0]),
                     "peak_rss_mb": round(best[1], 1),
                     "mistakes_found": None if CONTENDERS[name] is None else len(found & set(planted)),
                     "missed": sorted(planted[n] for n in set(planted) - found) if CONTENDERS[name] else [],
                     "clean_lines_rejected": len(found & clean_lines)})  # fmt: skip
    base = rows[0]["seconds"]
    for row in rows:
        row["ratio_to_orjson"] = round(base / row["seconds"], 3)
    return {"file": {"lines": lines, "bytes": path.stat().st_size}, "planted": len(MISTAKES), "rows": rows}


def print_table(result: dict) -> None:
    print(f"peers on {result['file']['lines']:,} lines; coverage on {result['planted']} planted mistakes:")
    print(f"{'':62} {'× orjson':>9} {'found':>6} {'false':>6} {'peak RSS':>9}")
    for r in result["rows"]:
        found = "" if r["mistakes_found"] is None else f"{r['mistakes_found']}/{result['planted']}"
        print(f"{r['name']:62} {r['ratio_to_orjson']:>9.3f} {found:>6} {r['clean_lines_rejected']:>6} "
              f"{r['peak_rss_mb']:>6.0f} MB")  # fmt: skip
    for r in result["rows"]:
        if r["missed"]:
            print(f"  {r['name']} misses: {', '.join(r['missed'])}")


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory() as tmp:
        print_table(run(tmp, int(sys.argv[1]) if len(sys.argv) > 1 else None))
