"""Never paying twice: `submit` and `run` leave out what the answer cache answers, against a real
`batchkit serve`, checked from the server's side (the batches it holds and the lines of their input files,
or the requests a proxy in front of it counted).

- 100 rows submitted, 10 rows added: the server gets a batch of exactly those 10, and `merge` gives 110
  `ok` rows, 100 of them `cached` with the first batch's id;
- a file answered whole makes no batch (download writes its answers); a changed field is a miss;
  --no-cache sends everything; --cache PATH uses another cache;
- a submit killed while uploading what is left resumes to one batch of it;
- Anthropic's batches get Anthropic result lines from the cache;
- `run` answers from the cache the same way, and fills it; the Python API's `cache=`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openai
import pytest
from nativesupport import MODEL, native_file, server_batches
from serverutil import running_server
from submitsupport import HOLD_BEFORE, Proxy, invoke, run_cli, start_cli

import batchkit
from batchkit.cache import AnswerCache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


def questions(path: Path, rows: int, start: int = 1) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question"])
        writer.writerows([f"What is {i} plus {i}?"] for i in range(start, start + rows))
    return path


def build(table: Path, batch: Path, *params: str) -> Path:
    built = invoke("build", table, "-o", batch, "--model", "m-echo", "--user", "{question}", *params)
    assert built.returncode == 0, built.stderr
    return batch


def batches(server) -> dict[str, tuple[object, list[str]]]:
    """Every batch the server holds, by id: (the batch, the custom_ids of its input file's lines)."""
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    found = {}
    for batch in client.batches.list(limit=100):
        lines = client.files.content(batch.input_file_id).text.splitlines()
        found[batch.id] = (batch, [json.loads(line)["custom_id"] for line in lines])
    return found


def merged_rows(batch: Path, *results: Path) -> list[dict]:
    out = batch.with_suffix(".merged.csv")
    merged = invoke("merge", batch, "--results", *results, "-o", out)
    assert merged.returncode == 0, merged.stderr
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def submit(server, *args, base_url=None):
    done = invoke("submit", *args, "--base-url", base_url or server.base_url, "--wait", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    return done


def test_ten_added_rows_are_the_only_ones_sent_and_merge_marks_the_rest_cached(server, tmp_path):
    table, batch = questions(tmp_path / "q.csv", 100), tmp_path / "questions.jsonl"
    before = batches(server)
    submit(server, build(table, batch))
    ((first_id, (_first, sent_first)),) = [(k, v) for k, v in batches(server).items() if k not in before]
    assert len(sent_first) == 100

    before = batches(server)
    build(questions(table, 110), batch)  # ten rows added to the sheet, the batch file rebuilt
    second = submit(server, batch)
    assert "100 answered from the answer cache, 10 sent" in second.stdout
    new = {k: v for k, v in batches(server).items() if k not in before}
    ((new_batch, sent),) = new.values()  # one batch, of exactly the ten new rows
    assert new_batch.request_counts.total == 10
    assert sorted(sent) == sorted(f"row-{i}" for i in range(101, 111))
    output = tmp_path / "questions.output.jsonl"
    assert f"{output}: output, 110 line(s), 100 of them from the answer cache" in second.stdout

    rows = merged_rows(batch, output)
    assert len(rows) == 110 and {row["status"] for row in rows} == {"ok"}
    cached = [row for row in rows if row["cached"] == "True"]
    assert len(cached) == 100 and {row["cached_batch_id"] for row in cached} == {first_id}
    assert {row["custom_id"] for row in rows if row["cached"] == "False"} == set(sent)
    assert all(row["content"] == f"What is {i} plus {i}?" for i, row in enumerate(rows, 1))


def test_a_file_answered_whole_makes_no_batch_and_download_writes_its_answers(server, tmp_path):
    table = questions(tmp_path / "q.csv", 5, start=500)
    submit(server, build(table, tmp_path / "a.jsonl"))
    before = batches(server)
    again = build(table, tmp_path / "b.jsonl", "--id-prefix", "other-")  # the same questions, new ids
    submitted = invoke("submit", again, "--base-url", server.base_url)
    assert submitted.returncode == 0, submitted.stderr
    assert "all 5 request(s) answered from the answer cache; no batch was made" in submitted.stdout
    assert batches(server).keys() == before.keys()
    status = invoke("status", again, "--base-url", server.base_url)  # as without the address: done
    assert status.returncode == 0 and "done: the answer cache answered all 5 requests" in status.stdout
    downloaded = invoke("download", again, "--base-url", server.base_url)
    assert downloaded.returncode == 0, downloaded.stderr
    rows = merged_rows(again, tmp_path / "b.output.jsonl")
    assert [row["custom_id"] for row in rows] == [f"other-{i}" for i in range(1, 6)]
    assert {(row["status"], row["cached"]) for row in rows} == {("ok", "True")}
    listed = json.loads(invoke("list", "--json").stdout)
    assert any(entry["step"] == "answered" and entry["cached"] == 5 for entry in listed)
    kept = next(Path(e["cached_path"]) for e in listed if e["step"] == "answered" and e.get("cached_path"))
    kept.rename(kept.with_suffix(".away"))  # the ledger's copy gone: was "cannot write b.output.jsonl"
    gone = invoke("download", again, "--force")
    assert gone.returncode == 2 and "the answers the cache gave are gone from the ledger" in gone.stderr
    kept.with_suffix(".away").rename(kept)
    every = invoke("status", again)  # every submission of the file: this one is done, not stopped
    assert every.returncode == 0 and "done: the answer cache answered all 5 requests" in every.stdout
    assert "tries again" not in every.stdout
    forgot = invoke("forget", again)
    assert "forgot a submission the answer cache answered whole" in forgot.stdout, forgot.stdout


def test_a_changed_field_is_a_miss_and_no_cache_sends_everything(server, tmp_path):
    table = questions(tmp_path / "q.csv", 4, start=700)
    submit(server, build(table, tmp_path / "a.jsonl"))
    before = batches(server)
    warmer = build(table, tmp_path / "warm.jsonl", "--param", "temperature=0.5")
    assert "answered from the answer cache" not in submit(server, warmer).stdout
    uncached = build(table, tmp_path / "c.jsonl", "--id-prefix", "c-")
    assert "answered from the answer cache" not in submit(server, uncached, "--no-cache").stdout
    new = [sent for key, (_b, sent) in batches(server).items() if key not in before]
    assert sorted(map(len, new)) == [4, 4]  # every request of both went to the server
    other = tmp_path / "other.db"
    submit(server, build(table, tmp_path / "d.jsonl", "--id-prefix", "d-"), "--cache", other)
    with AnswerCache(other) as cache:
        assert cache.stats().answers == 4  # the other cache was asked (empty), then filled
    assert invoke("submit", uncached, "--no-cache", "--cache", other).returncode == 2


def test_a_submit_killed_while_uploading_what_is_left_resumes_to_one_batch(server, tmp_path):
    table = questions(tmp_path / "q.csv", 20, start=900)
    batch = tmp_path / "k.jsonl"
    submit(server, build(table, batch))
    build(questions(table, 25, start=900), batch)
    before = batches(server)
    with Proxy(server.base_url) as proxy:
        proxy.rules["POST /v1/files"] = HOLD_BEFORE
        process = start_cli("submit", batch, "--base-url", proxy.base_url)
        assert proxy.triggered.wait(60), process.communicate(timeout=5)
        process.kill()
        process.wait(30)
    assert batches(server).keys() == before.keys()
    resumed = submit(server, batch)
    assert "20 answered from the answer cache, 5 sent" in resumed.stdout
    ((_b, sent),) = [v for k, v in batches(server).items() if k not in before]
    assert sorted(sent) == sorted(f"row-{i}" for i in range(21, 26))
    assert len((tmp_path / "k.output.jsonl").read_text().splitlines()) == 25


def test_anthropic_batches_get_anthropic_result_lines_from_the_cache(server, tmp_path):
    first = native_file(tmp_path, "anthropic", 3, prefix="a")
    assert run_cli("submit", first, "--provider", "anthropic", "--base-url", server.root_url, "--wait",
                   "--interval", "0.2").returncode == 0  # fmt: skip
    before = server_batches("anthropic", server.root_url)
    second = native_file(tmp_path, "anthropic", 4, prefix="a")  # the same three questions and one more
    second = second.rename(tmp_path / "second.jsonl")
    done = run_cli("submit", second, "--provider", "anthropic", "--base-url", server.root_url, "--wait",
                   "--interval", "0.2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 answered from the answer cache, 1 sent" in done.stdout
    (new,) = [k for k in server_batches("anthropic", server.root_url) if k not in before]
    import anthropic

    counts = anthropic.Anthropic(base_url=server.root_url, api_key="unused").messages.batches.retrieve(new)
    assert counts.request_counts.succeeded == 1
    lines = [json.loads(line) for line in (tmp_path / "second.output.jsonl").read_text().splitlines()]
    assert {line["result"]["type"] for line in lines} == {"succeeded"} and len(lines) == 4
    assert sum("batchkit_cached" in line for line in lines) == 3
    rows = merged_rows(second, tmp_path / "second.output.jsonl")
    assert [row["cached"] for row in rows] == ["True", "True", "True", "False"]
    assert {row["model"] for row in rows} == {MODEL}


def test_run_answers_from_the_cache_and_fills_it(server, tmp_path):
    table = questions(tmp_path / "q.csv", 6, start=1200)
    first = build(table, tmp_path / "r.jsonl")
    with Proxy(server.base_url) as proxy:
        ran = invoke("run", first, "--base-url", proxy.base_url, "-o", tmp_path / "one.jsonl")
        assert ran.returncode == 0, ran.stderr
        assert proxy.hits["POST /v1/chat/completions"] == 6
        build(questions(table, 8, start=1200), tmp_path / "s.jsonl", "--id-prefix", "s-")
        again = invoke(
            "run", tmp_path / "s.jsonl", "--base-url", proxy.base_url, "-o", tmp_path / "two.jsonl"
        )
        assert again.returncode == 0, again.stderr
        assert proxy.hits["POST /v1/chat/completions"] == 8  # only the two new questions
    assert "6 answered from the answer cache" in again.stderr
    rows = merged_rows(tmp_path / "s.jsonl", tmp_path / "two.jsonl")
    assert [row["cached"] for row in rows] == ["True"] * 6 + ["False"] * 2
    assert {row["cached_batch_id"] for row in rows[:6]} == {""}  # from `run`, which makes no batch


def test_the_python_api_takes_a_cache_and_a_file_answered_whole_has_no_batch(server, tmp_path):
    table = questions(tmp_path / "q.csv", 3, start=1500)
    cache = tmp_path / "py.db"
    jobs = batchkit.submit(
        build(table, tmp_path / "p.jsonl"), base_url=server.base_url, interval=0.2, cache=cache
    )
    assert jobs[0].batch_id and len(jobs.results()) == 1
    copy = build(table, tmp_path / "p2.jsonl", "--id-prefix", "p2-")
    (job,) = batchkit.submit(copy, base_url=server.base_url, interval=0.2, cache=cache)
    assert job.batch_id is None and job.submitted.cached == 3 and job.wait() is None
    (output,) = job.results()
    assert [json.loads(line)["custom_id"] for line in output.read_text().splitlines()] == [
        "p2-1",
        "p2-2",
        "p2-3",
    ]
    (sent,) = batchkit.submit(copy, base_url=server.base_url, interval=0.2, cache=False, force=True)
    assert sent.batch_id is not None and sent.submitted.cached == 0
