"""The same per-partition work on a Dask cluster: build, validate and merge beyond one machine.

batchkit grows no scheduler of its own: a table made of many files (a folder of Parquet files, a pattern, a
Dask DataFrame) is worked on partition by partition by Dask's workers — a laptop's `LocalCluster`, or any
cluster whose scheduler address is given. Imported only when asked for (`batchkit.dask`, `--scheduler`,
`--local-cluster`); it needs the `dask` extra (`dask[dataframe]`, `distributed`).

What spans partitions is settled on the client, with the rule `validate --jobs` follows: each partition
sends back one 8-byte hash per custom_id (a keyed hash that every process computes alike), the client finds
the hashes seen twice, and an exact pass over just those lines reports the duplicates; a one-model or
one-endpoint provider gets its mixed-model findings the same way. So findings, and the lines of the shards,
are the ones a single-process build gives (the shards are cut per partition).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .errors import InputError, UsageError, ValidationFailed
from .findings import Finding, Report
from .jsonl import atomic_write, content_lines, open_binary
from .providers import Provider, get_provider, parse_size

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
PART_FORMAT = "{stem}-p{index:05d}{suffix}"
ACROSS_PARTITIONS = frozenset({"duplicate-custom-id", "mixed-model", "mixed-endpoint", "empty-file"})
EXTRA_HINT = "install the dask extra: pip install '.[dask]' (dask[dataframe] and distributed)"


def _require():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise UsageError(f"running on Dask needs {e.name}; {EXTRA_HINT}") from None


@contextlib.contextmanager
def client(scheduler: str | None = None, local_cluster: int | None = None) -> Iterator:
    """A `distributed.Client`: to the scheduler at `scheduler` (default $DASK_SCHEDULER_ADDRESS), or to a
    new LocalCluster of `local_cluster` worker processes, closed at the end of the block."""
    _require()
    from distributed import Client, LocalCluster

    scheduler = scheduler or (None if local_cluster else os.environ.get(SCHEDULER_ENV))
    if scheduler:
        with Client(scheduler) as connected:
            yield connected
        return
    if not local_cluster:
        raise UsageError("give --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS) or --local-cluster N")
    with LocalCluster(n_workers=local_cluster, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as connected:  # fmt: skip
        yield connected


def stable_hash(custom_id: str) -> int:
    """An 8-byte hash of a custom_id that is the same in every process (Python's `hash` is not)."""
    return int.from_bytes(hashlib.blake2b(custom_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little", signed=True)  # fmt: skip


# --------------------------------------------------------------------------------------------- partitions


def _frames(source, input_format: str | None):
    """A partition's rows: a pandas DataFrame as it is, or a table file read as `build` reads it."""
    if hasattr(source, "iloc"):
        return source
    from .tables import iter_table

    return iter_table(source, input_format)


def _rows(source, input_format: str | None) -> int:
    if hasattr(source, "iloc"):
        return len(source)
    from .tables import table_format

    if table_format(source, input_format) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(source).metadata.num_rows
    return sum(len(frame) for frame in _frames(source, input_format))


def _sources(source, connected) -> list:
    """A partitioned table's parts: futures of a Dask DataFrame's partitions, or the files of a folder or
    pattern (read by the workers themselves)."""
    if hasattr(source, "to_delayed") and hasattr(source, "npartitions"):
        return connected.compute(source.to_delayed())
    from .tables import table_files

    return table_files(source)


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
    rows: list[int] = field(default_factory=list)  # the data row of each line written, in order
    hashes: bytes = b""  # stable_hash of each line's custom_id, 8 bytes each, in order
    first_model: tuple[str, int] | None = None
    first_endpoint: tuple[str, int] | None = None


def _build_partition(source, index: int, first_row: int, target: str, options: dict, limits: Provider,
                     input_format: str | None) -> _Built:  # fmt: skip
    from array import array

    from .build import Builder, write_numbered

    rows, hashes = [], array("q")
    firsts: dict[str, tuple] = {}

    def remembered(items):
        for row, request in items:
            rows.append(row)
            hashes.append(stable_hash(request["custom_id"]))
            body = request.get("body") or {}
            firsts.setdefault("url", (request.get("url"), row))
            if isinstance(body.get("model"), str):
                firsts.setdefault("model", (body["model"], row))
            yield row, request

    requests = Builder(**options).numbered(_frames(source, input_format), first_row=first_row)
    written = write_numbered(remembered(requests), target, limits, force=True)
    return _Built(index, [str(p) for p in written.paths], written.report, written.requests, written.bytes,
                  written.shard_requests, written.shard_bytes, rows, hashes.tobytes(),
                  firsts.get("model"), firsts.get("url"))  # fmt: skip


def _lines_to_recheck(built: _Built, repeated: set[int], first_model, first_endpoint) -> list[tuple]:
    """(row, custom_id, url, model) of the lines the client must judge: repeated ids and other models."""
    from array import array

    hashes = array("q")
    hashes.frombytes(built.hashes)
    out = []
    k = 0
    for path in built.paths:
        with open_binary(path) as stream:
            for _number, raw in content_lines(stream):
                row, line_hash = built.rows[k], hashes[k]
                k += 1
                obj = orjson.loads(raw)
                body = obj.get("body") if isinstance(obj.get("body"), dict) else {}
                model, url = body.get("model"), obj.get("url")
                if (line_hash in repeated or (first_model and model != first_model[0])
                        or (first_endpoint and url != first_endpoint[0])):  # fmt: skip
                    out.append((row, obj.get("custom_id"), url, model))
    return out


# ------------------------------------------------------------------------------------------------- build


@dataclass
class DaskBuildResult:
    """What a distributed build wrote: the shards in order, the combined report, and the manifest."""

    paths: list[Path]
    report: Report
    requests: int
    bytes: int
    manifest: Path | None
    partitions: int


def _repeated(results: list[_Built]) -> set[int]:
    import numpy as np

    hashes = np.frombuffer(b"".join(r.hashes for r in results), dtype=np.int64)
    ordered = np.sort(hashes)
    return set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())


def _first(results: list[_Built], key: str) -> tuple | None:
    """(value, row) of the table's first line that has one."""
    found = [getattr(r, key) for r in results if getattr(r, key) is not None]
    return min(found, key=lambda pair: pair[1], default=None)


def _across(results: list[_Built], client, limits: Provider) -> list[Finding]:
    """The findings that span partitions, as one pass over the whole table would give them."""
    from .validate.rules import ExactIds, LineRules

    first_model = _first(results, "first_model") if limits.one_model else None
    first_endpoint = _first(results, "first_endpoint") if limits.one_endpoint else None
    repeated = _repeated(results)
    if not (repeated or first_model or first_endpoint):
        return []
    futures = client.map(_lines_to_recheck, results, repeated=repeated, first_model=first_model,
                         first_endpoint=first_endpoint, pure=False)  # fmt: skip
    lines = sorted(line for chunk in client.gather(futures) for line in chunk)
    rules = LineRules(limits, ExactIds(), first_model=first_model, first_endpoint=first_endpoint)
    found: list[Finding] = []
    for row, custom_id, url, model in lines:
        rules.check_shape(row, custom_id if isinstance(custom_id, str) else None,
                          url if isinstance(url, str) else None, model if isinstance(model, str) else None,
                          found.append)  # fmt: skip
    return [f for f in found if f.code in ACROSS_PARTITIONS]


def _combine(
    results: list[_Built], across: list[Finding], file: str, limits: Provider, max_findings
) -> Report:
    """One report for the whole table: each partition's own findings but those that span partitions, which
    `across` gives for the whole table instead."""
    report = Report(file, limits.name, max_findings=max_findings)
    findings = [f for r in results for f in r.report.findings if f.code not in ACROSS_PARTITIONS] + across
    if not sum(r.requests for r in results):
        findings.append(
            Finding(
                "empty-file", "the file has no requests; a batch file needs at least one request line", None
            )
        )
    for finding in sorted(findings, key=lambda f: (f.line or 0, f.path, f.code)):
        report.add(finding)
    summary = report.summary
    for r in results:
        summary.lines += r.report.summary.lines
        summary.requests += r.report.summary.requests
        summary.bytes += r.bytes
        summary.models.update(r.report.summary.models)
        summary.endpoints.update(r.report.summary.endpoints)
    return report


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
    force: bool = False,
    max_findings: int | None = None,
    input_format: str | None = None,
    **options,
) -> DaskBuildResult:
    """Build batch files from a partitioned table on Dask: `source` is a Dask DataFrame, a folder of Parquet
    files, or a file pattern; every partition becomes `OUT-pNNNNN.jsonl` (or `OUT-pNNNNN-00001.jsonl`, … when
    a partition outgrows the provider's per-file limits), written and validated by a worker. `options` are
    `build_requests`'s. Nothing is put in place when a request is invalid (ValidationFailed) unless force.
    A manifest (`OUT.manifest.json`: shards, requests, bytes) is written beside the shards and returned."""
    output = Path(output)
    if not output.parent.is_dir():
        raise InputError(f"{output.parent}: no such folder to write {output.name} in")
    limits = get_provider(provider).with_limits(max_requests, parse_size(max_bytes))
    with _client(dask_client, scheduler, local_cluster) as connected:
        sources = _sources(source, connected)
        sizes = connected.gather(connected.map(_rows, sources, input_format=input_format, pure=False))
        firsts = [1 + sum(sizes[:i]) for i in range(len(sizes))]
        staging = tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            suffix = output.suffix or ".jsonl"
            targets = [str(Path(staging) / PART_FORMAT.format(stem=output.stem, index=i, suffix=suffix))
                       for i in range(len(sources))]  # fmt: skip
            futures = connected.map(_build_partition, sources, range(len(sources)), firsts, targets,
                                    options=options, limits=limits, input_format=input_format, pure=False)  # fmt: skip
            results = connected.gather(futures)
            report = _combine(
                results, _across(results, connected, limits), _name(source), limits, max_findings
            )
            if not report.valid and not force:
                s = report.summary
                raise ValidationFailed(f"{s.errors:,} error(s) in {s.requests:,} request(s); nothing written "
                                       "(fix them, or pass --force to write anyway)", report)  # fmt: skip
            return _commit(results, output, report, len(sources))
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _name(source) -> str:
    return "<DataFrame>" if hasattr(source, "npartitions") else os.fspath(source)


@contextlib.contextmanager
def _client(given, scheduler, local_cluster):
    if given is not None:
        yield given
        return
    with client(scheduler, local_cluster) as connected:
        yield connected


def _commit(results: list[_Built], output: Path, report: Report, count: int) -> DaskBuildResult:
    paths, shards = [], []
    for r in results:
        for staged, requests, size in zip(r.paths, r.shard_requests, r.shard_bytes, strict=True):
            target = output.with_name(Path(staged).name)
            os.replace(staged, target)
            paths.append(target)
            shards.append({"path": target.name, "partition": r.index, "requests": requests, "bytes": size})
    manifest = output.with_name(f"{output.stem}.manifest.json")
    data = {"output": output.name, "partitions": count, "requests": sum(r.requests for r in results),
            "bytes": sum(r.bytes for r in results), "shards": shards}  # fmt: skip
    with atomic_write(manifest) as f:
        f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return DaskBuildResult(paths, report, data["requests"], data["bytes"], manifest, count)


# ---------------------------------------------------------------------------------------------- validate


def files_of(paths) -> list[str]:
    """Batch files named by paths, folders (their *.jsonl) and patterns, sorted within each."""
    import glob

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for item in paths:
        text = os.fspath(item)
        if any(c in text for c in "*?["):
            matched = sorted(glob.glob(text, recursive=True))
        elif Path(text).is_dir():
            matched = sorted(str(p) for p in Path(text).rglob("*.jsonl"))
        else:
            matched = [text]
        if not matched:
            raise InputError(f"{text}: no batch file matches")
        out.extend(matched)
    return out


def validate(paths, provider: str | Provider | None = None, *, scheduler: str | None = None,
             local_cluster: int | None = None, dask_client=None, **options) -> list[Report]:  # fmt: skip
    """Validate many batch files on Dask, one worker task per file; the reports in the order of the files.
    `options` are `validate_file`'s (`max_findings`, `max_requests`, `max_bytes`)."""
    from .validate import validate_file

    files = files_of(paths)
    with _client(dask_client, scheduler, local_cluster) as connected:
        futures = connected.map(validate_file, files, provider=provider, jobs=1, pure=False, **options)
        return connected.gather(futures)
