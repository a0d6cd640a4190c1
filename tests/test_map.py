"""`batchkit.map`, `batchkit map` and `batchkit.aio` against a real `batchkit serve` (echo backend, which
answers each chat request with its user message), watched from the server's side with the providers' SDKs:

- a 200-row DataFrame gives 200 answers in order; the same call again finds its batches in the ledger and
  sends nothing (no batch, no file created on the server);
- lists of strings and of dicts, structured answers (typed answer.FIELD columns; a cut answer is None with
  its reason), invalid requests and a cost over max_cost refused before anything is sent;
- fan-out: 50 rows to two models on the OpenAI surface and one on the Anthropic surface (submitted
  natively) give one row per input with three sets of columns, or one row per input and target (long);
  per-target parameters reach that target's requests; a target whose batch fails leaves the others
  complete, and `batchkit map` then exits 1 naming it;
- `asyncio.run(batchkit.aio.map(...))`, and two `aio.submit` awaited at once in one loop.
"""

from __future__ import annotations

import asyncio
import csv
import json
import threading

import openai
import pandas as pd
import pytest
from nativesupport import server_batches
from serverutil import running_server
from submitsupport import ROOT, invoke, run_cli

import batchkit
import batchkit.aio
from batchkit.errors import InputError, UsageError, ValidationFailed
from batchkit.mapping import MapTarget, fan_out, parse_target, steps_of
from batchkit.providers import PROVIDERS
from batchkit.remote import Ledger
from batchkit.tokens import load_prices

pytestmark = pytest.mark.slow

SERVED = (
    "m-a",
    "m-b",
    "claude-echo",
    "gpt-4o-mini",
    "gemini-2.5-flash",
    "mistral-small-latest",
)  # the models the server serves; any other fails its batch
FAST = {"interval": 0.2, "progress": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = [arg for model in SERVED for arg in ("--model", model)]
    with running_server("--backend", "echo", *models, data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


def on_server(server) -> tuple[int, int]:
    """(batches, files) the server holds on its OpenAI surface, as the OpenAI SDK lists them."""
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    return len(list(client.batches.list(limit=100))), len(list(client.files.list()))


def questions(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"q{i:03}" for i in range(count)], "question": [f"question {i}" for i in range(count)]}
    )


def test_a_dataframe_of_200_rows_gives_200_answers_in_order_and_the_same_call_sends_nothing(server):
    df = questions(200).set_index("id")
    out = batchkit.map(df, model="m-a", user="Q: {question}", base_url=server.base_url, **FAST)
    assert list(out.index) == list(df.index) and list(out["question"]) == list(df["question"])
    assert list(out["answer"]) == [f"Q: question {i}" for i in range(200)]
    assert set(out["status"]) == {"ok"} and out["error"].isna().all()
    held = on_server(server)
    again = batchkit.map(df, model="m-a", user="Q: {question}", base_url=server.base_url, **FAST)
    pd.testing.assert_frame_equal(again, out)
    assert on_server(server) == held  # no batch created, no file uploaded


def test_a_list_of_strings_gives_a_list_and_dicts_are_templated(server):
    prompts = ["first prompt", "second prompt", "third prompt"]
    answers = batchkit.map(prompts, model="m-b", base_url=server.base_url, **FAST)
    assert list(answers) == prompts and answers.errors == {}
    assert answers.result.merged.report.requests == 3
    rows = [{"name": "Ada"}, {"name": "Grace"}]
    assert batchkit.map(rows, model="m-b", user="Hello {name}", base_url=server.base_url, **FAST) == [
        "Hello Ada",
        "Hello Grace",
    ]


def test_structured_answers_are_typed_and_a_cut_one_is_none_with_its_reason(server):
    schema = json.loads((ROOT / "samples" / "answer-schema.json").read_text())
    df = pd.DataFrame({"question": ["What is the capital of France?", "Name a planet"]})
    out = batchkit.map(df, model="m-a", user="{question}", response_schema=schema, max_tokens=200,
                       base_url=server.base_url, **FAST)  # fmt: skip
    assert {"answer.topic", "answer.answer", "answer.confidence", "parse_error"} <= set(out.columns)
    assert set(out["status"]) == {"ok"} and out["parse_error"].isna().all()
    assert all(topic in schema["properties"]["topic"]["enum"] for topic in out["answer.topic"])
    listed = batchkit.map(list(df["question"]), model="m-a", response_schema=schema, max_tokens=200,
                          base_url=server.base_url, **FAST)  # fmt: skip
    assert [set(answer) for answer in listed] == [{"topic", "answer", "confidence"}] * 2
    cut = batchkit.map(["What is the capital of France?"], model="m-a", response_schema=schema, max_tokens=3,
                       base_url=server.base_url, **FAST)  # fmt: skip
    assert cut == [None] and "length" in cut.errors[0]


def test_invalid_requests_and_a_cost_over_max_cost_are_refused_before_anything_is_sent(server):
    held = on_server(server)
    with pytest.raises(ValidationFailed) as invalid:
        batchkit.map(["hi"], model="m-a", params={"temperature": 7}, base_url=server.base_url, **FAST)
    assert (
        not invalid.value.report.valid
        and "row 1: " in str(invalid.value)
        and "temperature" in str(invalid.value)
    )
    with pytest.raises(UsageError, match="over --max-cost"):
        batchkit.map(["hi"] * 5, model="gpt-4o-mini", provider="openai", base_url=server.base_url,
                     max_cost=0.0, **FAST)  # fmt: skip
    assert on_server(server) == held


def test_fan_out_to_two_openai_models_and_one_anthropic_model_gives_a_wide_table(server):
    df = questions(50)
    before = server_batches("anthropic", server.root_url)
    targets = ["openai:m-a", "openai:m-b", "anthropic:claude-echo"]
    wide = batchkit.map(
        df, targets=targets, user="{question}", max_tokens=50, base_url=server.base_url, **FAST
    )
    expected = [f"question {i}" for i in range(50)]
    assert list(wide["id"]) == list(df["id"])
    for label in targets:
        assert list(wide[f"{label}.answer"]) == expected
        assert set(wide[f"{label}.status"]) == {"ok"}
        assert {f"{label}.prompt_tokens", f"{label}.completion_tokens", f"{label}.cost"} <= set(wide.columns)
    assert len([c for c in wide.columns if c.endswith(".answer")]) == 3
    (created,) = [b for k, b in server_batches("anthropic", server.root_url).items() if k not in before]
    assert created["state"] == "ended"  # the Anthropic target went to the Message Batches API
    long = batchkit.map(df, targets=targets, user="{question}", max_tokens=50, base_url=server.base_url,
                        long=True, **FAST)  # fmt: skip
    assert len(long) == 150 and list(long["target"]) == [t for t in targets for _ in range(50)]
    assert list(long["answer"]) == expected * 3


def test_fan_out_reaches_gemini_and_mistral_natively_with_each_rows_cost_at_its_price(server):
    targets = ["gemini:gemini-2.5-flash", "mistral:mistral-small-latest", "openai:gpt-4o-mini"]
    wide = batchkit.map(
        ["alpha beta", "gamma"], targets=targets, max_tokens=30, base_url=server.base_url, **FAST
    )
    prices = load_prices()
    for label in targets:
        provider, model = label.split(":")
        assert list(wide[f"{label}.answer"]) == ["alpha beta", "gamma"]
        expected = [
            prices[(provider, model)].cost(int(p), int(c))
            for p, c in zip(wide[f"{label}.prompt_tokens"], wide[f"{label}.completion_tokens"], strict=True)
        ]
        assert list(wide[f"{label}.cost"]) == expected and all(cost > 0 for cost in expected)


def test_each_target_gets_its_own_parameters_and_a_failing_target_blocks_no_other(server):
    targets = [
        MapTarget("m-a", "openai", server.base_url, params={"temperature": 0.25}),
        MapTarget("m-zzz", "openai", server.base_url),  # not served: its batch fails
        MapTarget("claude-echo", "anthropic", server.base_url, name="claude"),
    ]
    steps = steps_of("{q}", None, {"temperature": 0.5}, None, None, max_tokens=20, interval=0.2)
    result = fan_out([{"q": "one"}, {"q": "two"}], targets, steps)
    first, failed, claude = result.results
    bodies = [json.loads(line)["body"] for line in first.files[0].read_text().splitlines()]
    assert {body["temperature"] for body in bodies} == {0.25}
    params = [json.loads(line)["params"] for line in claude.files[0].read_text().splitlines()]
    assert {p["temperature"] for p in params} == {0.5}
    assert "model_not_found" in str(failed.error) and list(result.failed) == ["openai:m-zzz"]
    wide = result.wide()
    assert list(wide["claude.answer"]) == ["one", "two"] and list(wide["openai:m-a.answer"]) == ["one", "two"]
    assert set(wide["openai:m-zzz.status"]) == {"target_failed"}
    with pytest.warns(UserWarning, match="openai:m-zzz"):
        batchkit.map([{"q": "one"}, {"q": "two"}], targets=targets, user="{q}", max_tokens=20, **FAST)


def test_batchkit_map_fans_out_and_exits_1_naming_the_target_that_failed(server, tmp_path):
    table = tmp_path / "questions.csv"
    questions(50).to_csv(table, index=False)
    out = tmp_path / "answers.csv"
    done = run_cli("map", table, "-o", out, "--user", "{question}", "--max-tokens", "50",
                   "--target", "openai:m-a", "--target", "anthropic:claude-echo", "--target", "openai:m-zzz",
                   "--base-url", server.base_url, "--interval", "0.2")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert (
        "1 of 3 target(s) gave no answers: openai:m-zzz" in done.stderr and "model_not_found" in done.stderr
    )
    assert "openai:m-a: 50 answers (ok 50)" in done.stdout
    assert "anthropic:claude-echo: 50 answers (ok 50)" in done.stdout
    # the targets run at once: each line of their progress says whose it is
    labels = ("openai:m-a: ", "anthropic:claude-echo: ", "openai:m-zzz: ")
    progress = done.stderr.splitlines()[:-1]  # the last line is the error that names the failed target
    assert progress and all(line.startswith(labels) for line in progress), done.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["id"] for row in rows] == [f"q{i:03}" for i in range(50)]
    for label in ("openai:m-a", "anthropic:claude-echo"):
        assert [row[f"{label}.answer"] for row in rows] == [f"question {i}" for i in range(50)]
    assert {row["openai:m-zzz.status"] for row in rows} == {"target_failed"}


def test_batchkit_map_to_one_model_writes_the_table_with_its_answers(server, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,q\n1,hello\n2,world\n")
    out = tmp_path / "out.jsonl"
    done = run_cli("map", table, "-o", out, "--user", "{q}", "--model", "m-b", "--base-url", server.base_url,
                   "--interval", "0.2", "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["id"], row["answer"], row["status"]) for row in rows] == [
        (1, "hello", "ok"),
        (2, "world", "ok"),
    ]


def test_rows_with_an_empty_cell_are_an_error_kept_or_skipped_as_on_empty_says(server, tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "c"], "question": ["first", None, "third"]})
    held = on_server(server)
    with pytest.raises(InputError, match=r"row 2 'question': empty cell \(choose on_empty=\"skip\""):
        batchkit.map(df, model="m-a", user="{question}", base_url=server.base_url, **FAST)
    assert on_server(server) == held  # nothing sent
    skipped = batchkit.map(
        df, model="m-a", user="{question}", on_empty="skip", base_url=server.base_url, **FAST
    )
    assert list(skipped["id"]) == ["a", "b", "c"]  # every row, each answer on its own row
    assert list(skipped["status"]) == ["ok", "skipped", "ok"]
    assert (
        skipped["answer"][0] == "first" and skipped["answer"][2] == "third" and pd.isna(skipped["answer"][1])
    )
    assert "empty cell" in skipped["error"][1] and skipped["error"][[0, 2]].isna().all()
    assert pd.isna(skipped["prompt_tokens"][1]) and skipped["prompt_tokens"][0] == 1
    kept = batchkit.map(
        df, model="m-a", user="Q: {question}", on_empty="keep", base_url=server.base_url, **FAST
    )
    assert list(kept["answer"]) == ["Q: first", "Q: ", "Q: third"]
    listed = batchkit.map(
        ["one", "", "three"], model="m-b", on_empty="skip", base_url=server.base_url, **FAST
    )
    assert list(listed) == ["one", None, "three"] and "empty cell" in listed.errors[1]
    with pytest.raises(InputError, match="every row has an empty cell"):
        batchkit.map(["", ""], model="m-b", on_empty="skip", base_url=server.base_url, **FAST)
    # the command line takes --on-empty, and its advice names the flag
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    out = tmp_path / "out.csv"
    refused = run_cli("map", table, "-o", out, "--user", "{question}", "--model", "m-a",
                      "--base-url", server.base_url, "--interval", "0.2")  # fmt: skip
    assert refused.returncode == 2 and not out.exists()
    assert "choose --on-empty skip or --on-empty keep" in refused.stderr and "on_empty=" not in refused.stderr
    done = run_cli("map", table, "-o", out, "--user", "{question}", "--model", "m-a", "--on-empty", "skip",
                   "--base-url", server.base_url, "--interval", "0.2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 answers (ok 2), 1 row(s) skipped (an empty cell)" in done.stdout
    with open(out, newline="") as f:
        assert [(row["id"], row["answer"], row["status"]) for row in csv.DictReader(f)] == [
            ("a", "first", "ok"),
            ("b", "", "skipped"),
            ("c", "third", "ok"),
        ]


def test_batchkit_map_says_in_flags_that_a_model_and_targets_do_not_go_together(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\nhello\n")
    both = invoke(
        "map", table, "-o", tmp_path / "o.csv", "--user", "{q}", "--model", "m", "--target", "openai:m"
    )
    assert both.returncode == 2 and "give --model or --target, not both" in both.stderr
    neither = invoke("map", table, "-o", tmp_path / "o.csv", "--user", "{q}")
    assert (
        neither.returncode == 2 and "--model NAME) or the targets (--target PROVIDER:MODEL)" in neither.stderr
    )
    with pytest.raises(UsageError, match="give model= or targets=, not both"):
        batchkit.map(["x"], model="m", targets=["openai:m"])


def test_aio_map_runs_under_asyncio_run(server):
    answers = asyncio.run(
        batchkit.aio.map(["async one", "async two"], model="m-a", base_url=server.base_url, **FAST)
    )
    assert list(answers) == ["async one", "async two"]


def test_two_aio_submits_run_at_once_in_one_loop(server):
    def requests(tag: str) -> list[dict]:
        return list(batchkit.build_requests([{"q": f"{tag} {i}"} for i in range(3)], model="m-b", user="{q}"))

    async def both():
        loop_thread = threading.get_ident()
        first, second = await asyncio.gather(
            batchkit.aio.submit(requests("left"), base_url=server.base_url, wait=False),
            batchkit.aio.submit(requests("right"), base_url=server.base_url, wait=False),
        )
        assert threading.get_ident() == loop_thread
        ended = await asyncio.gather(first.wait(interval=0.2), second[0].wait(interval=0.2))
        files = await asyncio.gather(first.results(), second.results())
        return first, second, ended, files

    first, second, ended, files = asyncio.run(both())
    assert first[0].batch_id != second[0].batch_id
    assert [batch.status for batch in ended[0]] == ["completed"] and ended[1].status == "completed"
    merged = [
        batchkit.merge_results(jobs.paths, found).frame
        for jobs, found in zip((first, second), files, strict=True)
    ]
    assert [list(frame["content"]) for frame in merged] == [
        [f"{tag} {i}" for i in range(3)] for tag in ("left", "right")
    ]


def test_targets_are_named_provider_colon_model():
    assert parse_target("openai:ft:gpt-4o-mini:org") == MapTarget("ft:gpt-4o-mini:org", "openai")
    for wrong in ("gpt-4o-mini", ":m", "openai:"):
        with pytest.raises(UsageError, match="PROVIDER:MODEL"):
            parse_target(wrong)
    with pytest.raises(UsageError, match="unknown provider"):
        parse_target("nobody:m")
    with pytest.raises(UsageError, match="two targets are named openai:m"):
        batchkit.map(["x"], targets=["openai:m", "openai:m"])


def test_threads_of_one_process_create_one_ledger(tmp_path):
    for attempt in range(10):
        path = tmp_path / f"home-{attempt}" / "ledger.sqlite3"
        path.parent.mkdir()
        start, errors = threading.Barrier(4), []

        def create(path=path, start=start, errors=errors):
            start.wait()
            try:
                Ledger(path)
            except Exception as e:  # noqa: BLE001 (any failure is the finding)
                errors.append(e)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []


def test_a_call_the_answer_cache_answers_whole_gives_its_answers_and_makes_no_batch(server):
    assert batchkit.map(["apple", "banana"], model="m-b", base_url=server.base_url, **FAST) == [
        "apple",
        "banana",
    ]
    held = on_server(server)
    again = batchkit.map(
        ["banana", "apple"], model="m-b", base_url=server.base_url, **FAST
    )  # new file, cached
    assert list(again) == ["banana", "apple"] and again.errors == {}
    assert again.result.batches == [] and on_server(server)[0] == held[0]


def test_until_done_gives_the_answers_every_round_won(tmp_path):
    with running_server(
        "--fail-rate", "0.5", "--seed", "3", "--model", "m", data_dir=tmp_path / "serve"
    ) as s:
        prompts = [f"u{i}" for i in range(8)]
        answers = batchkit.map(prompts, model="m", base_url=s.base_url, cache=False, until_done=True, **FAST)
    assert list(answers) == prompts and answers.errors == {}
    assert answers.result.merged.report.requests == 8


def test_rows_over_one_files_limit_are_sent_as_shards(server, monkeypatch):
    monkeypatch.setitem(PROVIDERS, "openai", PROVIDERS["openai"].with_limits(max_requests=3))
    prompts = [f"s{i}" for i in range(7)]
    answers = batchkit.map(
        prompts, model="m-a", provider="openai", base_url=server.base_url, cache=False, **FAST
    )
    assert list(answers) == prompts and len(answers.result.files) == 3 and len(answers.result.batches) == 3


def test_answers_keep_the_labels_of_their_rows_and_never_take_a_columns_name(server):
    df = pd.DataFrame({"q": ["one", "two", "three"], "answer": ["x", "y", "z"]}, index=[7, 3, 3])
    targets = ["openai:m-a", "openai:m-b"]
    wide = batchkit.map(df, targets=targets, user="{q}", base_url=server.base_url, **FAST)
    assert list(wide.index) == [7, 3, 3] and list(wide["openai:m-b.answer"]) == ["one", "two", "three"]
    long = batchkit.map(df, targets=targets, user="{q}", base_url=server.base_url, long=True, **FAST)
    assert list(long.index) == [7, 3, 3] * 2 and list(long["answer_result"]) == ["one", "two", "three"] * 2
    out = batchkit.map(df, model="m-a", user="{q}", base_url=server.base_url, **FAST)
    assert list(out.columns[:3]) == ["q", "answer", "answer_result"] and list(out.index) == [7, 3, 3]
    assert list(out["answer"]) == ["x", "y", "z"] and list(out["answer_result"]) == ["one", "two", "three"]
    assert list(out.columns).count("status") == 1
    jobs = batchkit.submit(batchkit.build_requests(df, model="m-a", user="{q}"), base_url=server.base_url,
                           interval=0.2)  # fmt: skip
    merged = batchkit.merge(jobs.paths, jobs.results(), source=df)
    assert list(merged.index) == [7, 3, 3] and list(merged["q"]) == ["one", "two", "three"]


def test_a_none_in_a_list_of_prompts_is_an_empty_cell():
    with pytest.raises(InputError, match="empty cell"):
        batchkit.map(["a", None, "b"], model="m", base_url="http://127.0.0.1:9/v1", **FAST)


def test_a_whole_number_column_with_a_gap_is_written_as_its_integers(tmp_path):
    (tmp_path / "gap.csv").write_text('id,n,q\n1,5,hello\n2,,world\n3,7,"a,b"\n')
    with pytest.warns(UserWarning, match=r"column\(s\) 'n' held whole numbers as floats"):
        from_frame = list(batchkit.build_requests(pd.read_csv(tmp_path / "gap.csv"), model="m", user="{n} {q}",
                                                  on_empty="keep", id_column="id"))  # fmt: skip
    batchkit.build_file(tmp_path / "gap.csv", tmp_path / "gap.jsonl", model="m", user="{n} {q}", on_empty="keep",
                        id_column="id")  # fmt: skip
    from_file = [json.loads(line) for line in (tmp_path / "gap.jsonl").read_text().splitlines()]
    assert [r["body"]["messages"][0]["content"] for r in from_frame] == ["5 hello", " world", "7 a,b"]
    assert [r["body"] for r in from_frame] == [r["body"] for r in from_file]
    real = pd.DataFrame({"x": [2.0, 2.5, float("nan")]})
    assert [r["body"]["messages"][0]["content"] for r in batchkit.build_requests(real, model="m", user="{x}",
            on_empty="skip")] == ["2.0", "2.5"]  # fmt: skip


def test_an_address_with_a_password_is_refused_without_being_repeated(tmp_path):
    address = "http://user:pw-SECRET-99@127.0.0.1:9/v1"
    with pytest.raises(UsageError, match="carries a user name or password") as refused:
        batchkit.submit(batchkit.build_requests([{"q": "hi"}], model="m", user="{q}"), base_url=address)
    assert "pw-SECRET" not in str(refused.value)
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m",'
                     '"messages":[{"role":"user","content":"hi"}]}}\n')  # fmt: skip
    for command in (["submit", batch, "--base-url", address], ["run", batch, "--base-url", address, "-o",
                                                               tmp_path / "o.jsonl"]):  # fmt: skip
        result = run_cli(*command)
        assert result.returncode == 2 and "--base-url carries a user name or password" in result.stderr
        assert "pw-SECRET" not in result.stderr + result.stdout


def test_batchkit_map_exits_1_when_rows_got_no_answer_and_0_with_allow_failures(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\n" + "".join(f"row {i}\n" for i in range(8)))
    command = ["map", table, "-o", tmp_path / "out.csv", "--user", "{q}", "--model", "m", "--interval", "0.2",
               "-q"]  # fmt: skip
    with running_server(
        "--fail-rate", "0.5", "--seed", "3", "--model", "m", data_dir=tmp_path / "serve"
    ) as s:
        failed = run_cli(*command, "--base-url", s.base_url)
        assert failed.returncode == 1 and "rows without an answer (m: " in failed.stderr, failed.stderr
        statuses = [row["status"] for row in csv.DictReader((tmp_path / "out.csv").open())]
        assert "ok" in statuses and set(statuses) != {"ok"}  # the table is written all the same
        allowed = run_cli(*command, "--base-url", s.base_url, "--allow-failures")
        assert allowed.returncode == 0, allowed.stderr
