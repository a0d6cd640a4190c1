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

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .errors import InputError, UsageError, ValidationFailed
from .findings import Finding, Report
from .formats import OPENAI
from .lines import content_lines, open_binary
from .providers import Provider, get_provider, parse_size

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SCHEDULER_SECONDS = 10  # how long a scheduler address has to answer as one before it is given up on
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
        with _reached(scheduler) as connected:
            yield connected
        return
    if not local_cluster:
        raise UsageError("give --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS) or --local-cluster N")
    # The workers' own log lines (a task's traceback, each worker's shutdown) stay out of the terminal:
    # a failure reaches the caller once, as the exception the task raised.
    with LocalCluster(n_workers=local_cluster, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as connected:  # fmt: skip
        yield connected


def _reached(address: str):
    """A Client of the scheduler at `address`, once something there has answered as a Dask scheduler within
    SCHEDULER_SECONDS; else an InputError naming the address and the cause (nothing listens, the host is
    down, another kind of server holds the port: the Client alone would wait for that one forever)."""
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client

    async def probe() -> None:
        from distributed.comm import connect

        comm = await connect(address, timeout=SCHEDULER_SECONDS)
        await comm.close()

    def answered() -> None:
        asyncio.run(asyncio.wait_for(probe(), SCHEDULER_SECONDS))

    try:
        with ThreadPoolExecutor(1) as pool:  # its own thread: a caller may be inside an event loop
            pool.submit(answered).result()
        return Client(address, timeout=SCHEDULER_SECONDS)
    except (OSError, ValueError, TimeoutError) as e:
        cause = str(e).strip() or f"no answer within {SCHEDULER_SECONDS} s"
        raise InputError(
            f"the Dask scheduler at {address} cannot be reached: {cause} (check the address, e.g. "
            "tcp://10.0.0.5:8786, and that its scheduler is running)"
        ) from None


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
        from .tables import is_url, open_url, parquet_file

        if is_url(source):
            with open_url(source) as f:
                return parquet_file(f, source).metadata.num_rows
        return parquet_file(source, source).metadata.num_rows
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
    shard_tokens: list[int] | None = None  # prompt tokens per shard, when counted


def _build_partition(source, index: int, first_row: int, target: str, options: dict, limits: Provider,
                     max_file_tokens: int | None, input_format: str | None, count_tokens: bool = False) -> _Built:  # fmt: skip
    from array import array

    from .batchfile import write_numbered
    from .build import Builder
    from .tokens import request_tokens

    rows, hashes, tokens = [], array("q"), array("q")
    firsts: dict[str, tuple] = {}

    def remembered(items):
        for row, line in items:
            request = OPENAI.read(line, row)
            rows.append(row)
            hashes.append(stable_hash(request.id))
            firsts.setdefault("url", (request.endpoint, row))
            if request.model is not None:
                firsts.setdefault("model", (request.model, row))
            if count_tokens:
                tokens.append(request_tokens(request))
            yield row, line

    requests = Builder(**options).numbered(_frames(source, input_format), first_row=first_row)
    written = write_numbered(
        remembered(requests), target, limits, max_file_tokens=max_file_tokens, force=True
    )
    built = _Built(index, [str(p) for p in written.paths], written.report, written.requests, written.bytes,
                   written.shard_requests, written.shard_bytes, rows, hashes.tobytes(),
                   firsts.get("model"), firsts.get("url"))  # fmt: skip
    if count_tokens:  # per shard, in the order of its lines
        ends = [sum(written.shard_requests[: i + 1]) for i in range(len(written.shard_requests))]
        built.shard_tokens = [sum(tokens[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    return built


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
                request = OPENAI.read(orjson.loads(raw))
                model, url = request.model, request.endpoint
                if (line_hash in repeated or (first_model and model != first_model[0])
                        or (first_endpoint and url != first_endpoint[0])):  # fmt: skip
                    out.append((row, request.id, url, model))
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
    from .validate import ExactIds, LineRules

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
        rules.check_id_url_model(row, custom_id if isinstance(custom_id, str) else None,
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
    max_file_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
    input_format: str | None = None,
    count_tokens: bool = False,
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
    with _client(dask_client, scheduler, local_cluster) as connected:
        sources = _sources(source, connected)
        sizes = connected.gather(connected.map(_rows, sources, input_format=input_format, pure=False))
        firsts = [1 + sum(sizes[:i]) for i in range(len(sizes))]
        staging = tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            suffix = output.suffix or ".jsonl"
            targets = [str(Path(staging) / PART_FORMAT.format(stem=output.stem, index=i, suffix=suffix))
                       for i in range(len(sources))]  # fmt: skip
            futures = connected.map(_build_partition, sources, range(len(sources)), firsts, targets, options=options,
                                    limits=limits, max_file_tokens=max_file_tokens, input_format=input_format,
                                    count_tokens=count_tokens, pure=False)  # fmt: skip
            results = connected.gather(futures)
            report = _combine(
                results, _across(results, connected, limits), _name(source), limits, max_findings
            )
            if not report.valid and not force:
                from .build import Builder, with_build_advice

                s = report.summary
                failed = ValidationFailed(f"{s.errors:,} error(s) in {s.requests:,} request(s); nothing written "
                                          "(fix them, or pass --force to write anyway)", report)  # fmt: skip
                raise with_build_advice(failed, Builder(**options), output)
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
    """Put the staged shards in place under the rules every batchkit write follows: a file batchkit did not
    write is never replaced nor removed, and the shards of an earlier write that this one did not write
    again are removed only when that write's manifest names them."""
    from .batchfile import Manifest, manifest_path, read_manifest, write_manifest

    previous = read_manifest(output)
    ours = previous.names if previous else set()
    moves = [(Path(staged), output.with_name(Path(staged).name)) for r in results for staged in r.paths]
    foreign = [target.name for _staged, target in moves if target.exists() and target.name not in ours]
    if foreign:
        raise UsageError(f"{output.parent}: {', '.join(foreign[:3])} exist and were not written by batchkit; "
                         "move them or write elsewhere")  # fmt: skip
    files = [{"name": output.with_name(Path(s).name).name, "partition": r.index, "requests": n, "bytes": size}
             | ({"tokens": r.shard_tokens[i]} if r.shard_tokens is not None else {})
             for r in results for i, (s, n, size) in enumerate(zip(r.paths, r.shard_requests, r.shard_bytes, strict=True))]  # fmt: skip
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


# ------------------------------------------------------------------------------------------------- merge

NA = -(2**63)  # "no value" in integer columns while rows travel between workers
RESULT_TEXT = ("finish_reason", "tool_calls")
RESULT_INTS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens")
ERROR_TEXT = ("error_code", "error_message")
WINNER_KEY = ["custom_id", "_ok", "_created", "_file", "_line"]  # results.DUPLICATE_RULE, as a sort


def _requests_part(path: str, file_index: int):
    """One input file's requests: custom_id, model, url, where the line is, a hash of the line."""
    import pandas as pd

    from .formats import read_requests

    rows = []
    with open_binary(path) as stream:
        for request in read_requests(stream, lambda finding: None, results=lambda number: None):
            if not request.id:
                continue
            line_hash = stable_hash(request.raw.decode("utf-8", "surrogateescape"))
            rows.append((request.id, request.model, request.endpoint, file_index, request.line, line_hash))
    frame = pd.DataFrame(rows, columns=["custom_id", "model", "url", "_file", "_line", "_hash"])
    return frame.astype({"custom_id": object, "model": object, "url": object, "_file": "int64", "_line": "int64",
                         "_hash": "int64"})  # fmt: skip


def _results_part(path: str, file_index: int, batch_id: str | None = None) -> tuple:
    """One result file's records (the columns of a merged row, and the keys that pick a winner), and the
    reading problems found in it; `batch_id`: the batch the ledger says the file was downloaded for."""
    import pandas as pd

    from .results import OK, read_result_file

    problems: list = []
    rows = []
    for r in read_result_file(path, lambda file, finding: problems.append((file, finding))):
        rows.append((r.custom_id, r.status, _na(r.status_code), r.model, r.contents[0] if r.contents else None,
                     list(r.contents[1:]) or None, *(getattr(r, n) for n in RESULT_TEXT),
                     *(_na(getattr(r, n)) for n in RESULT_INTS), *(getattr(r, n) for n in ERROR_TEXT),
                     r.embedding, int(r.status == OK), _na(r.created), file_index, r.line, batch_id))  # fmt: skip
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return frame.astype({n: ("int64" if n in INT_COLUMNS else object) for n in RESULT_COLUMNS}), problems


RESULT_COLUMNS = ["custom_id", "status", "status_code", "answered_by", "content", "_more", *RESULT_TEXT,
                  *RESULT_INTS, *ERROR_TEXT, "embedding", "_ok", "_created", "_file", "_line", "batch_id"]  # fmt: skip
INT_COLUMNS = frozenset({"status_code", *RESULT_INTS, "_ok", "_created", "_file", "_line"})


def _na(value) -> int:
    return NA if value is None else value


def _winners(frame):
    """Per custom_id, the result that wins (results.DUPLICATE_RULE)."""
    return frame.sort_values(WINNER_KEY, kind="stable").drop_duplicates("custom_id", keep="last")


def _duplicates(frame, names: list[str]):
    """One row per custom_id with several results: the one kept and, in reading order, those not used."""
    import pandas as pd

    ordered = frame.sort_values(WINNER_KEY, kind="stable")
    out = []
    for custom_id, group in ordered[ordered.duplicated("custom_id", keep=False)].groupby(
        "custom_id", sort=True
    ):
        where = [
            (names[f], int(n), s)
            for f, n, s in zip(group["_file"], group["_line"], group["status"], strict=True)
        ]
        kept = where[-1]
        dropped = sorted((w for w in where if w != kept), key=lambda w: (names.index(w[0]), w[1]))
        out.append((custom_id, kept, dropped))
    return pd.DataFrame({"duplicate": pd.Series(out, dtype=object)})


def _shape(frame, more: int, embedding: bool):
    """Joined rows in the columns `batchkit.merge` gives them, `missing` where no result came."""
    import pandas as pd

    def integers(name):
        return pd.array(frame[name].where(frame[name].notna() & (frame[name] != NA)), dtype="Int64")

    out = pd.DataFrame({"custom_id": frame["custom_id"], "status": frame["status"].fillna("missing")})
    out["status_code"] = integers("status_code")
    out["model"] = frame["model"].where(frame["model"].notna(), frame["answered_by"])
    out["content"] = frame["content"]
    for i in range(more):
        out[f"content_{i + 2}"] = [
            m[i] if isinstance(m, list) and len(m) > i else None for m in frame["_more"]
        ]
    for name in RESULT_TEXT:
        out[name] = frame[name]
    for name in RESULT_INTS:
        out[name] = integers(name)
    for name in ERROR_TEXT:
        out[name] = frame[name]
    if embedding:
        out["embedding"] = frame["embedding"]
    return out.astype({c: object for c in out.columns if out[c].dtype == "float64" and c not in RESULT_INTS})


@dataclass
class DaskMergeResult:
    """Where the merged rows went (a folder of Parquet files, one per input file, rows in input order) and
    the merge report."""

    output: Path
    report: object  # results.MergeReport
    rows: int


# The join is a hash join done by hand, in three rounds of plain tasks: each file's rows go to buckets by
# the stable hash of their custom_id; each bucket is joined in pandas (winners, duplicates, orphans); each
# input file's rows are gathered back from the buckets in line order. Scratch files are the workers' own
# pickles in a private temporary folder beside the output.


def _put(frame, folder: Path, name: str, buckets: int, key: str = "custom_id") -> None:
    keys = frame[key].map(stable_hash) % buckets if len(frame) else []
    for bucket in range(buckets):
        part = frame[keys == bucket] if len(frame) else frame
        target = folder / f"b{bucket:05d}"
        target.mkdir(parents=True, exist_ok=True)
        part.to_pickle(target / f"{name}.pkl")


def _take(folder: Path):
    import pandas as pd

    frames = [pd.read_pickle(p) for p in sorted(folder.glob("*.pkl"))]
    return pd.concat(frames, ignore_index=True) if frames else None


def _bucket_results(path: str, index: int, batch_id: str | None, scratch: str, buckets: int) -> list:
    frame, problems = _results_part(path, index, batch_id)
    _put(frame, Path(scratch) / "results", f"f{index:05d}", buckets)
    return problems


def _bucket_requests(path: str, index: int, scratch: str, buckets: int) -> None:
    _put(_requests_part(path, index), Path(scratch) / "requests", f"f{index:05d}", buckets)


def _join_bucket(bucket: int, scratch: str, names: list[str]) -> dict:
    """One bucket: the winning result of each request, its duplicates and the orphan results."""
    scratch = Path(scratch)
    requests = _take(scratch / "requests" / f"b{bucket:05d}")
    answers = _take(scratch / "results" / f"b{bucket:05d}")
    requests = requests.sort_values(["_file", "_line"]).drop_duplicates(["custom_id", "_hash"])
    known = answers["custom_id"].isin(set(requests["custom_id"]))
    orphans = answers[~known][["custom_id", "_file", "_line", "status"]]
    answers = answers[known]
    winners = _winners(answers).drop(columns=["_file", "_line"])
    joined = requests.merge(winners, on="custom_id", how="left")
    joined.to_pickle(scratch / "joined" / f"b{bucket:05d}.pkl")
    first = requests.drop_duplicates("custom_id").set_index("custom_id")
    duplicates = [((int(first.at[d[0], "_file"]), int(first.at[d[0], "_line"])), *d)
                  for d in _duplicates(answers, names)["duplicate"]]  # fmt: skip
    return {
        "orphans": list(orphans.itertuples(index=False, name=None)),
        "duplicates": duplicates,  # (where the request is, custom_id, kept, dropped)
        "more": int(answers["_more"].map(_length).max()) if len(answers) else 0,
        "embedding": bool(answers["embedding"].map(_present).any())
        or bool(requests["url"].map(_embeddings_url).any()),
    }


def _write_part(index: int, scratch: str, target: str, more: int, embedding: bool) -> dict:
    """One input file's merged rows, in line order, as a Parquet file; what the report needs of them."""
    import pandas as pd

    frames = [
        f[f["_file"] == index]
        for f in (pd.read_pickle(p) for p in sorted(Path(scratch, "joined").glob("*.pkl")))
    ]
    rows = _shape(pd.concat(frames, ignore_index=True).sort_values("_line", kind="stable"), more, embedding)
    rows.to_parquet(target, index=False)
    failed = rows[rows["status"] != "ok"]
    return {
        "counts": rows["status"].value_counts().to_dict(),
        "tokens": [int(rows[n].sum()) for n in RESULT_INTS],
        "failures": [
            (c, s, code, message, None if pd.isna(status) else int(status))
            for c, s, code, message, status in failed[
                ["custom_id", "status", "error_code", "error_message", "status_code"]
            ].itertuples(index=False, name=None)
        ],
    }


def _shape(frame, more: int, embedding: bool):
    """Joined rows in the columns `batchkit.merge` gives them, `missing` where no result came."""
    import pandas as pd

    def integers(name):
        values = frame[name] if name in frame else pd.Series([NA] * len(frame))
        return pd.array(values.where(values.notna() & (values != NA)), dtype="Int64")

    out = pd.DataFrame(
        {"custom_id": frame["custom_id"].to_numpy(), "status": frame["status"].fillna("missing").to_numpy()}
    )
    out["status_code"] = integers("status_code")
    out["model"] = frame["model"].where(frame["model"].notna(), frame["answered_by"]).to_numpy()
    out["content"] = frame["content"].to_numpy()
    for i in range(more):
        out[f"content_{i + 2}"] = [
            m[i] if isinstance(m, list) and len(m) > i else None for m in frame["_more"]
        ]
    for name in RESULT_TEXT:
        out[name] = frame[name].to_numpy()
    for name in RESULT_INTS:
        out[name] = integers(name)
    for name in ERROR_TEXT:
        out[name] = frame[name].to_numpy()
    if embedding:
        out["embedding"] = frame["embedding"].to_numpy()
    out["batch_id"] = frame["batch_id"].to_numpy()
    return out.astype({c: object for c in out.columns if str(out[c].dtype) not in ("Int64",)})


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
    from .results import MergeReport, find_origins

    inputs, results = files_of(inputs), files_of(results)
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder; the merged Parquet files need one")
    report = MergeReport(inputs, results)
    buckets = buckets or max(1, len(results), len(inputs))
    scratch = tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        (Path(scratch) / "joined").mkdir()
        with _client(dask_client, scheduler, local_cluster) as connected:
            origins = find_origins(
                results, report.notes
            )  # the batch each result file is, when the ledger knows
            batch_ids = [origins[r].batch_id if r in origins else None for r in results]
            problems = connected.gather(connected.map(_bucket_results, results, range(len(results)), batch_ids,
                                                      scratch=scratch, buckets=buckets, pure=False))  # fmt: skip
            connected.gather(connected.map(_bucket_requests, inputs, range(len(inputs)), scratch=scratch,
                                           buckets=buckets, pure=False))  # fmt: skip
            pieces = connected.gather(
                connected.map(_join_bucket, range(buckets), scratch=scratch, names=results, pure=False)
            )
            more = max(p["more"] for p in pieces)
            embedding = any(p["embedding"] for p in pieces)
            staging = Path(scratch) / "out"
            staging.mkdir()
            targets = [str(staging / f"part-{i:05d}.parquet") for i in range(len(inputs))]
            parts = connected.gather(connected.map(_write_part, range(len(inputs)), [scratch] * len(inputs), targets,
                                                   more=more, embedding=embedding, pure=False))  # fmt: skip
            if source is not None:
                staging = _attach_source(
                    connected, source, id_column, id_prefix, targets, scratch, buckets, report
                )
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for file, finding in (p for chunk in problems for p in chunk):
        report.add_finding(file, finding)
    _fill_report(report, pieces, parts, results)
    return DaskMergeResult(output, report, report.requests)


def _source_keys(
    source, index: int, first_row: int, id_column, id_prefix: str, scratch: str, buckets: int
) -> int:
    """A source partition's keys — the id column's cell text, exactly as build read it, or the generated
    id of each row — bucketed with where their row is."""
    import pandas as pd

    from .build import make_id
    from .tables import column_texts

    keys: list = []
    for frame in [_frames(source, None)] if hasattr(source, "iloc") else _frames(source, None):
        if id_column is not None and id_column not in frame.columns:
            raise UsageError(f"--id-column {id_column!r} is not a column of the source; its columns are: "
                             + ", ".join(map(str, frame.columns)))  # fmt: skip
        keys += column_texts(frame[id_column]) if id_column is not None else [None] * len(frame)
    if id_column is None:
        keys = [make_id(first_row + i, id_prefix) for i in range(len(keys))]
    table = pd.DataFrame({"key": keys, "_part": index, "_pos": range(len(keys))}).dropna(subset=["key"])
    _put(table, Path(scratch) / "source", f"p{index:05d}", buckets, key="key")
    return len(keys)


def _merged_rows(target: str, index: int, scratch: str, buckets: int) -> None:
    import pandas as pd

    rows = pd.read_parquet(target)
    rows["_order"] = [(index, i) for i in range(len(rows))]
    _put(rows, Path(scratch) / "merged", f"f{index:05d}", buckets)


def _join_source_bucket(bucket: int, scratch: str) -> dict:
    """The source row (the first with its key) of each merged row of one bucket."""
    scratch = Path(scratch)
    keys = _take(scratch / "source" / f"b{bucket:05d}")
    rows = _take(scratch / "merged" / f"b{bucket:05d}")
    first = keys.sort_values(["_part", "_pos"]).drop_duplicates("key")
    found = rows.merge(first, left_on="custom_id", right_on="key", how="left")
    matched = found[found["_part"].notna()].drop(columns="key").astype({"_part": "int64", "_pos": "int64"})
    matched.to_pickle(scratch / "sourced" / f"b{bucket:05d}.pkl")
    return {
        "without_row": sorted(
            found.loc[found["_part"].isna(), ["_order", "custom_id"]].itertuples(index=False, name=None)
        ),
        "rows_with_request": len(matched[["_part", "_pos"]].drop_duplicates()),
    }


def _write_source_part(source, index: int, scratch: str, target: str, columns: list[str]) -> int:
    """One source partition's rows, in order, with the result columns after them."""
    import pandas as pd

    from .results import result_column_names
    from .tables import read_table

    table = (source if hasattr(source, "iloc") else read_table(source)).reset_index(drop=True)
    found = [
        f[f["_part"] == index]
        for f in (pd.read_pickle(p) for p in sorted(Path(scratch, "sourced").glob("*.pkl")))
    ]
    results = (
        pd.concat(found, ignore_index=True).sort_values("_order", kind="stable") if found else pd.DataFrame()
    )
    results = results.reindex(columns=[*columns, "_pos"]).set_index("_pos")
    results.index.name = None
    results = results.rename(columns=result_column_names(columns, set(map(str, table.columns))))
    table.join(results, how="left").to_parquet(target, index=False)
    return len(table)


def _attach_source(connected, source, id_column, id_prefix, targets, scratch, buckets, report) -> Path:
    """The source's partitions with the merged result columns after their rows (see `merge`)."""
    import pandas as pd

    sources = _sources(source, connected)
    sizes = connected.gather(connected.map(_rows, sources, input_format=None, pure=False))
    firsts = [1 + sum(sizes[:i]) for i in range(len(sizes))]
    for folder in ("source", "merged", "sourced"):
        (Path(scratch) / folder).mkdir()
    connected.gather(connected.map(_source_keys, sources, range(len(sources)), firsts, id_column=id_column,
                                   id_prefix=id_prefix, scratch=scratch, buckets=buckets, pure=False))  # fmt: skip
    connected.gather(
        connected.map(
            _merged_rows, targets, range(len(targets)), scratch=scratch, buckets=buckets, pure=False
        )
    )
    pieces = connected.gather(connected.map(_join_source_bucket, range(buckets), scratch=scratch, pure=False))
    columns = list(pd.read_parquet(targets[0]).columns) if targets else []
    staging = Path(scratch) / "sourced-out"
    staging.mkdir()
    out = [str(staging / f"part-{i:05d}.parquet") for i in range(len(sources))]
    connected.gather(connected.map(_write_source_part, sources, range(len(sources)), [scratch] * len(sources), out,
                                   columns=columns, pure=False))  # fmt: skip
    report.source = _name(source)
    report.source_rows = sum(sizes)
    report.requests_without_source_row = [c for _o, c in sorted(x for p in pieces for x in p["without_row"])]
    report.source_rows_without_request = report.source_rows - sum(p["rows_with_request"] for p in pieces)
    return staging


def _length(value) -> int:
    return len(value) if isinstance(value, list) else 0


def _present(value) -> bool:
    return value is not None


def _embeddings_url(url) -> bool:
    return isinstance(url, str) and url.rstrip("/").endswith("embeddings")


def _fill_report(report, pieces: list[dict], parts: list[dict], results: list[str]) -> None:
    from .results import MISSING, Duplicate, Located, Orphan, digest

    for part in parts:
        report.counts.update(part["counts"])
    report.requests = sum(report.counts.values())
    for i, name in enumerate(RESULT_INTS):
        setattr(report, name, sum(p["tokens"][i] for p in parts))
    orphans = sorted((o for p in pieces for o in p["orphans"]), key=lambda o: (o[1], o[2]))
    report.orphans = [Orphan(c, Located(results[f], int(n), s)) for c, f, n, s in orphans]
    failures = [f for p in parts for f in p["failures"]]
    report.missing = [f[0] for f in failures if f[1] == MISSING]
    duplicates = sorted(d for p in pieces for d in p["duplicates"])  # in input order, as merge lists them
    report.duplicates = [
        Duplicate(c, Located(*kept), [Located(*x) for x in dropped])
        for _where, c, kept, dropped in duplicates
    ]
    report.digest = digest(failures)


# ---------------------------------------------------------------------------------------------- estimate


def estimate(paths, provider: str | None = None, *, prices=None, tokenizer=None, default_max_output=None,
             scheduler: str | None = None, local_cluster: int | None = None, dask_client=None):  # fmt: skip
    """Tokens and cost of many batch files on Dask, one worker task per file, combined into one
    `Estimate` (the files in the order given)."""
    from .tokens.estimate import DEFAULT_MAX_OUTPUT, Estimate

    files = files_of(paths)
    default = DEFAULT_MAX_OUTPUT if default_max_output is None else default_max_output
    with _client(dask_client, scheduler, local_cluster) as connected:
        futures = connected.map(_estimate_one, files, provider=provider, prices=prices, tokenizer=tokenizer,
                                default=default, pure=False)  # fmt: skip
        parts = connected.gather(futures)
    return Estimate(
        parts[0].provider, default, [f for part in parts for f in part.files], parts[0].priced_providers
    )


def _estimate_one(path: str, provider, prices, tokenizer, default: int):
    import dataclasses

    from .tokens import estimate as estimate_files

    result = estimate_files([path], provider, prices, tokenizer, default)
    for model in (m for f in result.files for m in f.models.values()):
        # the counting function stays on the worker; its name and whether it is estimated travel
        model.counter = dataclasses.replace(model.counter, _count=None)
    return result
