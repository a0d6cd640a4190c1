"""Where each request's winning answer is, instead of the answer: the result table of a streamed merge.

`OffsetTable` is a `ResultTable` whose answer columns (contents, tool calls, embeddings) are not kept:
for every row it keeps the file and byte offset of the winning result line, how many choices it has and
the kind of embedding it holds (`arrow.embedding_kind`). Everything the duplicate rule, the counts and
the digest read (status, created, codes, messages, usage) stays, so `join_results` and `count` fill and
read it unchanged. Then the integer columns go (`let_counts_go`): each row is read back by offset, whole,
a slice of rows at a time (`read_back`), as rows are written.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from operator import attrgetter

import orjson

from ..errors import InputError
from ..lines import BOM
from .arrow import EMBEDDING_KINDS, embedding_kind
from .read import MISSING, STATUSES, ResultRecord, common_record, normalise
from .requests import RequestIndex
from .table import INT_FIELDS, NA, ResultTable

_STATUS_CODES = {status: i for i, status in enumerate(STATUSES)}
_ints_of = attrgetter(*INT_FIELDS)


class Statuses:
    """A status column at one byte a row: reads and writes the status names."""

    def __init__(self, rows: int):
        self.codes = bytearray([STATUSES.index(MISSING)]) * rows

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, row: int) -> str:
        return STATUSES[self.codes[row]]

    def __setitem__(self, row: int, status: str) -> None:
        self.codes[row] = _STATUS_CODES[status]

    def __iter__(self) -> Iterator[str]:
        return map(STATUSES.__getitem__, self.codes)


class Sparse(dict):
    """A text column that has values on few rows (error codes and messages): None elsewhere."""

    def __missing__(self, row: int) -> None:
        return None


class OffsetTable(ResultTable):
    """The winning result of every request row, its answers left in their files (see the module).

    About 60 bytes a row: the integer columns, a one-byte status, where the line is and how many
    choices it has; error codes and messages only on the rows that have one."""

    def __init__(self, requests: RequestIndex):  # not super().__init__: it makes every column
        self.rows = rows = len(requests)
        for name in INT_FIELDS:
            setattr(self, name, array("q", [NA]) * rows)
        self.status = Statuses(rows)
        self.error_code, self.error_message = Sparse(), Sparse()
        self.answered_by: dict[int, str] = {}
        self.stale: dict[int, str] = {}
        self.batch_ids: dict[int, str] = {}
        self.models = requests.models
        self.shared_ids = requests.extra_rows  # custom_ids several request rows share
        self.files: list[str] = []
        self._file_numbers: dict[str, int] = {}
        self.file = array("H", [0]) * rows
        self.line = array("q", [0]) * rows
        self.offset = array("q", [-1]) * rows
        self.choices = array("H", [0]) * rows
        self.embedded = bytearray(rows)
        self.any_embedding = False
        self.any_cached = False
        self._ints = [getattr(self, name) for name in INT_FIELDS]
        self._plain = [*self._ints, self.file, self.line, self.offset, self.choices, self.embedded]

    def put(self, row: int, record: ResultRecord, file_number: int) -> None:
        if record.offset < 0:
            raise InputError(f"{record.file}: cannot be read back by offset (compressed or a stream)")
        for column, value in zip(self._ints, _ints_of(record), strict=True):
            column[row] = NA if value is None else value
        self.status[row] = record.status
        for column, value in (
            (self.error_code, record.error_code),
            (self.error_message, record.error_message),
        ):
            _set(column, row, value)
        self.file[row], self.line[row], self.offset[row] = file_number, record.line, record.offset
        self.choices[row] = min(len(record.contents), 0xFFFF)
        self.embedded[row] = embedding_kind(record.embedding)
        self.any_embedding = self.any_embedding or record.embedding is not None
        self.any_cached = self.any_cached or record.cached_from is not None
        # the answering model is shown only where the request names none
        shown = self.models[row] is None or record.custom_id in self.shared_ids
        if record.model is not None and shown:
            self.answered_by[row] = record.model

    def let_counts_go(self) -> None:
        """Drops the integer columns once the report has counted them (the join is over): `read_back` puts
        each row's numbers from its result line again, so they are not held while the rows are written."""
        for name in INT_FIELDS:
            delattr(self, name)
        self._ints = []
        self._plain = [self.file, self.line, self.offset, self.choices, self.embedded]

    def copy_row(self, source: int, target: int) -> None:
        for column in self._plain:
            column[target] = column[source]
        self.status[target] = self.status[source]
        for column in (self.error_code, self.error_message, self.answered_by, self.stale):
            _set(column, target, column.get(source))

    def most_choices(self) -> int:
        return max(self.choices, default=0)

    def has_embeddings(self) -> bool:
        return self.any_embedding

    def first_embedding_row(self) -> int:
        """The first row that has an embedding, or -1."""
        return min((r for kind in EMBEDDING_KINDS if (r := self.embedded.find(kind)) >= 0), default=-1)

    def embedding_kinds(self) -> set[int]:
        return set(self.embedded)

    def has_cached(self) -> bool:
        return self.any_cached


def _set(column: dict, row: int, value) -> None:
    if value is None:
        column.pop(row, None)
    else:
        column[row] = value


class LineFiles:
    """The result files of a merge, open for reading lines back by offset."""

    def __init__(self, paths: list):
        self.handles = [open(path, "rb") for path in paths]  # noqa: SIM115 — closed by close()

    def record(self, file_number: int, offset: int, number: int, name: str) -> ResultRecord | None:
        """The result on line `number` at `offset` of file `file_number` (known as `name`), read as the
        join read it: None when it is no longer a result."""
        handle = self.handles[file_number]
        handle.seek(offset)
        raw = handle.readline().rstrip(b"\r\n")
        record = common_record(raw, number, name)
        if record is not None:
            return record
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            raise InputError(f"{handle.name}: changed while merging (line {number} is no longer a result)")
        return normalise(obj, number, name)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def read_back(table: OffsetTable, requests, files: LineFiles, start: int, stop: int) -> ResultTable:
    """Rows start…stop of the table with their answers, read back from the result files in file order
    (`requests`: the RequestIndex, which tells whether a result names a row). Each row is put from its
    winning result line read again, as the join put it (which is why `let_counts_go` may drop the
    table's integer columns)."""
    part = ResultTable(stop - start)
    part.files = table.files
    missing = _STATUS_CODES[MISSING]
    rows = [r for r in range(start, stop) if table.status.codes[r] != missing]
    rows.sort(key=lambda r: (table.file[r], table.offset[r]))
    for row in rows:
        file_number, number = table.file[row], table.line[row]
        record = files.record(file_number, table.offset[row], number, table.files[file_number])
        if record is None or not requests.names(record.custom_id, row) or record.status != table.status[row]:
            raise InputError(f"{table.files[file_number]}: changed while merging (line {number})")
        part.put(row - start, record, file_number)
    for name in ("answered_by", "stale"):
        whole = getattr(table, name)
        setattr(part, name, {r - start: whole[r] for r in range(start, stop) if r in whole})
    part.batch_ids = table.batch_ids
    return part
