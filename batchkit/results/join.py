"""Join batch results back to the requests they answer (`batchkit merge`; the module is named for what it
does, so that `batchkit.merge` stays the function).

The join is by custom_id, never by position. Input files are streamed once for each request's
custom_id, model and line number (`requests`); result files are streamed through `read_result_file`,
which keeps only the extracted columns (`table`). So memory follows the merged table, not the request
or response bodies.

Problems are reported, never silently resolved:

- an orphan is a result whose custom_id no input request has (it is listed and left out);
- a duplicate is a second result for one custom_id. Which one wins (`DUPLICATE_RULE`): a successful
  result beats a failed one; among results of the same kind the one with the latest `created`
  timestamp wins, and when timestamps are equal or absent the one read last (the later file on the
  command line, then the later line). So merging again with a retry's results gives one row per
  request, the newest success winning. Every duplicate is listed with the result kept and those not;
- a request with no result at all gets the status `missing`;
- a file that is not what its place says (results given as input, requests or an unrelated file given
  as results) is an InputError naming it, not a table of `missing` rows.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..batchfile import read_id_map
from ..errors import InputError, StaleResults, UsageError
from ..findings import Finding
from ..lines import open_binary, read_objects, source_name
from ..words import Option, Text, Words
from .digest import digest
from .frame import attach_source, to_frame
from .manifest import manifest_notes
from .provenance import Judge, Origin, answers_named, find_origins, missing_results
from .read import BATCH_ERROR, HTTP_ERROR, MISSING, OK, ResultRecord, read_result_file
from .report import Duplicate, Located, MergeReport, MergeResult, Orphan, Stale
from .requests import RequestIndex, StageRead, index_requests
from .table import ResultTable

if TYPE_CHECKING:
    import pandas as pd

Paths = str | os.PathLike | Iterable[str | os.PathLike]
OUTPUT_SUFFIX, ERRORS_SUFFIX = ".output.jsonl", ".errors.jsonl"  # the names `batchkit download` writes


def join_results(
    requests: RequestIndex,
    paths: Sequence,
    report: MergeReport,
    progress: StageRead | None = None,
    table: ResultTable | None = None,
    origins: dict[str, Origin] | None = None,
) -> ResultTable:
    """The winning result of every row (status `missing` where there is none), with orphans and
    duplicates recorded in the report; into `table` when given (a `stream.OffsetTable` keeps where the
    answers are instead of the answers). `origins` (by result file name): the batches the ledger says
    the files belong to; each row's winner is judged (`provenance.Judge`) and stale ones recorded."""
    placing = Placing(requests, ResultTable(len(requests)) if table is None else table, report, origins)
    told = progress and functools.partial(progress, "results")
    for path in paths:
        file_number = placing.file_number(source_name(path))
        for record in result_records(path, report, told):
            placing.place(record, file_number)
    return placing.finish()


def result_records(path, report: MergeReport, progress=None) -> Iterator[ResultRecord]:
    """The result records of one file, its reading problems into the report. A file of lines that are
    not results is the wrong file (an InputError naming it); one whose lines could not be read (too long)
    is reported as it is. An empty error file is normal."""
    problems = Counter()

    def emit(file: str, finding: Finding) -> None:
        report.add_finding(file, finding)
        problems[finding.code] += 1

    read = 0
    for record in read_result_file(path, emit, progress):
        read += 1
        yield record
    if not read and problems.keys() - {"empty-file"} and not problems["line-too-long"]:
        raise InputError(_not_results(path, source_name(path)))


class Placing:
    """Results put in the table one at a time, in reading order: the winner of each row (DUPLICATE_RULE,
    `ResultTable.is_newer`) judged against the request (`provenance.Judge`), orphans and duplicates
    recorded in the report. `requests` may be any part of the requests that holds every row of its ids
    (a hash bucket of them, on Dask); `origins` as for `join_results`."""

    def __init__(
        self,
        requests: RequestIndex,
        table: ResultTable,
        report: MergeReport,
        origins: dict[str, Origin] | None,
    ):
        self.requests, self.table, self.report = requests, table, report
        self.origins = origins or {}
        self.judge = Judge(requests, self.origins)
        self.seen: dict[int, list[Located]] = {}  # row → every result read for it, once there are two

    def file_number(self, name: str) -> int:
        """The table's number of result file `name`, with the batch the ledger says it belongs to."""
        number = self.table.file_number(name)
        origin = self.origins.get(name)
        if origin is not None and origin.batch_id:
            self.table.batch_ids[number] = origin.batch_id
        return number

    def place(self, record: ResultRecord, file_number: int) -> None:
        """One result, read from result file `file_number` (see `file_number`)."""
        table, requests = self.table, self.requests
        row = requests.row_of(record.custom_id)
        if row is None:  # a request without an id, joined by the request the result echoes (Vertex)
            row = requests.echo_row(record.custom_id, lambda r: table.status[r] != MISSING)
        if row is None:
            self.report.orphans.append(
                Orphan(record.custom_id, Located(record.file, record.line, record.status))
            )
            return
        if table.status[row] != MISSING:
            located = self.seen.get(row)
            if located is None:
                self.seen[row] = located = [table.located(row)]
            located.append(Located(record.file, record.line, record.status))
            if not table.is_newer(row, record):
                return
        table.put(row, record, file_number)
        table.judged(row, self.judge(row, record))

    def finish(self) -> ResultTable:
        """The duplicates into the report (in row order), and the table with rows that share a custom_id
        with an earlier, different request line given its result too."""
        table, requests = self.table, self.requests
        for row, located in sorted(self.seen.items()):
            kept = table.located(row)
            self.report.duplicates.append(
                Duplicate(requests.ids[row], kept, [x for x in located if x != kept])
            )
        for custom_id, rows in requests.extra_rows.items():
            for row in rows:
                table.copy_row(requests.row_of(custom_id), row)
        return table


def _not_results(path, name: str) -> str | Text:
    """Why a file with lines but no result line is refused: requests given as results, or another file."""
    if str(path) != "-" and not hasattr(path, "read"):
        with open_binary(path) as stream:
            for number, obj, _raw in read_objects(stream, lambda finding: None):
                if "body" in obj and ("url" in obj or "method" in obj):
                    return Text(
                        f"{name}: is a batch of requests, not results: ",
                        Words(
                            "give the batch file as the input and the result files as the results",
                            "give the batch file first and the result files after --results "
                            "(merge BATCH.jsonl -r OUTPUT.jsonl …)",
                        ),
                    )
                if number > 100:
                    break
    return f"{name}: holds no result lines (a custom_id with a response or an error): is it the right file?"


def result_paths(value: Paths, notes: list[str]) -> list:
    """The result files to read. An error file that was not written because nothing failed is left out
    with a note: NAME.errors.jsonl missing beside an existing NAME.output.jsonl (what `batchkit download`
    writes), or beside NAME.jsonl given as a result file too (what `batchkit run -o NAME.jsonl` writes,
    and removes again when a later run has no failures). Any other missing file stays, to fail as 'no
    such file' when read."""
    given = _paths(value, "result")
    named = {Path(p).resolve() for p in given if isinstance(p, (str, os.PathLike)) and str(p) != "-"}
    paths = []
    for path in given:
        output = _output_beside(path, named)
        if output is not None:
            notes.append(
                f"note: {path} does not exist; {output} does, and an error file is written only when "
                "a request failed, so none failed"
            )
            continue
        if isinstance(path, (str, os.PathLike)) and str(path) != "-" and not Path(path).exists():
            why = missing_results(path)  # a batch still running, or not downloaded: say so
            if why is not None:
                raise InputError(why)
        paths.append(path)
    return paths


def _output_beside(path, named: set[Path]) -> Path | None:
    """The output file beside a missing NAME.errors.jsonl that says nothing failed, or None."""
    text = str(path)
    if not isinstance(path, (str, os.PathLike)) or not text.endswith(ERRORS_SUFFIX) or Path(path).exists():
        return None
    stem = text[: -len(ERRORS_SUFFIX)]
    downloaded, ran = Path(stem + OUTPUT_SUFFIX), Path(stem + ".jsonl")
    if downloaded.is_file():
        return downloaded
    if ran.is_file() and ran.resolve() in named:
        return ran
    return None


def count(requests: RequestIndex, table: ResultTable, report: MergeReport) -> None:
    """Counts, tokens, the missing requests and the error digest, into the report."""
    tally(table, report)
    report.missing = [requests.ids[i] for i, s in enumerate(table.status) if s == MISSING]
    report.digest = digest(failure for _row, failure in failures(requests, table))
    report.stale = [stale for _row, stale in stale_rows(requests, table)]


def tally(table: ResultTable, report: MergeReport) -> None:
    """Adds the table's statuses and tokens to the report's counts."""
    report.counts.update(table.status)
    report.prompt_tokens += table.total("prompt_tokens")
    report.completion_tokens += table.total("completion_tokens")
    report.total_tokens += table.total("total_tokens")
    report.cached_tokens += table.total("cached_tokens")
    report.cache_write_tokens += table.total("cache_write_tokens")


def failures(requests: RequestIndex, table: ResultTable) -> Iterator[tuple[int, tuple]]:
    """(row, what the digest groups: custom_id, status, error code, message, HTTP status) of every row
    that did not succeed, in row order."""
    ids, codes, messages, status_codes = (
        requests.ids,
        table.error_code,
        table.error_message,
        table.ints("status_code"),
    )
    for r, s in enumerate(table.status):
        if s != OK:
            yield r, (ids[r], s, codes[r], messages[r], status_codes[r])


def stale_rows(requests: RequestIndex, table: ResultTable) -> list[tuple[int, Stale]]:
    """(row, why its answer was produced for another request) of every such row, in row order."""
    return [(row, Stale(requests.ids[row], reason)) for row, reason in sorted(table.stale.items())]


def join_inputs(
    inputs: Paths, results: Paths, progress: StageRead | None = None, id_map=None, make_table=None
):
    """(report, requests, results table): every input request with the result that won for it.

    `id_map` is the map `batchkit convert` wrote beside a converted file (OUT.ids.jsonl): results of
    the converted file then join to the requests of the file it was converted from. `make_table(requests)`
    gives the table to fill (a `ResultTable` by default)."""
    inputs, results, report = merge_files(inputs, results)
    origins = find_origins(results, report.notes)
    requests = index_requests(inputs, report, progress, hash_lines=bool(origins) or answers_named(results))
    if requests.echoed:
        report.notes.append(
            f"note: {requests.echoed:,} request(s) without an id are named line-N after their line and joined "
            "to the results that echo them (by the request each echoes, not by position)"
        )
    if id_map is not None:
        found = requests.alias(read_id_map(id_map))
        report.notes.append(f"note: {found:,} request(s) also found by the ids in {source_name(id_map)}")
    table = make_table(requests) if make_table is not None else None
    table = join_results(requests, results, report, progress, table, origins)
    count(requests, table, report)
    add_manifest_notes(report, results)
    return report, requests, table


def merge_files(inputs: Paths, results: Paths) -> tuple[list, list, MergeReport]:
    """(input files, result files, the merge's empty report): an error file `batchkit download` did not
    write is left out, with a note."""
    notes: list[str] = []
    inputs, results = _paths(inputs, "input"), result_paths(results, notes)
    report = MergeReport([source_name(p) for p in inputs], [source_name(p) for p in results], notes=notes)
    return inputs, results, report


def add_manifest_notes(report: MergeReport, results: Sequence) -> None:
    """Notes on what the manifests beside the result files say was downloaded, against what was read."""
    read = {
        "records": report.requests,
        "succeeded": report.counts[OK],
        "failed": report.counts[HTTP_ERROR] + report.counts[BATCH_ERROR],
        "input tokens": report.prompt_tokens,
        "output tokens": report.completion_tokens,
    }
    report.notes.extend(manifest_notes(results, read))


def merge_results(
    inputs: Paths,
    results: Paths,
    source=None,
    id_column: str | None = None,
    *,
    id_prefix: str = "row-",
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    progress: StageRead | None = None,
    id_map: str | os.PathLike | None = None,
    parse_json: bool | None = None,
    flatten: int = 1,
    allow_stale: bool = False,
) -> MergeResult:
    """Join `results` (output, error and shard files, any shape) to the requests of `inputs`.

    Returns the table (one row per request in input order, or the `source` table's rows with the
    result columns after them, and `batch_id`: the batch each answer was downloaded for, when this
    machine's ledger knows) and the report (counts, tokens, orphans, duplicates, missing, digest).
    Results produced for other requests (see `provenance`) raise StaleResults, with the report, unless
    allow_stale=True, which merges them with a `stale` column saying why.
    parse_json (None: when a request asked for a JSON schema) parses each answer into `answer.FIELD`
    columns (nested objects `flatten` levels deep) with a `parse_error` column (see `parsed`).
    `id_map`: see `join_inputs`. The table is a DataFrame, so every answer is in memory at once; to write
    a file in bounded memory use `stream_merge` (as `batchkit merge` does).
    """
    if source is None and id_column is not None:
        raise UsageError(
            Text(Option("id_column"), " needs ", Option("source"), ": it names the source table's id column")
        )
    report, requests, table = join_inputs(inputs, results, progress, id_map)
    refuse_stale(report, allow_stale)
    frame = to_frame(requests, table, parse_json=parse_json, flatten=flatten, report=report)
    del table
    if source is not None:
        frame = attach_source(frame, source, id_column, id_prefix, report, sheet, encoding, delimiter)
    return MergeResult(frame, report)


def refuse_stale(report: MergeReport, allow_stale: bool) -> None:
    """StaleResults when some results answer other requests, unless they are allowed."""
    if report.stale and not allow_stale:
        raise StaleResults(
            Text(
                f"{len(report.stale):,} of the results were produced for other requests than the ones they "
                "would answer (report.stale says which, and why); nothing merged: merge the results of these "
                "requests, or pass ",
                Option("allow_stale", True),
                " to merge them marked in a stale column",
            ),
            report,
        )


def merge(
    inputs: Paths, results: Paths, source=None, id_column: str | None = None, **options
) -> pd.DataFrame:
    """The merged table: see `merge_results`, which also returns the report.

    A DataFrame holds every answer in memory at once; `batchkit merge` writing a file streams instead
    (`results.stream`), its memory bounded whatever the answers' size.
    """
    return merge_results(inputs, results, source, id_column, **options).frame


def _paths(value, what: str) -> list:
    if isinstance(value, (str, os.PathLike)) or hasattr(value, "read"):
        value = [value]
    value = list(value)
    if not value:
        raise UsageError(f"give at least one {what} file")
    if sum(1 for v in value if str(v) == "-") > 1:
        raise InputError("standard input ('-') can be read only once")
    return value
