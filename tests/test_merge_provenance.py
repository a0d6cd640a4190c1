"""`merge` never puts a wrong or missing answer on a row silently: a source table it cannot join, results
produced for other requests (the ledger knows what each downloaded file answers; a result's model must
be the one asked for), requests renamed by `fix --dedupe-ids`, and result files of a batch still running.
Against a real `batchkit serve` where a submission is the point."""

from __future__ import annotations

import csv
import json
import shutil

import orjson
import pandas as pd
import pytest
from serverutil import running_server
from submitsupport import ROOT, invoke

import batchkit
from batchkit.errors import MergeRefused, StaleResults

QUESTIONS = ROOT / "samples" / "questions.csv"


def answer(custom_id: str, content: str, model: str = "m") -> dict:
    body = {"id": "c", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    return {"id": "b", "custom_id": custom_id, "response": {"status_code": 200, "body": body}, "error": None}


def write_lines(path, lines) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def built_and_merged(tmp_path, table_text: str, answers: list[dict], *build_options):
    """`build` of a table (id column `id`, prompt `{q}`), then `merge --source` of `answers` onto it: the
    merge's process and the table it wrote."""
    table, batch = tmp_path / "t.csv", tmp_path / "b.jsonl"
    table.write_text(table_text, encoding="utf-8")
    built = invoke("build", table, "-o", batch, "--model", "m", "--user", "{q}", "--id-column", "id",
                   *build_options)  # fmt: skip
    assert built.returncode == 0, built.stderr
    results, out = tmp_path / "out.jsonl", tmp_path / "merged.csv"
    write_lines(results, answers)
    return invoke("merge", batch, "-r", results, "--source", table, "--id-column", "id", "-o", out), out


def build(batch, *options):
    built = invoke("build", QUESTIONS, "-o", batch, "--user", "{question}", "--id-column", "id", *options)
    assert built.returncode == 0, built.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


def submit_and_wait(server, path):
    done = invoke("submit", path, "--base-url", server.base_url, "--wait", "--interval", "0.3")
    assert done.returncode == 0, done.stderr
    return done.stdout.split(" submitted as ")[1].split()[0]


# --------------------------------------------------------------------------- 1: a source it cannot join


def test_a_source_no_row_of_which_gets_its_result_is_refused_with_the_column_to_use(tmp_path):
    batch, results = tmp_path / "batch.jsonl", tmp_path / "batch.output.jsonl"
    build(batch, "--model-column", "model")
    lines = [orjson.loads(line) for line in batch.read_bytes().splitlines()]
    ids = [line["custom_id"] for line in lines]
    write_lines(
        results, [answer(x["custom_id"], f"answer {x['custom_id']}", x["body"]["model"]) for x in lines]
    )
    out = tmp_path / "noid.csv"
    for wrong in ([], ["--id-column", "topic"]):
        refused = invoke("merge", batch, "-r", results, "--source", QUESTIONS, *wrong, "-o", out)
        assert refused.returncode == 1, refused.stderr
        assert (
            "did you mean --id-column id? (its values are the custom_ids). Nothing merged" in refused.stdout
        )
        assert not out.exists()
    assert "without --id-column its rows are found by the row number in generated ids (row-1, row-2, …)" in (
        invoke("merge", batch, "-r", results, "--source", QUESTIONS, "-o", out).stdout
    )
    # from Python, the same refusal in Python's words
    frame = pd.read_csv(QUESTIONS)
    with pytest.raises(MergeRefused, match='did you mean id_column="id"'):
        batchkit.merge_results(batch, results, source=frame)
    assert list(batchkit.merge_results(batch, results, source=frame, id_column="id").frame["content"]) == [
        f"answer {cid}" for cid in ids
    ]


def test_a_source_row_without_its_result_exits_1_unless_allowed(tmp_path):
    table = tmp_path / "questions.csv"
    shutil.copy(QUESTIONS, table)
    batch, results = tmp_path / "batch.jsonl", tmp_path / "out.jsonl"
    build(batch, "--model-column", "model")
    with table.open("a", encoding="utf-8") as f:
        f.write("q009,history,m,A row added after the build?\n")
    lines = [orjson.loads(line) for line in batch.read_bytes().splitlines()]
    write_lines(results, [answer(x["custom_id"], "yes", x["body"]["model"]) for x in lines])
    out = tmp_path / "merged.csv"
    partial = invoke("merge", batch, "-r", results, "--source", table, "--id-column", "id", "-o", out)
    assert partial.returncode == 1, partial.stderr
    assert (
        "incomplete: 1 of 9 source row(s) got no result and 0 result(s) found no row (exit 1;"
        in partial.stdout
    )
    assert [row["status"] for row in read_csv(out)] == ["ok"] * 8 + [""]  # written, and said so
    allowed = invoke("merge", batch, "-r", results, "--source", table, "--id-column", "id", "-o", out,
                     "--allow-missing")  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout


# ---------------------------------------------------------------- 3: ids renamed by fix --dedupe-ids


@pytest.mark.parametrize(("provider", "mark"), [("kluster", "~"), ("anthropic", "-")])
def test_ids_renamed_by_dedupe_land_on_the_rows_they_were_built_from(tmp_path, provider, mark):
    """Anthropic's ids take no `~`: its repeats are renamed A-003-2, A-003-3, and land as well."""
    table = tmp_path / "accounts.csv"
    table.write_text(
        "Account ID,note\nA-001,first\nA-003,second\nA-002,third\nA-003,fourth\nA-003,fifth\n",
        encoding="utf-8",
    )
    batch = tmp_path / "b.jsonl"
    args = ("--model", "m", "--user", "{note}", "--id-column", "Account ID", "--provider", provider,
            "--max-tokens", "10")  # fmt: skip
    built = invoke("build", table, "-o", batch, *args)
    assert built.returncode == 1 and "fix --dedupe-ids" in built.stderr  # what build suggests
    assert invoke("build", table, "-o", batch, *args, "--force").returncode == 0
    fixed = invoke("fix", batch, "--dedupe-ids", "--in-place", "--provider", provider)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    lines = [orjson.loads(line) for line in batch.read_bytes().splitlines()]
    assert [x["custom_id"] for x in lines] == ["A-001", "A-003", "A-002", f"A-003{mark}2", f"A-003{mark}3"]
    results = tmp_path / "out.jsonl"
    asked = [(x.get("body") or x["params"])["messages"][0]["content"] for x in lines]
    write_lines(results, [answer(x["custom_id"], "re " + q) for x, q in zip(lines, asked, strict=True)][::-1])
    out = tmp_path / "merged.csv"
    merged = invoke("merge", batch, "-r", results, "--source", table, "--id-column", "Account ID", "-o", out)
    assert merged.returncode == 0, merged.stdout
    assert [(row["note"], row["content"]) for row in read_csv(out)] == [
        (note, f"re {note}") for note in ("first", "second", "third", "fourth", "fifth")
    ]


def test_renamed_ids_land_on_their_rows_whatever_order_the_inputs_come_in(tmp_path):
    """Split by model after the renaming, the files list `a~3` before `a~2`: each took the next row of
    `a` in the order read, and rows 2 and 3 swapped answers, exit 0. The number says which row."""
    table = tmp_path / "t.csv"
    table.write_text("id,q,model\na,Q1,m-a\na,Q2,m-b\na,Q3,m-a\nb,Q4,m-b\n", encoding="utf-8")
    batch = tmp_path / "b.jsonl"
    built = invoke("build", table, "-o", batch, "--model-column", "model", "--user", "{q}", "--id-column", "id",
                   "--force")  # fmt: skip
    assert built.returncode == 0 and invoke("fix", batch, "--dedupe-ids", "--in-place").returncode == 0
    assert invoke("split", batch, "--by", "model").returncode == 0
    parts = [tmp_path / "b.m-a.jsonl", tmp_path / "b.m-b.jsonl"]
    lines = [orjson.loads(line) for part in parts for line in part.read_bytes().splitlines()]
    assert [x["custom_id"] for x in lines] == ["a", "a~3", "a~2", "b"]
    results = tmp_path / "out.jsonl"
    write_lines(results, [answer(x["custom_id"], "re " + x["body"]["messages"][0]["content"]) for x in lines])
    out = tmp_path / "merged.csv"
    merged = invoke("merge", *parts, "-r", results, "--source", table, "--id-column", "id", "-o", out)
    assert merged.returncode == 0, merged.stdout
    assert [(row["q"], row["content"]) for row in read_csv(out)] == [
        (q, f"re {q}") for q in ("Q1", "Q2", "Q3", "Q4")
    ]


def test_an_id_on_more_rows_than_its_requests_puts_its_answer_on_no_row_and_says_why(tmp_path):
    """Build skipped the first `k1` row (its prompt empty): the answer to the second landed on the first,
    exit 0 with --allow-missing. Which row is the id's cannot be told: no row, a note, exit 1."""
    table = "id,q\nk1,\nk1,second\nk2,third\n"
    answers = [answer("k1", "re second"), answer("k2", "re third")]
    merged, out = built_and_merged(tmp_path, table, answers, "--on-empty", "skip")
    assert merged.returncode == 1 and "1 result(s) found no row" in merged.stdout, merged.stdout
    assert "'id' repeats 'k1' on more rows than there are requests of that id" in merged.stdout
    assert [(row["q"], row["content"]) for row in read_csv(out)] == [
        ("", ""),
        ("second", ""),
        ("third", "re third"),
    ]


def test_a_repeated_id_merged_without_renaming_puts_its_result_on_each_row_once(tmp_path):
    """Results cannot tell the requests of one id apart (the merge says so, and exits 1: a row may hold
    another's answer, where it exited 0): each of its rows gets that one result, once, and the table keeps
    one row per source row."""
    table = "id,q\n1,first\n1,second\n2,third\n"
    merged, out = built_and_merged(tmp_path, table, [answer("1", "one"), answer("2", "two")], "--force")
    assert merged.returncode == 1 and "every such row gets the same result" in merged.stdout, merged.stdout
    assert "ambiguous: 1 request(s) share their custom_id with another request" in merged.stdout
    assert [(row["q"], row["content"]) for row in read_csv(out)] == [
        ("first", "one"), ("second", "one"), ("third", "two")
    ]  # fmt: skip


# ------------------------------------------------------------- 2: results produced for other requests


def test_results_of_a_batch_file_since_rebuilt_are_refused_then_marked(server, tmp_path):
    """Build, submit, rebuild with another model and prompt (the same ids), merge the old output."""
    batch = tmp_path / "batch.jsonl"
    build(batch, "--model-column", "model", "--max-tokens", "200")
    batch_id = submit_and_wait(server, batch)
    output = tmp_path / "batch.output.jsonl"
    merged = tmp_path / "answers.csv"
    assert invoke("merge", batch, "-r", output, "-o", merged).returncode == 0
    assert {row["batch_id"] for row in read_csv(merged)} == {batch_id}  # each row names its batch

    build(batch, "--model", "gpt-4.1-mini", "--system", "Answer in French.")
    merged.unlink()
    refused = invoke("merge", batch, "-r", output, "-o", merged)
    assert refused.returncode == 1, refused.stdout
    assert "answers produced for other requests (stale): 8" in refused.stdout
    assert f"8 × {output} holds the answers of {batch_id}, submitted from {batch}" in refused.stdout
    assert "--allow-stale to merge them, marked in a stale column; nothing written" in refused.stdout
    assert not merged.exists()
    as_json = json.loads(invoke("merge", batch, "-r", output, "-o", merged, "--format", "json").stdout)
    assert as_json["ok"] is False and as_json["stale_count"] == 8
    marked = invoke("merge", batch, "-r", output, "-o", merged, "--allow-stale")
    assert marked.returncode == 0 and "8 stale result(s) merged (--allow-stale)" in marked.stdout
    rows = read_csv(merged)
    assert all(row["stale"].startswith(f"{output} holds the answers of {batch_id}") for row in rows)
    with pytest.raises(StaleResults) as caught:
        batchkit.merge_results(batch, output)
    assert len(caught.value.report.stale) == 8
    assert batchkit.merge_results(batch, output, allow_stale=True).frame["stale"].notna().all()
    retried = invoke("retry", batch, "-r", output, "-o", tmp_path / "retry.jsonl")  # said nothing to retry
    assert retried.returncode == 0 and "retry: 8 request(s) (stale 8)" in retried.stdout + retried.stderr
    assert (tmp_path / "retry.jsonl").read_bytes() == batch.read_bytes()  # the rebuilt lines, sent again


def test_another_batch_with_the_same_ids_is_refused_and_a_retry_of_the_same_lines_is_not(server, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    build(first, "--model-column", "model")
    build(second, "--model-column", "model", "--system", "Be brief.")
    submit_and_wait(server, first)
    submit_and_wait(server, second)
    crossed = invoke("merge", first, "-r", tmp_path / "b.output.jsonl", "-o", tmp_path / "x.csv")
    assert crossed.returncode == 1 and "answers produced for other requests (stale): 8" in crossed.stdout
    # the same request lines sent again (retry writes them byte for byte) answer the same requests
    again = tmp_path / "again.jsonl"
    retried = invoke("retry", first, "-r", tmp_path / "a.output.jsonl", "--only", "ok", "-o", again)
    assert retried.returncode == 0, retried.stdout
    again_id = submit_and_wait(server, again)
    merged = tmp_path / "m.csv"
    both = invoke(
        "merge", first, "-r", tmp_path / "a.output.jsonl", tmp_path / "again.output.jsonl", "-o", merged
    )
    assert both.returncode == 0, both.stdout
    assert {row["batch_id"] for row in read_csv(merged)} == {again_id}  # the newest result won


def test_a_result_of_another_model_than_asked_is_stale_but_a_dated_snapshot_is_not(tmp_path):
    """Results batchkit never saw submitted: the answering model is the evidence."""
    batch = tmp_path / "b.jsonl"
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]}}
             for i, model in enumerate(["gpt-4o-mini", "gpt-4o", "my-azure-deployment"])]  # fmt: skip
    write_lines(batch, lines)
    results = tmp_path / "out.jsonl"
    answered = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"]
    write_lines(results, [answer(f"r{i}", "hello", model) for i, model in enumerate(answered)])
    assert (
        batchkit.merge_results(batch, results).report.stale == []
    )  # snapshots, and a name batchkit does not know
    answered[1] = "gpt-4o-mini-2024-07-18"  # asked gpt-4o, answered by gpt-4o-mini: another model
    write_lines(results, [answer(f"r{i}", "hello", model) for i, model in enumerate(answered)])
    refused = invoke("merge", batch, "-r", results, "-o", tmp_path / "m.csv")
    assert refused.returncode == 1
    assert "1 × asked for gpt-4o, answered by gpt-4o-mini-2024-07-18: r1" in refused.stdout


# ------------------------------------------------------------------ 12: results of a batch still running


def test_merging_the_results_of_a_batch_still_running_says_so(tmp_path):
    batch = tmp_path / "slow.jsonl"
    build(batch, "--model", "m")
    with running_server(
        "--backend", "echo", "--latency", "5", "--concurrency", "1", data_dir=tmp_path / "s"
    ) as slow:
        submitted = invoke("submit", batch, "--base-url", slow.base_url)
        assert submitted.returncode == 0, submitted.stderr
        assert invoke("status", batch).returncode == 0  # the ledger's counts are as of the last look
        merged = invoke("merge", batch, "-r", tmp_path / "slow.output.jsonl", "-o", tmp_path / "m.csv")
    assert merged.returncode == 2
    assert f"slow.output.jsonl: no such file yet: {batch} was submitted as batch_" in merged.stderr
    assert (
        "done) when last checked; `batchkit watch" in merged.stderr and "`batchkit download" in merged.stderr
    )
