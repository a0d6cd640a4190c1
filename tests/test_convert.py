"""`batchkit convert` and `batchkit validate` of other dialects, through click's CliRunner."""

import json

import orjson
from click.testing import CliRunner

from batchkit.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def chat(custom_id, **body):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **body},
    }


def write(path, lines):
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def test_convert_writes_the_target_dialect_and_it_validates(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a", max_completion_tokens=10), chat("b")])
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "anthropic", "--max-tokens", 500)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["params"]["max_tokens"] for x in lines] == [10, 500]
    assert "converted 2 request(s)" in result.output
    checked = run("validate", out, "--provider", "anthropic")
    assert checked.exit_code == 0, checked.output
    assert "valid for provider anthropic" in checked.output


def test_convert_reports_what_cannot_be_expressed_and_exits_one(tmp_path):
    source = write(
        tmp_path / "in.jsonl",
        [chat("a", max_completion_tokens=5, logit_bias={"1": 1}), chat("b", max_completion_tokens=5)],
    )
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "anthropic")
    assert result.exit_code == 1
    assert f"{source}:1: error[unsupported-field] /body/logit_bias" in result.output
    assert "1 request(s) could not be converted" in result.output
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == ["b"]


def test_drop_unsupported_lists_the_dropped_fields(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a", max_completion_tokens=5, logit_bias={"1": 1}, seed=3)])
    result = run("convert", source, "-o", tmp_path / "out.jsonl", "--to", "anthropic", "--drop-unsupported")
    assert result.exit_code == 0, result.output
    assert "warning[dropped-field] /body/logit_bias" in result.output
    assert "warning[dropped-field] /body/seed" in result.output
    assert "2 field(s) dropped" in result.output


def test_nothing_convertible_writes_nothing(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a")])  # no max tokens, no default
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "bedrock")
    assert result.exit_code == 1
    assert "missing-max-tokens" in result.output and "nothing written" in result.output
    assert not out.exists()


def test_when_no_request_converts_it_says_why_not_that_the_output_is_empty(tmp_path):
    source = write(
        tmp_path / "in.jsonl", [chat("a"), chat("b", max_completion_tokens=5, logit_bias={"1": 1})]
    )
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "bedrock")
    assert result.exit_code == 1
    assert "none of the 2 requests could be converted (2 errors); nothing written" in result.output
    assert "empty-file" not in result.output and "0 requests" not in result.output
    assert "models: gpt-4o (2); endpoints: /v1/chat/completions (2)" in result.output
    assert not out.exists()
    as_json = json.loads(run("convert", source, "-o", out, "--to", "bedrock", "--format", "json").stdout)
    summary = as_json["summary"] if isinstance(as_json, dict) else as_json[0]["summary"]
    assert summary["models"] == {"gpt-4o": 2} and summary["errors"] == 2


def test_a_line_that_repeats_a_key_is_not_converted(tmp_path):
    """Read keeping the last of a repeated key, a line would be converted into one of the requests it may
    mean, without a word: it is a finding on its line (as `validate` says), and nothing is written for it."""
    source = tmp_path / "in.jsonl"
    once = orjson.dumps(chat("a", max_completion_tokens=5)).decode()
    twice = once.replace('"custom_id":"a"', '"custom_id":"b","custom_id":"c"')
    assert twice != once
    source.write_text(once + "\n" + twice + "\n")
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "anthropic")
    assert result.exit_code == 1
    assert "in.jsonl:2: error[duplicate-key] /custom_id: `custom_id` appears more than once" in result.output
    assert "1 request(s) could not be converted and were not written" in result.output, result.output
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == ["a"]


def test_the_report_on_the_output_counts_the_outputs_own_lines(tmp_path):
    source = tmp_path / "in.jsonl"
    whole = orjson.dumps(chat("a", max_completion_tokens=5)).decode()
    source.write_text("\n".join([whole, whole[:40], whole.replace('"a"', '"c"')]) + "\n")  # line 2 cut short
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "anthropic", "--format", "json")
    assert result.exit_code == 1 and len(out.read_text().splitlines()) == 2
    reports = {r["file"]: r["summary"] for r in json.loads(result.stdout)}
    assert reports[str(source)]["lines"] == 3 and reports[str(out)]["lines"] == 2


def test_the_provider_names_the_dialect_and_its_id_rule(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("Row.1", max_completion_tokens=5)])
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--provider", "vertex")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["request"]["labels"] == {"custom_id": "line-1"}
    assert json.loads((tmp_path / "out.ids.jsonl").read_text()) == {"custom_id": "Row.1", "id": "line-1"}
    assert "map in" in result.output


def test_convert_without_a_dialect_or_provider_is_a_usage_error(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a")])
    result = run("convert", source, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert "--to" in result.output


def test_validate_detects_the_dialect_and_names_a_wrong_provider(tmp_path):
    line = {"key": "k1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    source = write(tmp_path / "g.jsonl", [line, line])
    result = run("validate", source, "--provider", "gemini")
    assert result.exit_code == 1
    assert f"{source}:2: error[duplicate-custom-id] /key: key 'k1' is already used on line 1" in result.output
    wrong = run("validate", source, "--provider", "openai", "--format", "json")
    codes = [f["code"] for f in json.loads(wrong.output)["findings"]]
    assert codes[0] == "wrong-dialect"


def test_validate_dialect_option_overrides_detection(tmp_path):
    source = write(tmp_path / "in.jsonl", [chat("a", max_completion_tokens=5)])
    assert run("validate", source).exit_code == 0
    result = run("validate", source, "--dialect", "anthropic", "--provider", "anthropic")
    assert result.exit_code == 1
    assert f"{source}:1: error[missing-field] /params: `params` is required" in result.output


def test_validate_anthropic_lines_from_standard_input():
    line = {
        "custom_id": "x.y",
        "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    }
    result = CliRunner().invoke(
        cli, ["validate", "-", "--provider", "anthropic"], input=orjson.dumps(line).decode() + "\n"
    )
    assert result.exit_code == 1
    assert "error[invalid-custom-id] /custom_id" in result.output


def test_renamed_ids_never_take_a_kept_id_nor_each_other(tmp_path):
    ids = ["bad.id 1", "line-1", "line-3", "bad id 3", "line-4-2", "also bad", "x" * 65, "line-7"]
    source = write(tmp_path / "in.jsonl", [chat(i) for i in ids])
    out = tmp_path / "out.jsonl"
    result = run("convert", source, "-o", out, "--to", "anthropic", "--max-tokens", 9)
    assert result.exit_code == 0, result.output
    written = [json.loads(x)["custom_id"] for x in out.read_text().splitlines()]
    mapping = [json.loads(x) for x in (tmp_path / "out.ids.jsonl").read_text().splitlines()]
    renamed = {m["custom_id"]: m["id"] for m in mapping}
    assert renamed == {
        "bad.id 1": "line-1-2",  # line-1 is kept on line 2
        "bad id 3": "line-4",
        "also bad": "line-6",
        "x" * 65: "line-7-2",  # 65 characters: renamed, as the README says, around the kept line-7
    }
    kept = [i for i in ids if i not in renamed]
    assert written == [renamed.get(i, i) for i in ids] and len(set(written)) == len(ids)
    assert not set(renamed.values()) & set(kept)


def test_standard_input_is_read_for_its_ids_too(tmp_path):
    data = b"".join(orjson.dumps(chat(i)) + b"\n" for i in ["bad.id 1", "line-1"])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli, ["convert", "-", "-o", str(out), "--to", "anthropic", "--max-tokens", "9"], input=data
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == ["line-1-2", "line-1"]


def test_forced_output_that_does_not_validate_exits_one_as_help_says(tmp_path):
    assert "1 some could not be (or the output is invalid)" in run("convert", "--help").output
    source = write(tmp_path / "in.jsonl", [chat("same"), chat("same")])  # a repeated id is kept twice
    out = tmp_path / "out.jsonl"
    refused = run("convert", source, "-o", out, "--to", "anthropic", "--max-tokens", 9)
    assert refused.exit_code == 1 and not out.exists()
    forced = run("convert", source, "-o", out, "--to", "anthropic", "--max-tokens", 9, "--force")
    assert forced.exit_code == 1, forced.output
    assert "error[duplicate-custom-id]" in forced.output and len(out.read_text().splitlines()) == 2


def test_lines_that_name_no_model_hold_one_models_requests(tmp_path):
    """Gemini's and Bedrock's lines name no model (the batch does): a request asking for another model
    than the first would be answered by the first, so it is refused, where it was dropped without a word."""
    source = write(tmp_path / "in.jsonl", [chat("a", max_tokens=5), {**chat("b", max_tokens=5), "body": {
        **chat("b", max_tokens=5)["body"], "model": "other"}}, chat("c", max_tokens=5)])  # fmt: skip
    for to in ("gemini", "bedrock"):
        out = tmp_path / f"{to}.jsonl"
        result = run("convert", source, "-o", out, "--to", to)
        assert result.exit_code == 1, result.output
        assert (
            f"{source}:2: error[mixed-model] /body/model: this request asks for 'other' and line 1 for"
            in result.output
        )
        assert "split the requests by model first (`batchkit split --by model`)" in result.output
        assert len(out.read_bytes().splitlines()) == 2  # a and c
    kept = run("convert", source, "-o", tmp_path / "claude.jsonl", "--to", "anthropic")
    assert kept.exit_code == 0, kept.output  # Anthropic's lines name their model
    one = run(
        "convert", source, "-o", tmp_path / "one.jsonl", "--to", "gemini", "--model", "gemini-2.5-flash"
    )
    assert one.exit_code == 0, one.output  # --model puts one model on every line


def test_a_request_kind_the_target_cannot_take_is_refused_whole(tmp_path):
    """Anthropic and Gemini take chat requests only: an embeddings request cannot be converted by leaving
    a field out, so the refusal offers no --drop-unsupported, and that flag does not turn it into a drop."""
    embeddings = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "m", "input": "x"},
    }
    source = write(tmp_path / "in.jsonl", [embeddings])
    for to in ("anthropic", "gemini"):
        for dropping in ((), ("--drop-unsupported",)):
            result = run(
                "convert", source, "-o", tmp_path / "out.jsonl", "--to", to, "--max-tokens", 5, *dropping
            )
            assert result.exit_code == 1, result.output
            assert (
                "error[unsupported-field] /body: " in result.output
                and "takes chat requests only" in result.output
            )
            assert "leaves it out" not in result.output and "dropped" not in result.output
