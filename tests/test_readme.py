"""Every command the README shows runs as written: its `sh` blocks are run in document order, in a fresh
folder holding a copy of samples/, with a real `batchkit` process per line. A line ending in `&` starts a
server (on a free port instead of the one written) that the later lines use; it is stopped at the end."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from polling import poll
from serverutil import free_port, stop
from submitsupport import ROOT, cli_env

README = ROOT / "README.md"


def sh_blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block, comments dropped, continuation lines joined."""
    blocks = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        joined = block.replace("\\\n", " ")
        blocks.append([line.split(" #", 1)[0].strip() for line in joined.splitlines() if line.strip()])
    return blocks


def _answers(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.headers.get("x-batchkit-pid") == str(pid)
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    env = cli_env(BATCHKIT_HOME=str(tmp_path / "home"))
    ports: dict[str, str] = {}
    servers = []
    try:
        for block in sh_blocks(README.read_text()):
            for line in block:
                # the ports written in the README are taken on a shared machine: use free ones, consistently
                line = re.sub(r"\b(80\d\d)\b", lambda m: ports.setdefault(m.group(1), str(free_port())), line)
                background = line.endswith("&")
                words = shlex.split(line.rstrip("&"))
                assert words[0] == "batchkit", line
                command = [sys.executable, "-m", "batchkit", *words[1:]]
                if background:
                    log = open(tmp_path / f"server-{len(servers)}.log", "wb")
                    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
                    servers.append(process)
                    port = int(words[words.index("--port") + 1])
                    poll(
                        lambda port=port, pid=process.pid: _answers(port, pid), 30, what=f"`{line}` to answer"
                    )
                    continue
                done = subprocess.run(
                    command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
                )
                assert done.returncode == 0, (
                    f"`{line}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
                )
    finally:
        for process in servers:
            stop(process)
    assert (tmp_path / "answers.csv").is_file()


def test_the_readme_shows_runnable_blocks():
    blocks = sh_blocks(README.read_text())
    assert blocks and all(line.startswith("batchkit ") for block in blocks for line in block)
