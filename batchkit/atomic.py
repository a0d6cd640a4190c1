"""Files that appear whole or not at all: written to a temporary part file beside the target, then renamed.

A part is named `.NAME.PID.RANDOM.part` (NAME the target's, PID the writer's process). Whatever stops a
write (an error, a full disk or a file size limit, Ctrl-C or SIGTERM, which the CLI turns into Ctrl-C
through `interrupt`) removes its part; a part that a killed process left behind is removed by the next
write of the same target, once no process of that PID is running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError, UsageError

# Write failures that say the target cannot be written at all (a disk, quota or file size limit, a
# folder batchkit may not write in): one line naming the file, never a traceback.
UNWRITABLE = {errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def cannot_write(path: str | os.PathLike, error: OSError) -> InputError:
    """The one-line error for a file batchkit could not write: the folder, the file and the cause."""
    path = Path(path)
    return InputError(f"{path.parent}: cannot write {path.name} there: {error.strerror or error}")


def same_file(a, b) -> bool:
    """Whether two paths name one existing file (through a link or another spelling too); False for '-',
    an open stream or a path that does not exist."""
    if not all(isinstance(p, str | os.PathLike) and str(p) != "-" for p in (a, b)):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_inputs(output, inputs: Iterable) -> None:
    """UsageError when `output` is one of `inputs` (an input is never written over unless asked)."""
    for named in inputs:
        if same_file(named, output):
            raise UsageError(f"{named} is an input of this command; choose another output name")


def refuse_special(path: Path) -> None:
    """InputError when `path` is (or links to) something other than a regular file: a device, a FIFO, a
    folder. A write renames a whole file over its target, which would replace the node itself
    (/dev/null, as root) and never reach what it stands for; a full device would swallow the lines."""
    if Path(os.path.abspath(path)).parts[1:2] in (("dev",), ("proc",)):  # /dev/stdout: a link to replace
        raise InputError(f"{path}: a device path, not a file; batchkit writes whole files: name a file")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise InputError(f"{path}: is {kind}, not a file; batchkit writes whole files: name a file")


def new_part(path: str | os.PathLike) -> tuple[int, Path]:
    """An open descriptor and the path of a new part file for `path` (its mode: `new_file_mode`), after
    removing the parts dead writers of `path` left; an InputError when the folder cannot be written."""
    path = Path(path)
    refuse_special(path)
    remove_stale_parts(path)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
    except OSError as e:
        raise cannot_write(path, e) from None
    os.fchmod(fd, new_file_mode(path))  # mkstemp makes 0600; give what a plain open() would
    _MADE.add(Path(name))
    return fd, Path(name)


# Every part file this process made (one renamed into place is no longer at its part path).
_MADE: set[Path] = set()


def remove_own_parts() -> None:
    """Remove every part file this process made that is still there: after an interruption, whatever
    writer was stopped and wherever it stopped, nothing half-written stays."""
    for part in list(_MADE):
        with contextlib.suppress(OSError):
            os.unlink(part)
    _MADE.clear()


def remove_stale_parts(path: Path) -> list[Path]:
    """Remove the part files of `path` whose writing process is no longer running; returns them."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[^.]+\.part")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            found = pattern.fullmatch(entry.name)
            if found and not _running(int(found.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process: a writer of the same target may be open here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours to signal
        return True
    return True


# The interruptions (SIGINT, SIGTERM) this process was sent, when `interrupt` is their handler. Python
# raises one as a KeyboardInterrupt wherever the main thread is, and the C code of a library that runs
# Python code may clear it as it would any error: no write is committed after an interruption, whether
# or not its exception got through.
_INTERRUPTED: list[int] = []


def interrupt(signum: int, _frame=None) -> None:
    """A SIGINT/SIGTERM handler: stop as Ctrl-C does, and remember it (see `refuse_if_interrupted`)."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def refuse_if_interrupted() -> None:
    """KeyboardInterrupt if `interrupt` was called in this process: before committing a write, and at the
    end of a command, an interruption some library swallowed still stops it."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


def discard_part(part: Path, file=None) -> None:
    """Close `file` (its unwritten buffer may fail again: ignored) and remove the part, whatever happens."""
    try:
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back until the block ends (then they act): for making a part file and
    recording it as one step, so an interruption can never come between the two and leave it unknown.

    Python runs signal handlers in the main thread whichever thread the signal reached, and libraries
    start threads of their own (pyarrow's allocator has one): blocking the signals for this thread is not
    enough, so the handlers are swapped for one that only notes a signal. Other threads are never
    interrupted: they need nothing held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    # (a handler installed outside Python reads as None and could not be put back: left as it is)
    held = [signum for signum in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(signum) is not None]
    previous = {signum: signal.signal(signum, lambda signum, _frame: noted.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if noted:
            _deliver(noted[0], previous[noted[0]])


def _deliver(signum: int, handler) -> None:
    """Act on a signal noted while held, as its own handler would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A part path beside `path`; renamed over it when the block ends without error, else removed. A full
    disk or a size limit met while writing it is an InputError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        with signals_held():
            fd, tmp = new_part(path)
            os.close(fd)
        yield tmp
        refuse_if_interrupted()
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            discard_part(tmp)
        if isinstance(e, OSError) and e.errno in UNWRITABLE:
            raise cannot_write(path, e) from None
        raise


def new_file_mode(path: Path) -> int:
    """The mode a file written at `path` gets: that of the regular file being replaced, else what a plain
    open() would give (0666 less the umask) — never the mode of what a symlink at `path` points to (a
    link to /dev/null would make it 0666). The one place the umask is read (mkstemp files start at 0600)."""
    try:
        status = os.lstat(path)
    except OSError:
        status = None
    if status is not None and stat.S_ISREG(status.st_mode):
        return status.st_mode & 0o777
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask: from /proc where there is one (reading it so changes nothing), else by
    setting it and putting it back."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator:
    """Open a file that appears at `path` whole (flushed and synced) or not at all."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            try:
                yield f
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                with contextlib.suppress(OSError):  # closing would write the unwritten buffer again
                    f.close()
                raise
