"""Every command that reads a batch or result file reads it in bounded memory: an endless line (/dev/zero)
and a line of hundreds of megabytes each end in a finding and exit 1, in a few hundred megabytes at most.

One child process imports batchkit once and forks a process per command (the CLI in-process), so each
command's peak resident size is its own; it prints each exit code, output and peak."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from batchkit.formats import DIALECTS

PEAK_LIMIT_KB = 300 * 1024
LONG_LINE = 200 * 2**20  # longer than any line is read (64 MiB), and past where reading stops (128 MiB)
REQUEST = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}  # fmt: skip

RUNNER = textwrap.dedent(
    """
    import json, os, resource, sys
    from click.testing import CliRunner
    from batchkit.cli import cli

    def run(args):
        result = CliRunner().invoke(cli, args)
        peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return {"args": args, "code": result.exit_code, "output": result.output[-2000:], "peak_kb": peak,
                "error": repr(result.exception) if result.exit_code not in (0, 1, 2) else None}

    out = []
    for args in json.loads(sys.argv[1]):
        read, write = os.pipe()
        if os.fork() == 0:
            os.close(read)
            with os.fdopen(write, "w") as sink:
                sink.write(json.dumps(run(args)))
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as source:
            out.append(json.loads(source.read()))
        os.wait()
    print(json.dumps(out))
    """
)


def commands(source: str, batch: str, tmp, dialects) -> list[list[str]]:
    """Each command that reads `source`, and again with each of `dialects` where it takes --dialect."""
    runs = [
        ["validate", source],
        ["estimate", source],
        ["fix", source, "-o", f"{tmp}/fixed.jsonl"],
        ["split", source, "-o", f"{tmp}/split.jsonl"],
        ["merge", batch, "-r", source, "-o", f"{tmp}/merged.csv"],
        ["retry", batch, "-r", source, "-o", f"{tmp}/retry.jsonl"],
    ]
    for name in dialects:
        runs += [
            ["validate", source, "--dialect", name],
            ["estimate", source, "--dialect", name],
            ["split", source, "--dialect", name, "-o", f"{tmp}/split-{name}.jsonl"],
            ["fix", source, "--dialect", name, "-o", f"{tmp}/fixed-{name}.jsonl"],
            ["convert", source, "--to", name, "-o", f"{tmp}/converted-{name}.jsonl"],
        ]
    return runs


def bounded_runs(runs: list[list[str]]) -> list[dict]:
    """Each command's exit code, output and peak (see RUNNER), each checked to end without an exception
    and under PEAK_LIMIT_KB."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(runs)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    for run in found:
        assert run["error"] is None, run
        assert run["peak_kb"] < PEAK_LIMIT_KB, run
    return found


@pytest.mark.slow  # hundreds of megabytes read per command (collected first: see conftest)
@pytest.mark.parametrize("source", ["/dev/zero", "long-line"])
def test_every_reader_stays_bounded_and_ends_in_a_finding(tmp_path, source):
    if source == "long-line":
        path = tmp_path / "long-line.jsonl"
        with open(path, "wb") as f:
            f.truncate(LONG_LINE)  # sparse: costs no disk
            f.seek(0, os.SEEK_END)
            f.write(b"\n" + json.dumps(REQUEST).encode() + b"\n")
        source = str(path)
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(REQUEST) + "\n")
    # the bound comes before any format is read: every --dialect once, on the endless line
    runs = commands(source, str(batch), tmp_path, DIALECTS if source == "/dev/zero" else ())
    for run in bounded_runs(runs):
        assert run["code"] == 1, run
        assert (
            "line-too-long" in run["output"]
            or "could not be read" in run["output"]
            or ("runs past" in run["output"] or "skipped unread" in run["output"])
        ), run


@pytest.mark.slow  # 128 MB read per table (collected first: see conftest)
def test_a_table_of_one_endless_line_is_refused_in_bounded_memory(tmp_path):
    """A table's rows are lines too: CSV, TSV and JSONL tables are read through the same bound, where
    pandas' CSV reader held an endless line whole (24 GB before it was stopped)."""
    build = ["build", "/dev/zero", "--model", "m", "--user", "x", "--input-format"]
    runs = [[*build, fmt, "-o", f"{tmp_path}/b-{fmt}.jsonl"] for fmt in ("csv", "tsv", "jsonl")]
    for run in bounded_runs(runs):
        assert run["code"] == 2, run
        assert "/dev/zero: a line runs past 128 MB without a line end" in run["output"], run


def test_a_json_table_on_one_line_is_read_whatever_its_length(tmp_path, monkeypatch):
    """A .json table is one value, often written on one line: it is not held to the bound of rows."""
    from batchkit.errors import InputError
    from batchkit.tables import read as table_read

    monkeypatch.setattr(table_read, "MAX_SKIP_BYTES", 1000)
    rows = [{"q": "x" * 100} for _ in range(50)]  # 5 kB on one line
    (tmp_path / "t.json").write_text(json.dumps(rows))
    long_row = json.dumps({"q": "y" * 1_100_000})  # past the bound and past one read of 1 MB
    (tmp_path / "t.jsonl").write_text(json.dumps(rows[0]) + "\n" + long_row + "\n")
    assert len(table_read.read_table(tmp_path / "t.json")) == 50
    with pytest.raises(InputError, match="t.jsonl: a line runs past"):
        table_read.read_table(tmp_path / "t.jsonl")
