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
from collections.abc import Iterable, Sequence
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
from .provenance import Judge, Origin, find_origins, missing_results
from .read import BATCH_ERROR, HTTP_ERROR, MISSING, OK, read_result_file
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
    table = ResultTable(len(requests)) if table is None else table
    judge = Judge(requests, origins or {})
    seen: dict[int, list[Located]] = {}  # row → every result read for it, only once there are two
    read = 0
    told = progress and functools.partial(progress, "results")
    for path in paths:
        name = source_name(path)
        problems = Counter()

        def emit(file: str, finding: Finding, problems: Counter = problems) -> None:
            report.add_finding(file, finding)
            problems[finding.code] += 1

        read_before, file_number = read, table.file_number(name)
        if name in (origins or {}) and origins[name].batch_id:
            table.batch_ids[file_number] = origins[name].batch_id
        for record in read_result_file(path, emit, told):
            read += 1
            _place(record, file_number, requests, table, seen, report, judge)
        # A file of lines that are not results is the wrong file; one whose lines could not be read (too
        # long) is reported as it is. An empty error file is normal.
        if read == read_before and problems.keys() - {"empty-file"} and not problems["line-too-long"]:
            raise InputError(_not_results(path, name))
    for row, located in sorted(seen.items()):
        kept = table.located(row)
        report.duplicates.append(Duplicate(requests.ids[row], kept, [x for x in located if x != kept]))
    # rows that share a custom_id with an earlier, different request line get its result too
    for custom_id, rows in requests.extra_rows.items():
        for row in rows:
            table.copy_row(requests.index[custom_id], row)
    return table


def _place(
    record, file_number: int, requests: RequestIndex, table: ResultTable, seen: dict, report, judge
) -> None:
    row = requests.index.get(record.custom_id)
    if row is None:
        report.orphans.append(Orphan(record.custom_id, Located(record.file, record.line, record.status)))
        return
    if table.status[row] == MISSING:
        table.put(row, record, file_number)
        table.judged(row, judge(row, record))
        return
    located = seen.get(row)
    if located is None:
        seen[row] = located = [table.located(row)]
    located.append(Located(record.file, record.line, record.status))
    if table.is_newer(row, record):
        table.put(row, record, file_number)
        table.judged(row, judge(row, record))


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
    report.counts.update(table.status)
    report.missing = [requests.ids[i] for i, s in enumerate(table.status) if s == MISSING]
    report.prompt_tokens = table.total("prompt_tokens")
    report.completion_tokens = table.total("completion_tokens")
    report.total_tokens = table.total("total_tokens")
    ids, codes, messages, status_codes = (
        requests.ids,
        table.error_code,
        table.error_message,
        table.ints("status_code"),
    )
    report.digest = digest(
        (ids[r], s, codes[r], messages[r], status_codes[r]) for r, s in enumerate(table.status) if s != OK
    )
    report.stale = [Stale(ids[row], reason) for row, reason in sorted(table.stale.items())]


def join_inputs(
    inputs: Paths, results: Paths, progress: StageRead | None = None, id_map=None, make_table=None
):
    """(report, requests, results table): every input request with the result that won for it.

    `id_map` is the map `batchkit convert` wrote beside a converted file (OUT.ids.jsonl): results of
    the converted file then join to the requests of the file it was converted from. `make_table(requests)`
    gives the table to fill (a `ResultTable` by default)."""
    notes: list[str] = []
    inputs, results = _paths(inputs, "input"), result_paths(results, notes)
    report = MergeReport([source_name(p) for p in inputs], [source_name(p) for p in results], notes=notes)
    origins = find_origins(results, notes)
    requests = index_requests(inputs, report, progress, hash_lines=bool(origins))
    if id_map is not None:
        found = requests.alias(read_id_map(id_map))
        notes.append(f"note: {found:,} request(s) also found by the ids in {source_name(id_map)}")
    table = make_table(requests) if make_table is not None else None
    table = join_results(requests, results, report, progress, table, origins)
    count(requests, table, report)
    read = {
        "records": report.requests,
        "succeeded": report.counts[OK],
        "failed": report.counts[HTTP_ERROR] + report.counts[BATCH_ERROR],
        "input tokens": report.prompt_tokens,
        "output tokens": report.completion_tokens,
    }
    notes.extend(manifest_notes(results, read))
    return report, requests, table


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
