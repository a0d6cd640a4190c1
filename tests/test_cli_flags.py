"""Library messages speak of the Python API; the CLI names its options for the same advice."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import batchkit
from batchkit.cli import cli
from batchkit.cli.flags import cli_words

DATA = Path(__file__).parent / "data"
LIBRARY = Path(batchkit.__file__).parent
# Where the library's messages were rewritten (the rest is listed as work left): none of these names a flag.
API_WORDED = [
    "build/shards.py",
    "build/builder.py",
    "results/join.py",
    "results/requests.py",
    "results/frame.py",
]


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
    assert (
        cli_words("metadata KEY=VALUE; sources=3; force=Truex")
        == "metadata KEY=VALUE; sources=3; force=Truex"
    )


@pytest.mark.parametrize("module", API_WORDED)
def test_reworded_modules_name_no_flag_in_messages(module):
    text = (LIBRARY / module).read_text()
    strings = re.findall(r'f?"([^"\n]*)"', text)
    assert [s for s in strings if re.search(r"(^|[\s(`])--[a-z]", s)] == []
