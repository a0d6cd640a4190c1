"""`batchkit run` as a real subprocess against real `batchkit serve` processes (echo, and upstream → echo)."""

from __future__ import annotations

import os
import subprocess
import sys

import openai
import orjson
import pytest
from click.testing import CliRunner
from polling import poll
from serverutil import running_server

from batchkit.cli import cli
from batchkit.runner import part_path

RUN = [sys.executable, "-m", "batchkit", "run"]


def chat(custom_id, text="hello", **extra) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "batchkit-echo", "messages": [{"role": "user", "content": text}], **extra},
    }


def write_lines(path, lines):
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def read_lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def finished(client, batch_id):
    def ended():
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in ("completed", "failed") else None

    return poll(ended, timeout=30, what=f"batch {batch_id} to end")


def run(*args, env=None, timeout=60):
    return subprocess.run(
        [*RUN, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    """An echo server of one model that answers every 5th direct request with 429 (Retry-After) or 503."""
    data = tmp_path_factory.mktemp("run-echo") / "data"
    args = ("--model", "batchkit-echo", "--latency", "0.02", "--fail-every", "5", "--concurrency", "16")
    with running_server(*args, data_dir=data) as server:
        yield server


def test_run_writes_output_and_errors_and_retries(echo, tmp_path):
    unknown_model = chat("elsewhere")
    unknown_model["body"]["model"] = "not-served"  # valid for the file, refused by the server
    lines = [chat(f"r{i}", f"answer {i}") for i in range(30)] + [unknown_model]
    source = write_lines(tmp_path / "batch.jsonl", lines)
    output = tmp_path / "out.jsonl"
    result = run(source, "--base-url", echo.base_url, "-o", output, "-c", "4")
    assert result.returncode == 1, result.stderr  # one request failed
    successes = read_lines(output)
    assert sorted(line["custom_id"] for line in successes) == sorted(f"r{i}" for i in range(30))
    for line in successes:
        assert line["response"]["status_code"] == 200 and line["error"] is None
        number = line["custom_id"][1:]
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"answer {number}"
    (failure,) = read_lines(tmp_path / "out.errors.jsonl")
    assert failure["custom_id"] == "elsewhere" and failure["response"]["status_code"] == 404
    assert failure["error"]["code"] == "model_not_found"
    assert failure["response"]["body"]["error"]["code"] == "model_not_found"
    assert "30 succeeded, 1 failed" in result.stderr
    retries = int(result.stderr.split(" retries")[0].rsplit(" ", 1)[1])
    assert retries >= 5  # 429s and 503s were retried, never recorded as answers
    assert not part_path(output).exists() and not part_path(tmp_path / "out.errors.jsonl").exists()

    # only successes are final: the failed request is sent again, and fails again
    again = run(source, "--base-url", echo.base_url, "-o", output, "-c", "4")
    assert again.returncode == 1 and "30 already answered before" in again.stderr
    assert "0 succeeded, 1 failed" in again.stderr
    assert len(read_lines(output)) == 30
    assert [line["custom_id"] for line in read_lines(tmp_path / "out.errors.jsonl")] == ["elsewhere"]


def test_run_refuses_an_invalid_file(echo, tmp_path):
    source = write_lines(tmp_path / "bad.jsonl", [chat("a"), chat("a"), {"custom_id": "b"}])
    result = run(source, "--base-url", echo.base_url, "-o", tmp_path / "out.jsonl")
    assert result.returncode == 1
    assert "duplicate-custom-id" in result.stderr and "batchkit: error:" in result.stderr
    assert not (tmp_path / "out.jsonl").exists() and not part_path(tmp_path / "out.jsonl").exists()


def test_run_sends_only_openai_lines_and_says_so_of_others(echo, tmp_path):
    """run sends OpenAI-style requests: a file of another format, or the rules of a provider that takes
    another, is one line saying what to do, and nothing is sent (these ended in a traceback)."""
    claude = {"custom_id": "a", "params": {"model": "batchkit-echo", "max_tokens": 5,
                                           "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip
    native = write_lines(tmp_path / "claude.jsonl", [claude])
    plain = write_lines(tmp_path / "plain.jsonl", [chat("a")])
    cases = [(native, "generic", "claude.jsonl: its lines are anthropic requests, and run sends OpenAI-style "
              "ones: convert it first (`batchkit convert"),
             (native, "anthropic", "run sends OpenAI-style requests, and anthropic takes anthropic lines: "
              "`batchkit submit FILE --provider anthropic` sends them to it"),
             (plain, "mistral", "run sends OpenAI-style requests, and mistral takes custom-body lines")]  # fmt: skip
    for source, provider, said in cases:
        result = run(source, "--base-url", echo.base_url, "-o", tmp_path / "o.jsonl", "--provider", provider)
        assert result.returncode == 2 and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not part_path(tmp_path / "o.jsonl").exists()


def test_run_needs_the_named_key_variable(echo, tmp_path):
    source = write_lines(tmp_path / "b.jsonl", [chat("a")])
    result = run(
        source, "--base-url", echo.base_url, "-o", tmp_path / "o.jsonl", "--api-key-env", "NOT_SET_X"
    )
    assert result.returncode == 2 and "NOT_SET_X" in result.stderr


def test_interrupted_run_resumes_without_sending_twice(tmp_path):
    ids = [f"s{i}" for i in range(40)]
    source = write_lines(tmp_path / "slow.jsonl", [chat(i, i) for i in ids])
    output = tmp_path / "out.jsonl"
    part = part_path(output)
    with running_server("--latency", "0.1", data_dir=tmp_path / "data") as server:
        process = subprocess.Popen(
            [*RUN, source, "--base-url", server.base_url, "-o", output, "-c", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def five_answered():
                assert process.poll() is None
                return part.exists() and part.read_bytes().count(b"\n") >= 5

            poll(five_answered, timeout=30, interval=0.02)
        finally:
            process.kill()
            process.wait()
        assert not output.exists()  # the output appears only when whole
        answered = part.read_bytes().count(b"\n")
        assert 5 <= answered < 40
        with open(part, "ab") as f:
            f.write(b'{"id":"batch_req_cut","custom_id":"s3')  # a line cut short by the kill

        result = run(source, "--base-url", server.base_url, "-o", output, "-c", "4")
    assert result.returncode == 0, result.stderr
    assert f"{answered} already answered before" in result.stderr
    assert f"{40 - answered} succeeded" in result.stderr
    lines = read_lines(output)
    assert sorted(line["custom_id"] for line in lines) == sorted(ids)  # each exactly once
    assert not part.exists()


def test_run_through_a_server_whose_upstream_is_another(echo, tmp_path):
    secret = "sk-upstream-secret-123"
    env = {"UPSTREAM_KEY": secret}
    args = (
        "--backend",
        "upstream",
        "--upstream-url",
        echo.base_url,
        "--upstream-key-env",
        "UPSTREAM_KEY",
        "--concurrency",
        "4",
    )
    with running_server(*args, data_dir=tmp_path / "data", env=env) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["batchkit-echo"]

        source = write_lines(tmp_path / "b.jsonl", [chat(f"u{i}", f"via proxy {i}") for i in range(12)])
        output = tmp_path / "out.jsonl"
        result = run(source, "--base-url", proxy.base_url, "-o", output, "--max-rps", "100")
        assert result.returncode == 0, result.stderr
        lines = read_lines(output)
        assert sorted(line["custom_id"] for line in lines) == sorted(f"u{i}" for i in range(12))
        assert all(line["response"]["status_code"] == 200 for line in lines)

        # a batch executed by the upstream backend, failures included
        with open(
            write_lines(tmp_path / "bb.jsonl", [chat("p1", "one"), chat("p2", max_tokens=-5)]), "rb"
        ) as f:
            file_id = client.files.create(file=f, purpose="batch").id
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = finished(client, batch.id)
        assert batch.status == "completed"
        assert batch.request_counts.model_dump() == {"total": 2, "completed": 1, "failed": 1}
        (ok,) = [orjson.loads(x) for x in client.files.content(batch.output_file_id).content.splitlines()]
        assert ok["response"]["body"]["choices"][0]["message"]["content"] == "one"
        (bad,) = [orjson.loads(x) for x in client.files.content(batch.error_file_id).content.splitlines()]
        assert (
            bad["response"]["status_code"] == 400
            and bad["response"]["body"]["error"]["param"] == "max_tokens"
        )

        bad_model = write_lines(
            tmp_path / "m.jsonl", [chat("m1") | {"body": {**chat("m1")["body"], "model": "nope"}}]
        )
        with open(bad_model, "rb") as f:
            file_id = client.files.create(file=f, purpose="batch").id
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = finished(client, batch.id)
        assert [(e.code, e.param, e.line) for e in batch.errors.data] == [
            ("model_not_found", "body.model", 1)
        ]
    log = "".join(p.read_text() for p in (tmp_path / "data").glob("serve-*.log"))
    assert "Application startup complete" in log and secret not in log


# ---- in-process runs (click's CliRunner): exit status, causes, resume, secrets, unwritable output ---------


def run_here(*args, env=None):
    from click.testing import CliRunner

    from batchkit.cli import cli

    return CliRunner().invoke(cli, ["run", *map(str, args)], env=env)


def test_nothing_listening_fails_with_the_cause_then_a_resume_sends_them(echo, tmp_path):
    from serverutil import free_port

    source = write_lines(tmp_path / "b.jsonl", [chat(f"n{i}", f"text {i}") for i in range(8)])
    output = tmp_path / "out.jsonl"
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    failed = run_here(source, "--base-url", nowhere, "-o", output, "-q", "--max-attempts", "1")
    assert failed.exit_code == 1, failed.output
    assert output.read_bytes() == b""
    assert len(read_lines(tmp_path / "out.errors.jsonl")) == 8

    loud = run_here(source, "--base-url", nowhere, "-o", output, "--allow-failures", "--max-attempts", "2")
    assert loud.exit_code == 0 and "8 retries" in loud.output
    assert f"8 failed: 8 × upstream_unreachable (could not reach {nowhere}: ConnectError" in loud.output

    fixed = run_here(source, "--base-url", echo.base_url, "-o", output)
    assert fixed.exit_code == 0, fixed.output
    assert "8 succeeded, 0 failed, 0 already answered before" in fixed.output
    assert sorted(line["custom_id"] for line in read_lines(output)) == [f"n{i}" for i in range(8)]
    assert not (tmp_path / "out.errors.jsonl").exists()  # replaced by this run's outcome: nothing failed


def test_an_unwritable_output_folder_is_one_line_and_exit_2(echo, tmp_path):
    import os

    source = write_lines(tmp_path / "b.jsonl", [chat("a")])
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anywhere: use a folder the kernel refuses to anyone
        folder = __import__("pathlib").Path("/sys/kernel")
    try:
        result = run_here(source, "--base-url", echo.base_url, "-o", folder / "out.jsonl")
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert result.exit_code == 2
    assert result.output.startswith("batchkit: error: cannot write ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_run_never_writes_the_key_an_upstream_echoes(tmp_path):
    from serverutil import header_echo_upstream

    secret = "sk-Zp4Kd8Wq2Xr6Tb1Nm5Cv9Gy3"
    lines = [chat("json-echo")]
    lines.append(
        {
            "custom_id": "text-echo",
            "method": "POST",
            "url": "/v1/completions",
            "body": {"model": "m", "prompt": "p"},
        }
    )
    source = write_lines(tmp_path / "b.jsonl", lines)
    output = tmp_path / "out.jsonl"
    with header_echo_upstream() as upstream:
        result = run_here(
            source, "--base-url", upstream, "-o", output, "--api-key-env", "RUN_KEY", env={"RUN_KEY": secret}
        )
    assert result.exit_code == 1
    errors = (tmp_path / "out.errors.jsonl").read_text()
    assert len(read_lines(tmp_path / "out.errors.jsonl")) == 2
    assert "[redacted]" in errors
    for start in range(len(secret) - 6):  # no piece of the key either (a cut must not leave half of it)
        assert secret[start : start + 7] not in errors
    assert secret not in result.output


def test_responses_and_moderations_run_and_pass_through_an_upstream(echo, tmp_path):
    lines = [
        {
            "custom_id": "resp",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "batchkit-echo", "input": "say this back"},
        },
        {
            "custom_id": "mod",
            "method": "POST",
            "url": "/v1/moderations",
            "body": {"model": "batchkit-echo", "input": ["one", "two"]},
        },
    ]
    source = write_lines(tmp_path / "b.jsonl", lines)
    with running_server(
        "--backend", "upstream", "--upstream-url", echo.base_url, data_dir=tmp_path / "d"
    ) as proxy:
        for base in (echo.base_url, proxy.base_url):
            output = tmp_path / "out.jsonl"
            output.unlink(missing_ok=True)
            result = run_here(source, "--base-url", base, "-o", output)
            assert result.exit_code == 0, result.output
            by_id = {line["custom_id"]: line["response"]["body"] for line in read_lines(output)}
            response = by_id["resp"]
            assert response["object"] == "response" and response["status"] == "completed"
            (message,) = response["output"]
            assert message["type"] == "message" and message["role"] == "assistant"
            assert message["content"][0] == {
                "type": "output_text",
                "text": "say this back",
                "annotations": [],
            }
            assert response["usage"]["input_tokens"] == 3 and response["usage"]["output_tokens"] == 3
            moderation = by_id["mod"]
            assert [r["flagged"] for r in moderation["results"]] == [False, False]
            assert set(moderation["results"][0]["category_scores"]) >= {"hate", "violence"}


@pytest.mark.parametrize("encoding", ["plain", "json-escaped", "base64", "url-encoded"])
def test_run_never_writes_or_prints_the_key_in_any_encoding(tmp_path, encoding):
    from leaks import leaked
    from serverutil import key_echo_upstream

    secret = "sk-Zp4Kd8Wq2Xr6Tb1Nm5Cv9Gy3"
    line = chat("k")
    line["body"]["model"] = encoding  # the upstream echoes the key encoded as the model names
    source = write_lines(tmp_path / "b.jsonl", [line])
    output = tmp_path / "out.jsonl"
    with key_echo_upstream() as upstream:
        result = run_here(
            source, "--base-url", upstream, "-o", output, "--api-key-env", "RUN_KEY", env={"RUN_KEY": secret}
        )
    assert result.exit_code == 1
    errors = (tmp_path / "out.errors.jsonl").read_text()
    assert "[redacted]" in errors and "[redacted]" in result.output
    assert leaked(errors, secret) is None and leaked(result.output, secret) is None


def test_a_merge_named_before_a_clean_rerun_still_runs_after_it(echo, tmp_path):
    """`run` removes its errors file when a later run has no failures; the merge command written for the
    first run reads the missing NAME.errors.jsonl beside NAME.jsonl (given too) as "nothing failed"."""
    from serverutil import free_port

    source = write_lines(tmp_path / "b.jsonl", [chat(f"n{i}", f"text {i}") for i in range(4)])
    output, errors = tmp_path / "b.run.jsonl", tmp_path / "b.run.errors.jsonl"
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    assert run_here(source, "--base-url", nowhere, "-o", output, "-q", "--max-attempts", "1").exit_code == 1
    merge = ["merge", source, "-r", output, errors, "-o", tmp_path / "m.csv"]
    assert (
        CliRunner().invoke(cli, list(map(str, merge))).exit_code == 0
    )  # every request has a (failed) result
    assert run_here(source, "--base-url", echo.base_url, "-o", output).exit_code == 0
    assert not errors.exists()
    again = CliRunner().invoke(cli, list(map(str, merge)))
    assert again.exit_code == 0, again.output
    assert f"note: {errors} does not exist; {output} does" in again.output
    assert "requests: 4 (ok 4)" in again.output
    # only when the output is one of the result files given: alone, the missing file is still an error
    alone = CliRunner().invoke(cli, list(map(str, ["merge", source, "-r", errors, "-o", tmp_path / "n.csv"])))
    assert alone.exit_code == 2 and "no such file" in alone.output


def test_run_against_an_address_without_v1_says_did_you_mean(echo, tmp_path):
    source = write_lines(tmp_path / "b.jsonl", [chat("a"), chat("b")])
    result = run(source, "--base-url", echo.root_url, "-o", tmp_path / "o.jsonl", "--max-attempts", "1")
    assert result.returncode == 1
    assert f"the server answered 404; did you mean --base-url {echo.root_url}/v1?" in result.stderr
    assert "base_url=" not in result.stderr
    # an address ending in /v1 gets no such hint for its 404s (a model the server does not serve)
    unserved = chat("c")
    unserved["body"]["model"] = "not-served"
    other = run(
        write_lines(tmp_path / "c.jsonl", [unserved]), "--base-url", echo.base_url, "-o", tmp_path / "p.jsonl"
    )
    assert other.returncode == 1 and "did you mean" not in other.stderr


def test_a_success_that_answers_nothing_is_a_failure_as_merge_reads_it(tmp_path):
    """A 200 whose body holds no answer is no success: run counts it failed and writes it to the errors
    file (sent again on a resume), and merge reads it as the batch_error no_answer."""
    from serverutil import answerless_upstream

    from batchkit.results import merge_results

    source = write_lines(tmp_path / "b.jsonl", [chat("a"), chat("b")])
    output = tmp_path / "out.jsonl"
    with answerless_upstream() as upstream:
        result = run_here(source, "--base-url", upstream, "-o", output, "--no-cache")
    assert result.exit_code == 1, result.output
    assert "no_answer" in result.output
    assert not output.exists() or not read_lines(output)
    failed = read_lines(tmp_path / "out.errors.jsonl")
    assert [line["error"]["code"] for line in failed] == ["no_answer", "no_answer"]
    merged = merge_results(source, [tmp_path / "out.errors.jsonl"]).frame
    assert merged["status"].tolist() == ["batch_error", "batch_error"]
    assert merged["error_code"].tolist() == ["no_answer", "no_answer"]


def test_an_upstream_redirect_is_not_followed_nor_tried_again_and_says_where(tmp_path):
    """A redirect could take the key elsewhere: it is not followed, not retried (it would redirect again),
    and the error names where it pointed, which is usually the base URL meant (https, or another path)."""
    from serverutil import _Redirect, redirecting_upstream

    source = write_lines(tmp_path / "b.jsonl", [chat("a"), chat("b")])
    with redirecting_upstream() as upstream:
        result = run_here(source, "--base-url", upstream, "-o", tmp_path / "out.jsonl", "--no-cache")
    assert result.exit_code == 1
    assert _Redirect.posts == 2  # one request per line: a redirect is not tried again
    (first, _second) = read_lines(tmp_path / "out.errors.jsonl")
    assert first["response"]["status_code"] == 301
    error = first["response"]["body"]["error"]
    assert error["code"] == "upstream_redirect"
    assert "'https://api.example.com/v1/chat/completions'" in error["message"]


def test_an_answer_to_a_line_since_changed_is_asked_again_and_never_merged_onto_it(echo, tmp_path):
    source, output = tmp_path / "b.jsonl", tmp_path / "out.jsonl"
    write_lines(source, [chat("a", "one"), chat("b", "two")])
    assert run(source, "--base-url", echo.base_url, "-o", output, "--no-cache").returncode == 0
    before = output.read_bytes()
    write_lines(source, [chat("a", "one"), chat("b", "in French: two")])  # rebuilt: b's line changed
    merged = CliRunner().invoke(
        cli, ["merge", str(source), "-r", str(output), "-o", str(tmp_path / "stale.csv")]
    )
    assert merged.exit_code == 1 and "1 result(s) were produced for other requests" in merged.output
    again = run(source, "--base-url", echo.base_url, "-o", output, "--no-cache")
    assert again.returncode == 0 and "1 succeeded, 0 failed, 1 already answered before" in again.stderr
    answers = {
        line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
        for line in read_lines(output)
    }
    assert answers == {"a": "one", "b": "in French: two"} and _line_of(before, "a") in output.read_bytes()
    merged = CliRunner().invoke(
        cli, ["merge", str(source), "-r", str(output), "-o", str(tmp_path / "ok.csv")]
    )
    assert merged.exit_code == 0, merged.output


def _line_of(output: bytes, custom_id: str) -> bytes:
    """The result line of `custom_id` in an output file's bytes (answers arrive in any order)."""
    return next(line for line in output.splitlines() if orjson.loads(line)["custom_id"] == custom_id)
