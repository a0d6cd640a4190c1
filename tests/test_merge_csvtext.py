"""The streamed merge's CSV text (`results.csvtext`) is the csv module's, cell for cell."""

from __future__ import annotations

import csv
import io
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchkit.results.csvtext import CsvText
from batchkit.results.export import escape_formulas_in
from batchkit.results.table import NA

CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.text(alphabet=st.sampled_from(list(",;\t\"\r\n =+-@'a1.é😀\x00")), max_size=12),
    st.text(max_size=8),
)


def _csv_module(rows: list[list], sep: str, line_end: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(("sep", "line_end"), [(",", "\n"), ("\t", "\n"), (",", "\r\n"), ("\t", "\r\n")])
@given(rows=st.lists(st.lists(CELLS, min_size=3, max_size=3), min_size=1, max_size=6), escape=st.booleans())
def test_rows_are_the_csv_modules(sep, line_end, rows, escape):
    text = CsvText(sep, line_end)
    columns = [[row[i] for row in rows] for i in range(3)]
    ours = text.lines([text.column(values, escape) for values in columns])
    if escape:
        escaped = sum(escape_formulas_in(values) for values in columns)
        assert text.escaped == escaped
        rows = [list(row) for row in zip(*columns, strict=True)]
    assert ours == _csv_module(rows, sep, line_end)


def test_integer_columns_and_a_single_column():
    text = CsvText(",", "\n")
    assert text.column(array("q", [NA, 0, -5])) == ["", "0", "-5"]
    assert text.lines([text.column(["", None, "a,b"])]) == _csv_module([[""], [None], ["a,b"]], ",", "\n")
    assert text.header(["a", "b,c"]) == 'a,"b,c"\n'
