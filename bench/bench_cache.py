"""Benchmark the answer cache on 1,000,000 requests (BENCH_CACHE_ROWS): its size on disk per cached answer,
and how fast requests are looked up in it.

Writes a chat batch file (bench/generate.py's lines, ~1.1 kB each) and its results as a Batch API writes
them: one OpenAI output line per request whose answer repeats the prompt, as the echo backend does (~1.6 kB
a line). Then, each in a child process of its own (wall seconds and peak RSS):

- keep: `remember()` — what `download` does after a batch: reads the requests and the results, keeps every
  good answer (key, answer line compressed) in a new cache;
- size: the cache file (with its write-ahead log) per answer kept, beside the result line's own size;
- lookup: `AnswerCache.lookup()` of every request's key (keys made beforehand, untimed), 500 at a time;
- split (all hits): `split()` — what `submit` does before uploading: reads the batch file, makes each
  request's key, looks it up and writes its cached result line (here every request is answered);
- split (all misses): the same for a file of other questions (nothing is answered: every line is copied
  to the file to send).

    .venv/bin/python bench/bench_cache.py
    BENCH_CACHE_ROWS=100000 .venv/bin/python bench/bench_cache.py

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

import orjson
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
WHERE = "openai http://127.0.0.1:8000/v1"

KEEP = """
import json, sys, time
from batchkit.cache import AnswerCache, remember
cache, requests, results, where = sys.argv[1:5]
start = time.perf_counter()
with AnswerCache(cache) as answers:
    kept = remember(answers, where, requests, [results], batch_id="batch_bench")
print(json.dumps({"seconds": time.perf_counter() - start, "count": kept}))
"""

LOOKUP = """
import json, sys, time
from batchkit.cache import AnswerCache, answer_key
from batchkit.formats import read_requests
cache, requests, where = sys.argv[1:4]
with open(requests, "rb") as stream:
    keys = [answer_key(where, r.endpoint, r.model, r.body) for r in read_requests(stream, lambda f: None)]
found = 0
start = time.perf_counter()
with AnswerCache(cache) as answers:
    for at in range(0, len(keys), 500):
        found += len(answers.lookup(keys[at : at + 500]))
print(json.dumps({"seconds": time.perf_counter() - start, "count": found}))
"""

SPLIT = """
import json, sys, time
from pathlib import Path
from batchkit.cache import AnswerCache, split
cache, requests, where, out = sys.argv[1:5]
start = time.perf_counter()
with AnswerCache(cache) as answers:
    found = split(answers, where, Path(requests), None, Path(out) / "send.jsonl", Path(out) / "cached.jsonl")
print(json.dumps({"seconds": time.perf_counter() - start, "count": found.cached, "requests": found.requests}))
"""


def write_files(folder: Path, rows: int) -> tuple[Path, Path, Path]:
    """The batch file, its results (every request answered with its prompt) and a file of other questions."""
    from generate import chat_lines

    requests, results, others = folder / "chat.jsonl", folder / "chat.output.jsonl", folder / "other.jsonl"
    with open(requests, "wb") as r, open(results, "wb") as out:
        for i, line in enumerate(chat_lines(rows)):
            r.write(line)
            request = orjson.loads(line)
            out.write(orjson.dumps(_answer(i, request)) + b"\n")
    with open(others, "wb") as o:
        o.writelines(chat_lines(rows, seed=8))
    return requests, results, others


def _answer(i: int, request: dict) -> dict:
    body = request["body"]
    prompt = body["messages"][-1]["content"]
    words = len(prompt.split())
    completion = {
        "id": f"chatcmpl-{i:024x}", "object": "chat.completion", "created": 1733832777, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": prompt, "refusal": None}}],
        "usage": {"prompt_tokens": words, "completion_tokens": words, "total_tokens": 2 * words},
    }  # fmt: skip
    return {"id": f"batch_req_{i:024x}", "custom_id": request["custom_id"], "error": None,
            "response": {"status_code": 200, "request_id": f"req_{i:024x}", "body": completion}}  # fmt: skip


def measure(code: str, *args) -> dict:
    """Run `code` in a child process; its JSON answer with its peak RSS."""
    start = time.perf_counter()
    child = psutil.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE, text=True)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, child.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out = child.stdout.read()
    if child.returncode:
        raise RuntimeError(f"benchmark child failed ({child.returncode})")
    found = json.loads(out)
    found["wall_seconds"] = time.perf_counter() - start
    found["peak_rss_bytes"] = peak
    return found


def run(tmpdir: str | os.PathLike, rows: int | None = None) -> dict:
    rows = rows or int(os.environ.get("BENCH_CACHE_ROWS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="bench-cache-", dir=tmpdir) as tmp:
        folder = Path(tmp)
        requests, results, others = write_files(folder, rows)
        cache = folder / "cache.db"
        result = {
            "rows": rows,
            "request_bytes": requests.stat().st_size,
            "result_bytes": results.stat().st_size,
        }
        result["keep"] = measure(KEEP, cache, requests, results, WHERE)
        size = sum(p.stat().st_size for p in (cache, cache.with_name("cache.db-wal")) if p.exists())
        result["cache_bytes"] = size
        result["bytes_per_answer"] = size / result["keep"]["count"]
        result["result_line_bytes"] = result["result_bytes"] / rows
        result["lookup"] = measure(LOOKUP, cache, requests, WHERE)
        (folder / "hits").mkdir()
        result["split_hits"] = measure(SPLIT, cache, requests, WHERE, folder / "hits")
        (folder / "misses").mkdir()
        result["split_misses"] = measure(SPLIT, cache, others, WHERE, folder / "misses")
    for name in ("keep", "lookup", "split_hits", "split_misses"):
        result[name]["per_second"] = rows / result[name]["seconds"]
    if (
        result["lookup"]["count"] != rows
        or result["split_hits"]["count"] != rows
        or result["split_misses"]["count"]
    ):
        raise RuntimeError(f"the cache answered what it should not, or missed what it holds: {result}")
    return result


def print_table(result: dict) -> None:
    mb = 1_000_000
    print(f"answer cache on {result['rows']:,} requests ({result['request_bytes'] / mb:.0f} MB of requests, "
          f"{result['result_bytes'] / mb:.0f} MB of results)")  # fmt: skip
    print(f"size: {result['cache_bytes'] / mb:,.0f} MB, {result['bytes_per_answer']:,.0f} bytes per cached answer "
          f"(the result line itself: {result['result_line_bytes']:,.0f} bytes)")  # fmt: skip
    print(f"{'':<46}{'seconds':>9}{'requests/s':>12}{'peak RSS MB':>13}")
    names = {"keep": "keep every answer (remember, as download does)",
             "lookup": "look up every key (500 a query)",
             "split_hits": "split, all answered (as submit does)",
             "split_misses": "split, none answered"}  # fmt: skip
    for key, name in names.items():
        side = result[key]
        print(
            f"{name:<46}{side['seconds']:>9.2f}{side['per_second']:>12,.0f}{side['peak_rss_bytes'] / mb:>13.0f}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        print_table(run(tmp))


if __name__ == "__main__":
    main()
