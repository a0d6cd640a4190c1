"""`--until-done` against a real `batchkit serve` that fails a seeded share of requests (`--fail-rate`,
`--expire-rate`), checked from the server's side: which requests each batch it received held, and which of
them it answered.

- `submit --wait --until-done`: every row ends `ok` within the rounds given, each round is in the ledger,
  and a `kill -9` between rounds resumes without sending again what already succeeded;
- expired requests are sent again; a request the server refused as invalid is not, nor a batch that failed
  on its lines; answers that do not follow their response schema are, until the rounds run out (exit 1);
- `run --until-done` and the Python API's `until_done=True` do the same.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openai
import pytest
from polling import poll
from serverutil import running_server
from submitsupport import HOLD_BEFORE, Proxy, invoke, start_cli, write_requests

import batchkit
from batchkit.remote import Ledger

pytestmark = pytest.mark.slow

MODEL = "m-echo"


def table(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question"])
        writer.writerows([f"Question number {i}"] for i in range(1, rows + 1))
    return path


def build(tmp_path: Path, rows: int, *params: str) -> Path:
    batch = tmp_path / "batch.jsonl"
    built = invoke("build", table(tmp_path / "q.csv", rows), "-o", batch, "--model", MODEL, "--user",
                   "{question}", *params)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return batch


def received(server) -> list[tuple[object, list[str], set[str]]]:
    """Every batch the server holds, in the order they were created (as the ledger recorded them; the
    server's timestamps are whole seconds): (batch, the custom_ids it was sent, those it answered)."""
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    order = {entry.batch_id: entry.id for entry in Ledger().entries()}
    found = []
    for batch in sorted(client.batches.list(limit=100), key=lambda b: order[b.id]):
        sent = [
            json.loads(line)["custom_id"]
            for line in client.files.content(batch.input_file_id).text.splitlines()
        ]
        answered = set()
        if batch.output_file_id:
            lines = client.files.content(batch.output_file_id).text.splitlines()
            answered = {json.loads(line)["custom_id"] for line in lines}
        found.append((batch, sent, answered))
    return found


def never_sent_twice(batches) -> None:
    """No batch holds a request an earlier batch answered."""
    answered: set[str] = set()
    for batch, sent, ok in batches:
        assert not answered & set(sent), f"{batch.id} sent again {sorted(answered & set(sent))}"
        answered |= ok


def merged(batch: Path, files: list[Path]) -> list[dict]:
    out = batch.with_name("merged.csv")
    done = invoke("merge", batch, "--results", *files, "-o", out)
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def result_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith((".output.jsonl", ".errors.jsonl")))


def test_every_row_ends_ok_each_round_is_in_the_ledger_and_a_kill_between_rounds_sends_nothing_twice(
    tmp_path, tmp_path_factory
):
    batch = build(tmp_path, 110)
    args = ("submit", batch, "--wait", "--until-done", "--max-rounds", "10", "--interval", "0.2")
    faults = ("--fail-rate", "0.3", "--seed", "1", "--latency", "0.02")
    with (
        running_server(*faults, data_dir=tmp_path_factory.mktemp("serve")) as server,
        Proxy(server.base_url) as proxy,
    ):
        process = start_cli(*args, "--base-url", proxy.base_url)
        ledger = Ledger()
        first = poll(lambda: next((e for e in ledger.entries() if e.batch_id and e.round is None), None), 60)
        proxy.rules["POST /v1/files"] = HOLD_BEFORE  # round 2's upload never arrives
        assert proxy.triggered.wait(60), process.communicate(timeout=5)
        process.kill()  # SIGKILL, between round 1 and round 2
        process.wait(30)
        (round_one,) = received(server)
        assert round_one[0].id == first.batch_id and len(round_one[1]) == 110
        assert 0 < len(round_one[2]) < 110  # the seeded share failed
        assert [e.round for e in ledger.rounds(first.id)] == [2]  # round 2 was started, never sent

        proxy.rules.clear()
        proxy.release()
        resumed = invoke(*args, "--base-url", proxy.base_url)
        batches = received(server)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{batch}: every request has its answer (110 of 110)" in resumed.stdout
    assert batches[0][0].id == first.batch_id  # round 1 followed, not sent again
    never_sent_twice(batches)
    rounds = ledger.rounds(first.id)
    assert [e.round for e in rounds] == list(range(2, len(batches) + 1))  # one ledger row per round
    assert [e.batch_id for e in rounds] == [b.id for b, _s, _a in batches[1:]]
    for number, (b, sent, _ok) in enumerate(batches[1:], 2):
        assert (
            f"round {number}: {len(sent)} request(s), {len(sent)} sent as {b.id} (completed)"
            in resumed.stdout
        )
    listed = json.loads(invoke("list", "--json").stdout)
    assert sorted(e["round"] for e in listed if e["parent"] == first.id) == list(range(2, len(batches) + 1))
    rows = merged(batch, result_files(tmp_path))
    assert len(rows) == 110 and {row["status"] for row in rows} == {"ok"}


def test_expired_requests_are_sent_again(tmp_path, tmp_path_factory):
    batch = build(tmp_path, 30)
    faults = ("--expire-rate", "0.2", "--seed", "5", "--window-scale", "0.00004")
    with running_server(*faults, data_dir=tmp_path_factory.mktemp("serve")) as server:
        done = invoke(
            "submit", batch, "--base-url", server.base_url, "--wait", "--until-done", "--interval", "0.2"
        )
        batches = received(server)
    assert done.returncode == 0, done.stderr
    assert batches[0][0].status == "expired" and len(batches[0][2]) < 30
    assert "expired" in done.stdout.splitlines()[0]  # round 1: what came back includes the expired ones
    never_sent_twice(batches)
    assert {row["status"] for row in merged(batch, result_files(tmp_path))} == {"ok"}


def test_invalid_requests_are_not_sent_again_and_bad_structured_answers_are_until_the_rounds_run_out(
    tmp_path, tmp_path_factory
):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    lines = [
        {"model": MODEL, "messages": [{"role": "user", "content": "fine"}]},
        {"model": MODEL, "messages": [{"role": "user", "content": "too hot"}], "temperature": 5},  # a 400
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "json please"}],
            "response_format": response_format,
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "cut short please"}],
            "max_tokens": 1,
            "response_format": response_format,
        },  # fmt: skip
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                         "body": body}) + "\n" for i, body in enumerate(lines)))  # fmt: skip
    with running_server(data_dir=tmp_path_factory.mktemp("serve")) as server:
        done = invoke("submit", batch, "--base-url", server.base_url, "--wait", "--until-done", "--max-rounds",
                      "3", "--interval", "0.2", "--no-validate")  # fmt: skip
        batches = received(server)
    assert done.returncode == 1
    assert [sent for _b, sent, _ok in batches] == [["r0", "r1", "r2", "r3"], ["r3"], ["r3"]]
    assert f"{batch}: 2 of 4 request(s) have their answer" in done.stdout
    assert "1 invalid_value (400) (not sent again: they would fail again)" in done.stdout
    assert "1 truncated (still without an answer after 3 round(s) of 3)" in done.stdout
    assert "still have requests without their answer" in done.stderr


def test_a_batch_that_failed_on_its_lines_is_not_sent_again(tmp_path, tmp_path_factory):
    batch = write_requests(tmp_path / "batch.jsonl", 2, models=("not-served",))
    with running_server("--model", MODEL, data_dir=tmp_path_factory.mktemp("serve")) as server:
        done = invoke("submit", batch, "--base-url", server.base_url, "--wait", "--until-done", "--interval",
                      "0.2", "--no-validate")  # fmt: skip
        batches = received(server)
    assert done.returncode == 1 and len(batches) == 1
    assert "the batch failed on its lines" in done.stdout and "not sent again" in done.stdout


def test_run_until_done_runs_again_what_failed(tmp_path, tmp_path_factory):
    batch = build(tmp_path, 40)
    with running_server(
        "--fail-rate", "0.3", "--seed", "2", data_dir=tmp_path_factory.mktemp("serve")
    ) as server:
        with Proxy(server.base_url) as proxy:
            once = invoke("run", batch, "--base-url", proxy.base_url, "-o", tmp_path / "once.jsonl",
                          "--max-attempts", "1", "--no-cache")  # fmt: skip
            assert once.returncode == 1  # without --until-done, the failures stay
            sent_once = proxy.hits["POST /v1/chat/completions"]
            done = invoke("run", batch, "--base-url", proxy.base_url, "-o", tmp_path / "out.jsonl",
                          "--max-attempts", "1", "--no-cache", "--until-done", "--max-rounds", "10")  # fmt: skip
            sent = proxy.hits["POST /v1/chat/completions"] - sent_once
    assert done.returncode == 0, done.stderr
    assert "every request has its answer (40 of 40)" in done.stderr and "round 2: " in done.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 40 and not (tmp_path / "out.errors.jsonl").exists()
    assert 40 < sent < 80  # the failures, and only they, went again


def test_python_until_done(tmp_path, tmp_path_factory):
    batch = build(tmp_path, 20)
    with running_server(
        "--fail-rate", "0.4", "--seed", "3", data_dir=tmp_path_factory.mktemp("serve")
    ) as server:
        jobs = batchkit.submit(batch, base_url=server.base_url, interval=0.2, until_done=True, max_rounds=10)
        batches = received(server)
    assert jobs.done is True and jobs[0].done is True
    assert [one.batch.id for one in jobs[0].rounds.rounds] == [b.id for b, _s, _a in batches]
    never_sent_twice(batches)
    result = batchkit.merge_results(jobs.paths, jobs.results())
    assert set(result.frame["status"]) == {"ok"}


def test_python_run_until_done(tmp_path, tmp_path_factory):
    batch = build(tmp_path, 20)
    with running_server(
        "--fail-rate", "0.4", "--seed", "4", data_dir=tmp_path_factory.mktemp("serve")
    ) as server:
        once = batchkit.run(batch, base_url=server.base_url, output=tmp_path / "once.jsonl", max_attempts=1,
                            cache=False)  # fmt: skip
        found = batchkit.run(batch, base_url=server.base_url, output=tmp_path / "out.jsonl", max_attempts=1,
                             cache=False, until_done=True, max_rounds=10)  # fmt: skip
    assert once.failed > 0  # the seeded share fails without rounds
    assert found.done and len(found.rounds) > 1 and found.standing.answered == 20
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("submit", "--until-done"), "--until-done needs --wait"),
        (("submit", "--wait", "--max-rounds", "3"), "--max-rounds goes with --until-done"),
        (("run", "-o", "out.jsonl", "--max-rounds", "3"), "--max-rounds goes with --until-done"),
    ],
)
def test_rounds_options_that_do_not_go_together_are_refused(tmp_path, args, message):
    batch = build(tmp_path, 2)
    done = invoke(args[0], batch, *args[1:], "--base-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2 and message in done.stderr


def test_until_done_through_the_queue_gives_each_file_its_rounds(tmp_path, tmp_path_factory):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    files = [
        build(first, 25),
        build(second, 15, "--id-prefix", "b-", "--system", "Be brief."),
    ]  # other requests
    with running_server(
        "--fail-rate", "0.3", "--seed", "6", data_dir=tmp_path_factory.mktemp("serve")
    ) as server:
        done = invoke("submit", *files, "--base-url", server.base_url, "--wait", "--until-done", "--max-rounds",
                      "10", "--max-batches", "1", "--interval", "0.2")  # fmt: skip
        batches = received(server)
    assert done.returncode == 0, done.stderr
    for path, rows in zip(files, (25, 15), strict=True):
        assert f"{path}: every request has its answer ({rows} of {rows})" in done.stdout
        assert f"{path}: round 2: " in done.stdout
        assert {row["status"] for row in merged(path, result_files(path.parent))} == {"ok"}
    never_sent_twice(batches)
    assert len(batches) >= 4  # two files, each sent again at least once, one batch in flight at a time
