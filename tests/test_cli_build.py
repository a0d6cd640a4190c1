import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchkit.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def read_lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def test_build_the_sample(run, tmp_path):
    out = tmp_path / "questions.jsonl"
    result = run(
        "build",
        SAMPLES / "questions.csv",
        "-o",
        out,
        "--model-column",
        "model",
        "--system",
        "You are a helpful {topic} tutor.",
        "--user",
        "{question}",
        "--id-column",
        "id",
        "--param",
        "max_tokens=1000",
    )
    assert result.exit_code == 0, result.output
    assert "8 rows read, 8 requests written" in result.stderr
    assert "meta-llama/Meta-Llama-3.1-405B-Instruct (1)" in result.stderr
    assert "\r" not in result.stderr  # no progress bar when not on a terminal
    built = read_lines(out)
    assert [r["custom_id"] for r in built] == [f"q{i:03d}" for i in range(1, 9)]
    questions = [r["body"]["messages"][1]["content"] for r in built]
    assert "What is the capital of Argentina?" in questions
    assert 'What does "saudade" mean, and why is it called untranslatable?' in questions
    assert built[0]["body"]["max_tokens"] == 1000
    check = run("validate", out)
    assert check.exit_code == 0, check.output


def test_build_from_stdin_with_system_from_file(run, tmp_path):
    system = tmp_path / "system.txt"
    system.write_text("Answer in {lang}.\n")
    out = tmp_path / "b.jsonl"
    result = run(
        "build",
        "-",
        "-o",
        out,
        "--model",
        "m",
        "--system",
        f"@{system}",
        "--user",
        "{q}",
        input="q,lang\nhello,French\n",
    )
    assert result.exit_code == 0, result.output
    (request,) = read_lines(out)
    assert request["body"]["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_missing_column_is_one_line_and_exit_2(run, tmp_path):
    out = tmp_path / "b.jsonl"
    result = run("build", SAMPLES / "questions.csv", "-o", out, "--model", "m", "--user", "{questoin}")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "batchkit: error: no column 'questoin'; the table's columns are: "
        "'id', 'topic', 'model', 'question'; did you mean `question`?"
    ]
    assert not out.exists()


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock", "mistral", "fireworks"])
def test_a_provider_of_another_format_gets_its_own_lines(run, tmp_path, provider):
    """For a provider that takes another line format, build writes those lines: what build under OpenAI's
    rules then `convert --to PROVIDER` would, byte for byte."""
    out, openai, converted = tmp_path / "b.jsonl", tmp_path / "openai.jsonl", tmp_path / "converted.jsonl"
    args = ("build", SAMPLES / "questions.csv", "--model", "m", "--user", "{question}", "--max-tokens", 20)
    result = run(*args, "-o", out, "--provider", provider)
    assert result.exit_code == 0, result.output
    assert run(*args, "-o", openai).exit_code == 0
    assert run("convert", openai, "--to", provider, "-o", converted).exit_code == 0
    assert out.read_bytes() == converted.read_bytes()
    assert run("validate", out, "--provider", provider, "--model", "m").exit_code == 0
    said = f"{provider} lines name no model, the batch does: `batchkit submit {out} --provider {provider} --model m`"
    assert (said in result.output) == (provider in ("gemini", "bedrock"))
    if provider == "gemini":  # in shards, the command names every shard (there is no b.jsonl to submit)
        sharded = run(*args, "-o", tmp_path / "s.jsonl", "--provider", provider, "--max-requests", 3)
        shards = " ".join(str(tmp_path / f"s-0000{i}.jsonl") for i in (1, 2, 3))
        assert f"`batchkit submit {shards} --provider gemini --model m`" in sharded.output, sharded.output


def test_what_a_provider_of_another_format_cannot_take_is_refused_by_row(run, tmp_path):
    out = tmp_path / "b.jsonl"
    args = ("build", SAMPLES / "questions.csv", "-o", out, "--user", "{question}", "--provider")
    # Bedrock requires max_tokens, and its lines name no model: one file holds one model's requests
    result = run(*args, "bedrock", "--model", "m")
    assert result.exit_code == 1 and not out.exists()
    assert "questions.csv:1: error[missing-max-tokens] ×8, lines 1–8" in result.output
    assert "--max-tokens" in result.output and "nothing written" in result.output
    mixed = run(*args, "bedrock", "--model-column", "model", "--max-tokens", 5)
    assert mixed.exit_code == 1 and not out.exists()
    assert (
        "error[mixed-model]" in mixed.output
        and "build each model's rows to a file of its own" in mixed.output
    )
    assert (
        "and row 1 for 'meta-llama/Meta-Llama-3.1-8B-Instruct'" in mixed.output
    )  # data rows, as build counts
    assert "8 requests" in mixed.output.splitlines()[-1]  # refused rows are requests too
    assert run(*args, "anthropic", "--model-column", "model", "--max-tokens", 5).exit_code == 0
    # what the format cannot express: refused, or left out with --drop-unsupported, as convert does
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], '
                      '"additionalProperties": false}')  # fmt: skip
    structured = (*args, "bedrock", "--model", "m", "--max-tokens", 5, "--response-schema", schema)
    out.unlink()
    refused = run(*structured)
    assert refused.exit_code == 1 and not out.exists()
    assert "error[unsupported-field] ×8, lines 1–8; first: /body/response_format" in refused.output
    dropped = run(*structured, "--drop-unsupported")
    assert dropped.exit_code == 0, dropped.output
    assert "warning[dropped-field] ×8, lines 1–8; first: /body/response_format" in dropped.output
    assert b"response_format" not in out.read_bytes()


def test_invalid_requests_print_the_report_and_exit_1(run, tmp_path):
    out = tmp_path / "b.jsonl"
    result = run(
        "build",
        SAMPLES / "questions.csv",
        "-o",
        out,
        "--model",
        "m",
        "--user",
        "{question}",
        "--param",
        "temperature=7",
    )
    assert result.exit_code == 1
    assert "questions.csv:1: error[out-of-range] ×8, lines 1–8; first: /body/temperature" in result.output
    assert "data-row numbers" in result.output
    assert "nothing written" in result.output
    assert not out.exists()
    forced = run(
        "build",
        SAMPLES / "questions.csv",
        "-o",
        out,
        "--model",
        "m",
        "--user",
        "{question}",
        "--param",
        "temperature=7",
        "--force",
        "--format",
        "json",
    )
    assert forced.exit_code == 0
    assert len(read_lines(out)) == 8


def test_build_summary_reports_skips_and_shards(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q,x\n" + "".join((f"question {i},1\n" if i % 4 else ",1\n") for i in range(1, 11)))
    options = ["--model", "m", "--user", "{q}", "--on-empty", "skip"]
    result = run("build", table, "-o", tmp_path / "b.jsonl", *options, "--max-requests", "3")
    assert result.exit_code == 0, result.output
    assert "10 rows read, 8 requests written (3 files" in result.output
    assert "skipped 2 rows: empty 'q' (2); rows 4, 8" in result.output
    assert "b-00003.jsonl  2 requests" in result.output
    assert not run("build", table, "-o", tmp_path / "c.jsonl", *options, "-q").output


def test_embeddings_from_jsonl(run, tmp_path):
    table = tmp_path / "docs.jsonl"
    table.write_text('{"text": "a cat"}\n{"text": "a dog"}\n')
    out = tmp_path / "e.jsonl"
    result = run("build", table, "-o", out, "--model", "emb", "--input", "{text}", "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert [r["url"] for r in read_lines(out)] == ["/v1/embeddings"] * 2
    assert [r["body"]["input"] for r in read_lines(out)] == ["a cat", "a dog"]
    # kluster takes chat requests only: the same build is refused under its profile.
    refused = run("build", table, "-o", tmp_path / "k.jsonl", "--model", "emb", "--input", "{text}")
    assert refused.exit_code == 1 and "unsupported-endpoint" in refused.output
    assert not (tmp_path / "k.jsonl").exists()


def test_split_command(run, tmp_path):
    source = tmp_path / "big.jsonl"
    run("build", SAMPLES / "questions.csv", "-o", source, "--model", "m", "--user", "{question}")
    result = run("split", source, "--max-requests", "3")
    assert result.exit_code == 0, result.output
    assert [p.name for p in sorted(tmp_path.glob("big-*.jsonl"))] == [f"big-0000{i}.jsonl" for i in (1, 2, 3)]
    assert "8 requests into 3 files" in result.output
    result = run("split", source)
    assert "fits in one file" in result.output
    lines = source.read_bytes().splitlines(keepends=True)
    source.write_bytes(b"".join(lines[:3]) + b'{"custom_id": "broken", \n' + b"".join(lines[3:]))
    forced = run("split", source, "--max-requests", "3", "--force")  # copies the broken line too
    assert forced.exit_code == 0 and "8 requests" in forced.output  # (the validation's count)
    assert "9 lines into 3 files" in forced.output and "9 requests" not in forced.output


def test_fix_command_lists_changes_and_revalidates(run, tmp_path):
    source = tmp_path / "seed.jsonl"
    source.write_bytes((SAMPLES / "kluster-curl-example.jsonl").read_bytes())
    before = source.read_bytes()
    result = run("fix", source, "-o", tmp_path / "fixed.jsonl", "--dedupe-ids")
    assert result.exit_code == 0, result.output
    assert f"{source}:2: custom_id 'request-1' renamed 'request-1~2'" in result.output
    assert f"{source}:3: custom_id 'request-1' renamed 'request-1~3'" in result.output
    assert source.read_bytes() == before
    refused = run("fix", source, "-o", source)
    assert refused.exit_code == 2 and "--in-place" in refused.output
    unrepaired = run("fix", source, "-o", tmp_path / "still.jsonl")
    assert unrepaired.exit_code == 1 and "duplicate-custom-id" in unrepaired.output


def test_fix_to_stdout_keeps_messages_off_stdout(run, tmp_path):
    source = tmp_path / "in.jsonl"
    good = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"x"}]}}'
    source.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\r\n")
    result = run("fix", source, "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == good.encode() + b"\n"
    assert "byte-order mark removed" in result.stderr
    assert "2 changes; wrote 1 line to standard output" in result.stderr


def test_build_leaves_files_it_did_not_write_and_says_so(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\n" + "".join(f"question {i}\n" for i in range(1, 8)))
    theirs = tmp_path / "answers-20240.jsonl"
    theirs.write_text("the user's own file\n")
    out = tmp_path / "answers.jsonl"
    options = ["--model", "m", "--user", "{q}"]
    assert run("build", table, "-o", out, *options, "--max-requests", "3").exit_code == 0
    result = run("build", table, "-o", out, *options)  # one file now: the three shards go
    assert result.exit_code == 0, result.output
    assert f"left alone: {theirs} (named like a shard of answers.jsonl, but batchkit did not write it)" in (
        result.stderr
    )
    assert sorted(p.name for p in tmp_path.glob("answers*")) == ["answers-20240.jsonl", "answers.jsonl"]
    assert theirs.read_text() == "the user's own file\n"


@pytest.mark.parametrize("command", ["build", "split", "fix"])
def test_a_read_only_output_folder_is_one_line_and_exit_2(run, tmp_path, command):
    from readonly import read_only

    batch = tmp_path / "b.jsonl"
    run("build", SAMPLES / "questions.csv", "-o", batch, "--model", "m", "--user", "{question}")
    folder = tmp_path / "ro"
    folder.mkdir()
    args = {
        "build": [
            "build",
            SAMPLES / "questions.csv",
            "-o",
            folder / "out.jsonl",
            "--model",
            "m",
            "--user",
            "{q}",
        ],
        "split": ["split", batch, "-o", folder / "out.jsonl", "--max-requests", "3"],
        "fix": ["fix", batch, "-o", folder / "out.jsonl"],
    }[command]
    if command == "build":
        args[-1] = "{question}"
    with read_only(folder):
        result = run(*args)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"batchkit: error: {folder}: cannot write")
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_build_draws_bars_only_on_a_terminal(tmp_path):
    from submitsupport import run_cli, run_in_terminal

    batch = tmp_path / "q.jsonl"
    args = ("build", str(SAMPLES / "questions.csv"), "-o", str(batch), "--model-column", "model",
            "--user", "{question}", "--id-column", "id")  # fmt: skip
    shown = run_in_terminal(*args)
    assert " rows" in shown and "/s]" in shown and "8 requests written" in shown
    piped = run_cli(*args)
    assert piped.returncode == 0 and "/s]" not in piped.stdout + piped.stderr


def test_repeated_ids_advise_what_works_on_the_table(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,q\na,one\nb,two\na,three\n")
    out = tmp_path / "b.jsonl"
    options = ["--model", "m", "--user", "{q}"]
    result = run("build", table, "-o", out, *options, "--id-column", "id")
    assert result.exit_code == 1 and not out.exists()
    assert "renames repeats" not in result.output  # no `fix` on a file that was never written
    assert "custom_id 'a' is already used on line 1; every request needs its own id" in result.output
    assert (
        "custom_ids repeat in column 'id': leave out --id-column to number the rows (row-1, row-2, …; "
        "--id-prefix sets the prefix)"
    ) in result.stderr
    assert (
        f"or pass --force to write {out} anyway, then run `batchkit fix --dedupe-ids --in-place {out}`"
        in (result.stderr)
    )
    # Both suggestions work as written.
    numbered = run("build", table, "-o", out, *options, "--id-prefix", "q-")
    assert numbered.exit_code == 0 and [r["custom_id"] for r in read_lines(out)] == ["q-1", "q-2", "q-3"]
    assert run("build", table, "-o", out, *options, "--id-column", "id", "--force").exit_code == 0
    fixed = run("fix", "--dedupe-ids", "--in-place", out)
    assert fixed.exit_code == 0, fixed.output
    assert [r["custom_id"] for r in read_lines(out)] == ["a", "b", "a~2"]


def test_command_line_templates_read_newline_and_tab_escapes(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\nwhy?\n")
    system = tmp_path / "system.txt"
    system.write_text("File text keeps \\n as written.\n")
    out = tmp_path / "b.jsonl"
    result = run(
        "build",
        table,
        "-o",
        out,
        "--model",
        "m",
        "--system",
        f"@{system}",
        "--user",
        r"Q:\n{q}\tend \\n C:\dir",
    )
    assert result.exit_code == 0, result.output
    (request,) = read_lines(out)
    assert request["body"]["messages"] == [
        {"role": "system", "content": "File text keeps \\n as written."},
        {"role": "user", "content": "Q:\nwhy?\tend \\n C:\\dir"},
    ]


def test_on_empty_per_column_and_empty_cells_counted_per_column(run, tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("review,rating\ngreat,5\n,4\nok,\nbad,\n")
    out = tmp_path / "b.jsonl"
    options = ["--model", "m", "--user", "{review} ({rating})"]
    refused = run("build", table, "-o", out, *options)
    assert refused.exit_code == 2
    assert "3 cell problems: row 2 'review': empty cell; row 3 'rating': empty cell; row 4 'rating'" in (
        refused.output
    )
    assert "--on-empty review=keep" in refused.output
    result = run(
        "build", table, "-o", out, *options, "--on-empty", "rating=keep", "--on-empty", "review=skip"
    )
    assert result.exit_code == 0, result.output
    assert [r["body"]["messages"][0]["content"] for r in read_lines(out)] == ["great (5)", "ok ()", "bad ()"]
    assert "4 rows read, 3 requests written (1 file" in result.stderr
    assert "empty cells: 'review' 1 cell (rows skipped), 'rating' 2 cells (kept)" in result.stderr
    assert "skipped 1 row: empty 'review' (1); rows 2" in result.stderr
    bare = run("build", table, "-o", out, *options, "--on-empty", "keep", "--on-empty", "review=skip")
    assert bare.exit_code == 0 and len(read_lines(out)) == 3
    typo = run("build", table, "-o", out, *options, "--on-empty", "ratin=keep")
    assert typo.exit_code == 2
    assert (
        "--on-empty ratin=keep: the request uses no column 'ratin' (it uses 'review', 'rating'); did you mean `rating`?"
        in typo.output
    )


def test_counts_of_one_are_singular(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\nwhy?\n")
    out = tmp_path / "b.jsonl"
    result = run("build", table, "-o", out, "--model", "m", "--user", "{q}")
    assert "built " in result.stderr and "1 row read, 1 request written (1 file," in result.stderr
    invalid = run("build", table, "-o", out, "--model", "m", "--user", "{q}", "--param", "temperature=9")
    assert "1 error in 1 request; nothing written" in invalid.stderr
    split = run("split", out, "-o", tmp_path / "c.jsonl")
    assert "split " in split.stderr and "1 request into 1 file," in split.stderr


def test_a_param_is_written_as_given_even_past_64_bits(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q,n\nhello,123456789012345678901234567890\n")
    wide = "99999999999999999999999"
    out = tmp_path / "b.jsonl"
    args = ["build", table, "-o", out, "--model", "m", "--user", "{q}", "--param", f"seed={wide}"]
    refused = run(*args, "-p", "openai")
    assert refused.exit_code == 1 and "error[out-of-range] /body/seed" in refused.output
    assert not out.exists()
    forced = run(*args, "-p", "openai", "--force", "--param", f'logit_bias={{"12": {wide}}}')
    assert forced.exit_code == 0, forced.output
    raw = out.read_bytes()
    assert f'"seed":{wide}'.encode() in raw and f'"logit_bias":{{"12":{wide}}}'.encode() in raw
    assert b"e+22" not in raw and b"e+23" not in raw
    template = tmp_path / "body.json"
    template.write_text('{"messages": [{"role": "user", "content": "{q}"}], "seed": {"$column": "n"}}')
    out2 = tmp_path / "c.jsonl"
    cells = run("build", table, "-o", out2, "--model", "m", "--body-template", template, "--force")
    assert cells.exit_code == 0, cells.output
    assert b'"seed":123456789012345678901234567890' in out2.read_bytes()


def test_build_fix_convert_and_split_print_a_repeated_finding_once(run, tmp_path):
    """A warning on every row is one line per code, as `validate` prints it, not one line per row."""
    table = tmp_path / "rows.csv"
    table.write_text("id,q\n" + "".join(f"i{i},question {i}\n" for i in range(40)), encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    result = run("build", table, "-o", out, "--model", "m", "--user", "{q}", "--param", "max_token=5")
    assert result.exit_code == 0
    typo = [line for line in result.output.splitlines() if "unknown-field" in line]
    assert typo == [
        f"{table}:1: warning[unknown-field] ×40, lines 1–40; first: /body/max_token: `max_token` is not a known "
        "chat-completions field; it is passed through as is (fine only for servers that accept it); did you "
        "mean `max_tokens`?"
    ]
    split = run("split", out, "--max-requests", "10", "-o", tmp_path / "parts.jsonl")
    assert sum("unknown-field" in line for line in split.output.splitlines()) == 1
    converted = run("convert", out, "-o", tmp_path / "claude.jsonl", "--to", "anthropic")
    assert converted.exit_code == 1
    assert [
        line.split(" ×")[0].split(": ")[-1] for line in converted.output.splitlines() if "×40" in line
    ] == [
        "error[missing-max-tokens]",
        "error[unsupported-field]",
    ]
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"{not json\n" * 12)
    fixed = run("fix", broken, "-o", tmp_path / "fixed.jsonl")
    assert (
        f"{tmp_path / 'fixed.jsonl'}:1: error[invalid-json] ×12, lines 1–12; first: not valid JSON"
        in fixed.output
    )
    assert sum("invalid-json" in line for line in fixed.output.splitlines()) == 1


def test_a_semicolon_csv_with_a_byte_order_mark_is_read_and_the_separator_named(run, tmp_path):
    """What Excel writes where the decimal mark is a comma: ';'-separated, a UTF-8 BOM, CRLF lines."""
    table = tmp_path / "eu.csv"
    table.write_bytes('\ufeffid;name;comment\r\n1;Ana;"hola; qué tal"\r\n2;Bo;1,5 kg\r\n'.encode())
    out = tmp_path / "eu.jsonl"
    built = run("build", table, "-o", out, "--model", "m", "--user", "{comment}", "--id-column", "id")
    assert built.exit_code == 0, built.output
    assert f"read {table} as semicolon-separated (what its first lines use)" in built.output
    assert [(r["custom_id"], r["body"]["messages"][0]["content"]) for r in read_lines(out)] == [
        ("1", "hola; qué tal"),
        ("2", "1,5 kg"),
    ]
    plain = run(
        "build", SAMPLES / "questions.csv", "-o", tmp_path / "q.jsonl", "--model", "m", "--user", "{question}"
    )
    assert "separated" not in plain.output  # a comma is said nothing about
    forced = run("build", table, "-o", out, "--model", "m", "--user", "{comment}", "--delimiter", ",")
    assert forced.exit_code == 2
    assert (
        "C error: Expected 1 fields in line 3, saw 2 (is the file ';'-separated? pass --delimiter ';')"
        in (forced.output)
    )
    header_only = tmp_path / "header.csv"
    header_only.write_text("id;comment\n1;hi\n")
    one_column = run(
        "build", header_only, "-o", out, "--model", "m", "--user", "{comment}", "--delimiter", ","
    )
    assert (
        "the table's columns are: 'id;comment' (one column: is the file ';'-separated? pass --delimiter ';')"
        in (one_column.output)
    )
    results = tmp_path / "eu.output.jsonl"
    results.write_text(
        "".join(
            json.dumps({"custom_id": cid, "response": {"status_code": 200, "body": {"choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"answer {cid}"}}]}}, "error": None}) + "\n"
            for cid in ("1", "2")
        )
    )  # fmt: skip
    merged = tmp_path / "merged.csv"
    done = run("merge", out, "-r", results, "--source", table, "--id-column", "id", "-o", merged)
    assert done.exit_code == 0, done.output
    assert f"read {table} as semicolon-separated" in done.output
    assert "answer 1" in merged.read_text() and "hola; qué tal" in merged.read_text()
