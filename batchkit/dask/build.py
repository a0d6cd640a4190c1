"""`build` on Dask: every partition of a table built by a worker with the build's own functions
(`Builder.numbered`, `write_numbered`), checked under the rules `validate --jobs` follows for what
spans partitions.

As for byte ranges on --jobs: the table's first model and endpoint (for a one-model or one-endpoint
provider) are found before the partitions are built, so every partition's `LineRules` judge its lines
against them; each partition keeps one 8-byte hash per custom_id (a `HashedIds` with a hash every
process computes alike), the client joins them, and the exact pass over just the lines whose hash
repeats reports the duplicates. So findings, and the lines of the shards, are those a single-process
build gives (the shards are cut per partition).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

from ..batchfile import Manifest, manifest_path, read_manifest, write_manifest, write_numbered
from ..build import Builder, with_build_advice
from ..build.native import in_line_format, line_format
from ..errors import InputError, UsageError, ValidationFailed
from ..findings import Finding, Report
from ..formats import OPENAI, read_requests
from ..lines import open_binary
from ..options import Options
from ..providers import Provider, get_provider, parse_size
from ..tokens import request_tokens
from ..validate import HashedIds, LineRules
from .buckets import stable_hash
from .cluster import connected
from .partitions import first_rows, frames, row_count, sources, table_name

PART_FORMAT = "{stem}-p{index:05d}{suffix}"
EMPTY = "empty-file"  # a partition may be empty; only the whole table is judged so


@dataclass
class DaskBuildResult:
    """What a distributed build wrote: the shards in order, the combined report, and the manifest."""

    paths: list[Path]
    report: Report
    requests: int
    bytes: int
    manifest: Path | None
    partitions: int


@dataclass(frozen=True)
class _Plan:
    """What every partition is built under."""

    options: dict  # Builder's
    limits: Provider
    file: str  # what findings call the table
    max_file_tokens: int | None
    input_format: str | None
    count_tokens: bool
    drop_unsupported: bool  # what the provider's line format cannot express (`build.native`)
    first_model: tuple[str, int] | None = None  # (value, row) of the table's first request
    first_endpoint: tuple[str, int] | None = None


@dataclass
class _Built:
    """What a worker sends back for its partition (small: no request bodies)."""

    index: int
    paths: list[str]
    report: Report
    requests: int
    bytes: int
    shard_requests: list[int]
    shard_bytes: list[int]
    rows: bytes  # the data row of each line written, in order (8 bytes each)
    hashes: bytes  # the partition's HashedIds
    shard_tokens: list[int] | None = None  # prompt tokens per shard, when counted


def build(
    source,
    output: str | os.PathLike,
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    dask_client=None,
    provider: str | Provider | None = None,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
    input_format: str | None = None,
    count_tokens: bool = False,
    drop_unsupported: bool = False,
    **options,
) -> DaskBuildResult:
    """Build batch files from a partitioned table on Dask: `source` is a Dask DataFrame, a folder of Parquet
    files, or a file pattern; every partition becomes `OUT-pNNNNN.jsonl` (or `OUT-pNNNNN-00001.jsonl`, … when
    a partition outgrows the provider's per-file limits), written and validated by a worker. `options` are
    `build_requests`'s. Nothing is put in place when a request is invalid (ValidationFailed) unless force.
    A manifest (build's `.OUT.manifest.json`: each shard's requests and bytes, and with `count_tokens` its
    prompt tokens, counted as `estimate` counts them) is written beside the shards and returned."""
    output = Path(output)
    if not output.parent.is_dir():
        raise InputError(f"{output.parent}: no such folder to write {output.name} in")
    limits = get_provider(provider).with_limits(max_requests, parse_size(max_bytes))
    if limits.one_model and options.get("model_column"):
        raise UsageError(f"{limits.name} takes one model per file, and a build on a cluster writes one file per "
                         "partition: build each model's rows apart (e.g. a folder per model), or on one machine, "
                         "which writes a file per model")  # fmt: skip
    plan = _Plan(
        options, limits, table_name(source), max_file_tokens, input_format, count_tokens, drop_unsupported
    )
    with connected(dask_client, scheduler, local_cluster) as on:
        parts = sources(source, on)
        surveys = on.gather(on.map(_survey, parts, plan=plan, pure=False))
        plan = _with_firsts(plan, surveys)
        staging = tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            suffix = output.suffix or ".jsonl"
            targets = [str(Path(staging) / PART_FORMAT.format(stem=output.stem, index=i, suffix=suffix))
                       for i in range(len(parts))]  # fmt: skip
            firsts = first_rows([rows for rows, _model, _endpoint in surveys])
            built = on.gather(on.map(_build_partition, parts, range(len(parts)), firsts, targets, plan=plan,
                                     pure=False))  # fmt: skip
            report = _combine(built, _duplicates(built, on, line_format(limits)), plan, max_findings)
            if not report.valid and not force:
                s = report.summary
                failed = ValidationFailed(f"{s.errors:,} error(s) in {s.requests:,} request(s); nothing written "
                                          "(fix them, or pass --force to write anyway)", report)  # fmt: skip
                raise with_build_advice(failed, Builder(**options), output)
            return _commit(built, output, report, len(parts))
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _survey(source, plan: _Plan) -> tuple[int, tuple | None, tuple | None]:
    """A partition's rows, and for a one-model or one-endpoint provider (value, row) of its first model
    and endpoint (rows numbered from 1 in the partition), as `LineRules` take them; for a provider of
    another line format, of its first model (`JobModel`)."""
    rows = row_count(source, plan.input_format)
    limits = plan.limits
    native = line_format(limits) is not OPENAI  # the first model asked for is the one a job's lines may ask
    if not (limits.one_model or limits.one_endpoint or native):
        return rows, None, None
    rules = LineRules(limits)
    for row, request in Builder(**plan.options).numbered(frames(source, plan.input_format)):
        line = OPENAI.read(request, row)
        if native:
            if line.model is not None:
                return rows, (line.model, row), None
            continue
        rules.check_id_url_model(row, None, line.endpoint, line.model, lambda finding: None)
        if (rules.first_model or not limits.one_model) and (rules.first_endpoint or not limits.one_endpoint):
            break
    return rows, rules.first_model, rules.first_endpoint


def _with_firsts(plan: _Plan, surveys: list) -> _Plan:
    """The plan with the table's first model and endpoint: the first partition's that has one."""
    model = endpoint = None
    base = 0
    for rows, first_model, first_endpoint in surveys:
        if model is None and first_model is not None:
            model = (first_model[0], base + first_model[1])
        if endpoint is None and first_endpoint is not None:
            endpoint = (first_endpoint[0], base + first_endpoint[1])
        base += rows
    return _Plan(**{**vars(plan), "first_model": model, "first_endpoint": endpoint})


def _build_partition(source, index: int, first_row: int, target: str, plan: _Plan) -> _Built:
    """One partition's shards, staged at `target` (forced: the client decides), with what the
    client needs to judge the whole table."""
    rows, tokens = array("q"), array("q")
    dialect = line_format(plan.limits)

    def remembered(items):
        for row, request in items:
            rows.append(row)
            if plan.count_tokens:
                tokens.append(request_tokens(dialect.read(request, row)))
            yield row, request

    ids = HashedIds(dialect, stable_hash)
    requests = Builder(**plan.options).numbered(frames(source, plan.input_format), first_row=first_row)
    refused = Report(plan.file, plan.limits.name)
    lines = in_line_format(requests, plan.limits, refused, plan.first_model, plan.drop_unsupported)
    written = write_numbered(remembered(lines), target, Options.of(plan.limits, dialect=dialect),
                             max_file_tokens=plan.max_file_tokens, force=True, file=plan.file, ids=ids,
                             first_model=plan.first_model, first_endpoint=plan.first_endpoint,
                             refused=refused)  # fmt: skip
    built = _Built(index, [str(p) for p in written.paths], written.report, written.requests, written.bytes,
                   written.shard_requests, written.shard_bytes, rows.tobytes(), ids.hashes.tobytes())  # fmt: skip
    if plan.count_tokens:  # per shard, in the order of its lines
        ends = [sum(written.shard_requests[: i + 1]) for i in range(len(written.shard_requests))]
        built.shard_tokens = [sum(tokens[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    return built


def _duplicates(built: list[_Built], on, dialect) -> list[Finding]:
    """The repeated custom_ids of the whole table: every partition's hashes joined in one HashedIds, then
    its exact pass over the (row, custom_id) of just the lines whose hash repeats."""
    ids = HashedIds(dialect, stable_hash)
    for part in built:
        ids.extend(array("q", part.hashes))
    repeated = ids.repeated()
    if not repeated:
        return []
    pairs = on.gather(on.map(_ids_among, built, repeated=repeated, dialect=dialect, pure=False))
    return list(ids.duplicates(sorted(pair for chunk in pairs for pair in chunk)))


def _ids_among(part: _Built, repeated: set[int], dialect) -> list[tuple[int, str]]:
    """(row, custom_id) of the partition's lines whose id hashes to one of `repeated`."""
    rows = array("q", part.rows)
    out, before = [], 0
    for path, lines in zip(part.paths, part.shard_requests, strict=True):
        with open_binary(path) as stream:
            for request in read_requests(stream, lambda finding: None, dialect=dialect):
                if type(request.id) is str and stable_hash(request.id) in repeated:
                    out.append((rows[before + request.line - 1], request.id))
        before += lines
    return out


def _combine(built: list[_Built], duplicates: list[Finding], plan: _Plan, max_findings) -> Report:
    """One report for the whole table: each partition's findings and counts, and the duplicates across
    them. What a partition says of itself as a file (no line) is said once, for the table: the same for
    every partition (wrong-dialect), or judged for the whole (empty-file)."""
    report = Report(plan.file, plan.limits.name, max_findings=max_findings)
    whole: dict[str, Finding] = {}
    for part in built:
        _add_part(report, part, whole)
    if not report.summary.requests:
        message = "the file has no requests; a batch file needs at least one request line"
        whole[EMPTY] = Finding(EMPTY, message, None)
    for finding in [*whole.values(), *duplicates]:
        report.add(finding)
    report.sort()
    return report


def _add_part(report: Report, part: _Built, whole: dict[str, Finding]) -> None:
    """A partition's line findings and its counts into the table's report; what it says of itself as a
    file into `whole` (by code, uncounted: the table's report adds it once)."""
    summary, s = report.summary, part.report.summary
    summary.errors += s.errors
    summary.warnings += s.warnings
    for finding in part.report.findings:
        if finding.line is not None:
            report.keep(finding)
            continue
        if finding.is_error:
            summary.errors -= 1
        else:
            summary.warnings -= 1
        if finding.code != EMPTY:
            whole.setdefault(finding.code, finding)
    report.omitted.update(part.report.omitted)
    summary.lines = max(summary.lines, s.lines)
    summary.requests += s.requests
    summary.bytes += part.bytes
    summary.models.update(s.models)
    summary.endpoints.update(s.endpoints)
    summary.bodies.update(s.bodies)


def _commit(built: list[_Built], output: Path, report: Report, count: int) -> DaskBuildResult:
    """Put the staged shards in place under the rules every batchkit write follows: a file batchkit did not
    write is never replaced nor removed, and the shards of an earlier write that this one did not write
    again are removed only when that write's manifest names them."""
    previous = read_manifest(output)
    ours = previous.names if previous else set()
    shards = [(r, i, staged, n, size) for r in built
              for i, (staged, n, size) in enumerate(zip(r.paths, r.shard_requests, r.shard_bytes, strict=True))]  # fmt: skip
    for _r, _i, staged, n, _size in shards:
        if not n:  # a partition without a row (a filter left none): no shard, which submit would refuse
            Path(staged).unlink(missing_ok=True)
    shards = [shard for shard in shards if shard[3]]
    moves = [(Path(staged), output.with_name(Path(staged).name)) for _r, _i, staged, _n, _size in shards]
    foreign = [target.name for _staged, target in moves if target.exists() and target.name not in ours]
    if foreign:
        raise UsageError(f"{output.parent}: {', '.join(foreign[:3])} exist and were not written by batchkit; "
                         "move them or write elsewhere")  # fmt: skip
    files = [{"name": output.with_name(Path(s).name).name, "partition": r.index, "requests": n, "bytes": size}
             | ({"tokens": r.shard_tokens[i]} if r.shard_tokens is not None else {})
             for r, i, s, n, size in shards]  # fmt: skip
    manifest = Manifest(output.name, files)
    stale = sorted(ours - manifest.names)
    write_manifest(Manifest(output.name, files + [{"name": n} for n in stale]), output)
    for staged, target in moves:
        os.replace(staged, target)
    for name in stale:
        output.with_name(name).unlink(missing_ok=True)
    write_manifest(manifest, output)
    total = manifest.to_dict()
    return DaskBuildResult(
        [t for _s, t in moves], report, total["requests"], total["bytes"], manifest_path(output), count
    )
