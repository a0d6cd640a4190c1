"""Files that appear whole or not at all: written to a temporary file beside the target, then renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`; renamed over it when the block ends without error, else removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, new_file_mode(path))  # mkstemp makes 0600; give what a plain open() would
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_file_mode(path: Path) -> int:
    """The mode a file written at `path` gets: that of the file being replaced, else what a plain open()
    would give (0666 less the umask). The one place the umask is read (mkstemp files start at 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)  # the only way to read it: set it, then put it back
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator:
    """Open a file that appears at `path` whole (flushed and synced) or not at all."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
