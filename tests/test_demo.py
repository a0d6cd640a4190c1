"""`make demo` (python -m batchkit.demo): the round trip on a fresh machine, no key, no network, and
nothing left running afterwards."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from submitsupport import ROOT, cli_env


def test_demo_runs_the_round_trip_and_stops_its_server(tmp_path):
    out = tmp_path / "demo-out"
    done = subprocess.run(
        [sys.executable, "-m", "batchkit.demo", "--out", str(out)],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    # it shows the commands a user would type, in order, with a command word that works as pasted
    script = Path(sys.executable).with_name("batchkit")
    on_path = shutil.which("batchkit") and Path(shutil.which("batchkit")).resolve() == script.resolve()
    shown = [line.split() for line in done.stdout.splitlines() if line.startswith("$ ")]
    assert {words[1] for words in shown} == {"batchkit" if on_path else str(script.relative_to(ROOT))}
    assert [words[2] for words in shown] == ["serve", "build", "validate", "submit", "list", "merge"]
    assert "--wait" in next(words for words in shown if words[2] == "submit")
    assert ("`batchkit` is not on your PATH" in done.stdout) == (not on_path)

    # and says where each file went
    for name in ("questions.jsonl", "questions.output.jsonl", "answers.csv"):
        assert (out / name).is_file()
        assert re.search(rf"^#   \S*{re.escape(name)}\s", done.stdout, re.MULTILINE), name
    assert len((out / "questions.output.jsonl").read_text().splitlines()) == 8
    assert "the local server is stopped" in done.stdout

    # nothing left running: the server's address no longer answers and no process uses the demo's folder
    base_url = re.search(r"running at (http://127\.0\.0\.1:\d+)/v1", done.stdout).group(1)
    try:
        urllib.request.urlopen(base_url + "/", timeout=2)
        answered = True
    except (urllib.error.URLError, OSError):
        answered = False
    assert not answered
    leftovers = []
    for process in psutil.process_iter(["cmdline"]):
        if str(out) in " ".join(process.info["cmdline"] or []):
            leftovers.append(process.info["cmdline"])
    assert leftovers == []

    # running it again replaces its own folder
    again = subprocess.run([sys.executable, "-m", "batchkit.demo", "--out", str(out)], cwd=ROOT, env=cli_env(),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "batchkit.demo", "--out", str(tmp_path)], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "is not empty and not an earlier demo's folder" in done.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_demo_takes_its_server_down(tmp_path, stop_signal):
    out = tmp_path / "demo-out"
    demo = subprocess.Popen([sys.executable, "-m", "batchkit.demo", "--out", str(out)], cwd=ROOT, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    for line in demo.stdout:
        if "a local OpenAI-compatible Batch API is running" in line:
            break
    servers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if f"--data-dir {out}" in " ".join(p.info["cmdline"] or [])
    ]
    assert len(servers) == 1
    demo.send_signal(stop_signal)
    demo.wait(30)
    demo.stdout.close()
    gone, alive = psutil.wait_procs(servers, timeout=20)
    for process in alive:
        process.kill()
    assert alive == []
