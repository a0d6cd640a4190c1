"""Where each request's winning answer is, instead of the answer: the result table of a streamed merge.

`OffsetTable` is a `ResultTable` whose answer columns (contents, tool calls, embeddings) are not kept:
for every row it keeps the file and byte offset of the winning result line, how many choices it has and
whether it holds an embedding. Everything the duplicate rule, the counts and the digest read (status,
created, codes, messages, usage) stays, so `join_results` and `count` fill and read it unchanged. The
answers are read back by offset, a slice of rows at a time (`read_back`), as rows are written.
"""

from __future__ import annotations

from array import array

import orjson

from ..errors import InputError
from ..jsonl import BOM
from .read import MISSING, ResultRecord, normalise
from .requests import RequestIndex
from .table import ResultTable


class OffsetTable(ResultTable):
    """The winning result of every request row, its answers left in their files (see the module)."""

    def __init__(self, requests: RequestIndex):
        super().__init__(len(requests))
        self.models = requests.models
        self.shared_ids = requests.extra_rows  # custom_ids several request rows share
        self.offset = array("q", [-1]) * self.rows
        self.choices = array("H", [0]) * self.rows
        self.embedded = bytearray(self.rows)
        self._plain.extend((self.offset, self.choices, self.embedded))

    def put(self, row: int, record: ResultRecord, file_number: int) -> None:
        super().put(row, record, file_number)
        if record.offset < 0:
            raise InputError(f"{record.file}: cannot be read back by offset (compressed or a stream)")
        self.offset[row] = record.offset
        self.choices[row] = min(len(record.contents), 0xFFFF)
        self.embedded[row] = record.embedding is not None
        self.content[row] = self.tool_calls[row] = None
        self.more_contents.pop(row, None)
        if self.embedding is not None:
            self.embedding[row] = None
        # the answering model is shown only where the request names none
        if self.models[row] is not None and record.custom_id not in self.shared_ids:
            self.answered_by.pop(row, None)

    def most_choices(self) -> int:
        return max(self.choices, default=0)

    def has_embeddings(self) -> bool:
        return self.embedding is not None


class LineFiles:
    """The result files of a merge, open for reading lines back by offset."""

    def __init__(self, paths: list):
        self.handles = [open(path, "rb") for path in paths]  # noqa: SIM115 — closed by close()

    def line(self, file_number: int, offset: int, number: int) -> dict:
        handle = self.handles[file_number]
        handle.seek(offset)
        raw = handle.readline().rstrip(b"\r\n")
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            raise InputError(f"{handle.name}: changed while merging (line {number} is no longer a result)")
        return obj

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def read_back(table: OffsetTable, ids: list[str], files: LineFiles, start: int, stop: int) -> ResultTable:
    """Rows start…stop of the table with their answers, read back from the result files in file order."""
    part = ResultTable(stop - start)
    part.files = table.files
    rows = [r for r in range(start, stop) if table.status[r] != MISSING]
    rows.sort(key=lambda r: (table.file[r], table.offset[r]))
    for row in rows:
        file_number, number = table.file[row], table.line[row]
        obj = files.line(file_number, table.offset[row], number)
        record = normalise(obj, number, table.files[file_number])
        if record is None or record.custom_id != ids[row]:
            raise InputError(f"{table.files[file_number]}: changed while merging (line {number})")
        part.put(row - start, record, file_number)
    answered = table.answered_by
    part.answered_by = {r - start: answered[r] for r in range(start, stop) if r in answered}
    return part
