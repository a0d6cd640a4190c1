"""`ShardWriter`: lines in, numbered shard files out, staged beside their targets and renamed into place."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import orjson

from ..atomic import (
    cannot_write,
    discard_part,
    new_file_mode,
    new_part,
    refuse_if_interrupted,
    refuse_inputs,
    remove_stale_parts,
    same_file,
    signals_held,
)
from ..errors import InputError, UsageError
from ..formats import OPENAI, Dialect
from ..lines import too_deep
from ..tokens import request_tokens
from ..words import Option, Text
from .manifest import Manifest, read_manifest, shard_path, shard_pattern, write_manifest

NO_LIMIT = sys.maxsize


class ShardWriter:
    """Lines (bytes ending in LF) in, shard files out. Use as a context manager; call `commit()` to put the
    files in place (anything not committed is removed when the block ends)."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        max_file_tokens: int | None = None,
        dialect: Dialect = OPENAI,
    ):
        self.path = Path(path)
        if str(path) == "-":
            raise UsageError("batch files are written to a path, not standard output; pass -o FILE")
        if max_requests is not None and max_requests < 1:
            raise UsageError(f"the request limit must be at least 1, not {max_requests}")
        if max_bytes is not None and max_bytes < 1:
            raise UsageError(f"the byte limit must be at least 1, not {max_bytes}")
        if max_file_tokens is not None and max_file_tokens < 1:
            raise UsageError(f"the token limit must be at least 1, not {max_file_tokens}")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder to write {self.path.name} in")
        self.max_requests = max_requests or NO_LIMIT
        self.max_bytes = max_bytes or NO_LIMIT
        self.max_file_tokens = max_file_tokens  # prompt tokens per shard; None: not counted at all
        self.dialect = dialect  # the lines' format, to count their tokens
        self.tokens: list[int] = []  # prompt tokens per shard, when counted
        self.previous = read_manifest(self.path)  # what an earlier write of `path` left
        self.staged: list[Path] = []
        self.counts: list[int] = []  # lines per shard
        self.sizes: list[int] = []  # bytes per shard
        self.left: list[Path] = []  # files named like our shards that we did not write: never touched
        self._file = None
        remove_stale_parts(self.path)  # what a killed earlier write of `path` left

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
            or (self.max_file_tokens is not None and self.tokens[-1] + tokens > self.max_file_tokens)
        ):
            self._start_shard()
        try:
            self._file.write(line)
        except OSError as e:
            raise cannot_write(self.targets()[-1], e) from None
        self.counts[-1] += 1
        self.sizes[-1] += size
        self.tokens[-1] += tokens

    def _tokens(self, line: bytes, number: int | None) -> int:
        if self.max_file_tokens is None:
            return 0
        tokens = line_tokens(line, self.dialect)
        if tokens > self.max_file_tokens:
            raise _cannot_fit(
                number,
                f"has {tokens:,} prompt tokens",
                f"{self.max_file_tokens:,}",
                Option("max_file_tokens"),
            )
        return tokens

    def _start_shard(self) -> None:
        self._close_current()
        # From the second shard on, the files are numbered: refuse now, not after the whole build,
        # to write over a file of that name that no earlier write of ours made.
        index = len(self.staged) + 1
        for n in (1, 2) if index == 2 else (index,) if index > 2 else ():
            self._refuse_foreign(shard_path(self.path, n))
        with signals_held():  # made and recorded as one step: discard() always knows it
            fd, part = new_part(self.path)
            self.staged.append(part)
            self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self.counts.append(0)
        self.sizes.append(0)
        self.tokens.append(0)

    def refuse_replacing(self, sources: Iterable) -> None:
        """UsageError when this write would replace or remove one of `sources` (the files its lines come
        from): `path` itself, or a shard an earlier write recorded for it."""
        sources = list(sources)
        refuse_inputs(self.path, sources)
        recorded = sorted(self.previous.names) if self.previous is not None else []
        for source in sources:
            for name in recorded:
                if same_file(source, self.path.parent / name):
                    raise UsageError(
                        f"{source} is a shard batchkit wrote for {self.path.name}, which this write replaces; "
                        "choose another output name"
                    )

    def _refuse_foreign(self, target: Path) -> None:
        known = self.previous.names if self.previous is not None else set()
        if target.exists() and target.name not in known:
            raise InputError(
                f"{target} already exists and batchkit did not write it as a shard of {self.path.name}; "
                f"move it away or choose another output name (nothing was written)"
            )

    def _close_current(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            except OSError as e:
                raise cannot_write(self.targets()[-1], e) from None
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
        refuse_if_interrupted()
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
            raise cannot_write(self.path, e) from None
        self.left = self._foreign_lookalikes(manifest.names)
        return targets

    def _foreign_lookalikes(self, ours: set[str]) -> list[Path]:
        shard = shard_pattern(self.path)
        return sorted(p for p in self.path.parent.iterdir() if shard.fullmatch(p.name) and p.name not in ours)

    def discard(self) -> None:
        """Remove every staged part, whatever closing the open one says (a full disk says it again)."""
        file, self._file = self._file, None
        staged, self.staged = self.staged, []
        for part in staged:
            discard_part(part, file if part == staged[-1] else None)


def _cannot_fit(number: int | None, amount: str, limit: str, raise_what: str | Option) -> InputError:
    where = f"line {number}" if number is not None else "a line"
    return InputError(
        Text(
            f"{where} {amount}, more than the per-file limit of {limit}; it cannot fit in any file (shorten "
            "that request or raise ",
            raise_what,
            ")",
        )
    )


def line_tokens(line: bytes, dialect: Dialect = OPENAI) -> int:
    """The prompt tokens of one request line in `dialect` (batchkit.tokens); 0 for a line that is not a
    request (or one nested past MAX_DEPTH), which validation reports."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 0
    if type(obj) is not dict or too_deep(obj, line) or dialect.body_of(obj) is None:
        return 0
    return request_tokens(dialect.read(obj))
