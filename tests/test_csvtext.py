"""CSV written a column at a time is what the csv module writes, character for character."""

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from batchkit.tables.csvtext import csv_text

SPECIAL = st.sampled_from([",", "\t", '"', "\r", "\n", "\r\n", "=", " ", "\x00", "é", "🙂", "\\", ";"])
texts = st.lists(st.one_of(SPECIAL, st.text(max_size=6)), max_size=5).map("".join)
columns = st.one_of(
    st.lists(st.one_of(st.none(), texts)),
    st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
    st.lists(st.one_of(st.none(), st.booleans())),
    st.lists(st.none()),
)


def with_csv_module(cells: list[list], sep: str, line_end: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL).writerows(
        zip(*cells, strict=True)
    )
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30), st.lists(columns, min_size=2, max_size=5), st.sampled_from([",", "\t"]),
       st.sampled_from(["\n", "\r\n"]))  # fmt: skip
def test_columns_are_written_as_the_csv_module_writes_them(rows, kinds, sep, line_end):
    cells = [(kind * rows)[:rows] if kind else [None] * rows for kind in kinds]
    text = csv_text(cells, sep, line_end)
    assert text == with_csv_module(cells, sep, line_end)


def test_what_it_does_not_write_is_left_to_the_csv_module():
    assert csv_text([[1.5, 2.0], ["a", "b"]], ",", "\n") is None  # floats: repr's digits
    assert csv_text([[1, "a"], ["a", "b"]], ",", "\n") is None  # mixed kinds
    assert csv_text([["\ud800"], ["a"]], ",", "\n") is None  # a lone surrogate is no UTF-8
    assert csv_text([[""]], ",", "\n") is None  # one column: the csv module quotes a lone empty cell
    assert csv_text([["a", "b"], [1, None]], ",", "\n") == "a,1\nb,\n"
