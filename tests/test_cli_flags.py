"""Library messages speak of the Python API; the CLI names its options for the same advice."""

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import batchkit
from batchkit.cli import cli
from batchkit.cli.flags import cli_words

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
    assert cli_words(str(caught.value)).endswith(
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


def test_cli_words_rewrites_only_known_keywords():
    assert (
        cli_words("leave out id_column= (id_prefix= sets it)")
        == "leave out --id-column (--id-prefix sets it)"
    )
    assert cli_words("pass base_url=http://h/v1; drop system=/user=") == (
        "pass --base-url http://h/v1; drop --system/--user"
    )
    untouched = "metadata KEY=VALUE; sources=3; body.model=x; resource=1"
    assert cli_words(untouched) == untouched


def message_texts(source: str) -> list[str]:
    """The string constants of a module (f-string parts too), docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
    }  # fmt: skip
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
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
