"""The answer cache on disk: one SQLite file (`cache.db` in the batchkit home by default), shared by every
process on the machine.

An answer is stored under its key (keys.py) as the provider's own result line without its id, compressed,
with the batch it came from and when it was stored. Rows are appended in the order they come (a batch's
answers land on neighbouring pages) and found through a unique index on the key's first 64 bits, an
integer; the other 64 bits are checked on every hit. Of two answers whose keys share the first half only
the first is kept, so a lookup never returns the other's. Batches and servers are kept once each
(`origins`), not once per answer.

Safe for concurrent use: WAL (readers never wait for a writer), a 30 s busy timeout, and every write one
short transaction. Writes are `INSERT OR IGNORE`: two processes storing the same answer keep one.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths, sqlitefile
from ..errors import InputError

FILENAME = "cache.db"
BUSY_SECONDS = 30
LOOKUP_CHUNK = 500  # keys per SELECT (SQLite takes at most 32,766 parameters)
COMPRESSION = 6  # zlib level: a result line of JSON shrinks to about a third

MIGRATIONS: list[str] = [
    """
    CREATE TABLE origins (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        UNIQUE (address, batch_id)
    );
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        key INTEGER NOT NULL,
        tail BLOB NOT NULL,
        origin INTEGER NOT NULL,
        stored_at INTEGER NOT NULL,
        line BLOB NOT NULL
    );
    CREATE UNIQUE INDEX answers_by_key ON answers (key)
    """,
]
PRAGMAS = ("PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL")


@dataclass(frozen=True)
class Hit:
    """A cached answer: the provider's result line without its id (JSON bytes), the batch it came from
    ("" when it came from `batchkit run`, which makes no batch) and when it was stored (epoch seconds)."""

    line: bytes
    batch_id: str
    stored_at: int


@dataclass
class CacheStats:
    path: Path
    answers: int
    bytes: int  # the database file with its write-ahead log
    oldest: int | None
    newest: int | None
    by_address: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_per_answer(self) -> float | None:
        return self.bytes / self.answers if self.answers else None

    def to_dict(self) -> dict:
        return {"path": str(self.path), "answers": self.answers, "bytes": self.bytes,
                "bytes_per_answer": self.bytes_per_answer, "oldest": self.oldest, "newest": self.newest,
                "by_address": self.by_address}  # fmt: skip


def _split(key: bytes) -> tuple[int, bytes]:
    return int.from_bytes(key[:8], "big", signed=True), key[8:]


class AnswerCache:
    """The answer cache at `path` (default: `cache.db` in the batchkit home). One connection, opened on
    first use and kept until `close()`; use it from one thread."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path else paths.home() / FILENAME
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.path)!r})"

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- opening ----------------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if not self.path.parent.is_dir():
            raise InputError(f"the answer cache {self.path}: no such folder {self.path.parent}")
        if not self.path.exists():
            sqlitefile.create_whole(self.path, self._migrate, PRAGMAS)
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
            self._refuse_foreign(db)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL keeps it consistent; a kill loses no commit
            # a writer's lock only when the schema is behind: readers never wait for a writer (WAL)
            if db.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
                db.execute("BEGIN IMMEDIATE")
                self._migrate(db)
                db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise self._failure(e) from None
        self._db = db
        return db

    def _refuse_foreign(self, db: sqlite3.Connection) -> None:
        """Another program's database (or batchkit's ledger) named as the cache: refused before anything,
        its journal mode included, is changed."""
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "answers" not in tables:
            db.close()
            shown = ", ".join(sorted(tables)[:3])
            raise InputError(
                f"{self.path} is not an answer cache (it holds other tables: {shown}); it was left as it is: "
                "name another file for the cache"
            )

    def _migrate(self, db: sqlite3.Connection) -> None:
        newer = f"the answer cache {self.path} was written by a newer batchkit (schema {{version}}); upgrade batchkit"
        sqlitefile.migrate(db, MIGRATIONS, newer)

    def _damaged(self, reason: str) -> InputError:
        self.close()
        if not sqlitefile.looks_like_sqlite(self.path):  # a file named by mistake, not a cache damaged
            return InputError(
                f"{self.path} is not an answer cache (not a SQLite database); it was left as it is: name "
                "another file for the cache"
            )
        moved = sqlitefile.move_aside(self.path, "answer cache")
        return InputError(
            f"the answer cache {self.path} is damaged: {reason}; {moved} (it only saves paying twice: "
            "nothing else is lost)"
        )

    def _failure(self, error: sqlite3.DatabaseError) -> Exception:
        return sqlitefile.failure(error, self.path, "the answer cache", self._damaged)

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        with sqlitefile.transaction(self._connection(), immediate, self._failure) as db:
            yield db

    # --- answers ----------------------------------------------------------------------------------------

    def lookup(self, keys: Iterable[bytes]) -> dict[bytes, Hit]:
        """The cached answers of those `keys` that have one."""
        wanted: dict[int, list[bytes]] = {}
        for key in keys:
            wanted.setdefault(_split(key)[0], []).append(key)
        found: dict[bytes, Hit] = {}
        ids = list(wanted)
        with self._transaction() as db:
            for start in range(0, len(ids), LOOKUP_CHUNK):
                chunk = ids[start : start + LOOKUP_CHUNK]
                rows = db.execute(
                    "SELECT key, tail, batch_id, stored_at, line FROM answers JOIN origins"
                    f" ON origins.id = origin WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for first, tail, batch_id, stored_at, line in rows:
                    for key in wanted[first]:
                        if tail == key[8:]:
                            found[key] = Hit(zlib.decompress(line), batch_id, stored_at)
        return found

    def store(self, address: str, batch_id: str | None, answers: Iterable[tuple[bytes, bytes]]) -> int:
        """Keep `answers` ((key, result line without its id) pairs) as answered by `batch_id` at `address`
        (None: by `batchkit run`, no batch); the number of answers new to the cache."""
        now = int(time.time())
        rows = [(*_split(key), zlib.compress(line, COMPRESSION)) for key, line in answers]
        if not rows:
            return 0
        with self._transaction(immediate=True) as db:
            origin = self._origin(db, address, batch_id or "")
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO answers (key, tail, origin, stored_at, line) VALUES (?, ?, ?, ?, ?)",
                [(first, tail, origin, now, line) for first, tail, line in rows],
            )
            return db.total_changes - before

    def _origin(self, db: sqlite3.Connection, address: str, batch_id: str) -> int:
        db.execute("INSERT OR IGNORE INTO origins (address, batch_id) VALUES (?, ?)", (address, batch_id))
        (origin,) = db.execute(
            "SELECT id FROM origins WHERE address = ? AND batch_id = ?", (address, batch_id)
        ).fetchone()
        return origin

    # --- housekeeping -----------------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        with self._transaction() as db:
            answers, oldest, newest = db.execute(
                "SELECT count(*), min(stored_at), max(stored_at) FROM answers"
            ).fetchone()
            by_address = dict(
                db.execute(
                    "SELECT address, count(*) FROM answers JOIN origins ON origins.id = origin"
                    " GROUP BY address ORDER BY count(*) DESC"
                ).fetchall()
            )
        size = sum(
            p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal")) if p.exists()
        )
        return CacheStats(self.path, answers, size, oldest, newest, by_address)

    def prune(self, older_than: float) -> int:
        """Forget the answers stored more than `older_than` seconds ago; how many were forgotten."""
        cutoff = int(time.time() - older_than)
        with self._transaction(immediate=True) as db:
            gone = db.execute("DELETE FROM answers WHERE stored_at < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM origins WHERE id NOT IN (SELECT DISTINCT origin FROM answers)")
        self._shrink()
        return gone

    def clear(self) -> int:
        """Forget every answer; how many there were."""
        with self._transaction(immediate=True) as db:
            gone = db.execute("DELETE FROM answers").rowcount
            db.execute("DELETE FROM origins")
        self._shrink()
        return gone

    def _shrink(self) -> None:
        """Give the freed pages back to the file system."""
        db = self._connection()
        try:
            db.execute("PRAGMA incremental_vacuum").fetchall()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as e:
            raise self._failure(e) from None
