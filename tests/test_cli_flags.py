"""Library messages speak of the Python API; the CLI names its options for the same advice. A message keeps
the options it names as data (batchkit.words), so nothing rewrites sentences."""

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import batchkit
from batchkit.cli import cli
from batchkit.cli.flags import cli_words
from batchkit.words import Meta, Option, Text, Words

DATA = Path(__file__).parent / "data"
LIBRARY = Path(batchkit.__file__).parent
# Where the library's messages were rewritten (the rest is listed as work left): none of these names a flag.
API_WORDED = [
    "batchfile/write.py", "batchfile/shards.py", "batchfile/split.py", "build/builder.py", "build/bodies.py",
    "results/join.py", "results/requests.py", "results/frame.py", "results/retry.py", "results/export.py",
    "remote/client.py", "tables/read.py", "tables/write.py", "tables/sources.py", "runner/batch.py",
    "validate/fix.py", "tokens/count.py", "batchfile/by_key.py",
]  # fmt: skip


def test_the_library_says_force_true_and_the_cli_says_force(tmp_path):
    bad = [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}]
    with pytest.raises(batchkit.ValidationFailed, match=r"pass force=True to write anyway") as caught:
        batchkit.write_batch(bad, tmp_path / "b.jsonl")
    assert "--" not in str(caught.value)
    assert cli_words(caught.value.message).endswith(
        "nothing written (fix them, or pass --force to write anyway)"
    )


def test_merge_usage_is_worded_for_each_audience(tmp_path):
    inputs = DATA / "openai" / "input.jsonl"
    with pytest.raises(batchkit.UsageError, match="^id_column= needs source=: "):
        batchkit.merge_results(inputs, inputs, id_column="id")
    result = CliRunner().invoke(
        cli, ["merge", str(inputs), "-r", str(inputs), "--id-column", "id", "-o", "-"]
    )
    assert result.exit_code == 2
    assert "--id-column needs --source: it names the source table's id column" in result.output


def test_options_are_written_for_each_audience_from_the_same_parts():
    text = Text(
        "leave out ", Option("id_column"), " (", Option("id_prefix"), " sets it); pass ",
        Option("base_url", Meta("http://h/v1")), ", ", Option("on_empty", {"my rating": "keep"}), ", ",
        Option("delimiter", ";"), ", ", Option("escape_formulas", False), " and ", Option("output", Meta("OUT")),
        "; ", Words("repair it with fix_file()", "run `batchkit fix`"),
    )  # fmt: skip
    assert text == (
        'leave out id_column= (id_prefix= sets it); pass base_url=http://h/v1, on_empty={"my rating": "keep"}, '
        'delimiter=";", escape_formulas=False and output=OUT; repair it with fix_file()'
    )
    assert cli_words(text) == (
        "leave out --id-column (--id-prefix sets it); pass --base-url http://h/v1, --on-empty 'my rating=keep', "
        "--delimiter ';', --no-escape-formulas and -o OUT; run `batchkit fix`"
    )
    assert isinstance("a; " + text + ".", Text)  # joined, it keeps its parts
    untouched = "metadata KEY=VALUE; sources=3; body.model=x; force=True in a plain string"
    assert cli_words(untouched) == untouched


# The keywords of the Python API that a message may advise; outside the CLI, only a words.Option names them.
KEYWORDS = (
    "force id_column id_prefix source max_findings on_empty base_url api_key_env input_format encoding "
    "delimiter concurrency only in_place output model model_column system user input messages_column "
    "body_template endpoint params tokenizer max_tokens max_file_tokens allow_stale max_cost prices provider "
    "allow_missing escape_formulas dedupe_ids"
).split()


def test_no_library_message_writes_an_option_in_its_text():
    pattern = re.compile(rf"(?<![\w.\-])({'|'.join(KEYWORDS)})=")
    found = [
        f"{path.relative_to(LIBRARY)}: {text!r}"
        for path in LIBRARY.rglob("*.py")
        # the command line, its demo and the HTTP server speak of no Python keyword
        if path.relative_to(LIBRARY).parts[0] not in ("cli", "server", "demo.py")
        for text in message_texts(path.read_text(), words_sides=(0, 1))
        if pattern.search(text)
    ]
    assert found == []


def message_texts(source: str, words_sides: tuple[int, ...] = (1,)) -> list[str]:
    """The string constants of a module (f-string parts too), docstrings left out, and the given sides of
    every Words phrase (0: the Python API's, 1: the command line's, which names flags by design)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
    }  # fmt: skip
    cli_sides = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Words" and len(node.args) == 2
        for side in words_sides
        for part in ast.walk(node.args[side])
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | cli_sides
    ]


@pytest.mark.parametrize("module", API_WORDED)
def test_reworded_modules_name_no_flag_in_messages(module):
    texts = message_texts((LIBRARY / module).read_text())
    assert [t for t in texts if re.search(r"(^|[\s(`])--[a-z]", t)] == []


def test_build_argument_errors_name_options_at_the_command_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\nhello\n")
    with pytest.raises(batchkit.UsageError, match=r"^give model=NAME or model_column=COL$"):
        list(batchkit.build_requests([{"q": "x"}], user="{q}"))
    result = CliRunner().invoke(cli, ["build", str(table), "-o", str(tmp_path / "b.jsonl"), "--user", "{q}"])
    assert result.exit_code == 2 and "give --model NAME or --model-column COL" in result.output
    result = CliRunner().invoke(
        cli,
        [
            "build",
            str(table),
            "-o",
            str(tmp_path / "b.jsonl"),
            "--model",
            "m",
            "--input",
            "{q}",
            "--endpoint",
            "/v1/chat/completions",
        ],
    )
    assert (
        result.exit_code == 2
        and "--input builds /v1/embeddings requests; pass --endpoint /v1/embeddings" in result.output
    )


def test_a_merged_tables_summary_names_the_argument(tmp_path):
    from batchkit.results import write_merged

    written = write_merged(pd.DataFrame({"answer": ["=1+1", "fine"]}), tmp_path / "m.csv")
    assert written.to_text().endswith("escaped with a leading ' (escape_formulas=False keeps them raw)")


def test_a_stored_message_keeps_its_options():
    """What the ledger keeps of a failure names its options as data, so `batchkit list` says the flag."""
    from batchkit.words import from_record, record

    text = Text("pass ", Option("base_url", Meta("http://h/v1")), " or ", Option("force", True), "; ",
                Words("a", "b"), " ", Option("on_empty", {"c": "keep"}))  # fmt: skip
    again = from_record(record(text))
    assert (
        again == text
        and cli_words(again)
        == cli_words(text)
        == "pass --base-url http://h/v1 or --force; b --on-empty c=keep"
    )
    assert record("plain") == from_record("plain") == "plain" and from_record(None) is None
    assert from_record("words:[broken") == "words:[broken"
