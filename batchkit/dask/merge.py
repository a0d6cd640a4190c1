"""`merge` on Dask: results joined to the requests of many batch files by the merge's own functions, one
hash bucket of custom_ids at a time.

Rounds of plain tasks (see `buckets`): each input file's requests are read as `merge` reads them
(`read_input`) and each result file's records as it reads them (`result_records`), and go to buckets by
their custom_id; each bucket is one `RequestIndex` of its requests, added in the order merge reads them,
with its results placed in that order by `Placing` (the duplicate rule, orphans, duplicates); the rows of
every bucket are made the columns `to_frame` makes, under the layout of the whole table (the most
answers a row has, an embedding column); each input file's rows are gathered back from the buckets in
line order, one Parquet file per input file. The report is assembled from the buckets' reports, each
list in the order a single merge gives it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from ..errors import UsageError
from ..findings import Finding
from ..results import (
    MISSING,
    Indexed,
    MergeReport,
    Placing,
    RequestIndex,
    ResultTable,
    add_manifest_notes,
    digest,
    expected_key,
    failures,
    further_answers,
    has_embedding,
    indexed,
    merge_files,
    read_input,
    result_records,
    tally,
    to_frame,
)
from .buckets import put, save, spread, stable_hash, take
from .cluster import connected
from .partitions import files_of
from .source import attach_source

TOKENS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass
class DaskMergeResult:
    """Where the merged rows went (a folder of Parquet files, one per input file, rows in input order) and
    the merge report."""

    output: Path
    report: MergeReport
    rows: int


@dataclass
class _Joined:
    """What one bucket's join sends back (no answers): its report — findings (ids that several request
    lines use), orphans, duplicates, counts and tokens — with where each listed item is, so that the
    buckets' lists can be put in the order a single merge gives them; and the layout its rows need."""

    requests: int
    report: MergeReport
    finding_at: list[tuple] = field(default_factory=list)  # (input file, line) of each finding kept
    orphan_at: list[tuple] = field(default_factory=list)  # (result file, line) of each orphan
    duplicate_at: list[tuple] = field(default_factory=list)  # (input file, line) of each duplicate's row
    failures: list[tuple] = field(default_factory=list)  # ((input file, line), failure) of rows not ok
    further_answers: int = 0
    embedding: bool = False


def merge(inputs, results, output: str | os.PathLike, *, source=None, id_column: str | None = None,
          id_prefix: str = "row-", scheduler: str | None = None, local_cluster: int | None = None,
          dask_client=None, buckets: int | None = None) -> DaskMergeResult:  # fmt: skip
    """Join `results` to the requests of `inputs` by custom_id on Dask, one worker task per file and per
    hash bucket, and write the merged rows as Parquet files in the folder `output` (`part-NNNNN.parquet`,
    one per input file, rows in line order). The statuses, columns and report (counts, tokens, orphans,
    duplicates, missing, digest) are `batchkit.merge`'s for the same files.

    With `source` (a Dask DataFrame, a folder of Parquet files or a pattern), the parts are the source's
    partitions instead: its rows in order with the result columns after them, found by `id_column`'s
    cell text or by the row number in a generated id, as `merge --source` does."""
    inputs, results, report = merge_files(files_of(inputs), files_of(results))
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder; the merged Parquet files need one")
    buckets = buckets or max(1, len(results), len(inputs))
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        with connected(dask_client, scheduler, local_cluster) as on:
            staging = _merged(on, inputs, results, report, scratch, buckets)
            if source is not None:
                parts = sorted(str(p) for p in staging.iterdir())
                staging = attach_source(on, source, id_column, id_prefix, parts, scratch, buckets, report)
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    add_manifest_notes(report, results)
    return DaskMergeResult(output, report, report.requests)


def _merged(on, inputs: list, results: list, report: MergeReport, scratch: Path, buckets: int) -> Path:
    """The rounds (see the module); the folder of merged Parquet files, and the report filled."""
    read_results = on.map(_bucket_results, results, range(len(results)), scratch=scratch, buckets=buckets,
                          pure=False)  # fmt: skip
    read_inputs = on.map(_bucket_requests, inputs, range(len(inputs)), scratch=scratch, buckets=buckets,
                         pure=False)  # fmt: skip
    input_findings, result_findings = on.gather(read_inputs), on.gather(read_results)
    joined = on.gather(on.map(_join_bucket, range(buckets), scratch=scratch, inputs=report.inputs,
                              results=report.results, pure=False))  # fmt: skip
    layout = {
        "choices": 1 + max(j.further_answers for j in joined),
        "embedding": any(j.embedding for j in joined),
    }
    on.gather(on.map(_spread_rows, range(buckets), scratch=scratch, layout=layout, pure=False))
    staging = scratch / "out"
    staging.mkdir()
    targets = [str(staging / f"part-{i:05d}.parquet") for i in range(len(inputs))]
    on.gather(on.map(_write_part, range(len(inputs)), targets, scratch=scratch, layout=layout, pure=False))
    _assemble(report, input_findings, joined, result_findings)
    return staging


def _pieces(items: list, keys, buckets: int) -> list:
    return [[items[i] for i in at] or None for at in spread(keys, buckets)]


def _bucket_results(path: str, index: int, scratch: Path, buckets: int) -> tuple[list, int]:
    """One result file's records into the buckets; its reading problems (those kept, and how many)."""
    report = MergeReport([], [])
    records = list(result_records(path, report))
    put(_pieces(records, (r.custom_id for r in records), buckets), scratch / "results", f"f{index:05d}")
    return report.findings, report.findings_count


def _bucket_requests(path: str, index: int, scratch: Path, buckets: int) -> tuple[list, int]:
    """One input file's requests, as the index keeps them, into the buckets; its reading problems."""
    report = MergeReport([], [])
    lines: list[Indexed] = []
    schemas: dict = {}  # one answer schema object for the lines that ask for the same one

    def keep(request, emit) -> None:
        line = Indexed(*indexed(request, stable_hash))  # line hashes compared across workers
        if line.expected is not None:
            line = line._replace(expected=schemas.setdefault(expected_key(line.expected), line.expected))
        lines.append(line)

    read_input(path, report, keep)
    put(_pieces(lines, (line.id for line in lines), buckets), scratch / "requests", f"f{index:05d}")
    return report.findings, report.findings_count


def _join_bucket(bucket: int, scratch: Path, inputs: list[str], results: list[str]) -> _Joined:
    """One bucket: its requests indexed and its results placed in the order a merge reads them."""
    requests, answers = take(scratch / "requests", bucket), take(scratch / "results", bucket)
    report = MergeReport(inputs, results)
    joined = _Joined(0, report)
    index = RequestIndex()
    index.files = list(inputs)
    for i, name in enumerate(inputs):
        emit = _kept_at(report, name, i, joined.finding_at)
        for line in requests.get(f"f{i:05d}", ()):
            index.add_line(line, i, emit)
    table = ResultTable(len(index))
    placing = Placing(index, table, report)
    for j, name in enumerate(results):
        number = table.file_number(name)
        for record in answers.get(f"f{j:05d}", ()):
            orphans = len(report.orphans)
            placing.place(record, number)
            if len(report.orphans) > orphans:
                joined.orphan_at.append((j, record.line))
    duplicated = sorted(placing.seen)
    placing.finish()
    tally(table, report)
    save((index, table), scratch / "joined", bucket, "joined")

    def where(row: int) -> tuple[int, int]:
        return index.file_index[row], index.line[row]

    joined.requests = len(index)
    joined.duplicate_at = [where(row) for row in duplicated]
    joined.failures = [(where(row), failure) for row, failure in failures(index, table)]
    joined.further_answers, joined.embedding = further_answers(table), has_embedding(index, table)
    return joined


def _kept_at(report: MergeReport, name: str, file: int, at: list):
    """An emit that adds a finding of input file `file` to the report, and where it is when it is kept."""

    def emit(finding: Finding) -> None:
        kept = len(report.findings)
        report.add_finding(name, finding)
        if len(report.findings) > kept:
            at.append((file, _line(finding)))

    return emit


def _spread_rows(bucket: int, scratch: Path, layout: dict) -> None:
    """One bucket's rows in the merged table's columns, sent on to the input file each belongs to."""
    index, table = take(scratch / "joined", bucket)["joined"]
    frame = to_frame(index, table, parse_json=False, **layout)
    frame["_line"] = list(index.line)
    by_file: dict[int, list[int]] = {}
    for row, file in enumerate(index.file_index):
        by_file.setdefault(file, []).append(row)
    pieces = [None] * (max(by_file, default=-1) + 1)
    for file, rows in by_file.items():
        pieces[file] = frame.iloc[rows]
    put(pieces, scratch / "rows", f"b{bucket:05d}")


def _write_part(index: int, target: str, scratch: Path, layout: dict) -> int:
    """One input file's merged rows, in line order, as a Parquet file."""
    import pandas as pd

    pieces = list(take(scratch / "rows", index).values())
    if pieces:
        frame = pd.concat(pieces, ignore_index=True).sort_values("_line", kind="stable")
        frame = frame.drop(columns="_line").reset_index(drop=True)
    else:
        frame = to_frame(RequestIndex(), ResultTable(0), parse_json=False, **layout)
    frame.to_parquet(target, index=False)
    return len(frame)


def _assemble(
    report: MergeReport, input_findings: list, joined: list[_Joined], result_findings: list
) -> None:
    """The buckets' reports as one, each list in the order a single merge gives it: findings of the input
    files (reading problems and repeated ids, by file and line), then of the result files; orphans in
    reading order; duplicates, missing requests and the digest's examples in input order."""
    keyed = [
        ((i, _line(f), 0), (name, f)) for i, (found, _n) in enumerate(input_findings) for name, f in found
    ]
    keyed += [
        ((*at, 1), kept) for j in joined for at, kept in zip(j.finding_at, j.report.findings, strict=True)
    ]
    for name, finding in _in_order(keyed) + [x for found, _n in result_findings for x in found]:
        report.add_finding(name, finding)
    report.findings_count = sum(n for _f, n in (*input_findings, *result_findings))
    report.findings_count += sum(j.report.findings_count for j in joined)
    for j in joined:
        report.requests += j.requests
        report.counts.update(j.report.counts)
        for name in TOKENS:
            setattr(report, name, getattr(report, name) + getattr(j.report, name))
    report.orphans = _in_order([x for j in joined for x in zip(j.orphan_at, j.report.orphans, strict=True)])
    report.duplicates = _in_order(
        [x for j in joined for x in zip(j.duplicate_at, j.report.duplicates, strict=True)]
    )
    failed = _in_order([x for j in joined for x in j.failures])
    report.missing = [f[0] for f in failed if f[1] == MISSING]
    report.digest = digest(failed)


def _in_order(keyed: list[tuple]) -> list:
    """The items of (where, item) pairs, in the order of where they are."""
    return [item for _where, item in sorted(keyed, key=itemgetter(0))]


def _line(finding: Finding) -> float:
    return finding.line if finding.line is not None else float("inf")  # a file's own findings come last
