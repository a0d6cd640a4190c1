"""CSV text a column at a time, exactly as the csv module writes it (QUOTE_MINIMAL, doubled quotes).

The csv module looks at every character of every cell in its C loop: for 2 kB answers that is most of a
merge's time. Here a cell is quoted when `str.__contains__` (a fast search) finds the delimiter, the
quote or a character of the line end, and a whole column is made text in one comprehension. Formulas
are escaped (`export.escape_formulas_in`'s rule) in the same pass, so cells are looked at once.
"""

from __future__ import annotations

from array import array

from .export import FORMULA_START, NUMBER
from .table import NA


class CsvText:
    """Cells as a csv.writer(delimiter=sep, lineterminator=line_end, quoting=QUOTE_MINIMAL) writes them."""

    def __init__(self, sep: str, line_end: str):
        self.sep, self.line_end = sep, line_end
        # what makes the csv module quote a cell: the delimiter, the quote, any character of the line end
        self.specials = tuple(dict.fromkeys((sep, '"', *line_end)))
        self.escaped = 0  # cells escaped as formulas

    def text(self, value: str) -> str:
        if any(c in value for c in self.specials):
            return '"' + value.replace('"', '""') + '"'
        return value

    def column(self, values, escape_formulas: bool = False) -> list[str]:
        """A column's cells as text: integers (an array, NA for none) in digits, None empty, text quoted
        where the csv module quotes it and, with escape_formulas, prefixed with ' where a spreadsheet
        would run it as a formula."""
        if isinstance(values, array):
            return ["" if v == NA else str(v) for v in values]
        sep, cr, out = self.sep, "\r" in self.line_end, []
        for v in values:
            if type(v) is str:
                if escape_formulas and v.startswith(FORMULA_START) and not NUMBER.fullmatch(v):
                    v = "'" + v
                    self.escaped += 1
                if sep in v or '"' in v or "\n" in v or (cr and "\r" in v):  # `text`, inlined: a cell a call
                    v = '"' + v.replace('"', '""') + '"'
                out.append(v)
            else:
                out.append("" if v is None else str(v))
        return out

    def lines(self, columns: list[list[str]]) -> str:
        """The rows of text columns as lines."""
        sep, end = self.sep, self.line_end
        if len(columns) == 1:  # the csv module quotes a row of one empty cell; no merged table has one
            return "".join((v or '""') + end for v in columns[0])
        return "".join([sep.join(row) + end for row in zip(*columns, strict=True)])

    def header(self, names: list[str]) -> str:
        return self.lines([[self.text(name)] for name in names])
