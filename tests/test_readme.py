"""Every command the README shows runs as written: its `sh` blocks and the commands of its `console`
transcripts are run in document order, in a fresh folder holding a copy of samples/, with a real
`batchkit` process per line.

- A line ending in `&` starts a server (on a free port instead of the one written, the same free port
  wherever the README writes that port) that the later lines use; every server is stopped at the end.
- `export NAME=VALUE` sets a variable for the lines after it: the README's keys are fake ones, and they
  are never sent anywhere but the local server.
- The commands of the Submit section name no server, as a user's do once a provider is set: the test
  points them at the README's own `batchkit serve --port 8000 &` through the documented environment
  variable BATCHKIT_BASE_URL (set for every line), so they run against it instead of a provider.
- A `console` transcript (`$ ` before each command, what it prints after) must print exactly what it
  shows; such a command may exit 1 when what it shows is findings.
- The Vertex AI and Bedrock commands stage files in buckets: the test starts S3 (moto's server) and Cloud
  Storage (gcp-storage-emulator) with the README's bucket, and gives every line (and so the README's
  server) the settings their libraries read: test AWS credentials, a fake application-default-credentials
  file, AWS_ENDPOINT_URL_S3 and STORAGE_EMULATOR_HOST (`storagesupport`).
"""

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
from storagesupport import emulators
from submitsupport import ROOT, cli_env

README = ROOT / "README.md"
README_BUCKET = "my-bucket"  # the bucket the README's Vertex AI and Bedrock commands stage in


def sh_blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block, comments dropped, continuation lines joined."""
    blocks = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        joined = block.replace("\\\n", " ")
        blocks.append([line.split(" #", 1)[0].strip() for line in joined.splitlines() if line.strip()])
    return blocks


def console_blocks(text: str) -> list[list[tuple[str, str]]]:
    """(command, what it prints) for every `$ ` command of every ```console block."""
    blocks = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        steps = []
        for part in re.split(r"^\$ ", block.replace("\\\n", " "), flags=re.MULTILINE)[1:]:
            command, _, output = part.partition("\n")
            steps.append((command.strip(), output))
        blocks.append(steps)
    return blocks


def commands(text: str) -> list[tuple[str, str | None]]:
    """Every (command, expected output or None) of the sh and console blocks, in document order."""
    found = []
    for match in re.finditer(r"^```(sh|console)\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        block = match.group(0)
        if match.group(1) == "sh":
            found += [(line, None) for line in sh_blocks(block)[0]]
        else:
            found += console_blocks(block)[0]
    return found


def _answers(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.headers.get("x-batchkit-pid") == str(pid)
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    with emulators(tmp_path, README_BUCKET, README_BUCKET) as storage:
        run_every_command(tmp_path, storage.env)


def run_every_command(tmp_path, storage_env: dict[str, str]) -> None:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    # the ports written in the README are taken on a shared machine: use free ones, consistently
    ports: dict[str, str] = {"8000": str(free_port())}
    env = cli_env(
        BATCHKIT_HOME=str(tmp_path / "home"),
        BATCHKIT_BASE_URL=f"http://127.0.0.1:{ports['8000']}/v1",
        **storage_env,
    )
    servers = []
    try:
        for line, shown in commands(README.read_text()):
            line = re.sub(r"\b(80\d\d)\b", lambda m: ports.setdefault(m.group(1), str(free_port())), line)
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
                continue
            background = line.endswith("&")
            words = shlex.split(line.rstrip("&"))
            assert words[0] == "batchkit", line
            command = [sys.executable, "-m", "batchkit", *words[1:]]
            if background:
                log = open(tmp_path / f"server-{len(servers)}.log", "wb")
                process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
                servers.append(process)
                port = int(words[words.index("--port") + 1])
                poll(lambda port=port, pid=process.pid: _answers(port, pid), 30, what=f"`{line}` to answer")
                continue
            done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            failed = f"`{line}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            if shown is None:
                assert done.returncode == 0, failed
            else:
                assert done.returncode in (0, 1), failed
                assert done.stdout == shown, f"`{line}` printed something else than the README shows"
    finally:
        for process in servers:
            stop(process)
    assert (tmp_path / "answers.csv").is_file()


def test_the_readme_shows_runnable_blocks():
    found = commands(README.read_text())
    assert len(found) > 20
    assert all(line.startswith(("batchkit ", "export ")) for line, _ in found)


def test_blocks_are_read_in_document_order_with_transcripts_split_into_commands():
    text = """
```sh
batchkit serve --port 8000 &   # a comment
export KEY=fake
```
```console
$ batchkit build a.csv \\
    -o b.jsonl -q
$ batchkit validate b.jsonl
b.jsonl: 1 line
```
```text
batchkit list [--remote]
```
"""
    assert commands(text) == [
        ("batchkit serve --port 8000 &", None),
        ("export KEY=fake", None),
        ("batchkit build a.csv      -o b.jsonl -q", ""),
        ("batchkit validate b.jsonl", "b.jsonl: 1 line\n"),
    ]
