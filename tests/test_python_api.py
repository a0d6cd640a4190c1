"""The Python API end to end against a real `batchkit serve`: submit (a file, shards or a list of requests)
with BatchJob handles, run, validate_requests, Report in a notebook, build_requests' sized result, and
what `import batchkit` and `help(batchkit)` show."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from serverutil import running_server
from submitsupport import ROOT, SEED_MODELS

import batchkit
from batchkit.remote import Event

SERVED = [arg for model in SEED_MODELS for arg in ("--model", model)]
MODEL = SEED_MODELS[0]
QUESTIONS = [{"q": "What is 2+2?"}, {"q": "Name a colour."}, {"q": "Spell <cat>."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--backend", "echo", *SERVED, data_dir=tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    with running_server(
        "--backend", "echo", *SERVED, "--latency", "1", "--concurrency", "1",
        data_dir=tmp_path_factory.mktemp("slow"),
    ) as running:  # fmt: skip
        yield running


def requests(rows=QUESTIONS):
    return batchkit.build_requests(rows, model=MODEL, user="{q}", params={"max_tokens": 20})


# ---------------------------------------------------------------- submit


def test_submitting_a_list_of_requests_writes_it_by_content_and_follows_it_to_the_answers(server, tmp_path):
    jobs = batchkit.submit(requests(), base_url=server.base_url, interval=0.2)
    assert isinstance(jobs, batchkit.Submission) and len(jobs) == 1
    (job,) = jobs
    home = Path(os.environ["BATCHKIT_HOME"])
    assert job.path.parent == home / "requests" and job.path.suffix == ".jsonl"
    assert job.status().status == "completed" and job.submitted.batch.id == job.batch_id
    files = jobs.results(out_dir=tmp_path)
    assert [p.name for p in files] == [f"{job.path.stem}.output.jsonl"]
    merged = batchkit.merge_results(jobs.paths, files)
    assert list(merged.frame["status"]) == ["ok", "ok", "ok"] and merged.report.missing == []
    # The same requests again: the same file, and the ledger's batch instead of a second submission.
    again = batchkit.submit(list(requests()), base_url=server.base_url, wait=False)
    assert again[0].path == job.path and again[0].batch_id == job.batch_id and again[0].submitted.existing


def test_a_file_submitted_without_waiting_is_waited_for_downloaded_once(server, tmp_path):
    path = tmp_path / "b.jsonl"
    batchkit.write_batch(requests(), path)
    job = batchkit.submit(path, base_url=server.base_url, wait=False)[0]
    assert job.path == path and not job.submitted.existing
    assert job.wait(interval=0.2).status == "completed"
    first = job.download()
    assert first.files == {"output": tmp_path / "b.output.jsonl"} and first.lines == {"output": 3}
    assert job.download().skipped  # the ledger knows it was downloaded
    assert job.results() == [tmp_path / "b.output.jsonl"]


def test_requests_go_to_the_batch_file_given_and_its_shards_are_one_job_each(server, tmp_path):
    rows = [{"q": f"question {i}"} for i in range(5)]
    written = batchkit.write_batch(requests(rows), tmp_path / "s.jsonl", max_requests=2)
    jobs = batchkit.submit(written, base_url=server.base_url, interval=0.2)
    assert jobs.paths == written and len({job.batch_id for job in jobs}) == 3
    assert [b.status for b in jobs.status()] == ["completed"] * 3
    frame = batchkit.merge(written, jobs.results())
    assert len(frame) == 5 and set(frame["status"]) == {"ok"}
    mine = batchkit.submit(
        requests(), batch_file=tmp_path / "mine.jsonl", base_url=server.base_url, wait=False
    )
    assert mine.paths == [tmp_path / "mine.jsonl"]


def test_invalid_requests_are_refused_before_anything_is_sent(server, tmp_path):
    bad = [*requests(), {"custom_id": "row-1", "method": "POST", "url": "/v1/chat/completions", "body": {}}]
    with pytest.raises(batchkit.ValidationFailed) as caught:
        batchkit.submit(bad, base_url=server.base_url, batch_file=tmp_path / "bad.jsonl")
    assert {"duplicate-custom-id", "missing-field"} <= {f.code for f in caught.value.report.findings}
    assert not (tmp_path / "bad.jsonl").exists()


def test_cancel_a_running_batch_and_progress_events(slow_server, tmp_path):
    events: list[Event] = []
    rows = [{"q": f"slow {i}"} for i in range(6)]
    jobs = batchkit.submit(requests(rows), base_url=slow_server.base_url, wait=False, progress=events.append)
    assert any(e.kind == "upload" for e in events)
    assert jobs[0].cancel().status in ("cancelling", "cancelled")
    final = jobs.wait(interval=0.2)
    assert [b.status for b in final] == ["cancelled"]
    assert any(e.kind == "batch" and e.batch is not None and e.batch.terminal for e in events)


def test_progress_true_draws_tqdm_auto_bars(server, capsys):
    batchkit.submit(requests([{"q": "bar"}]), base_url=server.base_url, interval=0.2, progress=True)
    err = capsys.readouterr().err
    assert "upload" in err and "batch batch_" in err and "completed" in err


def test_tqdm_progress_shows_one_bar_per_subject():
    out = io.StringIO()
    show = batchkit.tqdm_progress(file=out, mininterval=0)
    show(Event("download", "x.output.jsonl", 50, 100))
    show(Event("download", "x.output.jsonl", 100, 100))
    show(Event("note", "x.jsonl", message="reusing file f-1"))
    text = out.getvalue()
    assert "download x.output.jsonl" in text and "100/100" in text
    assert "tqdm.auto" in sys.modules  # the bar that suits a notebook (a widget) as well as a terminal


# ---------------------------------------------------------------- run


def test_run_sends_a_file_and_resumes(server, tmp_path):
    path = tmp_path / "b.jsonl"
    batchkit.write_batch(requests(), path)
    result = batchkit.run(path, base_url=server.base_url, output=tmp_path / "out.jsonl")
    assert isinstance(result, batchkit.RunResult)
    assert (result.total, result.succeeded, result.failed, result.errors) == (3, 3, 0, None)
    again = batchkit.run(path, base_url=server.base_url, output=tmp_path / "out.jsonl")
    assert (again.skipped, again.succeeded) == (3, 0)
    assert len(batchkit.merge(path, tmp_path / "out.jsonl")) == 3


def test_run_refuses_a_key_variable_that_is_not_set(server, tmp_path, monkeypatch):
    path = tmp_path / "b.jsonl"
    batchkit.write_batch(requests(), path)
    monkeypatch.delenv("NOT_SET_RUN_KEY", raising=False)
    with pytest.raises(batchkit.UsageError, match="NOT_SET_RUN_KEY"):
        batchkit.run(
            path, base_url=server.base_url, output=tmp_path / "out.jsonl", api_key_env="NOT_SET_RUN_KEY"
        )
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.part").exists()


# ---------------------------------------------------------------- in memory, in a notebook


def test_validate_requests_takes_dicts_or_a_frame_of_request_lines():
    built = list(requests())
    assert batchkit.validate_requests(built, provider="openai").valid
    frame = pd.DataFrame(built)
    frame.loc[1, "body"] = None  # an empty cell: the field is absent on that row
    frame.loc[2, "custom_id"] = "row-1"
    report = batchkit.validate_requests(frame, provider="openai")
    assert report.file == "<requests>" and report.summary.requests == 3
    assert [(f.code, f.line) for f in report.findings] == [("missing-field", 2), ("duplicate-custom-id", 3)]


def test_validate_requests_refuses_what_json_cannot_hold():
    with pytest.raises(batchkit.InputError, match="request 1: cannot be written as JSON"):
        batchkit.validate_requests([{"custom_id": object()}])


@pytest.mark.parametrize(
    "value, name", [(float("nan"), "NaN"), (float("inf"), "Infinity"), (-float("inf"), "-Infinity")]
)
def test_a_number_json_has_not_is_refused_where_it_is_not_sent_as_null(value, name, tmp_path):
    # orjson writes NaN and the infinities as null: `temperature: null` would ask for the default
    fine = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": None}}  # fmt: skip
    bad = {**fine, "custom_id": "b", "body": {**fine["body"], "logit_bias": {"1/2": value}}}
    said = rf"request 2: /body/logit_bias/1~12 is {name}, which JSON cannot hold"
    with pytest.raises(batchkit.InputError, match=said):
        batchkit.validate_requests([fine, bad])
    with pytest.raises(batchkit.InputError, match=said):
        batchkit.write_batch([fine, bad], tmp_path / "b.jsonl")
    assert not (tmp_path / "b.jsonl").exists()
    with pytest.raises(batchkit.InputError, match=said):
        batchkit.submit([fine, bad], base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VARIABLE")
    assert batchkit.validate_requests([fine]).valid  # null itself is a value a request may hold


def test_report_as_a_frame_and_as_escaped_html():
    hostile = "<script>alert(1)</script>"
    line = {"custom_id": hostile, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}}  # fmt: skip
    report = batchkit.validate_requests([line, line])
    frame = report.to_frame()
    assert list(frame.columns) == ["severity", "code", "line", "path", "message", "related_lines"]
    assert list(frame["code"]) == ["duplicate-custom-id"] and frame["line"].tolist() == [2]
    html = report._repr_html_()
    assert "<table>" in html and hostile not in html and "&lt;script&gt;" in html and "invalid" in html
    assert batchkit.validate_requests([line]).to_frame().empty


def test_estimate_takes_requests_in_memory_as_the_file_they_would_make(tmp_path):
    requests = batchkit.build_requests(
        pd.DataFrame({"q": ["hello there", "yo"]}), model="gpt-4o-mini", user="{q}", max_tokens=10
    )
    path = batchkit.write_batch(requests, tmp_path / "b.jsonl")[0]
    from_file = batchkit.estimate(path, provider="openai").totals()
    assert from_file["requests"] == 2 and from_file["prompt_tokens"] > 0 and from_file["cost"]
    assert batchkit.estimate(requests, provider="openai").totals() == from_file
    assert batchkit.estimate(pd.DataFrame(list(requests)), provider="openai").totals() == from_file
    assert batchkit.estimate(requests, provider="openai").files[0].path == "<requests>"
    with pytest.raises(batchkit.UsageError, match="estimate takes batch files or request dicts, not int"):
        batchkit.estimate([1, 2])


def test_build_requests_is_sized_and_reiterable():
    built = requests()
    assert len(built) == 3 and list(built) == list(built)
    assert "3 request(s)" in repr(built)
    once = batchkit.build_requests(iter(QUESTIONS), model=MODEL, user="{q}")  # a one-shot source is kept
    assert len(once) == 3 and [r["custom_id"] for r in once] == [r["custom_id"] for r in once]
    skipping = batchkit.build_requests([{"q": "a"}, {"q": ""}], model=MODEL, user="{q}", on_empty="skip")
    assert len(skipping) == 1


def test_merge_results_gives_the_report_merge_the_frame(server, tmp_path):
    path = tmp_path / "b.jsonl"
    batchkit.write_batch(requests(), path)
    files = batchkit.submit(path, base_url=server.base_url, interval=0.2).results()
    result = batchkit.merge_results(path, files)
    assert isinstance(result, batchkit.MergeResult) and isinstance(result.report, batchkit.MergeReport)
    assert result.report.joined == 3 and result.report.digest == [] and result.report.orphans == []
    assert batchkit.merge(path, files).equals(result.frame)


# ---------------------------------------------------------------- the package's face


def test_import_batchkit_stays_light():
    code = (
        "import sys, batchkit; heavy = ('pandas', 'openai', 'msgspec', 'numpy', 'httpx', 'click', 'tqdm');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('batchkit.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # Reports and in-memory validation need no pandas either (only Report.to_frame imports it).
    code = (
        "import sys, batchkit; from batchkit.findings import Report;"
        "batchkit.validate_requests([{'custom_id': 'a'}]); print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_help_shows_every_public_name_with_a_docstring():
    text = subprocess.run(
        [sys.executable, "-c", "import batchkit; help(batchkit)"],
        capture_output=True, text=True, check=True, env={**os.environ, "PAGER": "cat", "TERM": "dumb"},
    ).stdout  # fmt: skip
    for name in batchkit.__all__:
        value = getattr(batchkit, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name
            assert f"{name}(" in text or f"class {name}" in text, name
    for cls in (batchkit.BatchJob, batchkit.Submission, batchkit.Report):
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and not name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"


@pytest.mark.slow
def test_a_user_script_type_checks_and_a_wrong_one_does_not(tmp_path):
    script = ROOT / "tests" / "typing_user_script.py"
    # batchkit's own annotations are the point: found from ROOT; the third-party packages it imports (the
    # providers' SDKs, msgspec, click; pandas has no types) are Any, and reading them was 30 s of 34
    command = [
        sys.executable, "-m", "mypy", "--strict", "--no-site-packages", "--ignore-missing-imports",
        "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    good = subprocess.run([*command, str(script)], capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0, good.stdout
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "import batchkit\n\njob = batchkit.submit(42)\nbatchkit.run('b.jsonl')\n"
        "count: str = batchkit.run('b.jsonl', base_url='u', output='o').total\n"
        "done: str = batchkit.run('b.jsonl', base_url='u', output='o', until_done=True).done\n"
    )
    bad = subprocess.run([*command, str(wrong)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    assert 'Argument 1 to "submit" has incompatible type "int"' in bad.stdout
    assert 'wrong.py:4: error: No overload variant of "run" matches argument type "str"' in bad.stdout
    assert (  # run() gives a RunResult, and a RunRounds with until_done=True
        'Incompatible types in assignment (expression has type "int", variable has type "str")' in bad.stdout
    )
    assert (
        'Incompatible types in assignment (expression has type "bool", variable has type "str")' in bad.stdout
    )


@pytest.mark.slow
def test_the_wheel_ships_py_typed(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    assert "batchkit/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_every_export_is_also_seen_by_type_checkers():
    import ast

    tree = ast.parse((ROOT / "batchkit" / "__init__.py").read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If))  # if TYPE_CHECKING:
    typed = {alias.name for node in guarded.body for alias in node.names}
    assert typed == set(batchkit.__all__) == set(batchkit._EXPORTS)


def test_an_unwritable_requests_folder_is_a_clear_error(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "requests").write_text("a file where the folder goes")
    monkeypatch.setenv("BATCHKIT_HOME", str(home))
    with pytest.raises(batchkit.InputError, match="cannot write batchkit's state in .*requests"):
        batchkit.submit(requests(), base_url="http://127.0.0.1:9/v1")


def test_merge_ignores_usage_counts_that_are_not_counts(tmp_path):
    inputs = tmp_path / "in.jsonl"
    batchkit.write_batch(requests(), inputs, force=True)
    answer = '{{"custom_id": "row-{n}", "response": {{"status_code": 200, "body": {{"usage": {usage}, "choices": []}}}}}}'
    usages = ['{"prompt_tokens": -4611686018427387905}', '{"prompt_tokens": 1e300, "completion_tokens": 7}',
              '{"prompt_tokens": 5, "total_tokens": 12}']  # fmt: skip
    results = tmp_path / "out.jsonl"
    results.write_text("\n".join(answer.format(n=n, usage=u) for n, u in enumerate(usages, 1)))
    report = batchkit.merge_results(inputs, results).report
    assert (report.prompt_tokens, report.completion_tokens, report.total_tokens) == (5, 7, 12)
    assert [(f.code, f.line) for _, f in report.findings] == [("out-of-range", 1), ("out-of-range", 2)]


def test_a_lone_surrogate_from_python_is_a_finding_never_an_exception(tmp_path):
    """Text in a DataFrame or a dict may hold half of a surrogate pair, which no file can (UTF-8 has no
    such character): the line is written with its \\u escape and refused by name, as a file's would be."""
    frame = pd.DataFrame({"q": ["fine", "cut \ud83d"], "model": ["m", "m\udc00"]}, dtype=object)
    built = batchkit.build_requests(frame, model_column="model", user="{q}")
    with pytest.raises(batchkit.ValidationFailed) as refused:
        batchkit.write_batch(built, tmp_path / "b.jsonl")
    assert [(f.code, f.line) for f in refused.value.report.findings] == [("invalid-json", 2)]
    assert "surrogate pair" in refused.value.report.findings[0].message
    assert not (tmp_path / "b.jsonl").exists()
    for request in (list(built)[1], '{"custom_id": "a", "note": "\ud800"}'):  # a dict, and a line as text
        report = batchkit.validate_requests([request])
        assert [f.code for f in report.findings] == ["invalid-json"]
    (written,) = batchkit.write_batch(built, tmp_path / "b.jsonl", force=True)
    written.read_bytes().decode("utf-8")  # the file is UTF-8 still
    assert b'"cut \\ud83d"' in written.read_bytes()
