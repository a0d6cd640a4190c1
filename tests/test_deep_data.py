"""One depth limit for the whole tool (lines.MAX_DEPTH): a request line nested that deep goes through every
command; one level deeper is a `too-deep` finding everywhere — validate (fast, parallel and reference
paths), validate_request, the server and every job that reads requests — never a crash, an ExceptionGroup
or a `.part` file left behind. Everything batchkit writes from a line within the limit stays within the
255 levels orjson writes."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import msgspec
import orjson
import pytest
from polling import poll
from serverutil import running_server

from batchkit.formats import DIALECTS, OPENAI, get_dialect
from batchkit.lines import MAX_DEPTH, nesting
from batchkit.validate import Validator, fastpath, validate_file, validate_request
from batchkit.validate import files as validate_files

ORJSON_DEPTH = 255  # orjson writes no deeper


def nested(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def tool_line(depth: int, custom_id: str = "r1", model: str = "gpt-4o-mini") -> dict:
    """A chat request with a tool whose parameters make the line nest exactly `depth` levels (the line's
    own object counted)."""
    parameters = {
        "type": "object",
        "properties": {},
        "default": None,
    }  # a keyword every format's schemas take
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": parameters}}],
        },
    }
    parameters["default"] = nested(depth - 6)  # line, body, tools, the tool, function, parameters
    assert nesting(line, 10**6) == depth
    return line


def functions_line(depth: int, custom_id: str = "r1") -> dict:
    """A chat request whose legacy `functions[].parameters` (a free-form value the fast path decodes
    itself) makes the line nest exactly `depth` levels."""
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "functions": [{"name": "f", "parameters": {"x": None}}],
        },
    }
    line["body"]["functions"][0]["parameters"]["x"] = nested(depth - 5)  # line, body, functions, f, params
    assert nesting(line, 10**6) == depth
    return line


def gemini_line(depth: int, key: str = "k1") -> dict:
    """A Gemini request whose generationConfig.responseSchema (free-form on the fast path) nests the line
    exactly `depth` levels."""
    line = {
        "key": key,
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"responseSchema": {"type": "OBJECT", "x": None}},
        },
    }
    line["request"]["generationConfig"]["responseSchema"]["x"] = nested(depth - 4)
    assert nesting(line, 10**6) == depth
    return line


def jsonl(*objs) -> bytes:
    # Python's json writes what orjson will not (past 255 levels)
    import json

    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def codes(report) -> list[tuple[str, int | None]]:
    return [(f.code, f.line) for f in report.findings]


def every_path(tmp_path, monkeypatch, data: bytes, provider: str, dialect: str):
    """The findings of the fast path (a stream), the parallel path, and the reference path alone."""
    fast = validate_file(io.BytesIO(data), provider, dialect=dialect)
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "deep.jsonl"
    path.write_bytes(data)
    parallel = validate_file(path, provider, jobs=2, dialect=dialect)
    reference = Validator(provider, dialect=dialect, file="f")
    for number, raw in enumerate(data.splitlines(), 1):
        reference.check(number, orjson.loads(raw))
    return codes(fast), codes(parallel), codes(reference.finish())


@pytest.mark.parametrize(
    ("make", "provider", "dialect"),
    [
        (tool_line, "openai", "openai"),
        (functions_line, "openai", "openai"),
        (gemini_line, "gemini", "gemini"),
    ],
)
def test_the_limit_holds_on_every_path_of_validate(make, provider, dialect, tmp_path, monkeypatch):
    at_limit = [make(MAX_DEPTH, f"{i}") for i in range(1, 4)]
    assert every_path(tmp_path, monkeypatch, jsonl(*at_limit), provider, dialect) == ([], [], [])
    data = jsonl(at_limit[0], make(MAX_DEPTH + 1, "2"), make(250, "3"))
    fast, parallel, reference = every_path(tmp_path, monkeypatch, data, provider, dialect)
    assert fast == parallel == reference == [("too-deep", 2), ("too-deep", 3)]
    assert validate_request(at_limit[0], provider) == []
    assert [f.code for f in validate_request(make(MAX_DEPTH + 1), provider)] == ["too-deep"]


def test_past_orjsons_own_depth_limit_it_is_still_too_deep_not_invalid_json(tmp_path, monkeypatch):
    # orjson refuses past 1,024 levels ("depth limit exceeded"): the line is JSON all the same
    deep = jsonl(tool_line(MAX_DEPTH, "2")).replace(
        b'"properties": {}', b'"properties": {"a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    )
    data = jsonl(tool_line(MAX_DEPTH, "1")) + deep
    fast = validate_file(io.BytesIO(data), "openai")
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "deep.jsonl"
    path.write_bytes(data)
    parallel = validate_file(path, "openai", jobs=2)
    assert codes(fast) == codes(parallel) == [("too-deep", 2)]


def test_the_fast_path_types_leave_free_form_values_room_under_the_limit():
    """A free-form value on the fast path is checked against MAX_DEPTH - TYPED_DEPTH levels: sound only
    while no decoder's typed part nests deeper than TYPED_DEPTH."""
    inspect = msgspec.inspect

    def deepest(info, depth: int, seen: set) -> int:
        if isinstance(info, inspect.StructType):
            if info.cls in seen:
                return depth
            seen = seen | {info.cls}
            return max([depth, *(deepest(f.type, depth + 1, seen) for f in info.fields)])
        if isinstance(info, inspect.UnionType):
            return max(deepest(t, depth, seen) for t in info.types)
        if isinstance(info, inspect.ListType | inspect.DictType):
            inner = info.item_type if isinstance(info, inspect.ListType) else info.value_type
            return deepest(inner, depth + 1, seen)
        return depth

    for name in DIALECTS:
        dialect = get_dialect(name)  # OpenAI's decoder learns endpoints as a file names them: take all
        decode = fastpath.line_decoder()[0] if dialect is OPENAI else fastpath.decoder_for(dialect)[0]
        line_type = decode.__self__.type
        assert deepest(inspect.type_info(line_type), 1, set()) <= fastpath.TYPED_DEPTH, name


# Every command, as a real subprocess, on a file at the limit and on one past it.


def cli(*args, cwd, timeout=120):
    result = subprocess.run(
        [sys.executable, "-m", "batchkit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr, result.stderr
    return result


def no_part_files(folder) -> None:
    assert not [p.name for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.fixture
def deep_files(tmp_path):
    at_limit = tmp_path / "at-limit.jsonl"
    at_limit.write_bytes(jsonl(*(tool_line(MAX_DEPTH, f"r{i}", "batchkit-echo") for i in range(1, 4))))
    past = tmp_path / "past.jsonl"
    past.write_bytes(
        jsonl(tool_line(MAX_DEPTH, "r1", "batchkit-echo"), tool_line(250, "r2", "batchkit-echo"))
    )
    return at_limit, past


def test_estimate_split_and_fix_at_the_limit_and_past_it(deep_files, tmp_path):
    at_limit, past = deep_files
    assert cli("estimate", at_limit, "--format", "json", cwd=tmp_path).returncode == 0
    result = cli("estimate", past, "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert orjson.loads(result.stdout)["files"][0]["findings"][0]["code"] == "too-deep"

    result = cli(
        "split", at_limit, "-o", "shards.jsonl", "--max-file-tokens", 200, "-p", "openai", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    shards = sorted(tmp_path.glob("shards*.jsonl"))
    assert b"".join(p.read_bytes() for p in shards) == at_limit.read_bytes()
    result = cli(
        "split", past, "-o", "past-shards.jsonl", "--max-file-tokens", 200, "-p", "openai", cwd=tmp_path
    )
    assert result.returncode == 1 and "too-deep" in result.stdout
    assert not list(tmp_path.glob("past-shards*"))

    assert cli("fix", at_limit, "-o", "fixed.jsonl", "--strict-schemas", cwd=tmp_path).returncode == 0
    result = cli("fix", past, "-o", "fixed-past.jsonl", "--strict-schemas", cwd=tmp_path)
    assert result.returncode == 1 and "too-deep" in result.stdout
    no_part_files(tmp_path)


@pytest.mark.parametrize("to", sorted(DIALECTS))
def test_convert_at_the_limit_and_past_it(to, deep_files, tmp_path):
    at_limit, past = deep_files
    result = cli("convert", at_limit, "-o", "out.jsonl", "--to", to, cwd=tmp_path)
    if result.returncode == 0:
        for raw in (tmp_path / "out.jsonl").read_bytes().splitlines():
            assert nesting(orjson.loads(raw), ORJSON_DEPTH + 1) <= MAX_DEPTH
    else:  # a format that wraps the tool one level deeper: the converted line would be past the limit
        assert result.returncode == 1 and "too-deep" in result.stdout, result.stdout + result.stderr
    result = cli("convert", past, "-o", "past.out.jsonl", "--to", to, cwd=tmp_path)
    assert result.returncode == 1 and "past.jsonl:2: error[too-deep]" in result.stdout
    written = tmp_path / "past.out.jsonl"  # the line at the limit, when the format takes it
    assert not written.exists() or len(written.read_bytes().splitlines()) == 1
    no_part_files(tmp_path)


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    with running_server(
        "--model", "batchkit-echo", data_dir=tmp_path_factory.mktemp("deep") / "srv"
    ) as server:
        yield server


def test_run_at_the_limit_and_past_it(echo, deep_files, tmp_path):
    at_limit, past = deep_files
    result = cli("run", at_limit, "--base-url", echo.base_url, "-o", "out.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 3
    result = cli("run", past, "--base-url", echo.base_url, "-o", "past.out.jsonl", cwd=tmp_path)
    assert result.returncode == 1 and "too-deep" in result.stdout + result.stderr
    assert not (tmp_path / "past.out.jsonl").exists()
    no_part_files(tmp_path)


def test_submit_under_an_enqueued_token_cap_at_the_limit_and_past_it(echo, deep_files, tmp_path):
    at_limit, past = deep_files
    args = ("--base-url", echo.base_url, "--max-enqueued-tokens", 100_000, "--interval", 0.2)
    result = cli("submit", at_limit, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = cli("submit", past, *args, cwd=tmp_path)
    # the cap cannot be kept for a line whose tokens cannot be read: refused before anything is sent
    assert result.returncode == 2, result.stderr
    assert f"line 2: the line nests arrays and objects more than {MAX_DEPTH} levels" in result.stderr
    assert "nothing was sent" in result.stderr
    no_part_files(tmp_path)


def test_the_server_holds_the_same_limit(echo):
    import openai

    client = openai.OpenAI(base_url=echo.base_url, api_key="unused")
    body = tool_line(MAX_DEPTH)["body"] | {"model": "batchkit-echo"}
    assert client.chat.completions.create(**body).choices
    deeper = tool_line(MAX_DEPTH + 1)["body"] | {"model": "batchkit-echo"}
    with pytest.raises(openai.BadRequestError, match="more than 128 levels"):
        client.chat.completions.create(**deeper)
    data = jsonl(tool_line(MAX_DEPTH + 1) | {"body": deeper})
    upload = client.files.create(file=("deep.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = poll(
        lambda: (b := client.batches.retrieve(batch.id)).status in ("failed", "completed") and b,
        timeout=30,
        what="the batch to end",
    )
    assert done.status == "failed"
    (error,) = done.errors.data
    assert error.line == 1 and f"more than {MAX_DEPTH} levels" in error.message
