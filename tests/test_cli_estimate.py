"""`batchkit estimate` on the command line: text marks estimates with ~, JSON with "estimated"."""

import json

from click.testing import CliRunner
from test_tokens import COOKBOOK_MESSAGES, write_batch

from batchkit.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["estimate", *map(str, args)])


def mixed_file(tmp_path):
    bodies = [{"model": "gpt-4o-mini", "messages": COOKBOOK_MESSAGES, "max_tokens": 1000}] * 3
    bodies.append({"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": COOKBOOK_MESSAGES})
    return write_batch(tmp_path / "batch.jsonl", bodies)


def test_text_marks_estimates_and_says_what_has_no_price(tmp_path):
    result = run(mixed_file(tmp_path), "-p", "openai")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("batch.jsonl: 4 request(s), provider openai")
    assert "    prompt tokens    372" in lines  # 3 × 124, exact: no ~
    assert "    prompt tokens    ~124" in lines
    assert "[estimated with o200k_base]" in result.output
    assert (
        "no price for meta-llama/Llama-3.1-8B-Instruct at openai; add one with --prices FILE" in result.output
    )
    assert "(1 request(s) with no max counted at 4,096)" in result.output
    # 372 × $0.15 in, up to 3,000 × $0.60 out per 1M, half off.
    assert (
        "    cost (batch)     $0.000028 … $0.00093  (in 0.15 / out 0.6 per 1M, -50% batch;" in result.output
    )
    assert "    prompt lengths   min 124 · median 124 · p95 124 · max 124" in lines
    assert lines[-1].startswith(
        "total: 4 request(s), ~496 prompt tokens, output ceiling 7,096, cost ~$0.000028"
    )


def test_json_shape(tmp_path):
    result = run(mixed_file(tmp_path), "-p", "openai", "--format", "json", "--default-max-output", "100")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) == {"provider", "default_max_output", "files", "totals"}
    assert doc["default_max_output"] == 100
    (f,) = doc["files"]
    assert (f["requests"], f["unreadable_lines"], f["findings"]) == (4, 0, [])
    exact, estimated = f["models"]
    assert set(exact) == {"model", "endpoints", "requests", "prompt_tokens", "estimated", "tokenizer",
                          "output_ceiling", "requests_without_max", "not_counted", "price", "cost",
                          "prompt_lengths"}  # fmt: skip
    assert (exact["model"], exact["estimated"], exact["prompt_tokens"], exact["output_ceiling"]) == (
        "gpt-4o-mini", False, 372, 3000)  # fmt: skip
    assert exact["price"]["date"] and exact["price"]["source"].startswith("https://")
    assert exact["cost"]["currency"] == "USD" and exact["cost"]["estimated"] is False
    assert set(exact["prompt_lengths"]) == {"min", "median", "p95", "max", "histogram"}
    assert exact["prompt_lengths"]["histogram"] == [{"from": 124, "to": 124, "requests": 3}]
    assert (estimated["estimated"], estimated["price"], estimated["cost"]) == (True, None, None)
    assert estimated["output_ceiling"] == 100
    assert doc["totals"]["unpriced_models"] == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert doc["totals"]["estimated"] is True


def test_prices_file_override_on_the_command_line(tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"prices": [{"provider": "kluster", "model": "meta-llama/Llama-3.1-8B-Instruct",
        "input": 0.18, "output": 0.18, "batch_discount": 0.0, "currency": "USD", "date": "2026-11-01",
        "source": "https://example.com/pricing"}]}))  # fmt: skip
    result = run(mixed_file(tmp_path), "-p", "kluster", "--prices", prices, "--format", "json")
    models = {m["model"]: m for m in json.loads(result.output)["files"][0]["models"]}
    assert models["meta-llama/Llama-3.1-8B-Instruct"]["cost"]["low"] == 124 * 0.18 / 1e6
    assert models["gpt-4o-mini"]["cost"] is None  # no kluster price for it: none invented
    text = run(mixed_file(tmp_path), "-p", "kluster").output
    assert "no price for gpt-4o-mini at kluster; add one with --prices FILE" in text


def test_a_price_without_an_output_price_bounds_no_cost_of_requests_that_write(tmp_path):
    """Output is optional in a price (an embedding's has none): for a chat model it priced the output at
    zero, and --max-cost passed a bound the output alone could pass."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"prices": [{"provider": "kluster", "model": "meta-llama/Llama-3.1-8B-Instruct",
        "input": 0.18, "batch_discount": 0.0, "currency": "USD", "date": "2026-11-01", "source": "x"}]}))  # fmt: skip
    result = run(mixed_file(tmp_path), "-p", "kluster", "--prices", prices, "--format", "json")
    doc = json.loads(result.output)
    llama = next(m for m in doc["files"][0]["models"] if m["model"] == "meta-llama/Llama-3.1-8B-Instruct")
    assert llama["cost"] is None and "meta-llama/Llama-3.1-8B-Instruct" in doc["totals"]["unpriced_models"]
    text = run(mixed_file(tmp_path), "-p", "kluster", "--prices", prices).output
    assert "the price of meta-llama/Llama-3.1-8B-Instruct at kluster has no output price" in text


def test_exit_codes(tmp_path):
    path = mixed_file(tmp_path)
    path.write_bytes(path.read_bytes() + b"{broken\n")
    result = run(path, "-p", "openai")
    assert result.exit_code == 1
    assert "  line 5: invalid-json: not valid JSON" in result.output
    missing = run(tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_prices = tmp_path / "p.json"
    bad_prices.write_text("[]")
    result = run(mixed_file(tmp_path), "--prices", bad_prices)
    assert result.exit_code == 2 and 'expected an object with a "prices" list' in result.output


def test_a_warning_on_reading_is_shown_and_every_request_counted_exit_0(tmp_path):
    path = mixed_file(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes() + b"\n")  # a byte-order mark and a blank line
    result = run(path, "-p", "openai", "--format", "json")
    assert result.exit_code == 0, result.output  # validate calls the file valid: `estimate && submit` runs
    (file,) = json.loads(result.output)["files"]
    assert file["requests"] == 4 and file["unreadable_lines"] == 0
    assert [f["code"] for f in file["findings"]] == ["byte-order-mark", "blank-line"]


def test_estimate_is_listed_in_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert "estimate" in result.output and "Count prompt tokens" in result.output


def test_names_from_the_file_are_escaped_and_groups_bounded(tmp_path, monkeypatch):
    from batchkit.tokens import estimates

    monkeypatch.setattr(estimates, "MAX_MODELS", 3)
    models = ["evil\x1b[31mred", "m2", "m3", "m4", "m5", "m2"]
    path = write_batch(tmp_path / "b.jsonl", [{"model": m, "messages": COOKBOOK_MESSAGES} for m in models])
    result = run(path, "-p", "openai")
    assert "\x1b" not in result.output and "evilred" in result.output  # the sequence removed, as everywhere
    doc = json.loads(run(path, "-p", "openai", "--format", "json").output)
    assert [(m["model"], m["requests"]) for m in doc["files"][0]["models"]] == [
        ("evil\x1b[31mred", 1), ("m2", 2), ("m3", 1), ("(more models)", 2)]  # fmt: skip


def test_json_totals_past_64_bits_are_written_exactly(tmp_path):
    biggest = 2**63 - 1  # the largest max_tokens a line can carry; three of them sum past 64 bits
    path = write_batch(tmp_path / "big.jsonl", [{**mixed_file_body(), "max_tokens": biggest}] * 3)
    result = run(path, "--format", "json", "-p", "openai")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["output_ceiling"] == 3 * biggest
    assert data["files"][0]["models"][0]["output_ceiling"] == 3 * biggest
    assert data["totals"]["cost"]["USD"]["high"] > 1e12  # the cost of that ceiling, a plain float


def mixed_file_body() -> dict:
    return {"model": "gpt-4o-mini", "messages": COOKBOOK_MESSAGES}


def test_a_file_of_another_format_is_priced_at_its_formats_provider_unless_one_is_named(tmp_path):
    """As `validate` reads it: without --provider (or $BATCHKIT_PROVIDER), an Anthropic or Gemini file is
    priced at Anthropic's or Gemini's prices, where it was priced at kluster's (which has none for them)."""
    messages = [{"role": "user", "content": "Classify this review: it broke on day two."}]
    claude = {"model": "claude-3-5-haiku-latest", "messages": messages, "max_tokens": 100}
    source = write_batch(tmp_path / "claude.jsonl", [claude] * 2)
    anthropic, gemini = tmp_path / "a.jsonl", tmp_path / "g.jsonl"
    for target, path in (("anthropic", anthropic), ("gemini", gemini)):
        converted = CliRunner().invoke(cli, ["convert", str(source), "--to", target, "-o", str(path)])
        assert converted.exit_code == 0, converted.output

    def priced(*args, **env):
        result = CliRunner().invoke(cli, ["estimate", *map(str, args), "--format", "json"], env=env)
        assert result.exit_code == 0, result.output
        doc = json.loads(result.output)
        return doc["provider"], [f["provider"] for f in doc["files"]], doc["totals"]["unpriced_models"]

    assert priced(anthropic, BATCHKIT_PROVIDER="") == ("anthropic", ["anthropic"], [])
    gemini_model = ("--model", "gemini-2.5-flash")  # its lines name none
    assert priced(gemini, *gemini_model, BATCHKIT_PROVIDER="") == ("gemini", ["gemini"], [])
    # files of several formats: each its own; the run names the default
    both = priced(anthropic, gemini, mixed_file(tmp_path), *gemini_model, BATCHKIT_PROVIDER="")
    assert both[:2] == ("kluster", ["anthropic", "gemini", "kluster"])
    # a provider named wins, for every file
    named = priced(anthropic, "-p", "kluster")
    assert named == ("kluster", ["kluster"], ["claude-3-5-haiku-latest"])
    assert priced(anthropic, BATCHKIT_PROVIDER="openai")[:2] == ("openai", ["openai"])
    text = CliRunner().invoke(cli, ["estimate", str(anthropic)], env={"BATCHKIT_PROVIDER": ""}).output
    assert text.splitlines()[0].endswith("a.jsonl: 2 request(s), provider anthropic")
    assert "cost (batch)" in text and "no price" not in text


def test_a_max_tokens_written_as_a_whole_float_is_its_cap(tmp_path):
    path = tmp_path / "floats.jsonl"
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {**mixed_file_body(), "max_tokens": value}} for i, value in enumerate((100.0, 1e3, 7))]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run(path, "--format", "json", "-p", "openai")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["totals"]
    assert data["output_ceiling"] == 1107
