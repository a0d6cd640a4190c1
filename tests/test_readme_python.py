"""The README's notebook example runs as written: its ```python block under "From Python: a notebook" is
executed in a fresh folder holding a copy of samples/, against a real `batchkit serve --backend echo`
(on a free port instead of the 8000 written)."""

from __future__ import annotations

import re
import shutil

import pytest
from serverutil import running_server
from submitsupport import ROOT

HEADING = "## From Python: a notebook, from table to answers"


def notebook_code() -> str:
    section = (ROOT / "README.md").read_text().split(HEADING, 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return code


@pytest.mark.slow
def test_the_readme_notebook_runs_against_a_local_server(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    code = notebook_code()
    assert "http://127.0.0.1:8000/v1" in code
    assert code.index("batchkit.map(") < code.index("batchkit.build_requests(")  # map first, then its steps
    with running_server("--backend", "echo", data_dir=tmp_path / "serve") as server:
        namespace: dict = {}
        exec(
            compile(code.replace("http://127.0.0.1:8000/v1", server.base_url), "README.md", "exec"), namespace
        )
    rows = len(namespace["df"])
    assert rows > 0 and len(namespace["requests"]) == rows and namespace["report"].valid
    merged = namespace["merged"]
    assert list(merged.frame["status"]) == ["ok"] * rows and merged.report.missing == []
    assert list(merged.frame["id"]) == list(namespace["df"]["id"])
    assert all(path.is_file() for path in namespace["files"])
    answered, compared = namespace["answered"], namespace["compared"]
    assert list(answered["id"]) == list(namespace["df"]["id"]) and set(answered["status"]) == {"ok"}
    assert answered["answer.answer"].notna().all()
    for label in ("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"):
        assert list(compared[f"{label}.answer"]) == list(namespace["df"]["question"])
    out = capsys.readouterr().out
    assert f"{rows} requests" in out and f"requests: {rows:,} (ok {rows:,})" in out


BUILD_HEADING = "## Build"


def test_the_readme_build_snippet_runs_as_written(tmp_path, monkeypatch):
    """The Python lines of the Build section define every name they use, and do what they say."""
    import orjson

    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    section = (ROOT / "README.md").read_text().split(f"\n{BUILD_HEADING}\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    written = [orjson.loads(line) for line in (tmp_path / "batch_tasks.jsonl").read_bytes().splitlines()]
    assert [line["custom_id"] for line in written] == [task["custom_id"] for task in namespace["tasks"]]
    assert [r["custom_id"] for r in namespace["requests"]] == list(namespace["df"]["id"])
