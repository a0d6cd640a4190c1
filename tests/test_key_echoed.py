"""A key that comes back from a provider never reaches what batchkit writes or prints: a downloaded answer
that repeats it (an echo of a prompt that held it), the answer cache fed from that download, a batch's
error that names it, however long the error; and a provider's words are cut only after the key is out.
Against a real `batchkit serve` (echo backend), the client sending the key it holds."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import zlib
from pathlib import Path

import pytest
from leaks import ENCODINGS, leaked
from serverutil import running_server
from submitsupport import run_cli

import batchkit

KEY = "sk-test-Rq5EchoedKEY-never-shown-9931"
MODEL = "m-served"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(
        "--backend", "echo", "--model", MODEL, data_dir=tmp_path_factory.mktemp("s")
    ) as running:
        yield running


def line(custom_id: str, content: str, model: str = MODEL) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def client(server, *args):
    return run_cli(*args, "--base-url", server.base_url, "--api-key-env", "THE_KEY", THE_KEY=KEY)


def test_an_answer_that_repeats_the_key_is_downloaded_and_cached_without_it(server, tmp_path):
    batch = tmp_path / "echo.jsonl"
    # the JSON-escaped one reaches the server as the key itself, which the echo answers with
    escaped = line("escaped", "x").replace('"x"', '"my key is ' + ENCODINGS["json-escaped"](KEY) + '"')
    batch.write_text(
        "\n".join([line("plain", f"my key is {KEY}, thanks"), escaped, line("none", "hello")]) + "\n"
    )
    done = client(server, "submit", batch, "--wait", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    output = (tmp_path / "echo.output.jsonl").read_text()
    assert leaked(output, KEY) is None and leaked(done.stdout + done.stderr, KEY) is None
    answers = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"]
               for r in map(json.loads, output.splitlines())}  # fmt: skip
    assert answers == {
        "plain": "my key is [redacted], thanks",
        "escaped": "my key is [redacted]",
        "none": "hello",
    }
    merged = run_cli("merge", batch, "-r", tmp_path / "echo.output.jsonl", "-o", "-")
    assert merged.returncode == 0 and leaked(merged.stdout, KEY) is None
    with contextlib.closing(sqlite3.connect(Path(os.environ["BATCHKIT_HOME"]) / "cache.db")) as db:
        stored = [zlib.decompress(row[0]).decode() for row in db.execute("SELECT line FROM answers")]
    assert len(stored) >= 3 and all(leaked(text, KEY) is None for text in stored)


def test_a_batch_error_that_names_the_key_is_shown_without_it_and_bounded(server, tmp_path):
    batch = tmp_path / "refused.jsonl"
    # the server fails the batch naming the model it does not serve: here, the key and 200 kB
    batch.write_text(line("a", "hi", model=f"{KEY}-{'x' * 200_000}") + "\n")
    submitted = client(server, "submit", batch, "--wait", "--interval", "0.2")
    status = client(server, "status", batch)
    as_json = client(server, "status", batch, "--format", "json")
    listed = run_cli("list")
    for shown in (submitted, status, as_json, listed):
        assert leaked(shown.stdout + shown.stderr, KEY) is None, shown.stdout[:300] + shown.stderr[:300]
    (error,) = json.loads(as_json.stdout)["errors"]
    assert error["code"] == "model_not_found" and error["message"].startswith(
        "The provided model '[redacted]-xxx"
    )
    assert len(error["message"]) == 1_000  # a provider's words are bounded
    assert len(status.stdout) < 5_000


@pytest.mark.parametrize("before", [970, 980, 990, 996, 999])  # the key straddles where the words are cut
def test_a_providers_words_are_cut_after_the_key_is_taken_out(before):
    from batchkit.remote import resolve_target
    from batchkit.remote.client import ANSWERED, Failure

    target = resolve_target("openai", "http://127.0.0.1:9/v1")
    body = "<html>" + "x" * before + f" token={KEY} and more " + "y" * 1_500
    said = str(Failure(ANSWERED, 500, body).error(target, "checking", KEY))
    assert leaked(said, KEY) is None, said
    assert "x" * 900 in said and "y" * 1_200 not in said  # bounded all the same


def test_a_key_an_upstream_changed_the_case_of_is_redacted_too():
    from batchkit.keys import REDACTED, redact

    for shown in (KEY.upper(), KEY.lower(), KEY.swapcase()):
        assert (
            redact(f"Incorrect API key provided: {shown}.", (KEY,))
            == f"Incorrect API key provided: {REDACTED}."
        )


@pytest.mark.parametrize("key", ["sk-SECRETVALUE\u2013dash", "sk-SECRET VALUE", "sk-SECRET\x07VALUE"])
def test_a_key_no_header_can_carry_is_one_line_that_never_quotes_it(tmp_path, monkeypatch, key):
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m",'
                     '"messages":[{"role":"user","content":"hi"}]}}\n')  # fmt: skip
    result = run_cli(
        "submit", batch, "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "ODD_KEY", ODD_KEY=key
    )
    assert result.returncode == 2 and "ODD_KEY (--api-key-env) holds a character no key has" in result.stderr
    assert "SECRET" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    monkeypatch.setenv("ODD_KEY", key)
    with pytest.raises(batchkit.UsageError) as raised:
        batchkit.submit(batch, base_url="http://127.0.0.1:9/v1", api_key_env="ODD_KEY")
    assert "SECRET" not in repr(raised.value) + str(raised.value)
