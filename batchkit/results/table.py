"""The result table: the winning result of every request row, column by column.

Only the columns a merged table needs are kept, in arrays and lists indexed by row (about a hundred bytes
a row besides the answers' own text), so a million rows do not cost a million objects. `INT_FIELDS` and
`TEXT_FIELDS` are the one list of the plain columns: `put` fills them from a `ResultRecord` and `copy_row`
copies them, so a new column is added in one place.
"""

from __future__ import annotations

from array import array
from operator import attrgetter

from .read import MISSING, OK, ResultRecord
from .report import Located

NA = -(2**63)  # "no value" in the integer columns
INT_FIELDS = (
    "status_code",
    "created",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
)
TEXT_FIELDS = ("status", "finish_reason", "tool_calls", "error_code", "error_message", "cached_from")
WHERE_FIELDS = ("file", "line")  # where the winning line is: index into `files`, line number


class ResultTable:
    """The winning result of every request row (status `missing` where there is none)."""

    def __init__(self, rows: int):
        self.rows = rows
        for name in INT_FIELDS:
            setattr(self, name, array("q", [NA]) * rows)
        for name in TEXT_FIELDS:
            setattr(self, name, [None] * rows)
        self.status[:] = [MISSING] * rows
        self.content: list[str | None] = [None] * rows
        self.more_contents: dict[int, tuple] = {}  # row → choices 2… when n > 1
        self.embedding: list | None = None  # made on the first embedding
        self.answered_by: dict[int, str] = {}  # row → the response's model, for requests that name none
        self.stale: dict[int, str] = {}  # row → why its answer was produced for another request
        self.batch_ids: dict[int, str] = {}  # result file number → the batch it was downloaded for
        self.files: list[str] = []
        self._file_numbers: dict[str, int] = {}
        self.file = array("H", [0]) * rows
        self.line = array("q", [0]) * rows
        self._ints = [getattr(self, name) for name in INT_FIELDS]
        self._texts = [getattr(self, name) for name in TEXT_FIELDS]
        self._plain = [*self._ints, *self._texts, self.content, self.file, self.line]

    def is_newer(self, row: int, record: ResultRecord) -> bool:
        """Whether `record` (read after the row's current result) replaces it: see DUPLICATE_RULE."""
        created = NA if record.created is None else record.created
        return (record.status == OK, created) >= (self.status[row] == OK, self.created[row])

    def put(self, row: int, record: ResultRecord, file_number: int) -> None:
        for column, value in zip(self._ints, _ints_of(record), strict=True):
            column[row] = NA if value is None else value
        for column, value in zip(self._texts, _texts_of(record), strict=True):
            column[row] = value
        self.put_answer(row, record)
        if record.model is not None:
            self.answered_by[row] = record.model
        self.file[row] = file_number
        self.line[row] = record.line

    def put_answer(self, row: int, record: ResultRecord) -> None:
        """The row's answer columns alone (a streamed merge has the others: `offsets.read_back`)."""
        self.finish_reason[row], self.tool_calls[row] = record.finish_reason, record.tool_calls
        self.cached_from[row] = record.cached_from
        contents = record.contents
        self.content[row] = contents[0] if contents else None
        if len(contents) > 1:
            self.more_contents[row] = contents[1:]
        else:
            self.more_contents.pop(row, None)
        if record.embedding is not None or self.embedding is not None:
            if self.embedding is None:
                self.embedding = [None] * self.rows
            self.embedding[row] = record.embedding

    def copy_row(self, source: int, target: int) -> None:
        for column in self._plain:
            column[target] = column[source]
        for extra in (self.more_contents, self.answered_by, self.stale):
            if source in extra:
                extra[target] = extra[source]
        if self.embedding is not None:
            self.embedding[target] = self.embedding[source]

    def file_number(self, name: str) -> int:
        """The index of result file `name` in `files`, added on first use."""
        number = self._file_numbers.get(name)
        if number is None:
            number = self._file_numbers[name] = len(self.files)
            self.files.append(name)
        return number

    def judged(self, row: int, reason: str | None) -> None:
        """Record why the row's (new) result answers another request, or that nothing speaks against it."""
        if reason is None:
            self.stale.pop(row, None)
        else:
            self.stale[row] = reason

    def batch_id(self, row: int) -> str | None:
        """The batch the row's result was downloaded for (None when unknown, or when it has none)."""
        return None if self.status[row] == MISSING else self.batch_ids.get(self.file[row])

    def located(self, row: int) -> Located:
        return Located(self.files[self.file[row]], self.line[row], self.status[row])

    def ints(self, name: str) -> list[int | None]:
        """An integer column with None where there is no value."""
        return [None if v == NA else v for v in getattr(self, name)]

    def total(self, name: str) -> int:
        return sum(v for v in getattr(self, name) if v != NA)

    def has_cached(self) -> bool:
        """Whether some row's result came from the answer cache (the merged table then says which)."""
        return any(v is not None for v in self.cached_from)


_ints_of = attrgetter(*INT_FIELDS)
_texts_of = attrgetter(*TEXT_FIELDS)
