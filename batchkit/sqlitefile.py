"""The SQLite files batchkit keeps in its home (the ledger, the answer cache): created whole, migrated in
order, damaged ones moved aside, and SQLite's failures said in one line with the way out.

A schema grows by appending to its list of migrations; `PRAGMA user_version` counts the ones applied.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import paths
from .errors import InputError


def create_whole(
    path: Path, prepare: Callable[[sqlite3.Connection], None], pragmas: Sequence[str] = ()
) -> None:
    """A new database appears whole: built beside `path` (`pragmas` first, then `prepare` inside one
    immediate transaction), then linked into place unless another process won the race."""
    # named by process and thread: two threads of one process each build their own
    fresh = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        db = sqlite3.connect(fresh, isolation_level=None)
        try:
            for pragma in pragmas:  # settings a database takes only before its first table (auto_vacuum)
                db.execute(pragma)
            db.execute("BEGIN IMMEDIATE")
            prepare(db)
            db.execute("COMMIT")
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):
            os.link(fresh, path)
    except (OSError, sqlite3.OperationalError) as e:
        raise paths.unwritable(path.parent, e) from None
    finally:
        with contextlib.suppress(OSError):
            fresh.unlink()


@contextlib.contextmanager
def transaction(
    db: sqlite3.Connection, immediate: bool, failure: Callable[[sqlite3.DatabaseError], Exception]
) -> Iterator[sqlite3.Connection]:
    """One transaction on `db` (opened with isolation_level=None); a SQLite failure is raised as what
    `failure` makes of it, and an unfinished transaction is rolled back."""
    try:
        db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        yield db
        db.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        raise failure(e) from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")


def migrate(db: sqlite3.Connection, migrations: Sequence[str], newer: str) -> None:
    """Apply the migrations the database lacks, inside the caller's (immediate) transaction; `newer` is
    the error's message when the database was written by a newer batchkit (`{version}` in it is filled)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise InputError(newer.format(version=version))
    for number, script in enumerate(migrations[version:], version + 1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")


SQLITE_HEADER = b"SQLite format 3\x00"


def looks_like_sqlite(path: Path) -> bool:
    """Whether the file begins as every SQLite database does (a damaged one too, mostly)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return True  # cannot tell: the caller's usual way


def move_aside(path: Path, noun: str) -> str:
    """Move a damaged database aside (never replace it silently); what was done, as a sentence's end
    (`noun`: what the next command starts anew, e.g. "ledger")."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    try:
        os.rename(path, aside)
        return f"moved it aside to {aside}, so the next command starts a new {noun}"
    except FileNotFoundError:
        return "another batchkit process has already moved it aside"
    except OSError as e:
        return f"could not move it aside ({e.strerror}); move or delete it to start a new {noun}"


def failure(
    error: sqlite3.DatabaseError, path: Path, what: str, damaged: Callable[[str], Exception]
) -> Exception:
    """What a SQLite failure on the database `what` at `path` means for the user; `damaged(reason)` makes
    the error for a damaged file. Anything else (a bug) is returned as it is."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return damaged(str(error))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return InputError(f"{what} {path} stayed locked by another process for 30 s; try again")
    if name.startswith("SQLITE_FULL"):
        return InputError(f"cannot write {what} {path}: the disk is full; free some space")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR", "SQLITE_AUTH")):
        return paths.unwritable(path, error)
    return error
