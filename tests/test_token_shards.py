"""Shards bounded by prompt tokens: `--max-file-tokens` on build and split, counted with batchkit.tokens."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from batchkit.batchfile import split_by, split_file, write_batch
from batchkit.cli import cli
from batchkit.errors import InputError

# 3 per message + "user" + "hello" + 3 to prime the reply (o200k_base), as OpenAI's cookbook counts
HELLO_TOKENS = 8


def hello(i: int, model: str = "gpt-4o-mini", text: str = "hello") -> dict:
    return {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def ids(paths) -> list[list[str]]:
    return [[json.loads(line)["custom_id"] for line in p.read_text().splitlines()] for p in paths]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def build_per_model(tmp_path, rows: str, *extra):
    """`build` of a model,question table for openai with --model-column; (result, output path)."""
    table = tmp_path / "q.csv"
    table.write_text("model,question\n" + rows)
    out = tmp_path / "b.jsonl"
    args = ("build", table, "-o", out, "-p", "openai", "--model-column", "model", "--user", "{question}")
    return run(*args, *extra), out


def test_write_batch_cuts_on_tokens(tmp_path):
    paths = write_batch(
        [hello(i) for i in range(5)], tmp_path / "b.jsonl", "openai", max_file_tokens=2 * HELLO_TOKENS
    )
    assert ids(paths) == [["r0", "r1"], ["r2", "r3"], ["r4"]]


def test_a_request_over_the_token_limit_is_an_error_and_nothing_is_written(tmp_path):
    big = hello(1, text="word " * 50)
    with pytest.raises(
        InputError, match="line 2 has 5[0-9] prompt tokens, more than the per-file limit of 20"
    ):
        write_batch([hello(0), big], tmp_path / "b.jsonl", "openai", max_file_tokens=20)
    assert list(tmp_path.iterdir()) == []


def test_split_on_tokens_and_a_file_that_fits_is_left_alone(tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps(hello(i)) + "\n" for i in range(6)))
    assert split_file(source, provider="openai", max_file_tokens=6 * HELLO_TOKENS).paths == []
    written = split_file(source, provider="openai", max_file_tokens=3 * HELLO_TOKENS - 1)
    assert ids(written.paths) == [["r0", "r1"], ["r2", "r3"], ["r4", "r5"]]


def test_split_by_model_cuts_each_group_on_tokens(tmp_path):
    source = tmp_path / "mixed.jsonl"
    lines = [hello(i, "gpt-4o-mini" if i % 2 else "gpt-4.1") for i in range(6)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = split_by(source, "model", provider="openai", max_file_tokens=2 * HELLO_TOKENS)
    assert {value: ids(w.paths) for value, w in result.groups.items()} == {
        "gpt-4.1": [["r0", "r2"], ["r4"]],
        "gpt-4o-mini": [["r1", "r3"], ["r5"]],
    }


def test_cli_split_and_build_take_max_file_tokens(tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps(hello(i)) + "\n" for i in range(4)))
    split = run("split", source, "-p", "openai", "--max-file-tokens", 2 * HELLO_TOKENS)
    assert split.exit_code == 0, split.output
    assert ids([tmp_path / "big-00001.jsonl", tmp_path / "big-00002.jsonl"]) == [["r0", "r1"], ["r2", "r3"]]
    table = tmp_path / "q.csv"
    table.write_text("question\nhello\nhello\nhello\n")
    out = tmp_path / "built.jsonl"
    built = run("build", table, "-o", out, "-p", "openai", "--model", "gpt-4o-mini", "--user", "{question}",
                "--max-file-tokens", 2 * HELLO_TOKENS)  # fmt: skip
    assert built.exit_code == 0, built.output
    assert ids([tmp_path / "built-00001.jsonl", tmp_path / "built-00002.jsonl"]) == [
        ["row-1", "row-2"],
        ["row-3"],
    ]


def test_build_for_openai_with_a_model_column_writes_one_file_per_model(tmp_path):
    built, _out = build_per_model(tmp_path, "gpt-4o-mini,a\ngpt-4.1,b\ngpt-4o-mini,c\n")
    assert built.exit_code == 0, built.output
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "b.gpt-4.1.jsonl",
        "b.gpt-4o-mini.jsonl",
        "q.csv",
    ]
    assert ids([tmp_path / "b.gpt-4o-mini.jsonl", tmp_path / "b.gpt-4.1.jsonl"]) == [
        ["row-1", "row-3"],
        ["row-2"],
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".models")]  # the staging folder is gone


def test_build_per_model_with_one_model_writes_the_output_itself(tmp_path):
    built, out = build_per_model(tmp_path, "gpt-4o-mini,a\ngpt-4o-mini,b\n")
    assert built.exit_code == 0, built.output
    assert ids([out]) == [["row-1", "row-2"]]


def test_build_per_model_reports_invalid_rows_by_row_number_and_writes_nothing(tmp_path):
    built, _out = build_per_model(tmp_path, "gpt-4o-mini,a\ngpt-4.1,b\n", "--param", "temperature=9")
    assert built.exit_code == 1
    assert "temperature" in built.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.csv"]


def test_max_tokens_is_the_body_output_limit_in_every_command(tmp_path):
    """`--max-tokens` puts max_tokens in the bodies (build, as convert does); the prompt tokens per file
    are `--max-file-tokens`; split, which copies lines, refuses the old spelling and names the new one."""
    table = tmp_path / "q.csv"
    table.write_text("question\nhello\nhello\n")
    out = tmp_path / "built.jsonl"
    built = run("build", table, "-o", out, "--model", "m", "--user", "{question}", "--max-tokens", 200)
    assert built.exit_code == 0, built.output
    assert [json.loads(line)["body"]["max_tokens"] for line in out.read_text().splitlines()] == [200, 200]
    assert "max_tokens 200 on every request (prompt tokens per file: --max-file-tokens)" in built.output
    responses = tmp_path / "responses.jsonl"
    args = ("-p", "local", "--model", "m", "--endpoint", "/v1/responses", "--body-template")
    template = tmp_path / "t.json"
    template.write_text('{"input": "{question}"}')
    assert run("build", table, "-o", responses, *args, template, "--max-tokens", 50).exit_code == 0
    assert json.loads(responses.read_text().splitlines()[0])["body"]["max_output_tokens"] == 50
    clash = run(
        "build",
        table,
        "-o",
        out,
        "--model",
        "m",
        "--user",
        "{q}",
        "--max-tokens",
        5,
        "--param",
        "max_tokens=6",
    )
    assert (
        clash.exit_code == 2
        and "--max-tokens and --param both set max_tokens; give one of them" in clash.output
    )
    split = run("split", out, "--max-tokens", 10)
    assert split.exit_code == 2
    assert (
        f"the prompt tokens per file are --max-file-tokens: split {out} --max-file-tokens 10" in split.output
    )
    converted = run("convert", out, "-o", tmp_path / "c.jsonl", "--to", "anthropic", "--max-tokens", 300)
    assert converted.exit_code == 0, converted.output
