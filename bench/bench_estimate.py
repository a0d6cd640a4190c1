"""Benchmark `batchkit estimate` beside its tokenizer's own batch encode of the same texts alone.

Writes a chat batch file (bench/generate.py's lines with OpenAI models; BENCH_ESTIMATE_LINES, default
200,000, or 1,000,000 with BENCH_LARGE=1), then runs, each in a child process of its own:
- batchkit: `estimate(path, provider="openai")`: read, parse, find every prompt text, count, price;
- bpe-openai: the texts extracted beforehand (untimed), then only `Encoding.encode_ordinary_batch`
  per encoding, 8,192 texts at a time — the tokenizer's own batch encode, nothing else;
- tiktoken (when installed): the same with `tiktoken.Encoding` built from the same bundled vocabulary
  (tiktoken cannot download its own here), the reference the estimate's target is stated against.
Reported per side: seconds, prompt tokens per second and peak RSS; and estimate's ratio to each.

    .venv/bin/python bench/bench_estimate.py
    BENCH_ESTIMATE_LINES=20000 .venv/bin/python bench/bench_estimate.py

`run(tmpdir) -> dict` returns the numbers (for bench/run.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
OPENAI_MODELS = ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"]

ESTIMATE_CHILD = """
import json, sys, time
from batchkit import estimate
start = time.perf_counter()
result = estimate(sys.argv[1], provider="openai").totals()
print(json.dumps({"seconds": time.perf_counter() - start, "tokens": result["prompt_tokens"]}))
"""

# Texts are gathered with batchkit's own body reader (untimed); only the tokenizer's batch encode is timed.
ENCODE_CHILD = """
import json, sys, time, orjson
from batchkit.tokens import encoding_for_model, read_prompt
texts = {}
fixed = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        request = orjson.loads(line)
        prompt = read_prompt(request["url"], request["body"])
        texts.setdefault(encoding_for_model(request["body"]["model"]), []).extend(prompt.texts)
        fixed += prompt.fixed
if sys.argv[2] == "tiktoken":
    import base64, gzip, tiktoken
    from importlib import resources
    import bpe_openai.registry as registry
    def encoding(name):
        spec = registry.ENCODING_CONSTRUCTORS[name]()
        return tiktoken.Encoding(name, pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"],
                                 special_tokens=spec["special_tokens"])
else:
    import bpe_openai
    encoding = bpe_openai.get_encoding
encodings = {name: encoding(name) for name in texts}
start = time.perf_counter()
tokens = fixed
for name, batch in texts.items():
    for at in range(0, len(batch), 8192):  # in slices, so the token lists do not pile up in memory
        tokens += sum(map(len, encodings[name].encode_ordinary_batch(batch[at : at + 8192])))
print(json.dumps({"seconds": time.perf_counter() - start, "tokens": tokens}))
"""


def write_file(path: Path, lines: int) -> Path:
    import generate

    # The same realistic lines, with models whose counts are exact.
    models, generate.MODELS = generate.MODELS, OPENAI_MODELS
    try:
        return generate.write(path, lines)
    finally:
        generate.MODELS = models


def _measure_rss(argv: list[str]) -> dict:
    """Run a child; the numbers it prints, its wall time and its peak resident memory."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    out, err = child.stdout.read(), child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv[:3]} exited {code}: {err.decode(errors='replace')[-2000:]}")
    result = json.loads(out)
    result["wall_seconds"] = time.perf_counter() - start
    result["peak_rss_bytes"] = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    result["tokens_per_second"] = result["tokens"] / result["seconds"]
    return result


def _has_tiktoken() -> bool:
    return subprocess.run([sys.executable, "-c", "import tiktoken"], capture_output=True).returncode == 0


def run(tmpdir: str | os.PathLike, lines: int | None = None) -> dict:
    default = 1_000_000 if os.environ.get("BENCH_LARGE") else 200_000
    lines = lines or int(os.environ.get("BENCH_ESTIMATE_LINES", default))
    with tempfile.TemporaryDirectory(prefix="bench-estimate-", dir=tmpdir) as tmp:
        path = write_file(Path(tmp) / "chat.jsonl", lines)
        result = {"lines": lines, "bytes": path.stat().st_size}
        result["batchkit_estimate"] = _measure_rss([sys.executable, "-c", ESTIMATE_CHILD, str(path)])
        sides = ["bpe_openai"] + (["tiktoken"] if _has_tiktoken() else [])
        for side in sides:
            result[side] = _measure_rss([sys.executable, "-c", ENCODE_CHILD, str(path), side])
            result[f"ratio_to_{side}"] = (
                result["batchkit_estimate"]["tokens_per_second"] / result[side]["tokens_per_second"]
            )
            if result[side]["tokens"] != result["batchkit_estimate"]["tokens"]:
                raise RuntimeError(f"{side} counted {result[side]['tokens']:,} tokens, estimate "
                                   f"{result['batchkit_estimate']['tokens']:,}")  # fmt: skip
        return result


def print_table(result: dict) -> None:
    mb = 1_000_000
    print(f"estimate of {result['lines']:,} chat lines ({result['bytes'] / mb:.0f} MB)")
    print(f"{'':<44}{'seconds':>9}{'tokens/s':>13}{'peak RSS MB':>13}")
    names = {"batchkit_estimate": "batchkit estimate (whole file)",
             "bpe_openai": "bpe-openai encode_ordinary_batch (texts only)",
             "tiktoken": "tiktoken encode_ordinary_batch (texts only)"}  # fmt: skip
    for key, name in names.items():
        if key in result:
            side = result[key]
            print(f"{name:<44}{side['seconds']:>9.2f}{side['tokens_per_second']:>13,.0f}"
                  f"{side['peak_rss_bytes'] / mb:>13.0f}")  # fmt: skip
    for key in ("bpe_openai", "tiktoken"):
        if f"ratio_to_{key}" in result:
            print(f"estimate runs at {result[f'ratio_to_{key}']:.2f}x {names[key].split(' (')[0]}'s tokens/s")
    print(f"{result['batchkit_estimate']['tokens']:,} prompt tokens, the same count on every side")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-estimate-") as tmp:
        print_table(run(tmp))


if __name__ == "__main__":
    main()
