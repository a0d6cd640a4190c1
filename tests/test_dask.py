"""Dask: a partitioned table built, validated and merged on a real LocalCluster (two worker processes) gives
the findings, the lines and the rows the single-process path gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import orjson
import pandas as pd
import pytest

pytest.importorskip("distributed")

from batchkit import dask as bkdask  # noqa: E402
from batchkit.batchfile import write_batch  # noqa: E402
from batchkit.build import build_file
from batchkit.errors import UsageError, ValidationFailed  # noqa: E402
from batchkit.validate import validate_file  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with bkdask.client(local_cluster=2) as connected:
        yield connected


def partitioned(folder, parts: int = 3, rows: int = 5, duplicate: bool = False, models=("m",)) -> None:
    folder.mkdir()
    for i in range(parts):
        frame = pd.DataFrame(
            {
                "id": [f"q{i}-{j}" for j in range(rows)],
                "question": [f"What is {i} × {j}? «{'é' * j}»" for j in range(rows)],
                "model": [models[(i * rows + j) % len(models)] for j in range(rows)],
                "score": pd.array([j if j % 2 else None for j in range(rows)], dtype="Int64"),
            }
        )
        if duplicate and i == parts - 1:
            frame.loc[3, "id"] = "q0-1"  # the same id as a row of the first partition
        frame.to_parquet(folder / f"part-{i:02d}.parquet")


def single(source, out, **options):
    try:
        return build_file(source, out, **options), None
    except ValidationFailed as e:
        return None, e.report


def distributed(source, out, cluster, **options):
    try:
        return bkdask.build(source, out, dask_client=cluster, **options), None
    except ValidationFailed as e:
        return None, e.report


def lines(paths) -> bytes:
    return b"".join(p.read_bytes() for p in paths)


def test_a_duplicate_id_across_partitions_gives_the_single_process_findings(tmp_path, cluster):
    partitioned(tmp_path / "table", duplicate=True)
    options = dict(model="m", user="{question}", id_column="id")
    _, expected = single(tmp_path / "table", tmp_path / "single.jsonl", **options)
    _, found = distributed(tmp_path / "table", tmp_path / "out.jsonl", cluster, **options)
    assert expected is not None and found is not None
    assert found.codes() == expected.codes() == [("duplicate-custom-id", 14, "/custom_id")]
    assert [f.message for f in found.findings] == [f.message for f in expected.findings]
    assert found.summary.requests == expected.summary.requests == 15
    # nothing was put in place, and the staging folder is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]


def test_shards_hold_the_single_process_lines_byte_for_byte(tmp_path, cluster):
    partitioned(tmp_path / "table", parts=4, rows=7)
    options = dict(model_column="model", system="Be brief.", user="{question} ({score})", on_empty="keep",
                   params={"max_tokens": 50})  # fmt: skip
    built, _ = single(tmp_path / "table", tmp_path / "single.jsonl", **options)
    result, report = distributed(tmp_path / "table", tmp_path / "out.jsonl", cluster, **options)
    assert report is None and result.report.valid
    assert [p.name for p in result.paths] == [f"out-p{i:05d}.jsonl" for i in range(4)]
    assert lines(result.paths) == lines(built.paths)  # generated ids row-1 … row-28 across partitions
    assert result.requests == 28 and result.manifest.is_file()
    manifest = __import__("json").loads(result.manifest.read_text())
    assert [f["requests"] for f in manifest["files"]] == [7, 7, 7, 7]
    assert result.manifest.name == ".out.jsonl.manifest.json" and manifest["requests"] == 28

    # a second build with fewer partitions removes the shards the first one wrote and no other file
    (tmp_path / "out-p00009.jsonl").write_text("mine\n")
    for extra in sorted((tmp_path / "table").iterdir())[2:]:
        extra.unlink()
    again = bkdask.build(tmp_path / "table", tmp_path / "out.jsonl", dask_client=cluster, **options)
    assert [p.name for p in again.paths] == ["out-p00000.jsonl", "out-p00001.jsonl"]
    assert sorted(p.name for p in tmp_path.glob("out-p*.jsonl")) == [
        "out-p00000.jsonl",
        "out-p00001.jsonl",
        "out-p00009.jsonl",
    ]


def test_a_partition_over_the_limit_is_sharded_and_a_dask_dataframe_is_a_source(tmp_path, cluster):
    import dask.dataframe as dd

    frame = pd.DataFrame({"question": [f"q{i}" for i in range(30)]})
    ddf = dd.from_pandas(frame, npartitions=2)
    result = bkdask.build(ddf, tmp_path / "b.jsonl", dask_client=cluster, model="m", user="{question}",
                          max_requests=10)  # fmt: skip
    assert [p.name for p in result.paths] == [
        "b-p00000-00001.jsonl", "b-p00000-00002.jsonl", "b-p00001-00001.jsonl", "b-p00001-00002.jsonl",
    ]  # fmt: skip
    write_batch(
        __import__("batchkit").build_requests(frame, model="m", user="{question}"), tmp_path / "s.jsonl"
    )
    assert lines(result.paths) == (tmp_path / "s.jsonl").read_bytes()


def test_one_model_providers_see_the_models_of_every_partition(tmp_path, cluster):
    models = ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4.1")
    partitioned(tmp_path / "table", parts=2, rows=4, models=models)
    # the model from a body template: one file, so a second model is a mixed-model finding on every path
    body = {"model": {"$column": "model"}, "messages": [{"role": "user", "content": "{question}"}]}
    options = dict(body_template=body, id_column="id", provider="openai")
    _, expected = single(tmp_path / "table", tmp_path / "single.jsonl", **options)
    _, found = distributed(tmp_path / "table", tmp_path / "out.jsonl", cluster, **options)
    assert found.codes() == expected.codes() and {c for c, _l, _p in found.codes()} == {"mixed-model"}
    assert [f.message for f in found.findings] == [f.message for f in expected.findings]
    # a model column makes a file per model on one machine; a cluster says how to do it instead
    with pytest.raises(UsageError, match="one model per file"):
        bkdask.build(tmp_path / "table", tmp_path / "out.jsonl", dask_client=cluster, model_column="model",
                     user="{question}", provider="openai")  # fmt: skip


def test_validate_many_files_on_the_cluster(tmp_path, cluster):
    partitioned(tmp_path / "table")
    result = bkdask.build(tmp_path / "table", tmp_path / "out.jsonl", dask_client=cluster, model="m",
                          user="{question}", id_column="id")  # fmt: skip
    (tmp_path / "out-p00001.jsonl").write_bytes(
        b'{"custom_id": "x"}\n' + (tmp_path / "out-p00001.jsonl").read_bytes()
    )
    reports = bkdask.validate(str(tmp_path / "out-p*.jsonl"), dask_client=cluster)
    assert [r.file for r in reports] == [str(p) for p in result.paths]
    assert [r.codes() for r in reports] == [validate_file(p).codes() for p in result.paths]
    assert [r.valid for r in reports] == [True, False, True]


def test_nothing_of_dask_is_imported_unless_asked():
    code = (
        "import sys, batchkit, batchkit.cli\n"
        "from batchkit.cli import main\n"
        "sys.argv = ['batchkit', 'validate', 'samples/clean-chat.jsonl']\n"
        "try: main()\nexcept SystemExit: pass\n"
        "assert not [m for m in sys.modules if m == 'dask' or m.startswith(('dask.', 'distributed'))], 'dask imported'"
    )
    from submitsupport import ROOT

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


DATA = __import__("pathlib").Path(__file__).parent / "data" / "results"


def _missing(value) -> bool:
    return value is None or (not hasattr(value, "__len__") and pd.isna(value))


def _plain(value):
    return [float(v) for v in value] if hasattr(value, "__len__") and not isinstance(value, str) else value


def test_the_commands_run_on_a_cluster(tmp_path, cluster):
    from click.testing import CliRunner

    from batchkit.cli import cli

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    partitioned(tmp_path / "table", parts=3, rows=4)
    address = cluster.scheduler.address
    built = run("build", tmp_path / "table", "-o", tmp_path / "b.jsonl", "--model", "gpt-4o-mini",
                "--user", "{question}", "--id-column", "id", "--scheduler", address)  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "built 3 files from 3 partitions: 12 requests" in built.output
    shards = sorted(tmp_path.glob("b-p*.jsonl"))
    checked = run("validate", *shards, "-p", "openai", "--scheduler", address)
    assert checked.exit_code == 0 and checked.output.count("valid for provider openai") == 3, checked.output
    counted = run("estimate", *shards, "-p", "openai", "--format", "json", "--scheduler", address)
    assert counted.exit_code == 0
    single = run("estimate", *shards, "-p", "openai", "--format", "json")
    assert __import__("json").loads(counted.output) == __import__("json").loads(single.output)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(
        __import__("json").dumps({"custom_id": f"q{i}-{j}", "response": {"status_code": 200, "body": {
            "choices": [{"message": {"content": f"answer {i}-{j}"}, "finish_reason": "stop"}]}}, "error": None}) + "\n"
        for i in range(3) for j in range(4) if (i, j) != (2, 3)))  # fmt: skip
    merged = run("merge", *shards, "-r", results, "-o", tmp_path / "merged", "--scheduler", address)
    assert merged.exit_code == 1 and "requests with no result: 1: q2-3" in merged.output
    frame = pd.read_parquet(tmp_path / "merged")
    assert list(frame["custom_id"])[:2] == ["q0-0", "q0-1"] and len(frame) == 12
    for refused in (["-o", tmp_path / "merged.csv"], ["-o", tmp_path / "m2", "--parse-json"],
                    ["-o", tmp_path / "m3", "--flatten", "2"]):  # fmt: skip
        said = run("merge", *shards, "-r", results, *refused, "--scheduler", address)
        assert said.exit_code == 2 and not (tmp_path / "merged.csv").exists(), said.output
    # and a fresh local cluster of its own
    again = run("validate", shards[0], "--local-cluster", "1")
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("by_id", [True, False])
def test_merge_onto_a_partitioned_source_gives_merges_rows(tmp_path, cluster, by_id):
    import json

    from batchkit.results import merge_results

    partitioned(tmp_path / "table", parts=3, rows=4)
    options = dict(model="m", user="{question}", **({"id_column": "id"} if by_id else {}))
    build_file(tmp_path / "table", tmp_path / "b.jsonl", **options)
    ids = [json.loads(line)["custom_id"] for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    results = tmp_path / "results.jsonl"
    answered = [i for n, i in enumerate(ids) if n not in (2, 7)] + ["nobody"]
    results.write_text("".join(json.dumps({"custom_id": i, "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": f"about {i}"}, "finish_reason": "stop"}]}}, "error": None}) + "\n"
        for i in answered))  # fmt: skip
    source = dict(source=tmp_path / "table", id_column="id" if by_id else None)
    expected = merge_results([tmp_path / "b.jsonl"], [results], **source)
    done = bkdask.merge([tmp_path / "b.jsonl"], [results], tmp_path / "merged", dask_client=cluster, **source)
    frame = pd.read_parquet(tmp_path / "merged")
    assert [p.name for p in sorted((tmp_path / "merged").iterdir())] == [
        f"part-{i:05d}.parquet" for i in range(3)
    ]
    assert list(frame.columns) == list(expected.frame.columns)
    for column in frame.columns:
        assert [None if _missing(v) else v for v in frame[column]] == [
            None if _missing(v) else v for v in expected.frame[column]
        ], column
    keep = ("counts", "orphans", "missing", "source")
    assert {k: done.report.to_dict()[k] for k in keep} == {k: expected.report.to_dict()[k] for k in keep}


def test_tables_named_by_fsspec_urls(tmp_path, cluster):
    """A folder or a pattern given as an fsspec URL (file:// here; s3://, gs://… with their backends) is
    the same table, on one machine and on the cluster."""
    partitioned(tmp_path / "table", parts=2, rows=3)
    options = dict(model="m", user="{question}", id_column="id")
    built, _ = single(tmp_path / "table", tmp_path / "local.jsonl", **options)
    from_url, _ = single(f"file://{tmp_path}/table", tmp_path / "url.jsonl", **options)
    assert lines(from_url.paths) == lines(built.paths)
    result = bkdask.build(
        f"file://{tmp_path}/table/part-*.parquet", tmp_path / "d.jsonl", dask_client=cluster, **options
    )
    assert lines(result.paths) == lines(built.paths)


def test_the_manifest_counts_prompt_tokens_when_asked(tmp_path, cluster):
    import json

    from batchkit.tokens import estimate

    partitioned(tmp_path / "table", parts=2, rows=5)
    result = bkdask.build(tmp_path / "table", tmp_path / "t.jsonl", dask_client=cluster, model="gpt-4o-mini",
                          user="{question}", id_column="id", max_requests=3, count_tokens=True)  # fmt: skip
    files = json.loads(result.manifest.read_text())["files"]
    assert [f["requests"] for f in files] == [3, 2, 3, 2]
    counted = {
        f.path.rsplit("/", 1)[-1]: f.to_dict()["models"][0]["prompt_tokens"]
        for f in estimate(result.paths).files
    }
    assert {f["name"]: f["tokens"] for f in files} == counted


# ---------------------------------------------------------------- one join, one row layout, one duplicate rule


def _line(obj) -> bytes:
    return __import__("orjson").dumps(obj) + b"\n"


def _request(custom_id, text="hello"):
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": text}]}}  # fmt: skip


def _success(custom_id, *contents, created=1700000000, model="m"):
    choices = [{"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": "stop"}
               for i, c in enumerate(contents)]  # fmt: skip
    body = {"id": "c", "object": "chat.completion", "created": created, "model": model, "choices": choices,
            "usage": {"prompt_tokens": 3, "completion_tokens": len(contents), "total_tokens": 3 + len(contents)}}  # fmt: skip
    return {"id": "b", "custom_id": custom_id, "response": {"status_code": 200, "body": body}, "error": None}


def _failure(custom_id, status, message):
    return {"id": "b", "custom_id": custom_id, "error": None, "response": {"status_code": status, "body": {
        "error": {"message": message, "type": "invalid_request_error", "code": None}}}}  # fmt: skip


def _many(tmp_path):
    """Two input files and three result files with every problem a merge lists, spread over many ids: the
    same line in both inputs (one request), an id two different lines use (a finding; both rows get its
    result), lines without an id, orphans, results for one request in several files (a success beats a
    failure; the newest success wins; of failures without a time the one read last), expired requests,
    missing ones, and one answer of three choices (content_2 and content_3 for every part)."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(
        b"".join(_line(_request(f"r-{i}", f"q{i}")) for i in range(40)) + b'{"method": "POST"}\nnot json\n'
    )
    b.write_bytes(_line(_request("r-5", "q5")) + _line(_request("r-7", "another q7"))
                  + b"".join(_line(_request(f"r-{i}", f"q{i}")) for i in range(40, 60)))  # fmt: skip
    rate = "Rate limit reached for gpt-4o in organization org-{} on tokens: {}"
    first = [_success(f"r-{i}", f"answer {i}", created=1700000000 + i) for i in range(0, 60, 2)]
    first += [_failure(f"r-{i}", 500, "The server had an error") for i in range(1, 60, 5)]
    first += [_success(f"ghost-{k}", "nobody asked") for k in range(3)]
    second = [_success(f"r-{i}", f"retried {i}", created=1700000100) for i in range(1, 60, 10)]
    second += [_success(f"r-{i}", f"older {i}", created=1600000000) for i in range(0, 60, 6)]
    second += [_failure(f"r-{i}", 429, rate.format(f"A{i}x9", 1000 + i)) for i in range(3, 60, 7)]
    second += [_success("r-9", "one", "two", "three"), _success("ghost-9", "again")]
    third = [{"custom_id": f"r-{i}", "response": None, "error": {"code": "batch_expired", "message": "expired"}}
             for i in range(5, 60, 9)]  # fmt: skip
    results = [tmp_path / "out-1.jsonl", tmp_path / "out-2.jsonl", tmp_path / "errors.jsonl"]
    for path, lines in zip(results, (first, second, third), strict=True):
        path.write_bytes(
            b"".join(map(_line, lines)) + (b"this line is not JSON\n" if path == results[0] else b"")
        )
    return [a, b], results


def _ties(tmp_path):
    """Failures without a time: the one read last wins, in either order of the files."""
    batch, one, two = tmp_path / "b.jsonl", tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    batch.write_bytes(_line(_request("a")) + _line(_request("b")))
    one.write_bytes(_line(_failure("a", 500, "first")) + _line(_failure("b", 500, "first")))
    two.write_bytes(_line(_failure("a", 429, "second")))
    return [batch], [two, one]


def _many_problems(tmp_path):
    """More reading problems than a report keeps: every one counted, the first thousand kept."""
    wrong = tmp_path / "mostly-not-results.jsonl"
    wrong.write_bytes(b'{"custom_id": "x"}\n' * 1500 + (DATA / "seed" / "output.jsonl").read_bytes())
    return [DATA / "seed" / "batch_tasks.jsonl"], [wrong]


def _no_error_file(tmp_path):
    """An error file `download` did not write (nothing failed) is left out, with a note."""
    import shutil

    shutil.copy(DATA / "seed" / "batch_tasks.jsonl", tmp_path / "batch.jsonl")
    shutil.copy(DATA / "seed" / "output.jsonl", tmp_path / "batch.output.jsonl")
    return [tmp_path / "batch.jsonl"], [tmp_path / "batch.output.jsonl", tmp_path / "batch.errors.jsonl"]


def _fixture(name, *results):
    return lambda tmp_path: ([DATA / name / "input.jsonl"], [DATA / name / r for r in results])


MERGES = {
    "openai": _fixture("openai", "output.jsonl", "errors.jsonl"),
    "vllm": _fixture("vllm", "results.jsonl"),
    "many": _many,
    "ties": _ties,
    "many-problems": _many_problems,
    "no-error-file": _no_error_file,
    "problems": _fixture("problems", "output-1.jsonl", "output-2.jsonl"),
    "embeddings": _fixture("embeddings", "output.jsonl", "errors.jsonl"),
}


@pytest.mark.parametrize("buckets", [None, 5])
@pytest.mark.parametrize("name", sorted(MERGES))
def test_merge_on_the_cluster_is_merges_join_row_layout_and_report(tmp_path, cluster, name, buckets):
    from batchkit.results import merge_results

    inputs, results = MERGES[name](tmp_path)
    expected = merge_results(inputs, results)
    done = bkdask.merge(inputs, results, tmp_path / "merged", dask_client=cluster, buckets=buckets)
    frame = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "merged").iterdir()))
    assert list(frame.columns) == list(expected.frame.columns)
    assert len(frame) == done.rows == len(expected.frame)
    for column in frame.columns:
        got = [None if _missing(v) else _plain(v) for v in frame[column]]
        want = [None if _missing(v) else _plain(v) for v in expected.frame[column]]
        assert got == want, column
    assert done.report.to_dict() == expected.report.to_dict()
    assert done.report.to_text() == expected.report.to_text()


def test_a_wrong_file_is_the_merges_error_on_the_cluster(tmp_path, cluster):
    from batchkit.errors import InputError

    seed = DATA / "seed"
    with pytest.raises(InputError, match=r"output\.jsonl: holds result lines .*not requests"):
        bkdask.merge(seed / "output.jsonl", seed / "output.jsonl", tmp_path / "a", dask_client=cluster)
    with pytest.raises(InputError, match=r"batch_tasks\.jsonl: is a batch of requests, not results"):
        bkdask.merge(
            seed / "batch_tasks.jsonl", seed / "batch_tasks.jsonl", tmp_path / "b", dask_client=cluster
        )


def test_ids_and_models_across_partitions_are_judged_as_on_one_machine(tmp_path, cluster):
    """The first partition has no rows and the first model is in the second; ids repeat within a partition
    and across partitions: the findings and counts are those of one pass over the whole table."""
    folder = tmp_path / "table"
    folder.mkdir()
    parts = [
        ([], []),
        (["a", "b", "a", "c"], ["gpt-4.1", "gpt-4o-mini", "gpt-4.1", "gpt-4.1"]),
        (["d", "b", "e", "c"], ["gpt-4o-mini", "gpt-4.1", "gpt-4.1", "gpt-4o-mini"]),
    ]
    for i, (ids, models) in enumerate(parts):
        frame = pd.DataFrame({"id": pd.Series(ids, dtype=object), "model": pd.Series(models, dtype=object),
                              "question": pd.Series([f"q{k}" for k in range(len(ids))], dtype=object)})  # fmt: skip
        frame.to_parquet(folder / f"part-{i:02d}.parquet")
    body = {"model": {"$column": "model"}, "messages": [{"role": "user", "content": "{question}"}]}
    options = dict(body_template=body, id_column="id", provider="openai")
    _, expected = single(folder, tmp_path / "single.jsonl", **options)
    _, found = distributed(folder, tmp_path / "out.jsonl", cluster, **options)
    assert found.codes() == expected.codes()
    assert {c for c, _l, _p in found.codes()} == {"mixed-model", "duplicate-custom-id"}
    assert [(f.message, f.related_lines) for f in found] == [(f.message, f.related_lines) for f in expected]
    assert found.summary.to_dict() == expected.summary.to_dict()


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock"])
def test_a_provider_of_another_line_format_gets_the_lines_one_machine_writes(tmp_path, cluster, provider):
    """For a provider that takes another line format, every partition's requests are converted as on one
    machine: the same lines, and the same findings where they cannot be (Gemini's and Bedrock's lines name
    no model, so a model other than the table's first is refused, in any partition)."""
    partitioned(tmp_path / "table", parts=2, rows=3, models=("m", "m", "m", "other", "m", "m"))
    options = dict(user="{question}", id_column="id", provider=provider, max_tokens=10)
    built, _ = single(tmp_path / "table", tmp_path / "single.jsonl", model="m", **options)
    done, _ = distributed(tmp_path / "table", tmp_path / "out.jsonl", cluster, model="m", **options)
    assert lines(done.paths) == lines(built.paths)
    assert done.report.summary.to_dict() == built.report.summary.to_dict()
    options["model_column"] = "model"
    _, expected = single(tmp_path / "table", tmp_path / "single.jsonl", **options)
    _, found = distributed(tmp_path / "table", tmp_path / "out.jsonl", cluster, **options)
    if provider == "anthropic":  # its lines name their model
        assert expected is None and found is None
        return
    assert found.codes() == expected.codes() == [("mixed-model", 4, "/body/model")]
    assert [f.message for f in found] == [f.message for f in expected]
    assert found.summary.to_dict() == expected.summary.to_dict()


def test_estimate_takes_the_batchs_model_and_the_named_format_on_the_cluster_too(tmp_path, cluster):
    """Gemini's lines name no model: `estimate --model` prices them as `submit --model` sends them; and a
    cluster reads the files in the format --dialect names, as one machine does (it read each in its own)."""
    partitioned(tmp_path / "table", parts=2, rows=3)
    options = dict(model="gemini-2.5-flash", user="{question}", provider="gemini", max_tokens=10)
    done, _ = distributed(tmp_path / "table", tmp_path / "g.jsonl", cluster, **options)

    from click.testing import CliRunner

    from batchkit.cli import cli

    def run(*args, provider=("-p", "gemini")):
        result = CliRunner().invoke(cli, ["estimate", *map(str, args), *provider, "--format", "json"],
                                    env={"BATCHKIT_PROVIDER": ""})  # fmt: skip
        return json.loads(result.output)

    on_cluster = ("--scheduler", cluster.scheduler.address)
    for named in (("--model", "gemini-2.5-flash"), ("--dialect", "openai")):
        single = run(*done.paths, *named)
        assert run(*done.paths, *named, *on_cluster) == single
    # with no provider named, the files' format's own prices them (as validate takes it), there too
    own = run(*done.paths, "--model", "gemini-2.5-flash", provider=())
    assert own == run(*done.paths, "--model", "gemini-2.5-flash", *on_cluster, provider=())
    assert own["provider"] == "gemini" and {f["provider"] for f in own["files"]} == {"gemini"}
    models = [m for f in run(*done.paths, "--model", "gemini-2.5-flash")["files"] for m in f["models"]]
    assert {m["model"] for m in models} == {"gemini-2.5-flash"} and all(m["price"] for m in models)


# ---------------------------------------------------------------- the same word on every answer


def _compare(expected, done, folder):
    frame = pd.concat(pd.read_parquet(p) for p in sorted(folder.iterdir()))
    assert list(frame.columns) == list(expected.frame.columns)
    for column in frame.columns:
        got = [None if _missing(v) else _plain(v) for v in frame[column]]
        assert got == [None if _missing(v) else _plain(v) for v in expected.frame[column]], column
    assert done.report.to_dict() == expected.report.to_dict()


def test_an_answer_of_another_model_is_stale_on_the_cluster_too(tmp_path, cluster):
    from batchkit.errors import StaleResults
    from batchkit.results import merge_results

    batch, results = tmp_path / "b.jsonl", tmp_path / "out.jsonl"
    asked = ["gpt-4o-mini", "gpt-4o", "my-azure-deployment", "gpt-4o"]
    answered = ["gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"]
    batch.write_bytes(b"".join(_line({**_request(f"r{i}"), "body": {"model": m, "messages": [
        {"role": "user", "content": "hi"}]}}) for i, m in enumerate(asked)))  # fmt: skip
    results.write_bytes(b"".join(_line(_success(f"r{i}", "hello", model=m)) for i, m in enumerate(answered)))
    # a manifest beside the results: its notes are in the refusal's report too
    (tmp_path / "manifest.json.out").write_text('{"totalRecordCount": 5, "successRecordCount": 4}')
    with pytest.raises(StaleResults) as single_refused:
        merge_results(batch, results)
    with pytest.raises(StaleResults) as refused:
        bkdask.merge(batch, results, tmp_path / "refused", dask_client=cluster, buckets=3)
    assert str(refused.value) == str(single_refused.value)
    assert refused.value.report.to_dict() == single_refused.value.report.to_dict()
    assert refused.value.report.notes == single_refused.value.report.notes != []
    assert not (tmp_path / "refused").exists()  # nothing written
    expected = merge_results(batch, results, allow_stale=True)
    done = bkdask.merge(batch, results, tmp_path / "merged", dask_client=cluster, allow_stale=True, buckets=3)
    _compare(expected, done, tmp_path / "merged")
    assert [s["custom_id"] for s in done.report.to_dict()["stale"]] == ["r1"]


def test_the_ledgers_word_on_downloaded_results_is_merges_on_the_cluster(tmp_path, cluster):
    """Submitted to a real `batchkit serve`: every row names its batch; rebuilt after the submission,
    the same results are stale, refused on the command line with --scheduler as without it."""
    import json

    from serverutil import running_server
    from submitsupport import invoke

    from batchkit.results import merge_results

    batch, output = tmp_path / "batch.jsonl", tmp_path / "batch.output.jsonl"
    questions = __import__("pathlib").Path(__file__).parent.parent / "samples" / "questions.csv"
    built = invoke(
        "build",
        questions,
        "-o",
        batch,
        "--user",
        "{question}",
        "--id-column",
        "id",
        "--model-column",
        "model",
    )
    assert built.returncode == 0, built.stderr
    with running_server("--backend", "echo", data_dir=tmp_path / "serve") as server:
        done = invoke("submit", batch, "--base-url", server.base_url, "--wait", "--interval", "0.3")
    assert done.returncode == 0, done.stderr
    expected = merge_results(batch, output)
    merged = bkdask.merge(batch, output, tmp_path / "merged", dask_client=cluster, buckets=3)
    _compare(expected, merged, tmp_path / "merged")
    batch_id = done.stdout.split(" submitted as ")[1].split()[0]
    assert set(pd.read_parquet(tmp_path / "merged")["batch_id"]) == {batch_id}

    rebuilt = invoke("build", questions, "-o", batch, "--user", "{question}", "--id-column", "id",
                     "--model", "gpt-4.1-mini", "--system", "Answer in French.")  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    address = cluster.scheduler.address
    single = invoke("merge", batch, "-r", output, "-o", tmp_path / "one.csv", "--format", "json")
    spread = invoke(
        "merge", batch, "-r", output, "-o", tmp_path / "many", "--format", "json", "--scheduler", address
    )
    assert spread.returncode == single.returncode == 1
    assert json.loads(spread.stdout) == json.loads(single.stdout)
    assert json.loads(spread.stdout)["stale_count"] == 8 and not (tmp_path / "many").exists()
    expected = merge_results(batch, output, allow_stale=True)
    marked = bkdask.merge(
        batch, output, tmp_path / "marked", dask_client=cluster, allow_stale=True, buckets=3
    )
    _compare(expected, marked, tmp_path / "marked")


# ---- failures: one line naming the file or the address, exit 2 ------------------------------------------


def damage(path) -> None:
    path.write_bytes(b"PAR1" + b"not a parquet file " * 20 + b"PAR1")


def test_a_damaged_partition_is_one_error_naming_it(tmp_path, cluster):
    from batchkit.errors import InputError

    partitioned(tmp_path / "table", parts=3, rows=4)
    damage(tmp_path / "table" / "part-01.parquet")
    with pytest.raises(InputError, match=r"part-01\.parquet: cannot read as Parquet: "):
        bkdask.build(
            tmp_path / "table", tmp_path / "b.jsonl", dask_client=cluster, model="m", user="{question}"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]


def cli_run(*args, timeout=120, env=None):
    """The CLI as its own process (its cluster and its logs are the point); bounded, so a hang fails."""
    return subprocess.run([sys.executable, "-m", "batchkit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def test_a_damaged_partition_on_a_local_cluster_is_one_line_and_exit_2(tmp_path):
    partitioned(tmp_path / "table", parts=3, rows=4)
    damage(tmp_path / "table" / "part-02.parquet")
    done = cli_run("build", tmp_path / "table", "-o", tmp_path / "b.jsonl", "--model", "m",
                   "--user", "{question}", "--local-cluster", "2")  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()  # no worker logs, no traceback
    assert line.startswith(
        f"batchkit: error: {tmp_path / 'table' / 'part-02.parquet'}: cannot read as Parquet: "
    )


@pytest.mark.parametrize("kind", ["an HTTP server", "nothing listening", "not an address"])
def test_a_scheduler_address_that_is_no_scheduler_is_one_line_and_exit_2(tmp_path, kind):
    import http.server
    import threading

    from serverutil import free_port

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    address = {
        "an HTTP server": f"tcp://127.0.0.1:{http_server.server_address[1]}",  # answers, but not as Dask does
        "nothing listening": f"tcp://127.0.0.1:{free_port()}",
        "not an address": "http://127.0.0.1:8786",
    }[kind]
    partitioned(tmp_path / "table", parts=1, rows=2)
    # Dask's own connect timeout, set shorter than SCHEDULER_SECONDS, is obeyed
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    try:  # within the timeout and the start of a process, never the 30 to 100 s Dask alone would take
        done = cli_run("build", tmp_path / "table", "-o", tmp_path / "b.jsonl", "--model", "m", "--user", "{question}",
                       "--scheduler", address, timeout=bkdask.SCHEDULER_SECONDS + 25, env=env)  # fmt: skip
    finally:
        http_server.shutdown()
        http_server.server_close()
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"batchkit: error: the Dask scheduler at {address} cannot be reached: ")


def test_embeddings_of_mixed_kinds_are_text_on_the_cluster_too(tmp_path, cluster):
    """Embeddings no one Arrow type holds (kinds found in different buckets) are written as text in every
    part, as merge writes them."""
    from test_merge_stream import MIXED_EMBEDDINGS, write_embeddings

    batch, output = write_embeddings(tmp_path, MIXED_EMBEDDINGS)
    bkdask.merge(batch, output, tmp_path / "merged", dask_client=cluster, buckets=3)
    frame = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "merged").iterdir()))
    written = [v if type(v) is str else orjson.dumps(v).decode() for v in MIXED_EMBEDDINGS]
    assert frame["embedding"].tolist() == written


def test_the_merged_folder_reads_as_one_dataset_whatever_each_part_holds(tmp_path, cluster):
    # the failures all in the second input file; the first source partition without a row
    (tmp_path / "a.jsonl").write_bytes(b"".join(_line(_request(i)) for i in ("k1", "k2", "k3")))
    (tmp_path / "b.jsonl").write_bytes(b"".join(_line(_request(i)) for i in ("k4", "k5")))
    results = tmp_path / "r.jsonl"
    results.write_bytes(b"".join(_line(_success(i, f"re {i}")) for i in ("k1", "k2", "k3", "k5"))
                        + _line(_failure("k4", 500, "the server broke")))  # fmt: skip
    inputs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    bkdask.merge(inputs, [results], tmp_path / "merged", dask_client=cluster)
    frame = pd.read_parquet(tmp_path / "merged")
    assert list(frame["status"]) == ["ok", "ok", "ok", "http_error", "ok"]
    assert list(frame["error_message"].fillna("-"))[3] == "the server broke"
    table = tmp_path / "table"
    table.mkdir()
    pd.DataFrame({"id": pd.Series([], dtype=str)}).to_parquet(table / "p0.parquet")
    pd.DataFrame({"id": ["k1", "k2", "k3"]}).to_parquet(table / "p1.parquet")
    bkdask.merge(inputs[:1], [results], tmp_path / "onto", dask_client=cluster, source=table, id_column="id")
    onto = pd.read_parquet(tmp_path / "onto")
    assert list(onto["id"]) == ["k1", "k2", "k3"] and list(onto["content"]) == ["re k1", "re k2", "re k3"]


def test_a_partition_a_filter_emptied_writes_no_shard_and_the_shards_submit(tmp_path, cluster):
    import dask.dataframe as dd

    df = pd.DataFrame({"q": list("abcdef"), "keep": [1, 1, 0, 0, 1, 1]})
    kept = dd.from_pandas(df, npartitions=3)
    kept = kept[kept.keep == 1]
    done = bkdask.build(kept, tmp_path / "filt.jsonl", dask_client=cluster, model="m", user="{q}")
    assert [p.name for p in done.paths] == ["filt-p00000.jsonl", "filt-p00002.jsonl"]
    assert all(validate_file(p).valid for p in done.paths) and done.requests == 4
    manifest = json.loads((tmp_path / ".filt.jsonl.manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == ["filt-p00000.jsonl", "filt-p00002.jsonl"]


def test_parts_whose_columns_no_one_type_holds_are_said_to_be_read_one_by_one(tmp_path, cluster):
    (tmp_path / "a.jsonl").write_bytes(b"".join(_line(_request(i)) for i in ("k1", "k2")))
    results = tmp_path / "r.jsonl"
    results.write_bytes(b"".join(_line(_success(i, f"re {i}")) for i in ("k1", "k2")))
    table = tmp_path / "table"
    table.mkdir()
    pd.DataFrame({"id": ["k1"], "extra": [1]}).to_parquet(table / "p0.parquet")
    pd.DataFrame({"id": ["k2"], "extra": ["text"]}).to_parquet(table / "p1.parquet")
    done = bkdask.merge([tmp_path / "a.jsonl"], [results], tmp_path / "onto", dask_client=cluster, source=table,
                        id_column="id")  # fmt: skip
    assert any("types no one type holds: read them one by one" in note for note in done.report.notes)
