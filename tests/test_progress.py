"""Bytes-read progress: the library's `BytesRead` callbacks, and the bars `validate`, `estimate` and
`convert` draw on a terminal (never when piped or with -q)."""

import gzip
import random

import pytest

from batchkit.convert import convert_file
from batchkit.lines import PROGRESS_BYTES
from batchkit.tokens import estimate
from batchkit.validate import files as validate_files
from batchkit.validate import validate_file


def big_batch(path, lines: int = 24_000):
    """A valid chat batch file of a few megabytes (its progress is reported more than once), of text
    that gzip does not shrink much."""
    rng = random.Random(7)
    with open(path, "wb") as f:
        for i in range(lines):
            body = f'{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"question {i} {rng.randbytes(30).hex()}"}}]}}'
            f.write(
                f'{{"custom_id":"q-{i}","method":"POST","url":"/v1/chat/completions","body":{body}}}\n'.encode()
            )
    return path


def heard(call) -> list:
    told = []
    call(lambda done, total: told.append((done, total)))
    return told


def assert_reads_to_the_end(told, size):
    assert size > 2 * PROGRESS_BYTES and len(told) >= size // PROGRESS_BYTES
    assert all(total == size for _, total in told)
    assert [done for done, _ in told] == sorted(done for done, _ in told)
    assert told[-1][0] == size


@pytest.mark.parametrize("jobs", [1, 2])
def test_validate_file_reports_bytes_read_of_the_file(tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(validate_files, "PARALLEL_MIN_BYTES", 0)
    path = big_batch(tmp_path / "b.jsonl")
    told = heard(lambda progress: validate_file(path, "openai", jobs=jobs, progress=progress))
    assert_reads_to_the_end(told, path.stat().st_size)


def test_a_gzip_file_reports_its_compressed_bytes(tmp_path):
    plain = big_batch(tmp_path / "b.jsonl", 60_000)
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    told = heard(lambda progress: validate_file(packed, "openai", progress=progress))
    assert_reads_to_the_end(told, packed.stat().st_size)


def test_a_small_file_reports_nothing(tmp_path):
    path = big_batch(tmp_path / "b.jsonl", 10)
    assert heard(lambda progress: validate_file(path, "openai", progress=progress)) == []


def test_estimate_and_convert_report_bytes_read(tmp_path):
    path = big_batch(tmp_path / "b.jsonl")
    size = path.stat().st_size
    assert_reads_to_the_end(heard(lambda progress: estimate([path], "openai", progress=progress)), size)
    out = tmp_path / "a.jsonl"
    told = heard(lambda progress: convert_file(path, out, "anthropic", max_tokens=100, progress=progress))
    assert_reads_to_the_end(told, size)
    assert out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["validate", "-p", "openai"],
        ["estimate", "-p", "openai"],
        ["convert", "--to", "anthropic", "--max-tokens", "100", "-o", "OUT"],
    ],
)
def test_long_reads_draw_a_bar_only_on_a_terminal(tmp_path, command):
    from submitsupport import run_cli, run_in_terminal

    path = big_batch(tmp_path / "b.jsonl")
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in command]
    if command[0] == "convert":
        args = [command[0], str(path), *args[1:]]
    else:
        args = [*args, str(path)]
    shown = run_in_terminal(*args)
    assert "reading" in shown and "B/s]" in shown and "M/" in shown
    piped = run_cli(*args)
    assert piped.returncode == 0 and "B/s]" not in piped.stdout + piped.stderr
    assert "B/s]" not in run_in_terminal(*args, "-q")


def big_results(batch, path):
    """A result line for every request of `batch`."""
    with open(batch, "rb") as requests, open(path, "wb") as f:
        for i, _line in enumerate(requests):
            body = f'{{"choices":[{{"message":{{"role":"assistant","content":"answer {i} {"y" * 40}"}}}}]}}'
            f.write(
                f'{{"custom_id":"q-{i}","response":{{"status_code":200,"body":{body}}},"error":null}}\n'.encode()
            )
    return path


def test_merge_reports_bytes_read_per_stage(tmp_path):
    from batchkit.results import merge_results

    batch = big_batch(tmp_path / "b.jsonl")
    results = big_results(batch, tmp_path / "out.jsonl")
    told = {"requests": [], "results": []}
    merge_results([batch], [results], progress=lambda stage, done, total: told[stage].append((done, total)))
    assert_reads_to_the_end(told["requests"], batch.stat().st_size)
    assert_reads_to_the_end(told["results"], results.stat().st_size)


@pytest.mark.slow
def test_merge_draws_a_bar_per_stage_only_on_a_terminal(tmp_path):
    from submitsupport import run_cli, run_in_terminal

    batch = big_batch(tmp_path / "b.jsonl")
    results = big_results(batch, tmp_path / "out.jsonl")
    args = ["merge", str(batch), "-r", str(results), "-o", str(tmp_path / "m.csv")]
    shown = run_in_terminal(*args)
    assert "reading requests" in shown and "reading results" in shown and "B/s]" in shown
    piped = run_cli(*args)
    assert piped.returncode == 0 and "B/s]" not in piped.stdout + piped.stderr
    assert "reading" not in run_in_terminal(*args, "-q")
