"""Structured output in: `build --response-schema / --response-model`, carried by `convert`, and
`fix --strict-schemas` (golden file of violations whose output validates clean)."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchkit.build.structured import response_schema, schema_name
from batchkit.cli import cli
from batchkit.errors import ValidationFailed

DATA = Path(__file__).resolve().parent / "data" / "structured"
LOOSE = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number"},
        "detail": {"type": "object", "properties": {"why": {"type": "string"}}},
    },
    "required": ["sentiment"],
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review\nGreat phone and love it\nBroke after a day\n")
    return path


def test_a_schema_file_becomes_a_strict_response_format_and_the_repairs_are_said(tmp_path, table):
    schema = tmp_path / "review verdict.json"
    schema.write_text(json.dumps(LOOSE))
    out = tmp_path / "b.jsonl"
    result = run("build", table, "-o", out, "--model", "gpt-4o-mini", "--user", "{review}",
                 "--response-schema", schema, "--provider", "openai")  # fmt: skip
    assert result.exit_code == 0, result.output
    formats = [x["body"]["response_format"] for x in lines(out)]
    assert formats[0] == formats[1]
    assert formats[0]["type"] == "json_schema"
    spec = formats[0]["json_schema"]
    assert spec["name"] == "review_verdict" and spec["strict"] is True
    assert spec["schema"]["additionalProperties"] is False
    assert spec["schema"]["required"] == ["sentiment", "score", "detail"]
    assert spec["schema"]["properties"]["detail"]["required"] == ["why"]
    assert "/: additionalProperties: false added" in result.output
    assert "/: required now lists score, detail" in result.output
    assert "/properties/detail: required now lists why" in result.output
    assert json.loads(schema.read_text()) == LOOSE  # the input file is not changed


def test_responses_requests_get_text_format_and_the_name_can_be_given(tmp_path, table):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(LOOSE))
    template = tmp_path / "body.json"
    template.write_text(json.dumps({"input": "{review}"}))
    out = tmp_path / "b.jsonl"
    result = run("build", table, "-o", out, "--model", "gpt-4o-mini", "--endpoint", "/v1/responses",
                 "--body-template", template, "--response-schema", schema, "--schema-name", "verdict",
                 "--provider", "openai")  # fmt: skip
    assert result.exit_code == 0, result.output
    fmt = lines(out)[0]["body"]["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "verdict" and fmt["strict"] is True
    assert fmt["schema"]["additionalProperties"] is False
    assert "response_format" not in lines(out)[0]["body"]
    template.write_text(json.dumps({"input": "{review}", "text": {"verbosity": "low"}}))
    clash = run("build", table, "-o", tmp_path / "c.jsonl", "--model", "m", "--endpoint", "/v1/responses",
                "--body-template", template, "--response-schema", schema)  # fmt: skip
    assert clash.exit_code == 2 and "--body-template sets text" in clash.output


def test_a_schema_strict_mode_rejects_is_refused_with_its_findings(tmp_path, table):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}}))
    out = tmp_path / "b.jsonl"
    result = run("build", table, "-o", out, "--model", "m", "--user", "{review}", "--response-schema", schema)
    assert result.exit_code == 1
    assert "strict-schema-keyword" in result.output and "/properties/a/allOf" in result.output
    assert not out.exists()
    with pytest.raises(ValidationFailed):
        response_schema({"anyOf": [{"type": "string"}]}, "x", "/v1/chat/completions")


def test_bad_schema_options_are_usage_or_input_errors(tmp_path, table):
    out = tmp_path / "b.jsonl"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    base = ("build", table, "-o", out, "--model", "m", "--user", "{review}")
    assert run(*base, "--response-schema", bad).exit_code == 2
    assert run(*base, "--response-model", "nocolon").exit_code == 2
    assert run(*base, "--schema-name", "x").exit_code == 2
    good = tmp_path / "good.json"
    good.write_text(json.dumps(LOOSE))
    assert run(*base, "--response-schema", good, "--schema-name", "has space").exit_code == 2
    clash = run(*base, "--response-schema", good, "--param", 'response_format={"type":"text"}')
    assert clash.exit_code == 2 and "response_format" in clash.output
    assert not out.exists()


def test_schema_names_are_made_to_fit():
    assert schema_name("my schema.v2") == "my_schema_v2"
    assert schema_name("x" * 100) == "x" * 64
    assert schema_name("") == "response"


def test_a_pydantic_model_gives_the_schema(tmp_path, table, monkeypatch):
    pytest.importorskip("pydantic")
    (tmp_path / "review_models.py").write_text(
        "from typing import Literal\nfrom pydantic import BaseModel\n"
        "class Review(BaseModel):\n    sentiment: Literal['positive', 'negative']\n    score: float\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "b.jsonl"
    result = run("build", table, "-o", out, "--model", "gpt-4o-mini", "--user", "{review}",
                 "--response-model", "review_models:Review", "--provider", "openai")  # fmt: skip
    assert result.exit_code == 0, result.output
    spec = lines(out)[0]["body"]["response_format"]["json_schema"]
    assert spec["name"] == "Review"
    assert spec["schema"]["properties"]["sentiment"]["enum"] == ["positive", "negative"]
    assert spec["schema"]["additionalProperties"] is False
    missing = run("build", table, "-o", out, "--model", "m", "--user", "{review}",
                  "--response-model", "review_models:Nope")  # fmt: skip
    assert missing.exit_code == 2 and "no pydantic model named 'Nope'" in missing.output


def test_without_pydantic_a_model_is_a_clear_error(tmp_path, table, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydantic", None)  # what an absent package looks like to import
    result = run("build", table, "-o", tmp_path / "b.jsonl", "--model", "m", "--user", "{review}",
                 "--response-model", "x:Y")  # fmt: skip
    assert result.exit_code == 2
    assert "needs pydantic installed" in result.output


@pytest.mark.parametrize(
    ("target", "where", "options"),
    [("gemini", lambda x: x["request"]["generationConfig"]["responseSchema"], []),
     ("anthropic", lambda x: x["params"]["output_config"]["format"]["schema"], [])],
)  # fmt: skip
def test_a_built_schema_converts_to_other_dialects(tmp_path, table, target, where, options):
    # Gemini's Schema has additionalProperties (google-genai `Schema.additional_properties`): a strict-built
    # file converts as it is, nothing left out.
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(LOOSE))
    built = tmp_path / "b.jsonl"
    run("build", table, "-o", built, "--model", "m", "--user", "{review}", "--response-schema", schema,
        "--param", "max_tokens=50")  # fmt: skip
    out = tmp_path / f"{target}.jsonl"
    result = run("convert", built, "--to", target, "-o", out, *options)
    assert result.exit_code == 0, result.output
    assert "additionalProperties" not in result.output
    carried = where(lines(out)[0])
    assert carried["additionalProperties"] is False
    props = carried.get("properties")
    assert set(props) == {"sentiment", "score", "detail"}
    assert props["sentiment"]["enum"] == ["positive", "negative", "neutral"]


def test_fix_strict_schemas_lists_each_change_and_the_output_validates_clean(tmp_path, monkeypatch):
    out = tmp_path / "fixed.jsonl"
    source = DATA / "strict-fixable.jsonl"
    before = run("validate", source, "--provider", "openai")
    assert before.exit_code == 1 and "strict-schema-required" in before.output
    monkeypatch.chdir(DATA)  # the changes name the file as given
    result = run("fix", "strict-fixable.jsonl", "--strict-schemas", "-o", out, "--provider", "openai")
    assert result.exit_code == 0, result.output
    expected = (DATA / "strict-fixable.changes.txt").read_text().splitlines()
    assert result.output.splitlines()[: len(expected)] == expected
    assert run("validate", out, "--provider", "openai").exit_code == 0
    assert lines(out)[0] == lines(source)[0]  # a clean line is copied as it was
    assert Path(out).read_bytes().splitlines()[0] == source.read_bytes().splitlines()[0]


def test_fix_strict_schemas_in_responses_bodies_and_not_without_the_flag(tmp_path):
    source = DATA / "strict-fixable-responses.jsonl"
    out = tmp_path / "fixed.jsonl"
    untouched = run("fix", source, "-o", out, "--provider", "openai")
    assert untouched.exit_code == 1 and out.read_bytes() == source.read_bytes()
    result = run("fix", source, "--strict-schemas", "-o", out, "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert ":1: strict schema /body/text/format/schema: required now lists a" in result.output
    assert lines(out)[0]["body"]["text"]["format"]["schema"]["additionalProperties"] is False
