import csv
import io
import json
import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchkit.errors import InputError, UsageError
from batchkit.tables import (
    cell_text,
    column_texts,
    csvtext,
    iter_table,
    read_table,
    table_format,
    write_table,
)
from batchkit.tables.csvtext import csv_text, frame_cells, pandas_quoting, write_frame_csv

FORMATS = ["csv", "tsv", "xlsx", "parquet", "json", "jsonl"]


@pytest.fixture
def frame():
    frame = pd.DataFrame(
        {
            "id": ["007", "q2", "q3"],
            "n": pd.array([3, None, 5], dtype="Int64"),
            "f": [2.5, 0.125, None],
            "text": ['a, "b"', "é\nx\ty", "שלום 👋"],
        }
    )
    return frame


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_reads_back_the_same_cell_texts(tmp_path, frame, ext):
    path = tmp_path / f"t.{ext}"
    write_table(frame, path)
    chunks = list(iter_table(path, chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 1]
    texts = {col: [t for c in chunks for t in column_texts(c[col])] for col in frame.columns}
    assert texts["id"] == ["007", "q2", "q3"]
    assert [t or None for t in texts["n"]] == ["3", None, "5"]  # never "3.0"
    assert [t or None for t in texts["f"]] == ["2.5", "0.125", None]
    assert texts["text"] == ['a, "b"', "é\nx\ty", "שלום 👋"]


@pytest.mark.parametrize("ext", FORMATS)
def test_read_table_typed_keeps_integers_with_gaps_and_text_ids(tmp_path, frame, ext):
    path = tmp_path / f"t.{ext}"
    write_table(frame, path)
    typed = read_table(path)
    assert list(typed.columns) == ["id", "n", "f", "text"]
    assert str(typed["n"].dtype) == "Int64"
    assert typed["n"].tolist()[0] == 3 and typed["n"].isna().tolist() == [False, True, False]
    assert str(typed["f"].dtype) == "Float64"
    assert typed["id"].tolist() == ["007", "q2", "q3"]
    assert typed["text"].tolist()[1] == "é\nx\ty"


def test_csv_columns_are_typed_only_when_lossless(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,price,odd,flag,word\n01234,1.50,1e3,True,NA\n98765,2.5,7,False,None\n")
    typed = read_table(path)
    assert typed["zip"].tolist() == ["01234", "98765"]  # leading zero: stays text
    assert typed["price"].tolist() == ["1.50", "2.5"]  # "1.50" would not read back: text
    assert typed["odd"].tolist() == ["1e3", "7"]
    assert typed["flag"].tolist() == [True, False]
    assert typed["word"].tolist() == ["NA", "None"]  # words are not missing values
    exact = read_table(path, typed=False)
    assert exact.iloc[0].tolist() == ["01234", "1.50", "1e3", "True", "NA"]
    signed = tmp_path / "s.csv"
    signed.write_text("code,n\n-0,0\n5,-3\n")
    assert read_table(signed)["code"].tolist() == ["-0", "5"]  # -0 writes back as 0: it stays text
    assert read_table(signed)["n"].tolist() == [0, -3]


def test_format_by_extension_or_explicit():
    assert table_format("a.CSV") == "csv"
    assert table_format("a.tab") == "tsv"
    assert table_format("a.csv.gz") == "csv"
    assert table_format("-") == "csv"
    assert table_format("a.txt", "tsv") == "tsv"
    with pytest.raises(UsageError, match="pass input_format="):
        table_format("a.txt")
    with pytest.raises(UsageError, match="unknown table format"):
        table_format("a.csv", "yaml")


def test_csv_from_a_binary_stream_like_stdin():
    chunks = list(iter_table(io.BytesIO(b"a,b\n1,x\n2,y\n")))
    assert chunks[0]["b"].tolist() == ["x", "y"]


def test_header_only_table_still_tells_its_columns(tmp_path):
    for ext, content in (("csv", "a,b\n"), ("jsonl", "")):
        path = tmp_path / f"e.{ext}"
        path.write_text(content)
        chunks = list(iter_table(path))
        assert len(chunks) == 1 and len(chunks[0]) == 0
    assert list(list(iter_table(tmp_path / "e.csv"))[0].columns) == ["a", "b"]


def test_decoding_failure_suggests_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("q\ncafé\n".encode("latin-1"))
    with pytest.raises(InputError, match='pass encoding= .*encoding="latin-1"'):
        list(iter_table(path))
    assert list(iter_table(path, encoding="latin-1"))[0]["q"].tolist() == ["café"]
    jsonl = tmp_path / "latin.jsonl"
    jsonl.write_bytes('{"q": "café"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="pass encoding="):
        list(iter_table(jsonl))
    assert list(iter_table(jsonl, encoding="latin-1"))[0]["q"].tolist() == ["café"]


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfq,a\nx,y\n")
    assert list(list(iter_table(path))[0].columns) == ["q", "a"]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"q": 1}\n')
    assert list(list(iter_table(jsonl))[0].columns) == ["q"]


def test_excel_sheets_by_name_or_index(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"a": [1]}).to_excel(writer, sheet_name="first", index=False)
        pd.DataFrame({"b": ["two"]}).to_excel(writer, sheet_name="second", index=False)
    assert list(list(iter_table(path))[0].columns) == ["a"]
    assert list(iter_table(path, sheet="second"))[0]["b"].tolist() == ["two"]
    assert list(iter_table(path, sheet="1"))[0]["b"].tolist() == ["two"]
    with pytest.raises(InputError, match="'first', 'second'"):
        list(iter_table(path, sheet="third"))


def test_unreadable_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(iter_table(tmp_path / "nope.csv"))
    bad_json = tmp_path / "t.json"
    bad_json.write_text('{"a": 1}\n{"a": 2}\n')
    with pytest.raises(InputError, match="jsonl"):
        list(iter_table(bad_json))
    bad_line = tmp_path / "t.jsonl"
    bad_line.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(InputError, match="line 2"):
        list(iter_table(bad_line))
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2,3\n")
    with pytest.raises(InputError, match="cannot read as CSV"):
        list(iter_table(ragged))
    broken = tmp_path / "b.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="Excel"):
        list(iter_table(broken))


def test_jsonl_keeps_values_as_written(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"n": 3, "f": 3.0, "m": [{"role": "user"}]}\n\n{"n": null, "x": true}\n')
    (chunk,) = iter_table(path)
    assert chunk["n"].tolist() == [3, None]
    assert chunk["f"].tolist() == [3.0, None]
    assert chunk["m"].tolist()[0] == [{"role": "user"}]
    assert column_texts(chunk["f"]) == ["3.0", None]


def test_cell_text():
    import numpy as np

    assert cell_text("x") == "x"
    assert cell_text(None) is None
    assert cell_text(math.nan) is None
    assert cell_text(pd.NA) is None
    assert cell_text(3) == "3"
    assert cell_text(np.int64(3)) == "3"
    assert cell_text(2.5) == "2.5"
    assert cell_text(np.float64(0.1)) == "0.1"
    assert cell_text(True) == "True"
    assert cell_text({"a": [1, "é"]}) == '{"a":[1,"é"]}'


@pytest.mark.parametrize("ext", ["csv", "tsv", "xlsx", "parquet", "jsonl", "json", "csv.gz"])
def test_write_table_is_atomic_and_round_trips(tmp_path, frame, ext):
    path = tmp_path / f"out.{ext}"
    assert write_table(frame, path) == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    back = read_table(path)
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["n"].isna().tolist() == [False, True, False]


def test_a_column_of_mixed_kinds_is_text_in_parquet(tmp_path):
    """No one Arrow type holds text beside numbers: such a column is written as text (other values as
    JSON), where it failed on the first value its inferred type could not take."""
    import numpy as np
    import pyarrow.parquet as pq

    values = [1, "high", True, {"a": [1, "é"]}, None, 2**70, 2.5]
    write_table(pd.DataFrame({"answer": values}), tmp_path / "m.parquet")
    table = pq.read_table(tmp_path / "m.parquet")
    assert str(table.schema.field("answer").type) == "string"
    assert table.column("answer").to_pylist() == [
        "1", "high", "true", '{"a":[1,"é"]}', None, "1180591620717411303424", "2.5"
    ]  # fmt: skip
    numbers = pd.DataFrame({"answer": pd.Series([np.int64(1), 2.5, None], dtype=object)})
    write_table(numbers, tmp_path / "n.parquet")  # numbers of any type are one kind: a number column
    assert pq.read_table(tmp_path / "n.parquet").column("answer").to_pylist() == [1.0, 2.5, None]


def test_write_table_refuses_stdout_and_unwritable_places(tmp_path, frame):
    with pytest.raises(UsageError):
        write_table(frame, "-")
    with pytest.raises((InputError, FileNotFoundError)):
        write_table(frame, tmp_path / "missing-dir" / "x.csv")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".jsonl.gz"])
def test_large_frames_are_written_in_slices_that_read_back_whole(tmp_path, monkeypatch, suffix):
    from batchkit.tables import write as tables_write

    monkeypatch.setattr(tables_write, "WRITE_ROWS", 2)
    frame = pd.DataFrame(
        {
            "custom_id": [f"row-{i}" for i in range(1, 8)],
            "content": [None, None, "é", "b", None, "dd", "e"],  # a slice of only nulls comes first
            "total_tokens": pd.array([None, 3, 4, None, 6, 7, 8], dtype="Int64"),
        }
    )
    path = tmp_path / f"merged{suffix}"
    write_table(frame, path)
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_json(path, lines=True, dtype=False)
    assert list(back["custom_id"]) == list(frame["custom_id"])
    assert [None if pd.isna(v) else v for v in back["content"]] == [None, None, "é", "b", None, "dd", "e"]
    assert [None if pd.isna(v) else int(v) for v in back["total_tokens"]] == [None, 3, 4, None, 6, 7, 8]


def test_xlsx_text_is_text_never_a_formula_and_values_keep_their_types(tmp_path):
    import datetime

    import numpy as np
    import openpyxl

    frame = pd.DataFrame(
        {
            "text": ["=1+1", '=HYPERLINK("http://x")', "plain"],
            "n": pd.array([3, None, 5], dtype="Int64"),
            "f": [np.float64(2.5), math.nan, 1.0],
            "when": [datetime.datetime(2026, 1, 2, 3, 4), None, pd.Timestamp("2026-05-01", tz="UTC")],
            "obj": [{"a": 1}, [1, 2], np.int64(7)],
        }
    )
    path = tmp_path / "t.xlsx"
    write_table(frame, path, sheet="Answers")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Answers"]
    rows = [[(c.value, c.data_type) for c in row] for row in book["Answers"].iter_rows(min_row=2)]
    assert rows[0][0] == ("=1+1", "s") and rows[1][0] == ('=HYPERLINK("http://x")', "s")
    assert [r[1][0] for r in rows] == [3, None, 5] and [r[2][0] for r in rows] == [2.5, None, 1]
    assert (
        rows[0][3][0] == datetime.datetime(2026, 1, 2, 3, 4) and rows[2][3][0] == "2026-05-01 00:00:00+00:00"
    )
    assert [r[4][0] for r in rows] == ['{"a":1}', "[1,2]", 7]


def test_xlsx_refuses_a_character_xml_forbids_with_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="a cell holds a character XML forbids"):
        write_table(pd.DataFrame({"a": ["bell\x07"]}), tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_excel_csv_and_the_sheet_a_workbook_is_read_from(tmp_path, frame):
    from batchkit.tables import sheet_name

    write_table(frame, tmp_path / "t.csv", excel=True)
    data = (tmp_path / "t.csv").read_bytes()
    assert (
        data.startswith(b"\xef\xbb\xbfid,n,f,text\r\n") and read_table(tmp_path / "t.csv")["id"][0] == "007"
    )
    write_table(frame, tmp_path / "t.xlsx", sheet="Mine")
    assert sheet_name(tmp_path / "t.xlsx") == "Mine" and sheet_name(tmp_path / "t.xlsx", 0) == "Mine"
    with pytest.raises(InputError, match="no sheet 'Other'"):
        sheet_name(tmp_path / "t.xlsx", "Other")


CELL = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=12), st.integers(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 5).flatmap(lambda width: st.lists(st.lists(CELL, min_size=width, max_size=width))),
    sep=st.sampled_from([",", "\t"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_csv_text_is_what_the_csv_module_writes_and_reads_back_every_cell(rows, sep, line_end):
    width = len(rows[0]) if rows else 1
    columns = [[row[i] for row in rows] for i in range(width)]
    text = csv_text(columns, sep, line_end)
    expected = io.StringIO()
    csv.writer(expected, delimiter=sep, lineterminator=line_end).writerows(rows)
    bare_return = any(type(v) is str and "\r" in v and "\n" not in v and sep not in v and '"' not in v
                      for row in rows for v in row)  # fmt: skip
    if not bare_return or "\r" in line_end:
        assert text == expected.getvalue()
    read = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    assert read == [["" if v is None else str(v) for v in row] for row in rows]


# The columns a merge's frame has: text, nullable numbers and booleans, Python objects of any kind
FRAME_COLUMNS = {
    "text": (st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=8)), "string"),
    "int": (st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), "Int64"),
    "float": (st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)), "Float64"),
    "flag": (st.one_of(st.none(), st.booleans()), "boolean"),
    "object": (st.one_of(CELL, st.floats(allow_nan=False)), object),
    "numpy_int": (st.integers(-(2**63), 2**63 - 1), "int64"),
    "numpy_float": (
        st.one_of(st.just(math.nan), st.floats(allow_nan=False, allow_infinity=False)),
        "float64",
    ),
    "numpy_bool": (st.booleans(), "bool"),
}


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    names=st.lists(st.sampled_from(sorted(FRAME_COLUMNS)), min_size=1, max_size=5),
    rows=st.integers(0, 6),
    sep=st.sampled_from([",", "\t"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    header=st.booleans(),
)
def test_a_frame_of_text_and_number_columns_is_written_as_pandas_writes_it(
    data, names, rows, sep, line_end, header
):
    columns = {}
    for i, name in enumerate(names):
        values, dtype = FRAME_COLUMNS[name]
        column = data.draw(st.lists(values, min_size=rows, max_size=rows))
        columns[f"{name}{i}"] = pd.Series(column, dtype=object).astype(dtype)
    frame = pd.DataFrame(columns)
    written = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvtext, "CSV_ROWS", 2)  # chunks of two rows: every boundary crossed
        write_frame_csv(frame, written, sep, line_end, header)
    quoting = pandas_quoting(frame, sep, line_end)
    expected = frame.to_csv(sep=sep, lineterminator=line_end, index=False, header=header, quoting=quoting)
    assert written.getvalue() == expected
    assert frame_cells(frame) is not None  # written by csv_text, not by pandas


def test_a_frame_of_short_floats_or_dates_is_left_to_pandas():
    for column in (pd.Series([0.1, 2.5], dtype="float32"), pd.to_datetime(["2024-01-01", "2024-01-02"])):
        assert frame_cells(pd.DataFrame({"a": ["x", "y"], "b": column})) is None


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_a_carriage_return_in_a_cell_never_ends_its_row(tmp_path, ext):
    # Python 3.11's csv module (pandas' CSV writer) leaves a bare \r unquoted under \n line ends, and
    # every reader ends the row there: a cell could add rows to a table
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["ok\rinjected", "fine"], "n": [1, 2]})
    path = tmp_path / f"t.{ext}"
    write_table(frame, path)
    read = read_table(path, typed=False)
    assert read["id"].tolist() == ["a", "b"] and read["text"].tolist() == ["ok\rinjected", "fine"]
    plain = frame.assign(text=["ok", "fine"])
    write_table(plain, path)
    assert path.read_text() == plain.to_csv(index=False, sep="\t" if ext == "tsv" else ",")


def test_repeated_or_blank_header_names_are_read_as_others_and_said(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("id,q,q,,id\n1,a,b,c,9\n")
    told: list[str] = []
    table = read_table(path, told=told.append)
    assert list(table.columns) == ["id", "q", "q.1", "Unnamed: 3", "id.1"]
    assert told == [
        f"{path}: repeated or blank column names were read as others: 'q' as 'q.1', '' as 'Unnamed: 3', "
        "'id' as 'id.1'"
    ]
    plain = tmp_path / "plain.csv"
    plain.write_text("id,q\n1,a\n")
    said: list[str] = []
    read_table(plain, told=said.append)
    assert said == []


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_a_repeated_name_passes_over_a_name_the_header_has_in_every_format(tmp_path, ext):
    """['q', 'q', 'q.1']: the column headed 'q.1' keeps its name, the second 'q' is 'q.2' (pandas' CSV
    reader), from a workbook too, where it was 'q.1' and the real 'q.1' became 'q.1.1' unsaid."""
    import openpyxl

    path = tmp_path / f"t.{ext}"
    header, row = ["id", "q", "q", None, "q.1"], [1, "a1", "a2", "a3", "a4"]
    if ext == "xlsx":
        book = openpyxl.Workbook()
        book.active.append(header)
        book.active.append(row)
        book.save(path)
    else:
        path.write_text("id,q,q,,q.1\n1,a1,a2,a3,a4\n")
    told: list[str] = []
    table = read_table(path, told=told.append, typed=False)
    assert list(table.columns) == ["id", "q", "q.2", "Unnamed: 3", "q.1"]
    assert table["q.1"].tolist() == ["a4"]
    assert told == [
        f"{path}: repeated or blank column names were read as others: 'q' as 'q.2', '' as 'Unnamed: 3'"
    ]


def test_a_chart_sheet_is_passed_over_by_default_and_refused_by_name(tmp_path):
    import openpyxl
    from openpyxl.chart import BarChart, Reference

    from batchkit.tables import sheet_name

    book = openpyxl.Workbook()
    data = book.active
    data.title = "Data"
    data.append(["id", "q"])
    data.append([1, "hello"])
    chart = BarChart()
    chart.add_data(Reference(data, min_col=1, min_row=1, max_row=2))
    book.create_chartsheet("Chart", 0).add_chart(chart)
    path = tmp_path / "charted.xlsx"
    book.save(path)
    assert read_table(path, typed=False)["q"].tolist() == ["hello"] and sheet_name(path) == "Data"
    for named in ("Chart", 0):
        with pytest.raises(
            InputError, match="sheet 'Chart' is a chart sheet, which holds no table; name a worksheet: 'Data'"
        ):
            read_table(path, sheet=named)


def test_a_formula_no_program_calculated_is_no_empty_cell(tmp_path):
    """A workbook written by a script holds formulas without their values: each read as an empty cell,
    and `build --on-empty keep` sent empty prompts. Refused, naming the cell; a truly empty cell is not."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["id", "q", "f"])
    book.active.append([1, None, "plain"])
    book.active.append([2, "x", "=A3*10"])
    path = tmp_path / "formulas.xlsx"
    book.save(path)
    with pytest.raises(InputError, match=r"cell C3 holds the formula '=A3\*10' but no value for it"):
        read_table(path)
    book.active["C3"] = "done"
    book.save(path)
    assert read_table(path, typed=False)["q"].tolist() == [None, "x"]


def test_a_duration_or_a_date_is_the_text_a_spreadsheet_shows(tmp_path):
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["id", "took", "day", "when"])
    book.active.append([1, dt.timedelta(hours=25), dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 10, 30)])
    book.active["B2"].number_format = "[h]:mm:ss"
    book.active["C2"].number_format = '[$-409]yyyy-mm-dd" (day)"'
    book.active["D2"].number_format = "yyyy-mm-dd hh:mm"
    path = tmp_path / "durations.xlsx"
    book.save(path)
    table = read_table(path, typed=False)
    assert column_texts(table["took"]) == ["25:00:00"]  # was "1 day, 1:00:00"
    assert column_texts(table["day"]) == ["2024-01-05"]  # a date shown alone (was "2024-01-05 00:00:00")
    assert column_texts(table["when"]) == ["2024-01-05 10:30:00"]
    assert [cell_text(v) for v in (dt.timedelta(seconds=-90), dt.timedelta(microseconds=1500))] == [
        "-0:01:30",
        "0:00:00.0015",
    ]


def test_a_cell_that_reads_as_nan_or_inf_stays_the_text_it_is(tmp_path):
    """`nan` read as a float was a missing cell: `merge --source` wrote the row's cell empty (null in
    JSONL for `-inf`), where build had sent the text."""
    path = tmp_path / "n.csv"
    path.write_text("id,n,m,x\n1,nan,-inf,1.5\n2,1.5,2.5,2.5\n")
    table = read_table(path)
    assert table["n"].tolist() == ["nan", "1.5"] and table["m"].tolist() == ["-inf", "2.5"]
    assert str(table["x"].dtype) == "Float64"  # finite numbers written as Python writes them stay numbers


@pytest.mark.parametrize("ext", ["jsonl", "json"])
def test_an_integer_past_64_bits_in_a_json_table_is_read_as_written(tmp_path, ext):
    """orjson reads it as a float: two such ids became one (a duplicate-id refusal) and a prompt showed
    1.2345678901234568e+29."""
    rows = [{"id": 123456789012345678901234567890 + i, "q": "x"} for i in range(2)]
    path = tmp_path / f"wide.{ext}"
    text = [json.dumps(row) for row in rows]
    path.write_text("\n".join(text) + "\n" if ext == "jsonl" else "[" + ",".join(text) + "]")
    table = read_table(path, typed=False)
    assert column_texts(table["id"]) == ["123456789012345678901234567890", "123456789012345678901234567891"]


def test_a_json_column_of_integers_and_fractions_keeps_each_as_written(tmp_path):
    """Typed as Float64, 1 was written back "1.0" and 12345678901234567 as 1.2345678901234568e+16."""
    path = tmp_path / "m.jsonl"
    path.write_text('{"id":"a","n":1}\n{"id":"b","n":12345678901234567}\n{"id":"c","n":0.5}\n')
    table = read_table(path)
    assert table["n"].tolist() == [1, 12345678901234567, 0.5]
    write_table(table, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text().splitlines()[1:] == ["a,1", "b,12345678901234567", "c,0.5"]


def test_arrow_lists_and_structs_with_nulls_are_json_in_csv(tmp_path):
    """Read from Parquet, an integer list with a null was written to CSV as [1.0,NaN,2.0] (no JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    struct = pa.array([{"a": 1}, {"a": None}, None], pa.struct([("a", pa.int64())]))
    lists = pa.array([[1, None, 2], [3], None], pa.list_(pa.int64()))
    pq.write_table(pa.table({"id": ["a", "b", "c"], "st": struct, "ln": lists}), tmp_path / "s.parquet")
    write_table(read_table(tmp_path / "s.parquet"), tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "id,st,ln",
        'a,"{""a"":1}","[1,null,2]"',
        'b,"{""a"":null}",[3]',
        "c,,",
    ]
