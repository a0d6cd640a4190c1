"""The format layer is the one reading edge: every job sees the same requests in a file of any format."""

import json
from pathlib import Path

import pandas as pd
import pytest

import batchkit
from batchkit.batchfile import read_id_map, split_file
from batchkit.convert import convert_file
from batchkit.formats import DIALECTS, detect, read_requests
from batchkit.lines import open_binary
from batchkit.tokens import estimate

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
# one valid golden file per format, with the provider that takes it
FILES = {
    "openai": (GOLDEN / "clean.jsonl", "kluster"),
    **{name: (GOLDEN / "dialects" / f"{name}-valid.jsonl", None) for name in DIALECTS if name != "openai"},
}
CHAT_ANSWER = {"role": "assistant", "content": "ok"}


def requests_in(path):
    with open_binary(path) as stream:
        return list(read_requests(stream, lambda finding: pytest.fail(finding.message)))


def result_line(request) -> dict:
    """What the request's provider answers, in that provider's result line."""
    message = {"model": request.model or "m", "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1},
               "content": [{"type": "text", "text": "ok"}]}  # fmt: skip
    generated = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
                 "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}, "modelVersion": "m"}  # fmt: skip
    chat = {
        "model": request.model or "m",
        "choices": [{"index": 0, "message": CHAT_ANSWER, "finish_reason": "stop"}],
    }
    name = request.format.name
    if name == "anthropic":
        return {"custom_id": request.id, "result": {"type": "succeeded", "message": message}}
    if name == "gemini":
        return {"key": request.id, "response": generated}
    if name == "vertex":
        return {"request": request.body, "response": generated, "status": ""}
    if name == "bedrock":
        return {"recordId": request.id, "modelInput": request.body, "modelOutput": message}
    return {"custom_id": request.id, "response": {"status_code": 200, "body": chat}, "error": None}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_job_sees_the_same_requests_in_every_format(name, tmp_path):
    path, provider = FILES[name]
    requests = requests_in(path)
    assert requests and {r.format.name for r in requests} == {name}
    ids = [r.id for r in requests]
    models = sorted(m for m in (r.model for r in requests) if m is not None)
    endpoints = {r.endpoint for r in requests}

    report = batchkit.validate_file(path, provider)
    assert report.valid, report.findings
    assert report.summary.requests == len(ids)
    assert sorted(report.summary.models.elements()) == models
    assert set(report.summary.endpoints) == endpoints

    counted = estimate(path, provider)
    assert counted.ok and counted.totals()["requests"] == len(ids)
    assert counted.totals()["prompt_tokens"] > 0
    assert sorted(m.model for m in counted.files[0].models.values() for _ in range(m.requests)) == sorted(
        r.model or "(no model)" for r in requests
    )

    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(result_line(r)) + "\n" for r in requests))
    merged = batchkit.merge_results(path, results)
    assert list(merged.frame["custom_id"]) == ids and set(merged.frame["status"]) == {"ok"}
    # the model asked for, else the one that answered
    assert list(merged.frame["model"]) == [r.model or "m" for r in requests]
    assert list(merged.frame["content"]) == ["ok"] * len(ids)

    split = split_file(path, tmp_path / "split.jsonl", provider, max_requests=1)
    assert split.requests == len(ids) and len(split.paths) == len(ids)
    assert [r.id for p in split.paths for r in requests_in(p)] == ids

    converted = convert_file(path, tmp_path / "openai.jsonl", "openai", model="m", drop_unsupported=True)
    back = requests_in(tmp_path / "openai.jsonl")
    original = read_id_map(converted.id_map) if converted.id_map else {}
    kept = [original.get(r.id, r.id) for r in back]
    assert converted.written + converted.skipped == len(ids) and kept == [i for i in ids if i in kept]
    assert {r.endpoint for r in back} == {"/v1/chat/completions"}


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("distributed")
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as connected:
        yield connected


@pytest.mark.parametrize("name", sorted(FILES))
def test_dask_merge_sees_the_requests_merge_sees(name, tmp_path, cluster):
    from batchkit import dask as on_dask

    path, _provider = FILES[name]
    requests = requests_in(path)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(result_line(r)) + "\n" for r in requests))
    single = batchkit.merge_results(path, results).frame
    written = on_dask.merge([path], [results], tmp_path / "out", dask_client=cluster)
    spread = pd.concat(pd.read_parquet(p) for p in sorted(written.output.glob("*.parquet")))
    assert list(spread["custom_id"]) == list(single["custom_id"])
    assert list(spread["model"].fillna("")) == list(single["model"].fillna(""))
    assert list(spread["status"]) == list(single["status"])


def test_detection_reads_within_its_bounds(tmp_path):
    from batchkit.formats import detect_stream

    claude = b'{"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": []}}\n'
    for size, found in ((10 * 2**20, "anthropic"), (80 * 2**20, None)):
        path = tmp_path / f"first-line-{size}.jsonl"
        with open(path, "wb") as f:
            f.truncate(size)  # a first line of NUL bytes: passed over when short enough, else the end
            f.seek(0, 2)
            f.write(b"\n" + claude)
        with open(path, "rb") as f:
            dialect = detect_stream(f)
            assert (dialect.name if dialect else None) == found
            assert f.tell() == 0


def test_validate_file_reads_sizes_like_the_command_line(tmp_path):
    path = tmp_path / "b.jsonl"
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}  # fmt: skip
    path.write_text(json.dumps(line) + "\n")
    assert batchkit.validate_file(path, max_bytes="100MB").valid
    small = batchkit.validate_file(path, max_bytes="10B")
    assert sorted(f.code for f in small.findings) == ["file-too-large", "line-too-long"]


def test_an_overlong_line_of_another_format_is_skipped_unread(tmp_path):
    path = tmp_path / "claude.jsonl"
    good = {
        "custom_id": "a",
        "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    }
    long = {**good, "custom_id": "b"}
    long["params"]["messages"] = [{"role": "user", "content": "y" * 2_000_000}]
    path.write_text(json.dumps(good) + "\n" + json.dumps(long) + "\n")
    report = batchkit.validate_file(path, "anthropic", max_bytes="1MB")
    codes = [(f.code, f.line) for f in report.findings]
    assert ("line-too-long", 2) in codes and ("file-too-large", None) in codes
    assert "skipped unread" in next(f.message for f in report.findings if f.code == "line-too-long")


@pytest.mark.parametrize(
    ("line", "tokens", "ceiling"),
    [
        (
            {
                "custom_id": "a",
                "body": {
                    "model": "mistral-small",
                    "max_tokens": 100,
                    "messages": [{"role": "user", "content": "Hello there"}],
                },
            },
            True,
            100,
        ),  # fmt: skip
        (
            {
                "custom_id": "a",
                "method": "POST",
                "url": "/chat/completions",
                "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there"}]},
            },
            True,
            None,
        ),  # fmt: skip
        (
            {
                "custom_id": "a",
                "params": {
                    "model": "claude-x",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": "Hello there"}],
                },
            },
            True,
            50,
        ),  # fmt: skip
        (
            {
                "key": "a",
                "request": {
                    "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
                    "generationConfig": {"maxOutputTokens": 20},
                },
            },
            True,
            20,
        ),  # fmt: skip
    ],
)
def test_estimate_counts_every_format(tmp_path, line, tokens, ceiling):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(line) + "\n")
    counted = estimate(path, default_max_output=7)
    totals = counted.totals()
    assert counted.ok and totals["requests"] == 1
    assert (totals["prompt_tokens"] > 0) is tokens
    assert totals["output_ceiling"] == (7 if ceiling is None else ceiling)
    assert detect(line) is not None


def test_a_file_with_no_request_fails_the_estimate(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"custom_id": "a", "response": {"status_code": 200, "body": {}}}\n')
    counted = estimate(path)
    assert not counted.ok and counted.files[0].findings[0].code == "unknown-dialect"
