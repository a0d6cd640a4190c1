"""Nothing from outside reaches a terminal raw: every command that prints what a server, a result file or a
batch file says is run with terminal control sequences (window title, clipboard write, link, screen clear,
8-bit CSI, right-to-left override, zero-width space, line separator, byte-order mark) in custom_ids, error codes, model ids and a server's batch errors, and
what it prints on stdout and stderr holds no ESC, no other C0 or C1 control, no bidirectional override and
none of those invisible characters (line ends and tabs aside)."""

from __future__ import annotations

import json
import re

import pytest
from serverutil import HOSTILE, hostile_upstream
from submitsupport import invoke, kluster_style, write_requests

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028-\u202e\u2066-\u2069\ufeff]")
KEY = "sk-terminal-test-key"


def assert_safe(result, *expected_status, fmt="text"):
    shown = result.stdout + result.stderr
    if fmt == "json":
        json.loads(result.stdout)  # still JSON: what it escapes it escapes as JSON does
    assert not RAW.search(shown), RAW.search(shown)
    assert "Traceback" not in shown
    if expected_status:
        assert result.returncode in expected_status, shown


def line(custom_id, model="gpt-4o-mini"):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
    }


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def hostile_batch(tmp_path):
    """A batch file whose ids and model names carry the sequences (one id twice)."""
    rows = [line(f"a{HOSTILE}", f"m{HOSTILE}"), line(f"a{HOSTILE}", f"m{HOSTILE}"), line("b")]
    return write_jsonl(tmp_path / "hostile.jsonl", rows)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate(hostile_batch, fmt):
    assert_safe(invoke("validate", hostile_batch, "--format", fmt), 1, fmt=fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_estimate(hostile_batch, fmt):
    assert_safe(invoke("estimate", hostile_batch, "--format", fmt), 0, 1, fmt=fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_convert(hostile_batch, tmp_path, fmt):
    result = invoke(
        "convert", hostile_batch, "--to", "anthropic", "-o", tmp_path / "c.jsonl", "--format", fmt
    )
    assert_safe(result, 1, 2)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_merge_orphans_and_digest(tmp_path, fmt):
    batch = write_jsonl(tmp_path / "b.jsonl", [line("a"), line("b")])
    failed = {"code": f"c{HOSTILE}", "message": f"refused {HOSTILE}"}
    results = write_jsonl(
        tmp_path / "b.output.jsonl",
        [
            {"id": "1", "custom_id": "a", "response": None, "error": failed},
            {"id": "2", "custom_id": f"orphan{HOSTILE}", "response": None, "error": failed},
            {"id": "3", "custom_id": "b", "response": {"status_code": 400, "body": {"error": failed}}},
        ],
    )
    result = invoke("merge", batch, "-r", results, "-o", tmp_path / "m.csv", "--format", fmt)
    assert_safe(result, 0, 1, fmt=fmt)
    assert "orphan" in result.stdout + result.stderr  # the orphan is named, escaped


@pytest.mark.parametrize("streamed", [True, False])
def test_merged_answers_written_to_a_terminal_are_filtered_and_piped_as_they_are(tmp_path, streamed):
    from submitsupport import run_cli, run_in_terminal

    batch = write_jsonl(tmp_path / "b.jsonl", [line("a"), line("b")])
    answer = {"choices": [{"message": {"role": "assistant", "content": f"hello {HOSTILE} there"}}]}
    results = write_jsonl(
        tmp_path / "b.output.jsonl",
        [
            {"id": str(i), "custom_id": c, "response": {"status_code": 200, "body": answer}}
            for i, c in enumerate("ab")
        ],
    )
    args = [
        "merge",
        batch,
        "-r",
        results,
        "-o",
        "-",
        *([] if streamed else ["--source", batch, "--id-column", "custom_id"]),
    ]
    shown = run_in_terminal(*args)
    assert "hello" in shown and "there" in shown and not RAW.search(shown.replace("\r\n", "\n")), shown
    piped = run_cli(*args)
    assert piped.returncode == 0 and f"hello {HOSTILE} there" in piped.stdout  # data, byte for byte


def test_run_failure_summary_and_models_from_a_hostile_upstream(tmp_path):
    batch = write_jsonl(tmp_path / "b.jsonl", [line("a"), line("b")])
    with hostile_upstream() as upstream:
        ran = invoke(
            "run", batch, "--base-url", upstream, "-o", tmp_path / "out.jsonl", "--max-attempts", "1"
        )
        listed = [invoke("models", "--base-url", upstream, "--format", fmt) for fmt in ("text", "json")]
    assert_safe(ran, 1)
    assert "2 failed: 2 × c" in ran.stderr
    for result, fmt in zip(listed, ("text", "json"), strict=True):
        assert_safe(result, 0, fmt=fmt)


def test_submit_wait_status_list_and_models_from_a_hostile_provider(tmp_path):
    batch = write_requests(tmp_path / "b.jsonl", 2)
    errors = [{"code": f"c{HOSTILE}", "message": f"refused {HOSTILE}", "line": 1, "param": HOSTILE}]
    with kluster_style(KEY, models=(f"m{HOSTILE}",), batch_errors=errors) as provider:
        remote = ("--provider", "kluster", "--base-url", provider.base_url, "--api-key-env", "K")
        submitted = invoke("submit", batch, *remote, "--wait", "--interval", "0.1", K=KEY)
        shown = [invoke("status", batch, *remote, "--format", fmt, K=KEY) for fmt in ("text", "json")] + [
            invoke("list", *remote, K=KEY),
            invoke("list", "--remote", *remote, K=KEY),
            invoke("models", *remote, K=KEY),
            invoke("watch", batch, *remote, K=KEY),
        ]
    assert_safe(submitted, 1)
    assert "refused" in submitted.stdout + submitted.stderr  # the server's words are shown, escaped
    for result in shown:
        assert_safe(result, 0, 1)


def test_a_library_warning_that_quotes_an_answer_is_filtered(tmp_path):
    """The Gemini SDK warns of a job state it does not know, naming it: the warning (a Python warning,
    printed by batchkit's own process) goes through the filter as batchkit's own words do."""
    from serverutil import odd_native_apis
    from submitsupport import run_cli

    with odd_native_apis() as api:  # its batches/esc has the state "\x1b[2Jesc"
        shown = run_cli("status", "batches/esc", "--provider", "gemini", "--base-url", api.removesuffix("/v1"),
                        GEMINI_API_KEY="gemini-test-key", GOOGLE_API_KEY="google-test-key")  # fmt: skip
    assert_safe(shown, 0)
    assert "UserWarning: esc is not a valid JobState" in shown.stderr
    # with both key variables set the SDK would say it reads GOOGLE_API_KEY; batchkit gives it GEMINI_API_KEY's
    assert "Both GOOGLE_API_KEY and GEMINI_API_KEY are set" not in shown.stderr


def test_library_log_lines_are_filtered_and_keep_no_traceback():
    """gcsfs logs an exception, traceback and all, before it raises (a bucket it could not reach after its
    retries): batchkit's process prints such lines filtered, without the traceback."""
    import subprocess
    import sys

    code = (
        "import logging, warnings\n"
        "from batchkit.cli import library_output_through_filter\n"
        "library_output_through_filter()\n"
        "try:\n    1 / 0\n"
        "except ZeroDivisionError:\n    logging.getLogger('gcsfs').exception('out of retries \\x1b[2J')\n"
        "warnings.warn('state \\x1b]0;title\\x07 unknown')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert_safe(done, 0)
    assert "gcsfs: out of retries" in done.stderr and "UserWarning: state" in done.stderr, done.stderr


def test_commands_print_only_through_the_filter():
    """The one place a command module prints is cli.common.say (report.render output passes through it)."""
    from pathlib import Path

    cli = Path(__file__).resolve().parent.parent / "batchkit" / "cli"
    direct = re.compile(r"click\.(echo|secho)\(|\bprint\(|sys\.std(out|err)\.write\(")
    found = [
        f"{path.name}:{number}"
        for path in sorted(cli.glob("*.py"))
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if direct.search(text)
    ]
    assert len(found) == 1 and found[0].startswith("common.py:"), found  # the echo inside say()


def test_a_traceback_under_debug_is_filtered_too(tmp_path):
    from submitsupport import run_cli

    batch = write_requests(tmp_path / "b.jsonl", 2)
    with hostile_upstream() as upstream:  # it refuses the upload in words the error (and traceback) quote
        shown = run_cli("--debug", "submit", batch, "--base-url", upstream, "--api-key-env", "K", K=KEY)
    assert shown.returncode == 1 and "Traceback" in shown.stderr and "RemoteError" in shown.stderr, (
        shown.stderr
    )
    assert "refused" in shown.stderr
    assert not RAW.search(shown.stdout + shown.stderr), RAW.search(shown.stderr)
