"""Joining results to requests: statuses, problems, the digest, sources and retry."""

import json
import shutil
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import batchkit
from batchkit.errors import MergeRefused, UsageError
from batchkit.results import (
    DUPLICATE_RULE,
    hint_for,
    merge_results,
    message_pattern,
    retry,
    select_retry,
    write_merged,
)

DATA = Path(__file__).parent / "data" / "results"


def case(name, *results, inputs=("input.jsonl",)):
    return [DATA / name / i for i in inputs], [DATA / name / r for r in results]


def rows(frame):
    return {r["custom_id"]: r for r in frame.to_dict("records")}


def test_openai_output_and_error_files_in_input_order():
    outcome = merge_results(*case("openai", "output.jsonl", "errors.jsonl"))
    frame, report = outcome.frame, outcome.report
    assert list(frame["custom_id"]) == [f"q-{i}" for i in range(1, 9)]
    assert list(frame["status"]) == ["ok", "ok", "ok", "http_error", "expired", "http_error", "missing", "ok"]
    assert list(frame.columns) == [
        "custom_id", "status", "status_code", "model", "content", "content_2", "finish_reason", "tool_calls",
        "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
        "error_code", "error_message", "batch_id",
    ]  # fmt: skip
    by_id = rows(frame)
    assert by_id["q-3"]["content"] == "Blue." and by_id["q-3"]["content_2"] == "Red."
    assert orjson.loads(by_id["q-2"]["tool_calls"])[0]["id"] == "call_abc123"
    assert by_id["q-4"]["status_code"] == 400 and by_id["q-4"]["error_code"] == "context_length_exceeded"
    assert by_id["q-5"]["error_code"] == "batch_expired"
    assert by_id["q-7"]["model"] == "gpt-4o-mini" and pd.isna(by_id["q-7"]["status_code"])
    assert str(frame["prompt_tokens"].dtype) == "Int64"
    assert dict(report.counts) == {"ok": 4, "http_error": 2, "expired": 1, "missing": 1}
    assert (report.prompt_tokens, report.completion_tokens, report.total_tokens) == (86, 33, 119)
    assert report.missing == ["q-7"] and not report.orphans and not report.duplicates


def test_error_digest_groups_by_code_and_message_pattern_with_examples_and_hints():
    report = merge_results(*case("openai", "output.jsonl", "errors.jsonl")).report
    first = report.digest[0]
    assert (first.status, first.code, first.count, first.examples) == (
        "http_error",
        "context_length_exceeded",
        2,
        ["q-4", "q-6"],
    )
    assert "<n> tokens" in first.pattern and "shorten" in first.hint
    by_code = {d.code: d for d in report.digest}
    assert "batchkit retry" in by_code["batch_expired"].hint
    assert by_code["missing"].examples == ["q-7"]
    text = report.to_text()
    assert "2 × http_error context_length_exceeded" in text and "e.g. q-4, q-6" in text


def test_vllm_single_file():
    outcome = merge_results(*case("vllm", "results.jsonl"))
    by_id = rows(outcome.frame)
    assert [by_id[f"v-{i}"]["status"] for i in range(1, 6)] == [
        "ok",
        "http_error",
        "http_error",
        "ok",
        "http_error",
    ]
    assert by_id["v-2"]["status_code"] == 404 and by_id["v-2"]["model"] == "no-such-model"
    assert by_id["v-3"]["error_message"] == "Request must not be sent in stream mode"
    hints = {d.code: d.hint for d in outcome.report.digest}
    assert "batchkit models" in hints["NotFoundError"]


def test_duplicates_orphans_missing_and_malformed_lines():
    outcome = merge_results(*case("problems", "output-1.jsonl", "output-2.jsonl"))
    by_id, report = rows(outcome.frame), outcome.report
    # a success read later beats an earlier failure
    assert by_id["p-1"]["status"] == "ok" and by_id["p-1"]["content"] == "Answer to 1 (after a retry)."
    # between two successes the newer `created` wins, even when it was read first
    assert by_id["p-2"]["content"] == "Newer answer to 2."
    assert by_id["p-3"]["status"] == "missing"
    assert by_id["p-5"]["status"] == "batch_error" and by_id["p-5"]["error_code"] == "request_timeout"
    assert len(outcome.frame) == 5  # the orphan is not a row
    assert [(o.custom_id, Path(o.result.file).name, o.result.line) for o in report.orphans] == [
        ("p-9", "output-1.jsonl", 4)
    ]
    listed = {d.custom_id: d for d in report.duplicates}
    assert sorted(listed) == ["p-1", "p-2"]
    assert (Path(listed["p-1"].kept.file).name, listed["p-1"].kept.line) == ("output-2.jsonl", 3)
    assert [(Path(x.file).name, x.line, x.status) for x in listed["p-1"].dropped] == [
        ("output-1.jsonl", 1, "http_error")
    ]
    assert [(Path(f).name, x.line, x.code) for f, x in report.findings] == [
        ("output-1.jsonl", 3, "invalid-json"),
        ("output-1.jsonl", 5, "missing-field"),
        ("output-2.jsonl", 2, "blank-line"),
    ]
    text = report.to_text()
    assert DUPLICATE_RULE in text and "p-9 at" in text and "output-1.jsonl:3: error[invalid-json]" in text
    as_dict = report.to_dict()
    assert as_dict["duplicates"][0]["kept"]["status"] == "ok" and as_dict["missing"] == ["p-3"]
    assert orjson.loads(orjson.dumps(as_dict)) == as_dict


def test_among_failures_without_timestamps_the_one_read_last_wins(tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(orjson.dumps(request("a")) + b"\n")
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    first.write_bytes(orjson.dumps(failure("a", 500, "first")) + b"\n")
    second.write_bytes(orjson.dumps(failure("a", 429, "second")) + b"\n")
    assert merge_results(batch, [first, second]).frame["error_message"][0] == "second"
    assert merge_results(batch, [second, first]).frame["error_message"][0] == "first"


def test_embeddings_column():
    frame = merge_results(*case("embeddings", "output.jsonl", "errors.jsonl")).frame
    assert list(frame["embedding"][:2]) == [[0.5, 0.0, -0.25], [0.25, -0.5, 0.125]]
    assert frame["embedding"][2] is None
    assert "embedding" not in merge_results(*case("openai", "output.jsonl")).frame.columns


def test_seed_example_end_to_end():
    inputs, results = case("seed", "output.jsonl", inputs=("batch_tasks.jsonl",))
    frame = batchkit.merge(inputs, results)
    assert list(frame["custom_id"]) == ["request-1", "request-2", "request-3"]
    assert list(frame["model"]) == [
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "meta-llama/Meta-Llama-3.1-405B-Instruct",
    ]
    assert list(frame["status"]) == ["ok"] * 3
    assert frame["content"][0] == "The capital of Argentina is Buenos Aires."
    assert list(frame["total_tokens"]) == [57, 104, 71]


def test_merge_is_the_function_even_after_the_cli_merge_module_is_imported():
    import batchkit.cli.merge  # noqa: F401

    frame = batchkit.merge(*case("seed", "output.jsonl", inputs=("batch_tasks.jsonl",)))
    assert len(frame) == 3


def test_the_same_input_line_twice_is_one_request_but_a_different_line_is_reported(tmp_path):
    one, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    line = orjson.dumps(request("x")) + b"\n"
    one.write_bytes(line)
    again.write_bytes(line)
    out = tmp_path / "out.jsonl"
    out.write_bytes(orjson.dumps(success("x", "hi")) + b"\n")
    outcome = merge_results([one, again], out)
    assert len(outcome.frame) == 1 and not outcome.report.findings
    again.write_bytes(orjson.dumps(request("x", "something else")) + b"\n")
    outcome = merge_results([one, again], out)
    assert list(outcome.frame["content"]) == ["hi", "hi"]
    [(file, finding)] = outcome.report.findings
    assert finding.code == "duplicate-custom-id" and file == str(again) and finding.related_lines == (1,)


def test_input_lines_without_custom_id_are_reported(tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(b'{"method": "POST"}\nnot json\n' + orjson.dumps(request("ok")) + b"\n")
    outcome = merge_results(batch, DATA / "seed" / "output.jsonl")
    assert [(f.code, f.line) for _, f in outcome.report.findings] == [
        ("missing-field", 1),
        ("invalid-json", 2),
    ]
    assert list(outcome.frame["custom_id"]) == ["ok"]
    assert len(outcome.report.orphans) == 3


def test_reading_problems_are_all_counted_but_only_the_first_thousand_kept(tmp_path):
    wrong = tmp_path / "mostly-not-results.jsonl"
    wrong.write_bytes(b'{"custom_id": "x"}\n' * 1500 + (DATA / "seed" / "output.jsonl").read_bytes())
    report = merge_results(DATA / "seed" / "batch_tasks.jsonl", wrong).report
    assert report.findings_count == 1500 and len(report.findings) == 1000
    assert report.findings[-1][1].line == 1000 and "1,490 more reading problem(s)" in report.to_text()


def test_message_patterns_and_hints():
    assert message_pattern(
        "Rate limit reached for gpt-4o in organization org-AbC123xyz987 on tokens: 12,000"
    ) == ("Rate limit reached for gpt-<n>o in organization <id> on tokens: <n>")
    assert message_pattern("model 'foo' not found") == "model '…' not found"
    assert message_pattern(None) == "(no message)"
    # a terminal sequence is removed whole, before its digits are masked; other controls are escaped
    assert message_pattern("\x1b[2Jbad\x1b]0;title\x07 \x00value\n12") == "bad \\x00value <n>"
    assert "split" in hint_for("http_error", "token_limit_exceeded", 400, "")
    assert "API key" in hint_for("http_error", "invalid_request_error", 401, "Incorrect API key provided")
    assert hint_for("http_error", "invalid_value", 400, "bad temperature") is None
    assert "server" in hint_for("http_error", None, 503, None)


# ---------------------------------------------------------------- source tables


@pytest.fixture
def questions():
    return pd.DataFrame(
        {
            "qid": ["007", "A-2", "x3", "4"],
            "question": ["Capital of France?", "2+2?", "", "Largest ocean?"],
            "score": pd.array([5, None, 3, 1], dtype="Int64"),
            "status": ["draft", "final", "final", "draft"],
        }
    )


def build_and_answer(tmp_path, table_path, **options):
    """Build a batch from the table with the builder, then fake a provider: the 2nd request fails."""
    from batchkit.build import build_file

    batch = tmp_path / "batch.jsonl"
    build_file(table_path, batch, model="m", user="{question}", **options)
    out, err = [], []
    for i, line in enumerate(batch.read_bytes().splitlines()):
        req = orjson.loads(line)
        if i == 1:
            err.append(failure(req["custom_id"], 400, "bad"))
        else:
            out.append(success(req["custom_id"], "answer: " + req["body"]["messages"][0]["content"]))
    (tmp_path / "out.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in reversed(out)))
    (tmp_path / "err.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in err))
    return batch, [tmp_path / "out.jsonl", tmp_path / "err.jsonl"]


def write_source(frame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_source_joined_by_id_column(tmp_path, questions, suffix):
    table = tmp_path / f"questions{suffix}"
    write_source(questions, table)
    batch, results = build_and_answer(tmp_path, table, id_column="qid", on_empty="skip")
    outcome = merge_results(batch, results, table, "qid")
    frame, report = outcome.frame, outcome.report
    assert list(frame["qid"]) == ["007", "A-2", "x3", "4"]  # the source's rows, order and id text kept
    assert list(frame.columns[:4]) == ["qid", "question", "score", "status"]
    assert "status_result" in frame.columns and list(frame["status"]) == ["draft", "final", "final", "draft"]
    assert str(frame["score"].dtype) == "Int64" and frame["score"][0] == 5
    assert list(frame["custom_id"].fillna("")) == ["007", "A-2", "", "4"]
    assert frame["content"][0] == "answer: Capital of France?"
    assert list(frame["status_result"].fillna("")) == ["ok", "http_error", "", "ok"]
    assert report.source_rows == 4 and report.source_rows_without_request == 1
    assert not report.requests_without_source_row


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_source_joined_by_generated_row_numbers(tmp_path, questions, suffix):
    table = tmp_path / f"questions{suffix}"
    write_source(questions, table)
    batch, results = build_and_answer(tmp_path, table, on_empty="skip")
    frame = merge_results(batch, results, table).frame
    assert list(frame["custom_id"].fillna("")) == ["row-1", "row-2", "", "row-4"]
    assert frame["content"][3] == "answer: Largest ocean?"
    assert list(frame["qid"]) == ["007", "A-2", "x3", "4"]


def test_source_with_a_custom_prefix_and_a_dataframe(tmp_path, questions):
    table = tmp_path / "q.csv"
    write_source(questions, table)
    batch, results = build_and_answer(tmp_path, table, id_prefix="q", on_empty="keep")
    with pytest.raises(MergeRefused) as refused:  # no row found by the default prefix: nothing merged
        merge_results(batch, results, table)
    assert refused.value.report.requests_without_source_row == ["q1", "q2", "q3", "q4"]
    frame = merge_results(batch, results, questions, id_prefix="q").frame
    assert list(frame["status_result"]) == ["ok", "http_error", "ok", "ok"]


def test_source_problems(tmp_path, questions):
    table = tmp_path / "q.csv"
    write_source(questions, table)
    batch, results = build_and_answer(tmp_path, table, id_column="qid", on_empty="keep")
    with pytest.raises(UsageError, match="'nope' is not a column"):
        merge_results(batch, results, table, "nope")
    with pytest.raises(UsageError, match="id_column= needs source="):
        merge_results(batch, results, id_column="qid")


# ---------------------------------------------------------------- retry


def test_retry_writes_the_original_lines_byte_for_byte_then_remerge_gives_one_row_each(tmp_path):
    src = tmp_path / "input.jsonl"
    shutil.copy(DATA / "openai" / "input.jsonl", src)
    results = [DATA / "openai" / "output.jsonl", DATA / "openai" / "errors.jsonl"]
    outcome = retry(src, results, tmp_path / "retry.jsonl", provider="openai")
    assert [p.name for p in outcome.paths] == ["retry.jsonl"]
    assert dict(outcome.selected) == {"http_error": 2, "expired": 1, "missing": 1}
    original = src.read_bytes().splitlines(keepends=True)
    assert (tmp_path / "retry.jsonl").read_bytes() == b"".join(original[i] for i in (3, 4, 5, 6))

    # the retry succeeds; merging every result file gives one row per request, newest success winning
    answers = tmp_path / "retry-output.jsonl"
    answers.write_bytes(
        b"".join(
            orjson.dumps(
                success(orjson.loads(line)["custom_id"], "second try", model="gpt-4o-mini-2024-07-18")
            )
            + b"\n"
            for line in (tmp_path / "retry.jsonl").read_bytes().splitlines()
        )
    )
    again = merge_results(src, [*results, answers])
    assert len(again.frame) == 8 and set(again.frame["status"]) == {"ok"}
    assert list(again.frame["content"][3:7]) == ["second try"] * 4
    assert [d.custom_id for d in again.report.duplicates] == ["q-4", "q-5", "q-6"]
    assert retry(src, [*results, answers], tmp_path / "none.jsonl", provider="openai").paths == []
    assert not (tmp_path / "none.jsonl").exists()


def test_retry_only_some_statuses_and_sharding(tmp_path):
    src = DATA / "openai" / "input.jsonl"
    results = [DATA / "openai" / "output.jsonl", DATA / "openai" / "errors.jsonl"]
    outcome = retry(src, results, tmp_path / "r.jsonl", only="expired,missing", provider="openai")
    assert [orjson.loads(x)["custom_id"] for x in (tmp_path / "r.jsonl").read_bytes().splitlines()] == [
        "q-5",
        "q-7",
    ]
    outcome = retry(src, results, tmp_path / "s.jsonl", provider="openai", max_requests=3)
    assert [p.name for p in outcome.paths] == ["s-00001.jsonl", "s-00002.jsonl"]
    with pytest.raises(UsageError, match="unknown status"):
        retry(src, results, tmp_path / "t.jsonl", only="failed")


def test_retry_keeps_crlf_free_bytes_and_strips_a_bom(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [orjson.dumps(request(f"r{i}", f"q {i} é")) for i in range(3)]
    src.write_bytes(b"\xef\xbb\xbf" + lines[0] + b"\r\n" + lines[1] + b"\r\n" + lines[2])
    empty = tmp_path / "errors.jsonl"
    empty.write_bytes(b"")
    report, selected, chosen = select_retry(src, empty)
    assert list(chosen) == lines and selected["missing"] == 3


# ---------------------------------------------------------------- helpers


def request(custom_id, text="hello"):
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": text}]}}  # fmt: skip


def success(custom_id, content, created=1700000000, model="m"):
    body = {"id": "c", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    return {"id": "b", "custom_id": custom_id, "response": {"status_code": 200, "request_id": "r", "body": body},
            "error": None}  # fmt: skip


def failure(custom_id, status, message):
    return {"id": "b", "custom_id": custom_id, "error": None,
            "response": {"status_code": status, "request_id": "r",
                         "body": {"error": {"message": message, "type": "invalid_request_error", "code": None}}}}  # fmt: skip


# ---------------------------------------------------------------- the result table


def test_rows_sharing_a_custom_id_get_every_column_of_the_result(tmp_path):
    from batchkit.results.table import INT_FIELDS, TEXT_FIELDS

    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(request("a", "one")) + b"\n" + orjson.dumps(request("a", "two")) + b"\n")
    out = tmp_path / "out.jsonl"
    answer = success("a", "first")
    answer["response"]["body"]["choices"].append({"index": 1, "message": {"content": "second"}})
    out.write_bytes(orjson.dumps(answer) + b"\n")
    report, requests, table = batchkit.results.join_inputs(src, out)
    assert len(requests) == 2
    for name in (*INT_FIELDS, *TEXT_FIELDS, "content", "file", "line"):
        assert getattr(table, name)[1] == getattr(table, name)[0], name
    assert table.more_contents[1] == ("second",)


# ---------------------------------------------------------------- hostile values


def test_integers_beyond_64_bits_are_a_finding_on_their_line_not_the_end(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(request(c)) + b"\n" for c in ("a", "b", "c", "d")))
    huge = success("a", "fine")
    huge["response"]["body"]["usage"]["prompt_tokens"] = 2**64 - 1
    late = success("b", "late", created="1" + "0" * 300)
    odd = failure("c", 400, "x")
    odd["response"]["status_code"] = 2**63
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in (huge, late, odd, success("d", "ok"))))
    outcome = merge_results(src, out)
    by_id = rows(outcome.frame)
    assert by_id["a"]["content"] == "fine" and pd.isna(by_id["a"]["prompt_tokens"])
    assert by_id["b"]["status"] == "ok" and by_id["c"]["status"] == "http_error"
    assert pd.isna(by_id["c"]["status_code"]) and by_id["d"]["status"] == "ok"
    found = [(f.code, f.line, f.path) for _, f in outcome.report.findings]
    assert found == [
        ("out-of-range", 1, "/response/body/usage/prompt_tokens"),
        ("out-of-range", 2, "/response/body/created"),
        ("out-of-range", 3, "/response/status_code"),
    ]
    report, selected, lines = select_retry(src, out)
    assert selected == {"http_error": 1} and len(list(lines)) == 1


# ---------------------------------------------------------------- files in the wrong place


def test_swapped_files_are_refused_naming_the_file():
    seed = DATA / "seed"
    with pytest.raises(batchkit.InputError, match=r"output\.jsonl: holds result lines .*not requests"):
        merge_results(seed / "output.jsonl", seed / "output.jsonl")
    with pytest.raises(batchkit.InputError, match=r"batch_tasks\.jsonl: is a batch of requests, not results"):
        merge_results(seed / "batch_tasks.jsonl", seed / "batch_tasks.jsonl")


def test_unrelated_files_are_refused(tmp_path):
    other = tmp_path / "notes.jsonl"
    other.write_bytes(b'{"name": "x"}\n{"name": "y"}\n')
    with pytest.raises(batchkit.InputError, match=r"notes\.jsonl: holds no result lines"):
        merge_results(DATA / "seed" / "batch_tasks.jsonl", other)
    with pytest.raises(batchkit.InputError, match=r"notes\.jsonl: not a batch file: none of its 2 line"):
        merge_results(other, DATA / "seed" / "output.jsonl")
    with pytest.raises(batchkit.InputError, match="holds no result lines"):
        select_retry(DATA / "seed" / "batch_tasks.jsonl", other)


def test_an_error_file_download_did_not_write_means_no_failures(tmp_path):
    shutil.copy(DATA / "seed" / "batch_tasks.jsonl", tmp_path / "batch.jsonl")
    shutil.copy(DATA / "seed" / "output.jsonl", tmp_path / "batch.output.jsonl")
    outcome = merge_results(
        tmp_path / "batch.jsonl", [tmp_path / "batch.output.jsonl", tmp_path / "batch.errors.jsonl"]
    )
    assert outcome.report.counts["ok"] == 3 and outcome.report.results == [
        str(tmp_path / "batch.output.jsonl")
    ]
    assert "batch.errors.jsonl does not exist" in outcome.report.notes[0]
    assert "none failed" in outcome.report.to_text()
    # a name that is not the error file of an existing output file is still an error
    for typo in ("batch.error.jsonl", "bach.errors.jsonl"):
        with pytest.raises(batchkit.InputError, match=f"{typo}: no such file"):
            merge_results(tmp_path / "batch.jsonl", [tmp_path / "batch.output.jsonl", tmp_path / typo])


# ---------------------------------------------------------------- fuzz

HUGE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**64 - 1, -(2**63), 1e308, -1e308, "1" + "0" * 400, "1e999"]),
)
SCALAR = st.one_of(st.none(), st.booleans(), HUGE, st.floats(allow_nan=False), st.text(max_size=20))


def deep(depth: int, leaf=0) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


@st.composite
def result_line(draw) -> bytes:
    """A line that is, or nearly is, a result line: every field may be huge, deep or of the wrong type."""
    usage = draw(st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens",
                                                  "input_tokens", "output_tokens"]), HUGE, max_size=5))  # fmt: skip
    content = draw(st.one_of(st.text(max_size=30), SCALAR, st.builds(deep, st.integers(0, 40))))
    body = {"created": draw(HUGE), "model": draw(SCALAR), "usage": usage,
            "choices": [{"index": draw(HUGE), "message": {"content": content, "tool_calls": draw(SCALAR)},
                         "finish_reason": draw(SCALAR)}],
            "error": draw(st.one_of(st.none(), st.fixed_dictionaries({"code": SCALAR, "message": SCALAR})))}  # fmt: skip
    often = draw(st.integers(0, 9)) < 8  # mostly a line that joins, so its values reach the table
    custom_id = draw(st.sampled_from(["a", "b", "c"]) if often else SCALAR)
    response = {"status_code": draw(HUGE), "body": body} if often else draw(SCALAR)
    error = draw(st.one_of(st.none(), SCALAR, st.just({"code": "batch_expired", "message": "x"})))
    line = {"custom_id": custom_id, "response": response, "error": error}
    if not draw(st.integers(0, 9)):
        line = {k: v for k, v in line.items() if draw(st.booleans())}
    return json.dumps(line).encode()  # orjson refuses integers beyond 64 bits: these are the point


LINE = st.one_of(
    result_line(),
    st.binary(max_size=60),
    st.integers(min_value=100, max_value=3000).map(lambda d: b"[" * d + b"]" * d),
    st.integers(min_value=100, max_value=3000).map(lambda d: b'{"custom_id": "a", "response": ' + b"[" * d),
    st.sampled_from(
        [b"18446744073709551616", b'{"custom_id": "a", "response": {"status_code": 1e999}}', b""]
    ),
)
REQUESTS = b"\n".join(orjson.dumps(request(c)) for c in ("a", "b", "c"))
INPUTS = st.lists(LINE, max_size=4).map(lambda junk: b"\n".join([REQUESTS, *junk]))
RESULTS = st.lists(st.one_of(result_line(), result_line(), result_line(), LINE), min_size=1, max_size=10)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=INPUTS, results=RESULTS, fmt=st.sampled_from(["csv", "xlsx"]))
@example(inputs=REQUESTS, results=[b"\x1f\x8b"], fmt="csv")  # gzip's magic, then nothing: damaged gzip
@example(inputs=REQUESTS, results=[b"\x1f\x8b", b'{"custom_id": "a"}'], fmt="csv")
def test_fuzz_merge_and_retry_never_raise_anything_but_a_clear_error(tmp_path_factory, inputs, results, fmt):
    folder = tmp_path_factory.mktemp("fuzz")
    src, out = folder / "in.jsonl", folder / "out.jsonl"
    src.write_bytes(inputs)
    out.write_bytes(b"\n".join(results))
    try:
        outcome = merge_results(src, out)
    except batchkit.BatchkitError as e:
        assert str(e).startswith(str(folder)), e  # names the file
        return
    write_merged(outcome.frame, folder / f"m.{fmt}")
    outcome.report.to_text()
    orjson.dumps(outcome.report.to_dict())
    try:
        report, selected, lines = select_retry(src, out)
    except batchkit.InputError as e:
        assert outcome.report.joined == 0 and "answers a request" in str(e)
        return
    assert len(list(lines)) <= sum(selected.values()) <= len(outcome.frame)
    try:
        retry(src, out, folder / "retry.jsonl", force=True)
    except batchkit.BatchkitError as e:
        assert "Traceback" not in str(e)


def test_whole_number_float_ids_are_integers_and_merge_back_onto_the_frame(tmp_path):
    """pandas reads an id column with a gap as floats: the ids are written 101, not 101.0 (and said so),
    and the answers join back onto the same DataFrame by those ids."""
    import io
    import warnings

    frame = pd.read_csv(io.StringIO("id,q\n101,first\n,second\n103,third\n"))
    assert frame["id"].dtype == "float64"
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        built = batchkit.build_requests(frame, model="m", user="{q}", id_column="id", on_empty="skip")
        requests = list(built)
    assert [r["custom_id"] for r in requests] == ["101", "103"]
    assert [str(w.message) for w in told] == [
        "column(s) 'id' held whole numbers as floats (101.0, as pandas reads an integer column with a "
        "gap): written as integers (101)"
    ]
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    out = tmp_path / "out.jsonl"
    out.write_bytes(
        b"".join(orjson.dumps(success(r["custom_id"], f"re {r['custom_id']}")) + b"\n" for r in requests)
    )
    merged = batchkit.merge_results(batch, out, source=frame, id_column="id")
    assert list(merged.frame["content"].fillna("-")) == ["re 101", "-", "re 103"]
