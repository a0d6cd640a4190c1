"""`batchkit merge` and `batchkit retry` on the command line."""

import json
import os
from pathlib import Path

import orjson
import pandas as pd
import pytest
from click.testing import CliRunner

from batchkit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "results"
OPENAI = [str(DATA / "openai" / "input.jsonl"), "--results", str(DATA / "openai" / "output.jsonl"),
          str(DATA / "openai" / "errors.jsonl")]  # fmt: skip


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_seed_example_end_to_end(tmp_path):
    seed = DATA / "seed"
    merged = tmp_path / "merged.csv"
    args = ["merge", seed / "batch_tasks.jsonl", "--results", seed / "output.jsonl", "-o", merged]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert merged.read_bytes() == (seed / "expected.csv").read_bytes()
    assert "requests: 3 (ok 3)" in result.stdout and "tokens: 160 in, 72 out, 232 total" in result.stdout
    result = run(*args[:3], "/nonexistent.jsonl", *args[3:])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == "batchkit: error: /nonexistent.jsonl: no such file"


def test_dash_prints_csv_to_stdout_and_the_summary_to_stderr():
    result = run("merge", *OPENAI, "-o", "-")
    assert result.exit_code == 1, result.output  # q-7 has no result
    assert "incomplete: 1 of 8 request(s) have no result" in result.stderr.splitlines()[-1]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("custom_id,status,status_code,model,content,content_2,")
    assert lines[7].startswith("q-7,missing,")
    assert "requests: 8 (ok 4, http_error 2, expired 1, missing 1)" in result.stderr
    assert "2 × http_error context_length_exceeded" in result.stderr and "e.g. q-4, q-6" in result.stderr
    assert "1 × missing: no result for this request" in result.stderr
    assert "wrote standard output (8 rows)" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx", ".parquet", ".jsonl"])
def test_output_format_by_extension(tmp_path, suffix):
    from batchkit.tables import read_table

    out = tmp_path / f"merged{suffix}"
    result = run("merge", *OPENAI, "-o", out, "--allow-missing")
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (8 rows)" in result.stdout
    frame = read_table(out)
    assert list(frame["custom_id"]) == [f"q-{i}" for i in range(1, 9)]
    assert list(frame["status"])[3:7] == ["http_error", "expired", "http_error", "missing"]
    assert frame["content_2"][2] == "Red."
    assert not list(tmp_path.glob(".*.part"))  # written atomically, nothing left behind


def test_embeddings_are_json_text_in_csv_and_lists_in_parquet(tmp_path):
    args = [DATA / "embeddings" / "input.jsonl", "-r", DATA / "embeddings" / "output.jsonl",
            DATA / "embeddings" / "errors.jsonl"]  # fmt: skip
    assert run("merge", *args, "-o", tmp_path / "e.csv").exit_code == 0
    assert json.loads(pd.read_csv(tmp_path / "e.csv")["embedding"][0]) == [0.5, 0.0, -0.25]
    assert run("merge", *args, "-o", tmp_path / "e.parquet").exit_code == 0
    assert list(pd.read_parquet(tmp_path / "e.parquet")["embedding"][1]) == [0.25, -0.5, 0.125]


def test_problems_are_reported_and_json_summary(tmp_path):
    problems = DATA / "problems"
    args = [
        "merge",
        problems / "input.jsonl",
        "--results",
        problems / "output-1.jsonl",
        problems / "output-2.jsonl",
    ]
    result = run(*args, "-o", tmp_path / "m.csv")
    assert result.exit_code == 1  # p-3 has no result
    out = result.stdout
    assert "output-1.jsonl:3: error[invalid-json]" in out
    assert "orphan results (custom_id not in the input; left out): 1" in out and "p-9 at" in out
    assert "duplicate results: 2 custom_id(s); a successful result wins over a failed one" in out
    assert "p-1: kept" in out and "output-1.jsonl:1 (http_error)" in out
    assert "requests with no result: 1: p-3" in out
    result = run(*args, "-o", tmp_path / "m.csv", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1 and summary["ok"] is False and summary["joined"] == 4
    assert json.loads(run(*args, "-o", tmp_path / "m.csv", "--format", "json").stdout) == summary
    assert summary["counts"] == {
        "ok": 3,
        "http_error": 0,
        "batch_error": 1,
        "expired": 0,
        "canceled": 0,
        "missing": 1,
    }
    assert [o["custom_id"] for o in summary["orphans"]] == ["p-9"] and summary["orphans_count"] == 1
    assert summary["missing_count"] == 1 and summary["duplicates_count"] == 2
    assert run(*args, "-o", tmp_path / "m.csv", "-q").stdout == ""


def test_results_option_also_repeats_and_source_by_id_column(tmp_path):
    from batchkit.build import build_file

    table = tmp_path / "questions.csv"
    table.write_text("id,question,answer\nA1,Capital of Peru?,Lima\nB2,2+2?,4\n")
    batch = tmp_path / "batch.jsonl"
    build_file(table, batch, model="m", user="{question}", id_column="id")
    out = tmp_path / "out.jsonl"
    out.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "custom_id": cid,
                    "response": {
                        "status_code": 200,
                        "body": {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                }
                            ]
                        },
                    },
                    "error": None,
                }
            )
            + b"\n"
            for cid, text in (("B2", "Four."), ("A1", "Lima."))
        )  # fmt: skip
    )
    empty = tmp_path / "errors.jsonl"
    empty.write_bytes(b"")
    merged = tmp_path / "merged.xlsx"
    result = run("merge", batch, "-r", out, "-r", empty, "--source", table, "--id-column", "id", "-o", merged)
    assert result.exit_code == 0, result.output
    frame = pd.read_excel(merged)
    assert list(frame.columns[:4]) == ["id", "question", "answer", "custom_id"]
    assert list(frame["content"]) == ["Lima.", "Four."] and list(frame["answer"].astype(str)) == ["Lima", "4"]
    assert "source: " in result.stdout and "2 rows" in result.stdout


def test_usage_errors(tmp_path):
    assert run("merge", *OPENAI).exit_code == 2  # no -o
    result = run("merge", DATA / "openai" / "input.jsonl", "-o", "-")
    assert result.exit_code == 2 and "--results" in result.output
    result = run("merge", *OPENAI, "-o", tmp_path / "merged.unknown")
    assert result.exit_code == 2 and "cannot tell the table format" in result.output
    result = run("retry", *OPENAI, "-o", tmp_path / "r.jsonl", "--only", "nope")
    assert result.exit_code == 2 and "unknown status nope" in result.output
    assert list(tmp_path.iterdir()) == []


def test_retry_then_merge_again(tmp_path):
    retry_file = tmp_path / "retry.jsonl"
    result = run("retry", *OPENAI, "-o", retry_file, "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert "retry: 4 request(s) (expired 1, http_error 2, missing 1) written to" in result.stdout
    original = (DATA / "openai" / "input.jsonl").read_bytes().splitlines(keepends=True)
    assert retry_file.read_bytes() == b"".join(original[3:7])
    answers = tmp_path / "retry-output.jsonl"
    answers.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "custom_id": orjson.loads(line)["custom_id"],
                    "response": {
                        "status_code": 200,
                        "body": {
                            "created": 1800000000,
                            "choices": [{"index": 0, "message": {"content": "again"}}],
                        },
                    },
                }
            )
            + b"\n"
            for line in retry_file.read_bytes().splitlines()
        )  # fmt: skip
    )
    result = run("merge", *OPENAI, answers, "-o", "-")
    assert result.exit_code == 0
    assert [line.split(",")[1] for line in result.stdout.splitlines()[1:]] == ["ok"] * 8
    result = run("retry", *OPENAI, answers, "-o", tmp_path / "nothing.jsonl", "--json")
    assert json.loads(result.stdout)["files"] == [] and not (tmp_path / "nothing.jsonl").exists()


def test_a_success_that_answers_nothing_is_merged_as_a_failure_and_retried(tmp_path):
    batch = tmp_path / "batch.jsonl"
    chat = {
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    }
    batch.write_bytes(b"".join(orjson.dumps({"custom_id": i, **chat}) + b"\n" for i in ("a", "b")))
    answered = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}, "finish_reason": "stop"}]
    }
    results = tmp_path / "out.jsonl"
    results.write_bytes(
        orjson.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {}}, "error": None}) + b"\n"
        + orjson.dumps({"custom_id": "b", "response": {"status_code": 200, "body": answered}, "error": None}) + b"\n"
    )  # fmt: skip
    merged = run("merge", batch, "-r", results, "-o", tmp_path / "m.csv")
    assert merged.exit_code == 0, merged.output
    assert "requests: 2 (ok 1, batch_error 1)" in merged.output and "no_answer" in merged.output
    table = pd.read_csv(tmp_path / "m.csv")
    assert (
        table["status"].tolist() == ["batch_error", "ok"] and table["error_code"].tolist()[0] == "no_answer"
    )
    again = run("retry", batch, "-r", results, "-o", tmp_path / "again.jsonl")
    assert again.exit_code == 0, again.output
    assert [orjson.loads(x)["custom_id"] for x in (tmp_path / "again.jsonl").read_bytes().splitlines()] == [
        "a"
    ]


def test_retry_refuses_invalid_lines_unless_forced(tmp_path):
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n'
    )
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    result = run("retry", batch, "--results", empty, "-o", tmp_path / "r.jsonl")
    assert result.exit_code == 1 and not (tmp_path / "r.jsonl").exists()
    assert "missing-field" in result.stderr
    result = run("retry", batch, "--results", empty, "-o", tmp_path / "r.jsonl", "--force")
    assert result.exit_code == 0 and (tmp_path / "r.jsonl").read_bytes() == batch.read_bytes()


def test_merge_does_not_touch_its_inputs(tmp_path):
    before = {p: p.read_bytes() for p in (DATA / "openai").iterdir()}
    assert run("merge", *OPENAI, "-o", tmp_path / "m.parquet", "--allow-missing").exit_code == 0
    assert {p: p.read_bytes() for p in (DATA / "openai").iterdir()} == before


# ---------------------------------------------------------------- hostile answers


def answered(tmp_path, answers: dict) -> list:
    """A batch of one request per answer, its output file, as merge arguments."""
    batch, out = tmp_path / "batch.jsonl", tmp_path / "batch.output.jsonl"
    batch.write_bytes(
        b"".join(
            orjson.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                          "body": {"model": "m", "messages": [{"role": "user", "content": "q"}]}}) + b"\n"
            for cid in answers
        )
    )  # fmt: skip
    out.write_bytes(
        b"".join(
            orjson.dumps({"custom_id": cid, "response": {"status_code": 200, "body": {
                "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}]}}}) + b"\n"
            for cid, text in answers.items()
        )
    )  # fmt: skip
    return [batch, "-r", out]


HOSTILE = {
    "f1": '=HYPERLINK("http://evil","click")',
    "f2": "+cmd|' /C calc'!A0",
    "f3": "-2+3",
    "f4": "@SUM(A1)",
    "f5": "\tTAB",
    "n1": "-12.5",
    "n2": "+3",
    "ok": "plain answer",
}


def test_csv_and_tsv_escape_formula_like_text_by_default(tmp_path):
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        out = tmp_path / f"m{suffix}"
        result = run("merge", *answered(tmp_path, HOSTILE), "-o", out)
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(out, sep=sep, dtype=str, keep_default_na=False)
        content = dict(zip(frame["custom_id"], frame["content"], strict=True))
        assert content["f1"] == "'" + HOSTILE["f1"] and content["f2"] == "'" + HOSTILE["f2"]
        assert content["f3"] == "'-2+3" and content["f4"] == "'@SUM(A1)" and content["f5"] == "'\tTAB"
        assert (content["n1"], content["n2"], content["ok"]) == ("-12.5", "+3", "plain answer")
        assert "5 cell(s) that began like a formula (= + - @ tab) escaped" in result.stdout
        assert "(--no-escape-formulas to keep them raw)" in result.stdout
    result = run("merge", *answered(tmp_path, HOSTILE), "-o", tmp_path / "raw.csv", "--no-escape-formulas")
    assert result.exit_code == 0 and "escaped" not in result.stdout
    assert pd.read_csv(tmp_path / "raw.csv", dtype=str)["content"][0] == HOSTILE["f1"]
    result = run("merge", *answered(tmp_path, HOSTILE), "-o", tmp_path / "m.csv", "--format", "json")
    written = json.loads(result.stdout)["written"]
    assert written["formulas_escaped"] == 5 and written["cells_changed"] == 5


def test_xlsx_writes_text_never_formulas_and_removes_what_xml_forbids(tmp_path):
    import openpyxl

    answers = {**HOSTILE, "c1": "bell\x07 and nul\x00 and esc\x1b[31m", "c2": "tab\tand\nnewline kept"}
    out = tmp_path / "m.xlsx"
    result = run("merge", *answered(tmp_path, answers), "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    header = [c.value for c in sheet[1]]
    cells = {row[0].value: row[header.index("content")] for row in sheet.iter_rows(min_row=2)}
    assert cells["f1"].value == HOSTILE["f1"] and cells["f1"].data_type == "s"
    assert cells["c1"].value == "bell and nul and esc[31m" and cells["c2"].value == "tab\tand\nnewline kept"
    written = json.loads(result.stdout)["written"]
    assert written["formulas_written_as_text"] == 1 and written["control_characters_removed"] == 1
    assert written["formulas_escaped"] == 0  # text is text in a workbook: nothing to escape
    text = run("merge", *answered(tmp_path, answers), "-o", out).stdout
    assert "1 cell(s) had control characters XML forbids removed" in text
    source = tmp_path / "source.csv"
    source.write_text("id,bad\x01name\n" + "".join(f"{cid},x\n" for cid in answers))
    args = [*answered(tmp_path, answers), "--source", source, "--id-column", "id", "-o", out]
    assert "2 cell(s) had control characters" in run("merge", *args).stdout
    assert [c.value for c in openpyxl.load_workbook(out).active[1]][:2] == ["id", "badname"]


def test_xlsx_cells_over_the_excel_limit_are_cut_counted_and_kept_whole_beside(tmp_path):
    import openpyxl

    long = "x" * 40_000 + "END"
    out = tmp_path / "m.xlsx"
    result = run("merge", *answered(tmp_path, {"a": long, "b": "short"}), "-o", out)
    assert result.exit_code == 0, result.output
    assert (
        f"1 cell(s) over Excel's 32,767 characters cut; full text in {out}.long-cells.jsonl" in result.stdout
    )
    sheet = openpyxl.load_workbook(out).active
    assert len(sheet["E2"].value) == 32_767 and sheet["A2"].value == "a"
    kept = [orjson.loads(line) for line in (tmp_path / "m.xlsx.long-cells.jsonl").read_bytes().splitlines()]
    assert kept == [{"row": 1, "column": "content", "text": long}]


def test_excel_csv_has_a_byte_order_mark_and_crlf(tmp_path):
    out = tmp_path / "m.csv"
    assert run("merge", *answered(tmp_path, {"a": "é\nline"}), "-o", out, "--excel").exit_code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfcustom_id,") and data.count(b"\r\n") == 2
    assert b'"\xc3\xa9\nline"' in data  # a newline inside a cell stays as it was


def test_merging_onto_an_excel_source_keeps_its_sheet_name(tmp_path):
    import openpyxl

    table = tmp_path / "questions.xlsx"
    with pd.ExcelWriter(table) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"id": ["a", "b"], "q": ["?", "??"]}).to_excel(writer, sheet_name="Reviews", index=False)
    args = [
        *answered(tmp_path, {"a": "A", "b": "B"}),
        "--source",
        table,
        "--id-column",
        "id",
        "--sheet",
        "Reviews",
    ]
    out = tmp_path / "answers.xlsx"
    result = run("merge", *args, "-o", out)
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Reviews"] and book["Reviews"]["A2"].value == "a"


# ---------------------------------------------------------------- what each file is


def test_swapped_or_unrelated_files_are_an_error_naming_the_file(tmp_path):
    seed = DATA / "seed"
    result = run("merge", seed / "output.jsonl", "-r", seed / "batch_tasks.jsonl", "-o", tmp_path / "m.csv")
    assert (
        result.exit_code == 2
        and "output.jsonl: holds result lines (response/error), not requests" in result.stderr
    )
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"not json\n\x00\xff\n")
    result = run("retry", seed / "batch_tasks.jsonl", "-r", other, "-o", tmp_path / "r.jsonl")
    assert result.exit_code == 2 and "other.jsonl: holds no result lines" in result.stderr
    assert list(tmp_path.iterdir()) == [other]


def test_nothing_joined_exits_1_writes_nothing_and_says_so(tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes((DATA / "seed" / "batch_tasks.jsonl").read_bytes().replace(b"request-", b"other-"))
    args = ["merge", batch, "-r", DATA / "seed" / "output.jsonl", "-o", tmp_path / "m.csv"]
    for extra in ((), ("--allow-missing",)):
        result = run(*args, *extra)
        assert result.exit_code == 1 and not (tmp_path / "m.csv").exists()
        assert result.stdout.splitlines()[-1].startswith(
            "nothing joined: none of the 3 request(s) has a result"
        )
    summary = json.loads(run(*args, "--format", "json").stdout)
    assert summary["ok"] is False and summary["joined"] == 0 and summary["written"] is None
    result = run("retry", *args[1:4], "-o", tmp_path / "retry.jsonl")  # would resend the whole batch
    assert result.exit_code == 2 and "none of the 3 result(s) in" in result.stderr
    assert not (tmp_path / "retry.jsonl").exists()
    assert summary["orphans_count"] == 3 and summary["verdict"].startswith("nothing joined")


def test_partial_merge_exits_1_unless_allowed_and_json_agrees(tmp_path):
    result = run("merge", *OPENAI, "-o", tmp_path / "m.csv", "--format", "json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1 and summary["ok"] is False and summary["missing"] == ["q-7"]
    result = run("merge", *OPENAI, "-o", tmp_path / "m.csv", "--format", "json", "--allow-missing")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["ok"] is True and summary["verdict"] == ""
    assert summary["written"]["rows"] == 8


def test_readme_merge_and_retry_run_as_written_when_nothing_failed(tmp_path):
    """`batchkit download` writes no error file when nothing failed: the README's commands still run."""
    import re
    import shutil

    shutil.copy(DATA / "seed" / "batch_tasks.jsonl", tmp_path / "batch.jsonl")
    shutil.copy(DATA / "seed" / "output.jsonl", tmp_path / "batch.output.jsonl")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Merge and retry") :]
    commands = [line.split() for line in section.split("```")[1].splitlines() if line.startswith("batchkit ")]
    assert [c[1] for c in commands] == ["merge", "merge", "retry"]
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "questions.csv").write_text(
        "id,question\nrequest-1,a\nrequest-2,b\nrequest-3,c\n"
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for command in commands:
            result = run(*command[1:])
            assert result.exit_code == 0, (command, result.output)
            noted = re.search(r"note: batch\.errors\.jsonl does not exist.*none failed", result.output)
            assert bool(noted) == ("batch.errors.jsonl" in command)
    finally:
        os.chdir(cwd)
    assert (tmp_path / "merged.csv").is_file() and (tmp_path / "answers.xlsx").is_file()
    assert not (tmp_path / "retry.jsonl").exists()  # nothing failed: nothing to retry


def test_a_parquet_source_of_every_arrow_kind_merges_and_comes_back_as_it_was(tmp_path):
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pa.table({
        "id": ["1", "2"],
        "day": pa.array([dt.date(2024, 2, 29), dt.date(2024, 3, 1)]),
        "at": pa.array([dt.datetime(2024, 1, 1, 5, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")),
        "price": pa.array([decimal.Decimal("1.10"), decimal.Decimal("2.25")]),
        "tags": [[1, 2], [3]],
        "meta": [{"a": 1}, {"a": 2}],
    })  # fmt: skip
    pq.write_table(source, tmp_path / "source.parquet")
    args = answered(tmp_path, {"1": "A", "2": "B"})
    for out in ("m.parquet", "m.csv", "m.jsonl"):
        done = run(
            "merge", *args, "--source", tmp_path / "source.parquet", "--id-column", "id", "-o", tmp_path / out
        )
        assert done.exit_code == 0, done.output  # a date column was a KeyError from pandas
    merged = pq.read_table(tmp_path / "m.parquet")
    assert merged.select(source.column_names).equals(source.cast(merged.select(source.column_names).schema))
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert (rows[0]["day"], rows[0]["at"], rows[0]["price"]) == (
        "2024-02-29",
        "2024-01-01T05:00:00+00:00",
        "1.10",
    )
    assert (rows[0]["tags"], rows[0]["meta"], rows[1]["at"]) == ([1, 2], {"a": 1}, None)
    csv_rows = pd.read_csv(tmp_path / "m.csv", dtype=str)  # JSON, as a template inserts them, not repr
    assert list(csv_rows["tags"]) == ["[1,2]", "[3]"] and list(csv_rows["meta"]) == ['{"a":1}', '{"a":2}']


def test_jsonl_keeps_every_digit_of_a_number_on_every_path(tmp_path):
    x = [0.123456789012345, 3.141592653589793, 1e-300]
    table = tmp_path / "t.csv"
    table.write_text("id,x\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(x)))
    args = answered(tmp_path, {str(i): json.dumps({"v": v}) for i, v in enumerate(x)})
    by_source = ("--source", table, "--id-column", "id")
    for extra in ((), by_source):
        done = run("merge", *args, *extra, "--parse-json", "-o", tmp_path / "m.jsonl")
        assert done.exit_code == 0, done.output
        rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
        assert [row["answer.v"] for row in rows] == x  # pandas' writer kept 10 digits
        if extra:
            assert [row["x"] for row in rows] == x


def test_nested_source_values_are_json_in_csv_and_text_in_parquet_where_no_one_type_holds_them(tmp_path):
    source = tmp_path / "source.jsonl"
    source.write_text(
        '{"id": "1", "o": {"k": [1, 2]}, "l": [1, "x"]}\n{"id": "2", "o": {"k": "x"}, "l": [3]}\n'
    )  # "k" a list in one row and text in the other: no one Arrow type
    args = answered(tmp_path, {"1": "A", "2": "B"})
    for out in ("m.csv", "m.parquet"):
        done = run("merge", *args, "--source", source, "--id-column", "id", "-o", tmp_path / out)
        assert done.exit_code == 0, done.output
    rows = pd.read_csv(tmp_path / "m.csv", dtype=str)
    assert list(rows["o"]) == ['{"k":[1,2]}', '{"k":"x"}'] and list(rows["l"]) == ['[1,"x"]', "[3]"]
    parquet = pd.read_parquet(tmp_path / "m.parquet")
    assert list(parquet["o"]) == ['{"k":[1,2]}', '{"k":"x"}'] and list(parquet["content"]) == ["A", "B"]


def test_an_integer_wider_than_excel_holds_is_kept_exact_as_text_in_xlsx(tmp_path):
    import openpyxl

    source = tmp_path / "source.csv"
    source.write_text("id,big\n1,123456789012345678\n2,5\n")
    out = tmp_path / "m.xlsx"
    done = run(
        "merge", *answered(tmp_path, {"1": "A", "2": "B"}), "--source", source, "--id-column", "id", "-o", out
    )
    assert done.exit_code == 0, done.output
    sheet = openpyxl.load_workbook(out).active
    column = [c.value for c in sheet[1]].index("big")
    assert [row[column].value for row in sheet.iter_rows(min_row=2)] == ["123456789012345678", 5]


def test_an_integer_wider_than_64_bits_in_an_answer_keeps_every_integer_of_its_column_exact(tmp_path):
    import pyarrow.parquet as pq

    exact = [9007199254740993, 18446744073709551616]  # 2**53 + 1, 2**64
    args = answered(tmp_path, {str(i): json.dumps({"n": n}) for i, n in enumerate(exact)})
    for out in ("m.csv", "m.jsonl", "m.parquet"):
        done = run("merge", *args, "--parse-json", "-o", tmp_path / out)
        assert done.exit_code == 0, done.output
    assert list(pd.read_csv(tmp_path / "m.csv", dtype=str)["answer.n"]) == [str(n) for n in exact]
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [row["answer.n"] for row in rows] == exact  # orjson read 2**64 as a float; the column was floats
    assert pq.read_table(tmp_path / "m.parquet")["answer.n"].to_pylist() == [str(n) for n in exact]


def test_nothing_to_retry_says_that_an_output_already_there_is_not_this_retrys(tmp_path):
    seed = DATA / "seed"
    earlier = tmp_path / "retry.jsonl"
    earlier.write_text((seed / "batch_tasks.jsonl").read_text())
    result = run("retry", seed / "batch_tasks.jsonl", "-r", seed / "output.jsonl", "-o", earlier)
    assert result.exit_code == 0 and "nothing to retry" in result.output
    assert f"{earlier} is not this retry's: it was there before and is left as it was" in result.output
    as_json = run(
        "retry", seed / "batch_tasks.jsonl", "-r", seed / "output.jsonl", "-o", earlier, "--format", "json"
    )
    assert json.loads(as_json.output)["left"] == str(earlier)
