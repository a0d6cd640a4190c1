"""The streamed merge (`results.stream`) writes the very file the frame path writes, on every fixture."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

import batchkit.results
from batchkit.cli import cli
from batchkit.errors import InputError
from batchkit.results import merge_results, stream, stream_merge, streamable, write_merged

DATA = Path(__file__).parent / "data" / "results"
DIALECT_INPUT = DATA / "dialect-input.jsonl"


def _cases() -> list[tuple[str, list[Path], list[Path]]]:
    """Every fixture folder: its input file(s) with all its result files, and each result file alone."""
    cases = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        named = [folder / n for n in ("input.jsonl", "batch_tasks.jsonl") if (folder / n).exists()]
        inputs = named or [DIALECT_INPUT]
        # a case of its own: NAME-input.jsonl with the results NAME-*.jsonl
        own = {p: sorted(r for r in folder.glob(p.name.replace("input.jsonl", "*.jsonl")) if r != p)
               for p in folder.glob("*-input.jsonl")}  # fmt: skip
        for source, answers in own.items():
            cases.append((f"{folder.name}-{source.stem}", [source], answers))
        taken = {*own, *(r for answers in own.values() for r in answers)}
        results = sorted(p for p in folder.glob("*.jsonl") if p not in inputs and p not in taken)
        cases.append((folder.name, inputs, results))
        if len(results) > 1:
            cases.extend((f"{folder.name}-{r.stem}", inputs, [r]) for r in results)
    cases.append(("dialect-openai", [DIALECT_INPUT], [DATA / "dialect-openai.jsonl"]))
    reversed_problems = sorted((DATA / "problems").glob("output-*.jsonl"), reverse=True)
    cases.append(("problems-reversed", [DATA / "problems" / "input.jsonl"], reversed_problems))
    return cases


CASES = _cases()
FORMATS = ("csv", "tsv", "jsonl", "parquet")


def _same_file(old: Path, new: Path, fmt: str) -> None:
    if fmt == "parquet":
        old_table, new_table = pq.read_table(old), pq.read_table(new)
        assert old_table.column_names == new_table.column_names
        assert old_table.to_pylist() == new_table.to_pylist()
        assert new_table.num_rows == old_table.num_rows
    else:
        assert new.read_bytes() == old.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "inputs", "results"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("slice_rows", [2, 20_000])
def test_streamed_file_is_the_frame_paths_file(tmp_path, monkeypatch, name, inputs, results, fmt, slice_rows):
    monkeypatch.setattr(stream, "SLICE_ROWS", slice_rows)  # slices of 2 rows: every boundary crossed
    assert streamable(results, tmp_path / f"x.{fmt}")
    framed = merge_results(inputs, results)
    streamed = stream_merge(inputs, results)
    assert streamed.report.to_dict() == framed.report.to_dict()
    excel = fmt in ("csv", "tsv") and slice_rows == 2  # the Excel dialect once (BOM written once)
    old = write_merged(framed.frame, tmp_path / f"old.{fmt}", excel=excel)
    new = streamed.write(tmp_path / f"new.{fmt}", excel=excel)
    _same_file(tmp_path / f"old.{fmt}", tmp_path / f"new.{fmt}", fmt)
    assert {**new.to_dict(), "path": ""} == {**old.to_dict(), "path": ""}


def test_standard_output_and_unescaped_formulas_are_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "SLICE_ROWS", 3)
    inputs, results = [DATA / "openai" / "input.jsonl"], sorted((DATA / "openai").glob("[eo]*.jsonl"))
    batch = tmp_path / "batch.jsonl"
    answers = tmp_path / "answers.jsonl"
    # answers that begin like formulas, and one request line repeated with another body
    lines = inputs[0].read_bytes().splitlines()
    batch.write_bytes(
        b"\n".join([*lines, lines[0].replace(b'"model"', b'"temperature": 1, "model"')]) + b"\n"
    )
    text = b"".join(p.read_bytes() for p in results).replace(b'"Blue."', b'"=1+1"')
    answers.write_bytes(text)
    framed, streamed = merge_results(batch, answers), stream_merge(batch, answers)
    for escape in (True, False):
        old, new = io.StringIO(), io.StringIO()
        old_written = write_merged(framed.frame, "-", old, escape_formulas=escape)
        new_written = streamed.write("-", new, escape_formulas=escape)
        assert new.getvalue() == old.getvalue()
        assert new_written.escaped == old_written.escaped == (1 if escape else 0)
    assert "=1+1" in new.getvalue()


def test_embeddings_first_met_in_a_later_slice_keep_their_parquet_type(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "SLICE_ROWS", 1)
    inputs = [DATA / "embeddings" / "input.jsonl"]
    results = sorted((DATA / "embeddings").glob("[eo]*.jsonl"))
    framed = merge_results(inputs, results)
    assert framed.frame["embedding"].isna().any()  # some rows without one, so some slices have none
    write_merged(framed.frame, tmp_path / "old.parquet")
    stream_merge(inputs, results).write(tmp_path / "new.parquet")
    _same_file(tmp_path / "old.parquet", tmp_path / "new.parquet", "parquet")
    assert (
        pq.read_schema(tmp_path / "new.parquet").field("embedding").type
        == pq.read_schema(tmp_path / "old.parquet").field("embedding").type
    )


def test_what_cannot_stream_takes_the_frame_path(tmp_path):
    results = [DATA / "openai" / "output.jsonl"]
    packed = tmp_path / "output.jsonl"
    import gzip

    packed.write_bytes(gzip.compress(results[0].read_bytes()))
    assert streamable(results, "-")
    assert not streamable(results, tmp_path / "out.xlsx")
    assert not streamable(results, tmp_path / "out.csv.gz")
    assert not streamable(["-"], tmp_path / "out.csv")
    assert not streamable([packed], tmp_path / "out.csv")


def test_a_result_file_changed_before_the_rows_are_written_is_an_error(tmp_path):
    answers = tmp_path / "output.jsonl"
    answers.write_bytes((DATA / "openai" / "output.jsonl").read_bytes())
    streamed = stream_merge(DATA / "openai" / "input.jsonl", answers)
    answers.write_bytes(b"\n" * answers.stat().st_size)
    with pytest.raises(InputError, match="changed while merging"):
        streamed.write(tmp_path / "merged.csv")
    assert not (tmp_path / "merged.csv").exists()  # nothing half written


def test_a_result_that_changed_its_status_in_place_is_an_error_not_a_row_the_report_did_not_count(tmp_path):
    # the rows are put from their lines read again (the join's numbers are not kept): a line that now
    # says something else, at the same offset and with the same id, must not be written under the report
    answers = tmp_path / "output.jsonl"
    text = (DATA / "openai" / "output.jsonl").read_bytes()
    answers.write_bytes(text)
    streamed = stream_merge(DATA / "openai" / "input.jsonl", answers)
    changed = re.sub(rb'("status_code": ?)200', rb"\g<1>503", text)
    assert changed != text and len(changed) == len(text)
    answers.write_bytes(changed)
    with pytest.raises(InputError, match="changed while merging"):
        streamed.write(tmp_path / "merged.csv")
    assert not (tmp_path / "merged.csv").exists()


def test_the_command_streams_and_writes_the_frame_paths_file(tmp_path, monkeypatch):
    inputs = DATA / "openai" / "input.jsonl"
    results = [DATA / "openai" / "output.jsonl", DATA / "openai" / "errors.jsonl"]
    write_merged(merge_results(inputs, results).frame, tmp_path / "frame.jsonl")

    def no_frame(*args, **kwargs):
        raise AssertionError("the command made a frame")

    monkeypatch.setattr(batchkit.results, "merge_results", no_frame)
    args = ["merge", str(inputs), "-r", *map(str, results), "--allow-missing", "--format", "json"]
    out = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "cli.jsonl")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "frame.jsonl").read_bytes()
    summary = orjson.loads(out.output)
    assert summary["written"]["rows"] == 8 and summary["counts"]["missing"] == 1


HOSTILE = 'a/b </script> "q" \\ \u0000\u001f\u007f \u2028 é😀 \n\r\t\b\f, ;=1+1'


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_answers_are_written_as_the_frame_path_writes_them(tmp_path, fmt):
    answers = tmp_path / "answers.jsonl"
    text = (DATA / "openai" / "output.jsonl").read_bytes()
    answers.write_bytes(text.replace(b'"Blue."', orjson.dumps(HOSTILE)).replace(b'"Red."', b'"-2"'))
    inputs = DATA / "openai" / "input.jsonl"
    write_merged(merge_results(inputs, answers).frame, tmp_path / f"old.{fmt}")
    stream_merge(inputs, answers).write(tmp_path / f"new.{fmt}")
    _same_file(tmp_path / f"old.{fmt}", tmp_path / f"new.{fmt}", fmt)
    if fmt == "jsonl":
        assert HOSTILE in {orjson.loads(line)["content"] for line in (tmp_path / "new.jsonl").open("rb")}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "-"])
def test_an_answer_holding_a_carriage_return_stays_in_its_row(tmp_path, fmt):
    # Python 3.11's csv module leaves a bare \r unquoted under \n line ends and readers end the row
    # there: an answer could add rows (here a row of custom_id "injected")
    answers = tmp_path / "answers.jsonl"
    text = (DATA / "openai" / "output.jsonl").read_bytes()
    answers.write_bytes(text.replace(b'"Blue."', b'"Blue\\rinjected"'))
    inputs = DATA / "openai" / "input.jsonl"
    framed = merge_results(inputs, answers)
    texts = []
    for name, merged in (("frame", framed.frame), ("stream", stream_merge(inputs, answers))):
        out = io.StringIO()
        path = "-" if fmt == "-" else tmp_path / f"{name}.{fmt}"
        if name == "frame":
            write_merged(merged, path, out)
        else:
            merged.write(path, out)
        texts.append(out.getvalue() if fmt == "-" else Path(path).read_bytes().decode())
    sep = "\t" if fmt == "tsv" else ","
    for text in texts:
        read = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        assert read["custom_id"].tolist() == framed.frame["custom_id"].tolist()
        assert "Blue\rinjected" in read["content"].tolist()


def test_a_parsed_answer_holding_a_carriage_return_stays_in_its_row(tmp_path):
    answers = tmp_path / "answers.jsonl"
    text = (DATA / "openai" / "output.jsonl").read_bytes()
    answers.write_bytes(
        text.replace(b'"Blue."', orjson.dumps(orjson.dumps({"label": "Blue\rinjected"}).decode()))
    )
    inputs = DATA / "openai" / "input.jsonl"
    args = [
        "merge",
        str(inputs),
        "-r",
        str(answers),
        "-o",
        str(tmp_path / "m.csv"),
        "--parse-json",
        "--allow-missing",
    ]
    done = subprocess.run([sys.executable, "-m", "batchkit", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    read = pd.read_csv(tmp_path / "m.csv", dtype=str, keep_default_na=False)
    assert read["custom_id"].tolist() == merge_results(inputs, answers).frame["custom_id"].tolist()
    assert "Blue\rinjected" in read["answer.label"].tolist()


def test_a_streamed_parquet_merge_does_not_import_pandas(tmp_path):
    # pyarrow's array() imports pandas on first use: some 100 MB and a second for nothing
    import sys

    inputs = DATA / "openai" / "input.jsonl"
    results = [DATA / "openai" / "output.jsonl", DATA / "openai" / "errors.jsonl"]
    args = [
        "merge",
        str(inputs),
        "-r",
        *map(str, results),
        "-o",
        str(tmp_path / "m.parquet"),
        "--allow-missing",
        "-q",
    ]
    code = (
        "import sys\nfrom batchkit.cli import cli\n"
        f"cli({args!r}, standalone_mode=False)\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    write_merged(merge_results(inputs, results).frame, tmp_path / "frame.parquet")
    _same_file(tmp_path / "frame.parquet", tmp_path / "m.parquet", "parquet")


cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-5, 5).map(float),
    st.text(max_size=3),
)


@settings(max_examples=300)
@given(st.lists(cells, max_size=12), st.integers(1, 5))
@example([None, 2**53 + 1], 1)  # convert_dtypes would take it through a float
@example([None, 2**63 - 512], 1)  # …where it would pass 2**63: Float64
def test_a_parsed_column_typed_from_its_deciding_values_is_the_whole_columns_type(values, slice_rows):
    """A column of parsed answers is written a slice at a time: the type its deciding values give is what
    `convert_dtypes` makes of the whole column's values (those present: beside a missing value it takes
    integers through floats), and every slice typed so holds the whole column's values, each exactly as
    parsed."""
    import pandas as pd

    from batchkit.results import frame

    seen: dict = {}
    for value in values:
        if value is not None:
            frame._note(seen, value)
    whole = frame._typed(values)
    present = [v for v in values if v is not None] or [None]
    assert whole.dtype == frame._dtype(seen) == pd.Series(present, dtype=object).convert_dtypes().dtype
    parts = [frame._typed(values[i : i + slice_rows], whole.dtype) for i in range(0, len(values), slice_rows)]
    joined = pd.concat(parts, ignore_index=True) if parts else whole
    assert joined.dtype == whole.dtype
    as_values = [None if pd.isna(v) else v for v in joined.astype(object)]
    assert as_values == [None if pd.isna(v) else v for v in whole.astype(object)]
    if whole.dtype == "Int64":
        assert as_values == [None if v is None else int(v) for v in values]  # exact, however large


def test_a_structured_merge_streams_and_writes_the_frame_paths_file(tmp_path, monkeypatch):
    """Answers parsed into columns (the requests asked for a json_schema) stream too: the command makes
    no frame of the whole table and writes the frame path's file, answers typed as the whole column."""
    folder = DATA / "structured"
    inputs, results = folder / "input.jsonl", [folder / "output.jsonl", folder / "errors.jsonl"]
    framed = merge_results(inputs, results)
    assert framed.report.parsed == 4 and "answer.extra" in framed.frame.columns
    for fmt in ("csv", "jsonl"):
        write_merged(framed.frame, tmp_path / f"frame.{fmt}")
    monkeypatch.setattr(stream, "SLICE_ROWS", 2)

    def no_frame(*args, **kwargs):
        raise AssertionError("the command made a frame")

    monkeypatch.setattr(batchkit.results, "merge_results", no_frame)
    for fmt in ("csv", "jsonl"):
        args = ["merge", str(inputs), "-r", *map(str, results), "--allow-missing", "--format", "json"]
        out = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / f"cli.{fmt}")])
        assert out.exit_code == 0, out.output
        assert (tmp_path / f"cli.{fmt}").read_bytes() == (tmp_path / f"frame.{fmt}").read_bytes()
        summary = orjson.loads(out.output)
        assert summary["structured"]["parsed"] == 4 and summary["written"]["rows"] == 12
    out = CliRunner().invoke(
        cli, ["merge", str(inputs), "-r", *map(str, results), "--allow-missing", "-o", "-"]
    )
    assert out.exit_code == 0 and out.stdout.encode() == (tmp_path / "frame.csv").read_bytes()
    lines = [orjson.loads(line) for line in (tmp_path / "cli.jsonl").read_bytes().splitlines()]
    assert [row["answer.ratio"] for row in lines[:2]] == [1, 1]  # whole floats: an integer column
    assert {row["answer.extra"] for row in lines} == {None, "only here"}  # a column one slice has


# A vector, a request's several vectors, base64 text, and values no embedding is (a number, a list that
# holds text, an integer Arrow cannot hold as a double)
MIXED_EMBEDDINGS = [[0.25, -0.5], [[0.5], [1.0]], "AACAPgAAAL8=", 1000000, [0.5, "x"], [2**60]]


def write_embeddings(folder: Path, embeddings: list) -> tuple[Path, Path]:
    """A batch of embedding requests and a result file whose answers are `embeddings`, in turn."""
    batch, output = folder / "batch.jsonl", folder / "output.jsonl"
    requests, results = [], []
    for i, embedding in enumerate(embeddings):
        body = {"model": "text-embedding-3-small", "input": f"text {i}"}
        requests.append({"custom_id": f"e-{i}", "method": "POST", "url": "/v1/embeddings", "body": body})
        data = [{"object": "embedding", "index": 0, "embedding": embedding}]
        answer = {"status_code": 200, "body": {"object": "list", "data": data, "model": body["model"]}}
        results.append({"id": f"r-{i}", "custom_id": f"e-{i}", "response": answer, "error": None})
    batch.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    output.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in results))
    return batch, output


@pytest.mark.parametrize("kinds", [MIXED_EMBEDDINGS, MIXED_EMBEDDINGS[:2], MIXED_EMBEDDINGS[3:4]])
def test_embeddings_no_one_arrow_type_holds_are_text_in_parquet(tmp_path, kinds):
    """Parquet has one type a column: embeddings of several kinds, or of a kind no list of numbers is, are
    written as text (each as JSON, base64 as it is), by the streamed and the frame path alike."""
    batch, output = write_embeddings(tmp_path, kinds)
    write_merged(merge_results(batch, output).frame, tmp_path / "old.parquet")
    stream_merge(batch, output).write(tmp_path / "new.parquet")
    _same_file(tmp_path / "old.parquet", tmp_path / "new.parquet", "parquet")
    table = pq.read_table(tmp_path / "new.parquet")
    assert str(table.schema.field("embedding").type) == "string"
    assert table["embedding"].to_pylist() == [
        v if type(v) is str else orjson.dumps(v).decode() for v in kinds
    ]
