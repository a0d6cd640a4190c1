"""Writing batch files: validate every line, shard under per-file limits, appear whole or not at all.

Naming: when every line fits in one file under the limits, the file is written at `path` itself, with no
suffix. Otherwise the lines go, in order, into `STEM-00001.SUFFIX`, `STEM-00002.SUFFIX`, … beside `path`
(`out.jsonl` → `out-00001.jsonl`), each filled as far as both limits allow before the next is started, so
the same lines and limits always give the same, byte-identical files. No line is ever split or dropped; a
single line larger than the byte limit is an error.

Manifest: every write records what it wrote for `path` in `.NAME.manifest.json` beside it
(`.out.jsonl.manifest.json`): the files, and the requests and bytes of each. It is hidden so that a glob
such as `out*` or `*.jsonl` (what people pass to `submit` or `validate`) never picks it up, and it is
named after the whole file name so `out.jsonl` and `out.json` never share one. A later write of the same
`path` removes only the shards that manifest lists and this write did not produce again (`out-00004.jsonl`
when it wrote three), so the set on disk is exactly this write's. A file merely named like a shard
(`answers-20240.jsonl` beside `answers.jsonl`) is never removed: it is left alone and reported in
`WriteResult.left`, and a shard name that such a file already holds is refused before anything is
written. `path` itself is never removed.

Atomicity: shards are staged in temporary files beside their targets and only renamed into place after
the last line is written and, unless forced, found valid. An error or an invalid batch leaves nothing
behind. A folder that cannot be written to is an InputError naming it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..errors import InputError, UsageError, ValidationFailed
from ..findings import Report
from ..jsonl import atomic_write, new_file_mode, source_name
from ..providers import Provider, get_provider, parse_size

SHARD_FORMAT = "{stem}-{index:05d}{suffix}"
MANIFEST_FORMAT = ".{name}.manifest.json"
MANIFEST_KIND = "batchkit-shards"  # marks a manifest batchkit wrote
NO_LIMIT = sys.maxsize
LinesWritten = Callable[[int], None]  # (request lines written since the last call)


def shard_path(path: str | os.PathLike, index: int) -> Path:
    """The path of shard `index` (1-based) of `path`: out.jsonl → out-00001.jsonl."""
    path = Path(path)
    return path.with_name(SHARD_FORMAT.format(stem=path.stem, index=index, suffix=path.suffix))


def counted(n: int, word: str) -> str:
    """'1 row', '2 rows', '1,000 requests'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def manifest_path(path: str | os.PathLike) -> Path:
    """Where the manifest of `path` lives: out/batch.jsonl → out/.batch.jsonl.manifest.json."""
    path = Path(path)
    return path.with_name(MANIFEST_FORMAT.format(name=path.name))


@dataclass
class Manifest:
    """What one write put on disk for `output`: each file's name, requests and bytes, in order."""

    output: str
    files: list[dict] = field(default_factory=list)  # {"name", "requests", "bytes"}

    @property
    def names(self) -> set[str]:
        return {f["name"] for f in self.files}

    def to_dict(self) -> dict:
        return {
            "kind": MANIFEST_KIND,
            "version": 1,
            "output": self.output,
            "requests": sum(f.get("requests", 0) for f in self.files),
            "bytes": sum(f.get("bytes", 0) for f in self.files),
            "files": self.files,
        }


def read_manifest(path: str | os.PathLike) -> Manifest | None:
    """The manifest batchkit wrote for `path`, or None when there is none (or it is not one of ours,
    or names another output: a copied or hand-made file is never trusted to delete anything)."""
    try:
        data = orjson.loads(manifest_path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if type(data) is not dict or data.get("kind") != MANIFEST_KIND or data.get("output") != Path(path).name:
        return None
    files = data.get("files")
    if type(files) is not list or not all(type(f) is dict and type(f.get("name")) is str for f in files):
        return None
    # Only names of this output's shards count: a manifest can never point outside its folder.
    shard = _shard_pattern(Path(path))
    return Manifest(data["output"], [f for f in files if shard.fullmatch(f["name"])])


def _shard_pattern(path: Path) -> re.Pattern:
    """Names of `path`'s shards: STEM-00001.SUFFIX, and a partition's STEM-p00001[-00001].SUFFIX (Dask)."""
    return re.compile(re.escape(path.stem) + r"-(\d{5}|p\d{5}(-\d{5})?)" + re.escape(path.suffix))


def write_manifest(manifest: Manifest, path: Path) -> None:
    with atomic_write(manifest_path(path)) as f:
        f.write(orjson.dumps(manifest.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")


def cannot_write(folder: Path, error: OSError) -> InputError:
    """The one-line error for a folder batchkit cannot write in (read-only, full, gone)."""
    return InputError(f"{folder}: cannot write there: {error.strerror or error}")


class ShardWriter:
    """Lines (bytes ending in LF) in, shard files out. Use as a context manager; call `commit()` to put the
    files in place (anything not committed is removed when the block ends)."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_tokens: int | None = None,
    ):
        self.path = Path(path)
        if str(path) == "-":
            raise UsageError("batch files are written to a path, not standard output; pass -o FILE")
        if max_requests is not None and max_requests < 1:
            raise UsageError(f"the request limit must be at least 1, not {max_requests}")
        if max_bytes is not None and max_bytes < 1:
            raise UsageError(f"the byte limit must be at least 1, not {max_bytes}")
        if max_tokens is not None and max_tokens < 1:
            raise UsageError(f"the token limit must be at least 1, not {max_tokens}")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder to write {self.path.name} in")
        self.max_requests = max_requests or NO_LIMIT
        self.max_bytes = max_bytes or NO_LIMIT
        self.max_tokens = max_tokens  # prompt tokens per shard; None: not counted at all
        self.tokens: list[int] = []  # prompt tokens per shard, when counted
        self.previous = read_manifest(self.path)  # what an earlier write of `path` left
        self.staged: list[Path] = []
        self.counts: list[int] = []  # lines per shard
        self.sizes: list[int] = []  # bytes per shard
        self.left: list[Path] = []  # files named like our shards that we did not write: never touched
        self._file = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    @property
    def lines(self) -> int:
        return sum(self.counts)

    @property
    def bytes(self) -> int:
        return sum(self.sizes)

    def add(self, line: bytes, number: int | None = None) -> None:
        """Append one line (with its LF); `number` only names the line in an error."""
        size = len(line)
        if size > self.max_bytes:
            raise _cannot_fit(number, f"is {size:,} bytes", f"{self.max_bytes:,} bytes", "the limit")
        tokens = self._tokens(line, number)
        if (
            self._file is None
            or self.counts[-1] >= self.max_requests
            or self.sizes[-1] + size > self.max_bytes
            or (self.max_tokens is not None and self.tokens[-1] + tokens > self.max_tokens)
        ):
            self._start_shard()
        self._file.write(line)
        self.counts[-1] += 1
        self.sizes[-1] += size
        self.tokens[-1] += tokens

    def _tokens(self, line: bytes, number: int | None) -> int:
        if self.max_tokens is None:
            return 0
        tokens = line_tokens(line)
        if tokens > self.max_tokens:
            raise _cannot_fit(number, f"has {tokens:,} prompt tokens", f"{self.max_tokens:,}", "max_tokens=")
        return tokens

    def _start_shard(self) -> None:
        self._close_current()
        # From the second shard on, the files are numbered: refuse now, not after the whole build,
        # to write over a file of that name that no earlier write of ours made.
        index = len(self.staged) + 1
        for n in (1, 2) if index == 2 else (index,) if index > 2 else ():
            self._refuse_foreign(shard_path(self.path, n))
        try:
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        except OSError as e:
            raise cannot_write(self.path.parent, e) from None
        self.staged.append(Path(name))
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self.counts.append(0)
        self.sizes.append(0)
        self.tokens.append(0)

    def _refuse_foreign(self, target: Path) -> None:
        known = self.previous.names if self.previous is not None else set()
        if target.exists() and target.name not in known:
            raise InputError(
                f"{target} already exists and batchkit did not write it as a shard of {self.path.name}; "
                f"move it away or choose another output name (nothing was written)"
            )

    def _close_current(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def targets(self) -> list[Path]:
        """Where the staged shards will go: `path` alone, or the numbered shards."""
        if len(self.staged) <= 1:
            return [self.path]
        return [shard_path(self.path, i) for i in range(1, len(self.staged) + 1)]

    def commit(self) -> list[Path]:
        """Put every shard in place, record them in the manifest, remove the shards of an earlier write
        that this one did not make again, and return the paths (`path` alone for one file or none)."""
        if not self.staged:  # nothing was added: an empty file is still a file
            self._start_shard()
        self._close_current()
        targets = self.targets()
        manifest = Manifest(
            self.path.name,
            [
                {"name": t.name, "requests": n, "bytes": size}
                for t, n, size in zip(targets, self.counts, self.sizes, strict=True)
            ],
        )
        stale = [] if self.previous is None else sorted(self.previous.names - manifest.names)
        try:
            # Recorded before the renames (with the stale ones still listed), so no crash between the
            # steps can leave a file of ours on disk that no manifest names.
            write_manifest(
                Manifest(manifest.output, manifest.files + [{"name": n} for n in stale]), self.path
            )
            for staged, target in zip(self.staged, targets, strict=True):
                os.chmod(staged, new_file_mode(target))
                os.replace(staged, target)
            self.staged = []
            for name in stale:
                (self.path.parent / name).unlink(missing_ok=True)
            if stale:
                write_manifest(manifest, self.path)
        except OSError as e:
            raise cannot_write(self.path.parent, e) from None
        self.left = self._foreign_lookalikes(manifest.names)
        return targets

    def _foreign_lookalikes(self, ours: set[str]) -> list[Path]:
        shard = _shard_pattern(self.path)
        return sorted(p for p in self.path.parent.iterdir() if shard.fullmatch(p.name) and p.name not in ours)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for staged in self.staged:
            staged.unlink(missing_ok=True)
        self.staged = []


@dataclass
class WriteResult:
    """What a write did: the files (in order), the validation report, the counts per shard, and the files
    named like shards of the output that batchkit did not write (left alone)."""

    paths: list[Path] = field(default_factory=list)
    report: Report | None = None
    requests: int = 0
    bytes: int = 0
    shard_requests: list[int] = field(default_factory=list)
    shard_bytes: list[int] = field(default_factory=list)
    left: list[Path] = field(default_factory=list)


def _cannot_fit(number: int | None, amount: str, limit: str, raise_what: str) -> InputError:
    where = f"line {number}" if number is not None else "a line"
    return InputError(
        f"{where} {amount}, more than the per-file limit of {limit}; it cannot fit in any file (shorten "
        f"that request or raise {raise_what})"
    )


def line_tokens(line: bytes) -> int:
    """The prompt tokens of one request line (batchkit.tokens); 0 for a line that is not a request, which
    validation reports."""
    from ..tokens import request_tokens

    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 0
    body = obj.get("body") if isinstance(obj, dict) else None
    if not isinstance(body, dict):
        return 0
    url = obj.get("url")
    return request_tokens(url if isinstance(url, str) else "", body)


def _encode(item) -> bytes:
    """The line (with its LF) for a request dict, raw line bytes or a str."""
    if isinstance(item, dict):
        try:  # the same bytes as jsonl.dumps_line, without a concatenation
            return orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError as e:
            if "64-bit" not in str(e):
                raise
            # An int wider than 64 bits is still a JSON number: write it, and let validation report it
            # as it does for a file's line, instead of ending the whole write.
            return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    if isinstance(item, str):
        item = item.encode("utf-8")
    if isinstance(item, (bytes, bytearray, memoryview)):
        line = bytes(item)
        return line if line.endswith(b"\n") else line + b"\n"
    raise TypeError(f"a request must be a dict or the bytes of one line, not {type(item).__name__}")


def write_numbered(
    items: Iterable[tuple[int, object]],
    path: str | os.PathLike,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_tokens: int | None = None,
    validate: bool = True,
    force: bool = False,
    max_findings: int | None = None,
    file: str | None = None,
    progress: LinesWritten | None = None,
    make_validator: Callable[..., object] | None = None,
) -> WriteResult:
    """Write (number, request) pairs; `number` is what findings call the line (a data-row number when
    building from a table, the line number when rewriting a file). A request is a dict (written as one
    compact JSON line) or the bytes/str of one line (written as they are, an LF added when missing).

    Limits are the provider's, each overridden by `max_requests` / `max_bytes` when given; `max_tokens`
    also cuts on prompt tokens per file (batchkit.tokens). Every line is
    validated under `provider` (file-level limits are left to sharding) unless validate=False; when any
    line is invalid, nothing is written and ValidationFailed (carrying the report) is raised, unless
    force=True. `file` names the source in the report (default: `path`). `progress(n)` is told how many
    more lines were written, now and then. `make_validator(provider, **options)` builds the validator
    for lines of another dialect (default: `Validator`, for OpenAI lines).
    """
    from ..validate import Validator

    limits = get_provider(provider).with_limits(max_requests, parse_size(max_bytes))
    validator = None
    if validate:
        validator = (make_validator or Validator)(
            limits,
            max_requests=NO_LIMIT,
            max_bytes=NO_LIMIT,
            max_findings=max_findings,
            file=file or str(path),
        )
    with ShardWriter(path, limits.max_requests, limits.max_bytes, max_tokens) as writer:
        report = _write_and_check(_written(items, writer, progress), validator, writer)
        if report is not None and not report.valid and not force:
            s = report.summary
            raise ValidationFailed(
                f"{counted(s.errors, 'error')} in {counted(s.requests, 'request')}; nothing written (fix "
                "them, or pass force=True to write anyway)",
                report,
            )
        result = WriteResult([], report, writer.lines, writer.bytes, list(writer.counts), list(writer.sizes))
        result.paths = writer.commit()
        result.left = writer.left
    if not result.shard_requests:
        result.shard_requests, result.shard_bytes = [0], [0]
    return result


def _write_and_check(lines, validator, writer: ShardWriter):
    """Write every line, validating it as it goes by (when there is a validator); the report."""
    if validator is None:
        for _number, _line in lines:
            pass
        return None
    validator.feed_lines(lines)
    validator.report.summary.bytes = writer.bytes
    return validator.finish()


def _written(items, writer: ShardWriter, progress: LinesWritten | None):
    """Encodes and writes each item, then passes (number, line) on for validation."""
    pending = 0
    for number, item in items:
        line = _encode(item)
        writer.add(line, number)
        yield number, line
        pending += 1
        if progress is not None and pending >= 4096:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)


def write_batch(
    requests: Iterable,
    path: str | os.PathLike,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_tokens: int | None = None,
    validate: bool = True,
    force: bool = False,
) -> list[Path]:
    """Write requests (dicts, or the bytes of lines kept byte for byte) to `path`, sharded under the
    provider's per-file limits or the given ones, and return the files written (see the module docstring
    for naming). Every line is validated under `provider`; an invalid batch raises ValidationFailed and
    writes nothing, unless force=True. Findings number lines 1, 2, … in the order given.

        batchkit.write_batch(tasks, "batch_tasks.jsonl")
    """
    numbered = enumerate(requests, 1)
    return write_numbered(
        numbered,
        path,
        provider,
        max_requests=max_requests,
        max_bytes=max_bytes,
        max_tokens=max_tokens,
        validate=validate,
        force=force,
    ).paths


def split_file(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
    progress: LinesWritten | None = None,
) -> WriteResult:
    """Shard an existing batch file under the provider's limits (or the given ones), lines kept byte for
    byte (a byte-order mark, CRLF line ends and blank lines are not carried over). Shards are named after
    `output` (default: `source`, so `big.jsonl` → `big-00001.jsonl`, …). When everything fits in one file
    and `output` is the source itself, nothing is written and `paths` is empty. Every line is validated;
    an invalid file writes nothing (ValidationFailed) unless force=True."""
    from ..dialects.validate import dialect_to_validate, validator_factory
    from ..jsonl import content_lines, open_binary

    output = Path(source if output is None else output)
    if str(source) == "-" and str(output) == "-":
        raise UsageError("splitting standard input needs -o OUT to name the shards")
    same = str(source) != "-" and output.resolve() == Path(source).resolve()

    limits = get_provider(provider).with_limits(max_requests, parse_size(max_bytes))
    with open_binary(source) as stream:
        if same:
            # Sized first: a file that already fits must not be rewritten over itself.
            fits = _fits(content_lines(stream), limits, max_tokens)
            stream.seek(0)
            if fits is not None:
                return WriteResult([], None, fits[0], fits[1], [fits[0]], [fits[1]])
        make_validator = validator_factory(dialect_to_validate(stream, limits))  # other providers' lines
        return write_numbered(
            content_lines(stream),
            output,
            limits,
            max_tokens=max_tokens,
            force=force,
            max_findings=max_findings,
            file=source_name(source),
            progress=progress,
            make_validator=make_validator,
        )


def _fits(numbered, limits: Provider, max_tokens: int | None = None) -> tuple[int, int] | None:
    """(lines, bytes) when the lines fit in one file under `limits` (and `max_tokens`), else None."""
    count = size = tokens = 0
    for _number, raw in numbered:
        count += 1
        size += len(raw) + 1
        tokens += line_tokens(raw) if max_tokens is not None else 0
        if (
            (limits.max_requests and count > limits.max_requests)
            or (limits.max_bytes and size > limits.max_bytes)
            or (max_tokens is not None and tokens > max_tokens)
        ):
            return None
    return count, size
