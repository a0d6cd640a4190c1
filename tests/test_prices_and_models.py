"""Prices as dated, sourced data for every provider batchkit has a row for; the models a provider is
known to serve, and "did you mean" for a model name one typo away from one of them (validate, build,
estimate, submit), and a warning when `convert` writes a model the target provider does not serve."""

from __future__ import annotations

import datetime
import json

import orjson
import pytest
from click.testing import CliRunner
from serverutil import running_server
from submitsupport import ROOT, invoke, write_requests

import batchkit
from batchkit.cli import cli
from batchkit.providers import PROVIDERS
from batchkit.tokens import closest_model, load_prices

NO_PRICES = {"local", "generic", "vllm"}  # a local server, any server, a self-hosted vLLM: no price list


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def request(model: str, custom_id: str = "a") -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}}  # fmt: skip


def write(path, *lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_every_provider_row_has_dated_sourced_prices():
    table = load_prices()
    priced = {provider for provider, _model in table}
    assert priced == set(PROVIDERS) - NO_PRICES
    for price in table.values():
        assert datetime.date.fromisoformat(price.date) <= datetime.date(2026, 12, 31), price
        assert price.source.startswith("https://"), price
        assert price.currency == "USD" and 0 <= price.batch_discount <= 1
    # the OpenAI prices were checked again: the same as before
    assert (table["openai", "gpt-4o-mini"].input, table["openai", "gpt-4o-mini"].output) == (0.15, 0.6)


def test_a_dated_snapshot_is_known_and_a_typo_gets_the_name_it_was_meant_to_be():
    assert closest_model("gpt-4o-mini-2024-07-18", "openai") == (True, None)
    assert closest_model("claude-haiku-4-5-20251001", "anthropic") == (True, None)
    assert closest_model("gpt-4o-mnii", "openai") == (False, "gpt-4o-mini")
    assert closest_model("a-model-of-our-own", "openai") == (False, None)  # unknown, not a typo: silent
    assert closest_model("anything", "local") == (False, None)


def test_validate_build_and_estimate_say_did_you_mean(tmp_path):
    batch = write(tmp_path / "b.jsonl", request("gpt-4o-mnii"), request("gpt-4o-mnii", "b"))
    checked = run("validate", batch, "--provider", "openai")
    assert checked.exit_code == 0  # a warning, not an error
    assert (
        f"{batch}: warning[unknown-model] /body/model: model 'gpt-4o-mnii' is not one openai is known to serve "
        "(its published prices); did you mean `gpt-4o-mini`?"
    ) in checked.output
    assert "unknown-model" not in run("validate", write(tmp_path / "ok.jsonl", request("gpt-4o-mini"))).output
    table = tmp_path / "q.csv"
    table.write_text("q\nhello\n")
    built = run("build", table, "-o", tmp_path / "built.jsonl", "--provider", "openai", "--model", "gpt-4o-mnii",
                "--user", "{q}")  # fmt: skip
    assert built.exit_code == 0 and "did you mean `gpt-4o-mini`?" in built.output
    estimated = run("estimate", batch, "--provider", "openai")
    assert "no price for gpt-4o-mnii at openai; did you mean gpt-4o-mini?; add one with --prices FILE" in (
        estimated.output
    )


def test_convert_warns_of_a_model_the_target_provider_does_not_serve(tmp_path):
    batch = write(tmp_path / "b.jsonl", request("meta-llama/Meta-Llama-3.1-8B-Instruct"))
    converted = run("convert", batch, "-o", tmp_path / "c.jsonl", "--to", "anthropic")
    assert converted.exit_code == 0, converted.output  # written: a warning, not an error
    assert (
        "warning[unknown-model] /body/model: model 'meta-llama/Meta-Llama-3.1-8B-Instruct' is not one anthropic "
        "is known to serve (its published prices); name a model anthropic serves"
    ) in converted.output
    named = run(
        "convert", batch, "-o", tmp_path / "c.jsonl", "--to", "anthropic", "--model", "claude-sonnet-4-5"
    )
    assert named.exit_code == 0 and "unknown-model" not in named.output
    typo = run(
        "convert", batch, "-o", tmp_path / "c.jsonl", "--to", "anthropic", "--model", "claude-sonet-4-5"
    )
    assert "did you mean `claude-sonnet-4-5`?" in typo.output


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = ("--backend", "echo", "--model", "acme-large-2", "--model", "gpt-4o-mini")
    with running_server(*args, data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


def test_submit_shows_did_you_mean_from_the_price_data_and_the_server_model_list(server, tmp_path):
    """A named provider's list (`batchkit models`) counts as known too: a typo of one of its models."""
    path = write_requests(tmp_path / "typo.jsonl", 2, models=("acme-lareg-2",))
    sent = invoke("submit", path, "--provider", "openai", "--base-url", server.base_url, OPENAI_API_KEY="x")
    assert sent.returncode == 0, sent.stderr
    assert "model 'acme-lareg-2' is not one openai is known to serve (its published prices and its model list); " \
           "did you mean `acme-large-2`?" in sent.stderr  # fmt: skip


def test_max_cost_takes_prices_and_never_says_generic(server, tmp_path):
    path = write_requests(tmp_path / "own.jsonl", 2, models=("acme-large-2",))
    unpriced = invoke("submit", path, "--base-url", server.base_url, "--max-cost", "0.01")
    assert unpriced.returncode == 2
    assert f"no price is known for acme-large-2 at the server at {server.base_url}" in unpriced.stderr
    assert "--prices FILE" in unpriced.stderr and "--provider" in unpriced.stderr
    assert "generic" not in unpriced.stderr
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"prices": [{"provider": "generic", "model": "acme-large-2", "input": 1, "output": 1,
        "batch_discount": 0, "currency": "USD", "date": "2026-12-01", "source": "our contract"}]}))  # fmt: skip
    over = invoke("submit", path, "--base-url", server.base_url, "--max-cost", "0.000001", "--prices", prices)
    assert over.returncode == 2 and "over --max-cost 1e-06" in over.stderr
    fine = invoke("submit", path, "--base-url", server.base_url, "--max-cost", "1", "--prices", prices)
    assert fine.returncode == 0, fine.stderr
    on_kluster = invoke("submit", ROOT / "samples" / "clean-chat.jsonl", "--max-cost", "0.000001",
                        KLUSTER_API_KEY="x")  # fmt: skip
    assert on_kluster.returncode == 2 and "at kluster, so the cost cannot be bounded" in on_kluster.stderr
    assert "generic" not in on_kluster.stderr


def test_anthropic_lines_to_an_openai_protocol_server_name_the_format_and_what_to_do(server, tmp_path):
    claude = write(tmp_path / "claude.jsonl", {"custom_id": "a", "params": {"model": "claude-sonnet-4-5",
                   "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}})  # fmt: skip
    for extra in ([], ["--no-validate"]):
        refused = invoke("submit", claude, "--base-url", server.base_url, *extra)
        assert refused.returncode == 2
        assert (
            f"{claude}: not submitted: it holds anthropic lines (Anthropic Message Batches: {{custom_id, params}} "
            f"lines), and the server at {server.base_url} takes OpenAI batch lines ({{custom_id, method, url, "
            f"body}}); `batchkit convert {claude} -o claude.openai.jsonl --to openai` writes them"
        ) in refused.stderr


def test_the_cost_bound_prices_the_batchs_model_where_it_answers_every_request(server, tmp_path):
    """Mistral takes the model on the batch: lines naming mistral-small-latest, sent with --model
    mistral-large, ran on mistral-large, ~17 times the price --max-cost was kept under."""
    line = {"custom_id": "a", "body": {"model": "mistral-small-latest", "max_tokens": 200,
            "messages": [{"role": "user", "content": "hello " * 50}]}}  # fmt: skip
    path = write(tmp_path / "mistral.jsonl", line)
    small = batchkit.estimate(path, provider="mistral").totals()["cost"]["USD"]["high"]
    large = batchkit.estimate(path, provider="mistral", model="mistral-large")
    assert list(large.files[0].models) == ["mistral-large"]
    assert large.totals()["cost"]["USD"]["high"] > 5 * small
    between = f"{2 * small:.8f}"
    refused = invoke("submit", path, "--provider", "mistral", "--base-url", server.root_url, "--model", "mistral-large",
                     "--max-cost", between, MISTRAL_API_KEY="x")  # fmt: skip
    assert refused.returncode == 2 and "over --max-cost" in refused.stderr, refused.stderr


def test_a_cost_bound_over_several_currencies_is_refused_and_the_cost_shown_is_over_the_bound(
    server, tmp_path
):
    path = tmp_path / "two.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "hi " * 300}]}}
        for i, model in enumerate(("acme-a", "acme-b"))]))  # fmt: skip
    entry = {
        "provider": "generic",
        "input": 1,
        "output": 1,
        "batch_discount": 0,
        "date": "2026-12-01",
        "source": "x",
    }
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"prices": [{**entry, "model": "acme-a", "currency": "EUR"},
                                             {**entry, "model": "acme-b", "currency": "JPY"}]}))  # fmt: skip
    mixed = invoke("submit", path, "--base-url", server.base_url, "--max-cost", "100", "--prices", prices)
    assert mixed.returncode == 2 and "the estimate is in 2 currencies (EUR, JPY)" in mixed.stderr, (
        mixed.stderr
    )
    prices.write_text(
        json.dumps({"prices": [{**entry, "model": m, "currency": "EUR"} for m in ("acme-a", "acme-b")]})
    )
    high = batchkit.estimate(path, provider="generic", prices=prices).totals()["cost"]["EUR"]["high"]
    bound = float(f"{high:.4f}")  # what a cost shown with four decimals reads as
    over = invoke(
        "submit", path, "--base-url", server.base_url, "--max-cost", repr(bound), "--prices", prices
    )
    shown = float(over.stderr.split("up to ")[1].split()[0])
    assert over.returncode == 2 and shown > bound, over.stderr  # it said "up to 0.0012, over 0.0012"
