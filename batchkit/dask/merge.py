"""`merge` on Dask: results joined to the requests of many batch files by the merge's own functions, one
hash bucket of custom_ids at a time.

Rounds of plain tasks (see `buckets`): each input file's requests are read as `merge` reads them
(`read_input`) and each result file's records as it reads them (`result_records`), and go to buckets by
their custom_id; each bucket is one `RequestIndex` of its requests, added in the order merge reads them,
with its results placed in that order by `Placing` (the duplicate rule, orphans, duplicates, and the
ledger's or the model's word on each answer); the report is assembled from the buckets' reports, each
list in the order a single merge gives it, and stale answers refuse the merge as they refuse `merge`'s.
Then the rows of every bucket are made the columns `to_frame` makes, under the layout of the whole table
(the most answers a row has, an embedding column, a stale column), and each input file's rows are
gathered back from the buckets in line order, one Parquet file per input file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from array import array
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
    answers_named,
    digest,
    expected_key,
    failures,
    find_origins,
    further_answers,
    has_embedding,
    indexed,
    merge_files,
    read_input,
    refuse_stale,
    result_records,
    stale_rows,
    tally,
    to_frame,
)
from ..results.arrow import embedding_kind, embeddings_as_text
from ..tables.write import as_text_columns
from .buckets import put, save, spread, stable_hash, take
from .cluster import connected
from .dataset import one_schema
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
class _Merge:
    """One merge's files, scratch folder and buckets, and the ledger's word on its result files."""

    inputs: list
    results: list
    report: MergeReport
    scratch: Path
    buckets: int
    origins: dict  # result file name → provenance.Origin (on the workers: a future of it)
    embeddings_text: bool = False  # embeddings of kinds no one Arrow type holds: written as text


@dataclass
class _Read:
    """What reading one input or result file sends back: its reading problems (those kept, and how many)
    and, for an input file, the line format of its first request."""

    findings: list
    count: int
    dialect: str | None = None


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
    stale: list[tuple] = field(default_factory=list)  # ((input file, line), Stale) of stale answers
    further_answers: int = 0
    embedding: bool = False
    embedding_kinds: set = field(default_factory=set)  # (arrow.embedding_kind)


def merge(inputs, results, output: str | os.PathLike, *, source=None, id_column: str | None = None,
          id_prefix: str = "row-", allow_stale: bool = False, scheduler: str | None = None,
          local_cluster: int | None = None, dask_client=None, buckets: int | None = None) -> DaskMergeResult:  # fmt: skip
    """Join `results` to the requests of `inputs` by custom_id on Dask, one worker task per file and per
    hash bucket, and write the merged rows as Parquet files in the folder `output` (`part-NNNNN.parquet`,
    one per input file, rows in line order, under one schema). The statuses, columns and report (counts,
    tokens, orphans, duplicates, missing, stale answers, digest) are `batchkit.merge`'s for the same files,
    but for structured answers, which stay the JSON text of `content` (no answer.FIELD columns), and so is
    StaleResults, unless allow_stale (nothing is written then).

    With `source` (a Dask DataFrame, a folder of Parquet files or a pattern), the parts are the source's
    partitions instead: its rows in order with the result columns after them, found by `id_column`'s
    cell text or by the row number in a generated id, as `merge --source` does."""
    inputs, results, report = merge_files(files_of(inputs), files_of(results))
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder; the merged Parquet files need one")
    origins = find_origins(results, report.notes)  # this machine's ledger: read here, not on the workers
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        with connected(dask_client, scheduler, local_cluster) as on:
            job = _Merge(inputs, results, report, scratch, buckets or max(1, len(results), len(inputs)),
                         on.scatter([origins], broadcast=True)[0] if origins else {})  # fmt: skip
            layout = _join(on, job)
            refuse_stale(report, allow_stale)
            staging = _write(on, job, layout)
            if source is not None:
                parts = sorted(str(p) for p in staging.iterdir())
                staging = attach_source(on, source, id_column, id_prefix, parts, scratch, job.buckets, report)
        if not one_schema(staging):
            report.notes.append(
                f"note: the parts of {output} hold columns of types no one type holds: read them one by one"
            )
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DaskMergeResult(output, report, report.requests)


def _join(on, job: _Merge) -> dict:
    """Every file read into the buckets, every bucket joined, the report filled (as `join_inputs` fills
    it); the table's layout (the `to_frame` options that fix its columns)."""
    scratch, buckets = job.scratch, job.buckets
    hash_lines = bool(job.origins) or answers_named(job.results)
    read_results = on.map(_bucket_results, job.results, range(len(job.results)), scratch=scratch,
                          buckets=buckets, pure=False)  # fmt: skip
    read_inputs = on.map(_bucket_requests, job.inputs, range(len(job.inputs)), scratch=scratch, buckets=buckets,
                         hash_lines=hash_lines, pure=False)  # fmt: skip
    input_reads, result_reads = on.gather(read_inputs), on.gather(read_results)
    joined = on.gather(on.map(_join_bucket, range(buckets), scratch=scratch, inputs=job.report.inputs,
                              results=job.report.results, dialects=[r.dialect for r in input_reads],
                              origins=job.origins, pure=False))  # fmt: skip
    _assemble(job.report, input_reads, joined, result_reads)
    add_manifest_notes(job.report, job.results)
    job.embeddings_text = embeddings_as_text(set().union(*(j.embedding_kinds for j in joined)))
    return {
        "choices": 1 + max(j.further_answers for j in joined),
        "embedding": any(j.embedding for j in joined),
        "stale": any(j.stale for j in joined),
    }


def _write(on, job: _Merge, layout: dict) -> Path:
    """The joined rows in the columns of `layout`, one Parquet file per input file, in a folder."""
    on.gather(on.map(_spread_rows, range(job.buckets), scratch=job.scratch, layout=layout,
                     embeddings_text=job.embeddings_text, pure=False))  # fmt: skip
    staging = job.scratch / "out"
    staging.mkdir()
    targets = [str(staging / f"part-{i:05d}.parquet") for i in range(len(job.inputs))]
    on.gather(on.map(_write_part, range(len(job.inputs)), targets, scratch=job.scratch, layout=layout,
                     pure=False))  # fmt: skip
    return staging


def _pieces(items: list, keys, buckets: int) -> list:
    return [[items[i] for i in at] or None for at in spread(keys, buckets)]


def _bucket_results(path: str, index: int, scratch: Path, buckets: int) -> _Read:
    """One result file's records into the buckets."""
    report = MergeReport([], [])
    records = list(result_records(path, report))
    put(_pieces(records, (r.custom_id for r in records), buckets), scratch / "results", f"f{index:05d}")
    return _Read(report.findings, report.findings_count)


def _bucket_requests(path: str, index: int, scratch: Path, buckets: int, hash_lines: bool) -> _Read:
    """One input file's requests, as the index keeps them, into the buckets."""
    report = MergeReport([], [])
    lines: list[Indexed] = []
    schemas: dict = {}  # one answer schema object for the lines that ask for the same one

    def keep(request, emit) -> None:
        line = Indexed(*indexed(request, stable_hash, hash_lines))  # line hashes compared across workers
        if line.expected is not None:
            line = line._replace(expected=schemas.setdefault(expected_key(line.expected), line.expected))
        lines.append(line)

    dialect = read_input(path, report, keep)
    put(_pieces(lines, (line.id for line in lines), buckets), scratch / "requests", f"f{index:05d}")
    return _Read(report.findings, report.findings_count, dialect)


def _join_bucket(bucket: int, scratch: Path, inputs: list[str], results: list[str], dialects: list,
                 origins: dict) -> _Joined:  # fmt: skip
    """One bucket: its requests indexed and its results placed in the order a merge reads them."""
    requests, answers = take(scratch / "requests", bucket), take(scratch / "results", bucket)
    report = MergeReport(inputs, results)
    joined = _Joined(0, report)
    index = RequestIndex()
    index.files, index.dialects = list(inputs), list(dialects)
    index.content_hashes = array("Q") if origins else None
    for i, name in enumerate(inputs):
        emit = _kept_at(report, name, i, joined.finding_at)
        for line in requests.get(f"f{i:05d}", ()):
            index.add_line(line, i, emit)
    table = ResultTable(len(index))
    placing = Placing(index, table, report, origins)
    for j, name in enumerate(results):
        number = placing.file_number(name)
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
    joined.stale = [(where(row), stale) for row, stale in stale_rows(index, table)]
    joined.further_answers, joined.embedding = further_answers(table), has_embedding(index, table)
    joined.embedding_kinds = {embedding_kind(v) for v in table.embedding or ()}
    return joined


def _kept_at(report: MergeReport, name: str, file: int, at: list):
    """An emit that adds a finding of input file `file` to the report, and where it is when it is kept."""

    def emit(finding: Finding) -> None:
        kept = len(report.findings)
        report.add_finding(name, finding)
        if len(report.findings) > kept:
            at.append((file, _line(finding)))

    return emit


def _spread_rows(bucket: int, scratch: Path, layout: dict, embeddings_text: bool) -> None:
    """One bucket's rows in the merged table's columns, sent on to the input file each belongs to."""
    index, table = take(scratch / "joined", bucket)["joined"]
    frame = to_frame(index, table, parse_json=False, **layout)
    if embeddings_text:
        frame = as_text_columns(frame, ["embedding"])
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
    report: MergeReport, input_reads: list[_Read], joined: list[_Joined], result_reads: list[_Read]
) -> None:
    """The buckets' reports as one, each list in the order a single merge gives it: findings of the input
    files (reading problems and repeated ids, by file and line), then of the result files; orphans in
    reading order; duplicates, missing requests, stale answers and the digest's examples in input order."""
    keyed = [((i, _line(f), 0), (name, f)) for i, read in enumerate(input_reads) for name, f in read.findings]
    keyed += [
        ((*at, 1), kept) for j in joined for at, kept in zip(j.finding_at, j.report.findings, strict=True)
    ]
    for name, finding in _in_order(keyed) + [x for read in result_reads for x in read.findings]:
        report.add_finding(name, finding)
    report.findings_count = sum(read.count for read in (*input_reads, *result_reads))
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
    report.stale = _in_order([x for j in joined for x in j.stale])
    failed = _in_order([x for j in joined for x in j.failures])
    report.missing = [f[0] for f in failed if f[1] == MISSING]
    report.digest = digest(failed)


def _in_order(keyed: list[tuple]) -> list:
    """The items of (where, item) pairs, in the order of where they are."""
    return [item for _where, item in sorted(keyed, key=itemgetter(0))]


def _line(finding: Finding) -> float:
    return finding.line if finding.line is not None else float("inf")  # a file's own findings come last
