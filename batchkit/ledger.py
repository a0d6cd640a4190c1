"""The local record of what this machine submitted: one row per submission of a file's content to a server.

The content identifies a submission: the file's sha256 and the server's base URL. Every name the content
was submitted or referred to under is kept in `names`, each with its own downloaded files, so a copy of a
submitted file is the same batch under another name.

A row is written before and after every remote step (upload, create), so an interrupted run knows exactly
where it stopped: `step` says how far it got, `error` why it stopped, and the ids say what exists remotely.
Two processes submitting the same content to the same server take turns through `lock()`. The ledger
holds the name of the variable with the key, never a key.

The schema grows by appending to MIGRATIONS; `PRAGMA user_version` counts the ones applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from . import paths, sqlitefile, words
from .errors import InputError
from .lines import BOM, content_lines, open_binary

FILENAME = "ledger.db"
LOCKS = "locks"
SUBMISSIONS = "submissions"  # per submission: what the answer cache answered, and what was sent instead

# Steps of a submission, in order. "uploading"/"creating" mean the step was started and its outcome is
# unknown until the row moves on; the two "failed" steps carry the cause in `error`.
STARTED, UPLOADING, UPLOADED, CREATING, CREATED = "started", "uploading", "uploaded", "creating", "created"
UPLOAD_FAILED, CREATE_FAILED = "upload failed", "create failed"
ANSWERED = "answered"  # every request was answered from the answer cache: no batch was made

MIGRATIONS: list[str] = [
    """
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        provider TEXT NOT NULL,
        base_url TEXT NOT NULL,
        key_env TEXT,
        endpoint TEXT,
        completion_window TEXT,
        step TEXT NOT NULL,
        file_id TEXT,
        batch_id TEXT,
        status TEXT,
        total INTEGER,
        completed INTEGER,
        failed INTEGER,
        output_path TEXT,
        error_path TEXT,
        downloaded_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX submissions_by_file ON submissions (sha256, base_url);
    CREATE INDEX submissions_by_batch ON submissions (batch_id)
    """,
    # Names: a submission's content under every name it was given, each with its own downloads.
    """
    ALTER TABLE submissions ADD COLUMN error TEXT;
    CREATE TABLE names (
        submission_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        output_path TEXT,
        error_path TEXT,
        downloaded_at INTEGER,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (submission_id, path)
    );
    CREATE INDEX names_by_path ON names (path);
    INSERT INTO names SELECT id, path, output_path, error_path, downloaded_at, created_at FROM submissions;
    ALTER TABLE submissions DROP COLUMN output_path;
    ALTER TABLE submissions DROP COLUMN error_path;
    ALTER TABLE submissions DROP COLUMN downloaded_at
    """,
    # For APIs whose batches keep no metadata: the newest batch the provider listed just before the create,
    # so a batch whose create answer was lost is looked for only among those created after it.
    """
    ALTER TABLE submissions ADD COLUMN newest_before TEXT
    """,
    # What content each result file answers: the submitted lines' hashes, and each download's sha256.
    """
    CREATE TABLE submitted_lines (
        submission_id INTEGER PRIMARY KEY,
        dialect TEXT,
        hashes BLOB NOT NULL
    );
    ALTER TABLE names ADD COLUMN output_sha256 TEXT;
    ALTER TABLE names ADD COLUMN error_sha256 TEXT;
    CREATE INDEX names_by_output ON names (output_path);
    CREATE INDEX names_by_error ON names (error_path)
    """,
    # The answer cache and --until-done: which cache a submission reads and fills, what of it was answered
    # from there (and the file actually sent), the batch's model (part of an answer's key where the lines
    # name none), and for a round of --until-done the first submission it belongs to and its number.
    """
    ALTER TABLE submissions ADD COLUMN cache_path TEXT;
    ALTER TABLE submissions ADD COLUMN cached INTEGER;
    ALTER TABLE submissions ADD COLUMN cached_path TEXT;
    ALTER TABLE submissions ADD COLUMN sent_path TEXT;
    ALTER TABLE submissions ADD COLUMN model TEXT;
    ALTER TABLE submissions ADD COLUMN parent INTEGER;
    ALTER TABLE submissions ADD COLUMN round INTEGER;
    CREATE INDEX submissions_by_parent ON submissions (parent, round)
    """,
]


# The statuses of a batch (OpenAI's; every API's are mapped onto them), as the ledger records them
STATES = (
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes), streamed."""
    digest = hashlib.sha256()
    size = 0
    with open_binary(path) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class Entry:
    id: int
    path: str  # the name it was first submitted under
    sha256: str
    size: int
    provider: str
    base_url: str
    key_env: str | None
    endpoint: str | None
    completion_window: str | None
    step: str
    file_id: str | None
    batch_id: str | None
    status: str | None
    total: int | None
    completed: int | None
    failed: int | None
    created_at: int
    updated_at: int
    error: str | None
    newest_before: str | None = None  # the provider's newest batch before the create ("" when none)
    cache_path: str | None = None  # the answer cache it reads and fills (None: none)
    cached: int | None = None  # requests answered from the cache (None: not looked up yet)
    cached_path: str | None = None  # their result lines, written into the output when it is downloaded
    sent_path: str | None = None  # the file sent in its place when some requests were answered so
    model: str | None = None  # the batch's model, where the API takes it on the batch
    parent: int | None = None  # a round of --until-done: the first submission, whose requests it re-sends
    round: int | None = None  # that round's number (the first submission is round 1)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Name:
    """One name of a submission's content, and where that name's results were downloaded."""

    submission_id: int
    path: str
    output_path: str | None
    error_path: str | None
    downloaded_at: int | None
    added_at: int
    output_sha256: str | None = None  # of the files as downloaded, to know them again
    error_sha256: str | None = None

    def sha256_of(self, path: str) -> str | None:
        """The recorded sha256 of this name's downloaded file at `path`."""
        return self.output_sha256 if path == self.output_path else self.error_sha256


COLUMNS = tuple(f.name for f in fields(Entry))
UPDATABLE = frozenset(COLUMNS) - {"id", "created_at"}
# the tables and columns a ledger at the latest schema has; a file without them is no ledger of ours
SCHEMA = {"submissions": COLUMNS, "names": tuple(f.name for f in fields(Name))}
# SQLite's words when a statement meets tables other than the ones the schema made
SCHEMA_MISMATCH = re.compile(
    r"no such (table|column)|(table|index) \S+ already exists|table \S+ has no column"
)


def _entry(row) -> Entry:
    values = dict(row)
    values["error"] = words.from_record(values["error"])
    return Entry(**values)


class _NotALedger(Exception):
    """A SQLite file without the ledger's tables or columns; its message names what is missing."""


def _version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _missing_schema(db: sqlite3.Connection) -> str | None:
    """What of SCHEMA the database lacks ('the table names', 'the column submissions.error'), or None."""
    for table, columns in SCHEMA.items():
        have = _columns(db, table)
        if not have:
            return f"the table {table}"
        for column in columns:
            if column not in have:
                return f"the column {table}.{column}"
    return None


class Ledger:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.home() / FILENAME
        if not self.path.exists():
            self._create()
        elif self.path.stat().st_size == 0:
            raise self._damaged("it is empty (0 bytes)")
        try:
            with self._transaction(immediate=True) as db:
                self._open(db)
        except _NotALedger as e:  # raised inside the transaction, so nothing of the migration stays
            raise self._damaged(f"it is a SQLite file without {e}") from None

    # --- opening ----------------------------------------------------------------------------------------

    def _create(self) -> None:
        sqlitefile.create_whole(self.path, self._migrate)

    def _open(self, db: sqlite3.Connection) -> None:
        """Migrate, inside the caller's transaction, a file that has the ledger's tables; _NotALedger
        (naming what it lacks) for one that does not."""
        if _version(db) and not _columns(db, "submissions"):  # past its first migration, it has this table
            raise _NotALedger("the table submissions")
        try:
            self._migrate(db)
        except sqlite3.OperationalError as e:  # a migration met a table without what its version has
            missing = "no such" in str(e) or "has no column" in str(e)
            raise _NotALedger(_missing_schema(db) or str(e)) if missing else e from None
        missing = _missing_schema(db)
        if missing:
            raise _NotALedger(missing)

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Apply the migrations this ledger lacks, inside the caller's (immediate) transaction."""
        newer = (
            f"the ledger {self.path} was written by a newer batchkit (schema {{version}}); upgrade batchkit"
        )
        sqlitefile.migrate(db, MIGRATIONS, newer)

    def _damaged(self, reason: str) -> InputError:
        """Move a damaged ledger aside (never replace it silently) and say where it went."""
        moved = sqlitefile.move_aside(self.path, "ledger")
        return InputError(
            f"the ledger {self.path} is damaged: {reason}; {moved}. The batches it recorded are still on "
            "their servers: `batchkit list --remote` shows them"
        )

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; SQLite failures become one-line errors that say what to do."""
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise paths.unwritable(self.path, e) from None
        db.row_factory = sqlite3.Row
        try:
            with sqlitefile.transaction(db, immediate, self._failure):
                yield db
        finally:
            db.close()

    def _failure(self, error: sqlite3.DatabaseError) -> Exception:
        """What a SQLite failure means for the user; anything else (a bug) is raised as it is."""
        name = getattr(error, "sqlite_errorname", "") or ""
        if name == "SQLITE_ERROR" and SCHEMA_MISMATCH.match(str(error)):  # tables of another schema
            return self._damaged(str(error))
        return sqlitefile.failure(error, self.path, "the ledger", self._damaged)

    def _run(self, sql: str, params=(), immediate: bool = False) -> list[sqlite3.Row]:
        with self._transaction(immediate) as db:
            return db.execute(sql, params).fetchall()

    def _entries(self, sql: str, params=()) -> list[Entry]:
        return [_entry(row) for row in self._run(sql, params)]

    # --- submissions ------------------------------------------------------------------------------------

    def start(self, **values) -> Entry:
        """A new submission row (step `started` unless given), with its first name."""
        now = int(time.time())
        values = {"step": STARTED, **values, "created_at": now, "updated_at": now}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._transaction(immediate=True) as db:
            row = db.execute(
                f"INSERT INTO submissions ({names}) VALUES ({marks}) RETURNING *", tuple(values.values())
            ).fetchone()
            db.execute(
                "INSERT INTO names (submission_id, path, added_at) VALUES (?, ?, ?)",
                (row["id"], row["path"], now),
            )
        return _entry(row)

    def update(self, entry_id: int, **values) -> Entry:
        unknown = set(values) - UPDATABLE
        if unknown:
            raise ValueError(f"not ledger columns: {sorted(unknown)}")
        values["updated_at"] = int(time.time())
        for name, value in values.items():  # SQLite holds 64 bits: a count past them (a provider's) is none
            if type(value) is int and not -(2**63) <= value < 2**63:
                values[name] = None
        if "error" in values:
            values["error"] = words.record(values["error"])  # the options it names, kept as data
        assignments = ", ".join(f"{name} = ?" for name in values)
        (entry,) = self._entries(
            f"UPDATE submissions SET {assignments} WHERE id = ? RETURNING *", (*values.values(), entry_id)
        )
        return entry

    def find(
        self,
        *,
        sha256: str | None = None,
        batch_id: str | None = None,
        name: str | None = None,
        base_url: str | None = None,
        limit: int | None = None,
        entry_id: int | None = None,
        model: str | None = None,
    ) -> list[Entry]:
        """Submissions matching every criterion given, newest first. `name`: one of the names it was given."""
        where, params = [], []
        criteria = (("sha256", sha256), ("batch_id", batch_id), ("base_url", base_url), ("id", entry_id),
                    ("model", model))  # fmt: skip
        for column, value in criteria:
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if name is not None:
            where.append("id IN (SELECT submission_id FROM names WHERE path = ?)")
            params.append(name)
        sql = (
            "SELECT * FROM submissions"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY id DESC"
        )
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return self._entries(sql, params)

    def for_file(self, sha256: str, base_url: str | None = None, model: str | None = None) -> Entry | None:
        """The latest submission of the content with this sha256 (to this server, of this batch model, when
        given)."""
        return next(iter(self.find(sha256=sha256, base_url=base_url, limit=1, model=model)), None)

    def for_batch(self, batch_id: str, base_url: str | None = None) -> Entry | None:
        return next(iter(self.find(batch_id=batch_id, base_url=base_url, limit=1)), None)

    def for_round(self, parent: int, number: int) -> Entry | None:
        """The latest submission of round `number` of --until-done for the submission `parent`."""
        rows = self._entries(
            "SELECT * FROM submissions WHERE parent = ? AND round = ? ORDER BY id DESC LIMIT 1",
            (parent, number),
        )
        return rows[0] if rows else None

    def rounds(self, parent: int) -> list[Entry]:
        """The rounds of --until-done sent for the submission `parent`, by round, latest row of each."""
        rows = self._entries("SELECT * FROM submissions WHERE parent = ? ORDER BY round, id", (parent,))
        return list({entry.round: entry for entry in rows}.values())

    def for_name(self, path: str) -> Entry | None:
        """The latest submission that was given this name (whatever the file holds now)."""
        return next(iter(self.find(name=path, limit=1)), None)

    def entries(self, limit: int | None = None) -> list[Entry]:
        """Submissions, newest first."""
        return self.find(limit=limit)

    def forget(self, entry_ids: list[int]) -> None:
        marks = ", ".join("?" for _ in entry_ids)
        with self._transaction(immediate=True) as db:
            db.execute(f"DELETE FROM names WHERE submission_id IN ({marks})", entry_ids)
            db.execute(f"DELETE FROM submitted_lines WHERE submission_id IN ({marks})", entry_ids)
            db.execute(f"DELETE FROM submissions WHERE id IN ({marks})", entry_ids)
        for entry_id in entry_ids:
            shutil.rmtree(self.files_of(entry_id), ignore_errors=True)

    def files_of(self, entry_id: int) -> Path:
        """The folder of a submission's own files (what the answer cache answered; what was sent)."""
        return self.path.parent / SUBMISSIONS / str(entry_id)

    # --- what was submitted -----------------------------------------------------------------------------

    def record_lines(self, entry_id: int, hashes: bytes, dialect: str | None) -> None:
        """The hashes of the submitted request lines (`line_hashes`) and their line format, to tell later
        which requests a result file answers."""
        self._run(
            "INSERT OR REPLACE INTO submitted_lines (submission_id, dialect, hashes) VALUES (?, ?, ?)",
            (entry_id, dialect, hashes),
            immediate=True,
        )

    def submitted_lines(self, entry_id: int) -> tuple[bytes, str | None] | None:
        """(line hashes, line format) of a submission's content, when they were recorded."""
        rows = self._run("SELECT hashes, dialect FROM submitted_lines WHERE submission_id = ?", (entry_id,))
        return (rows[0]["hashes"], rows[0]["dialect"]) if rows else None

    @classmethod
    def existing(cls) -> Ledger | None:
        """This machine's ledger when there is one (never creates one)."""
        path = paths.home() / FILENAME
        return cls(path) if path.exists() else None

    # --- names ------------------------------------------------------------------------------------------

    def add_name(self, entry_id: int, path: str) -> Name:
        self._run(
            "INSERT OR IGNORE INTO names (submission_id, path, added_at) VALUES (?, ?, ?)",
            (entry_id, path, int(time.time())),
            immediate=True,
        )
        return self.name(entry_id, path)

    def name(self, entry_id: int, path: str) -> Name | None:
        rows = self._run("SELECT * FROM names WHERE submission_id = ? AND path = ?", (entry_id, path))
        return Name(**dict(rows[0])) if rows else None

    def names(self, entry_id: int) -> list[Name]:
        rows = self._run("SELECT * FROM names WHERE submission_id = ? ORDER BY added_at, path", (entry_id,))
        return [Name(**dict(row)) for row in rows]

    def downloaded(
        self,
        entry_id: int,
        path: str,
        output_path: str | None,
        error_path: str | None,
        sha256: dict[str, str] | None = None,
    ) -> Name:
        """Record where this name's results were written (and, in `sha256`, each file's "output"/"errors"
        sha256, to know the files again)."""
        self.add_name(entry_id, path)
        sha256 = sha256 or {}
        self._run(
            "UPDATE names SET output_path = ?, error_path = ?, downloaded_at = ?, output_sha256 = ?, "
            "error_sha256 = ? WHERE submission_id = ? AND path = ?",
            (output_path, error_path, int(time.time()), sha256.get("output"), sha256.get("errors"), entry_id,
             path),
            immediate=True,
        )  # fmt: skip
        return self.name(entry_id, path)

    def downloads_to(self, path: str) -> list[tuple[Entry, Name]]:
        """Every download recorded as written to `path` (an output or error file), newest first."""
        rows = self._run(
            "SELECT * FROM names WHERE output_path = ? OR error_path = ? ORDER BY downloaded_at DESC",
            (path, path),
        )
        found = []
        for row in rows:
            entry = next(iter(self.find(limit=1, entry_id=row["submission_id"])), None)
            if entry is not None:
                found.append((entry, Name(**dict(row))))
        return found

    # --- taking turns -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, sha256: str, base_url: str, waiting: Callable[[str], None]) -> Iterator[None]:
        """Hold the submission of this content to this server; another holder makes us wait (and we call
        `waiting` with its process id first). The lock dies with its process, so a killed run frees it."""
        folder = self.path.parent / LOCKS
        name = hashlib.sha256(f"{sha256} {base_url}".encode()).hexdigest()[:40]
        try:
            folder.mkdir(exist_ok=True)
            handle = open(folder / f"{name}.lock", "a+")  # noqa: SIM115 (held until the block ends)
        except OSError as e:
            raise paths.unwritable(folder, e) from None
        with handle:
            if not _try_lock(handle):
                handle.seek(0)
                waiting(handle.read().strip() or "unknown")
                _wait_lock(handle)
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield

    def is_locked(self, sha256: str, base_url: str) -> bool:
        """Whether a process holds this content's submission to this server right now."""
        name = hashlib.sha256(f"{sha256} {base_url}".encode()).hexdigest()[:40]
        path = self.path.parent / LOCKS / f"{name}.lock"
        if not path.exists():
            return False
        with open(path, "a+") as handle:
            if _try_lock(handle):
                _unlock(handle)
                return False
            return True


def line_hash(raw: bytes) -> int:
    """A request line's hash as the ledger keeps it (the line without a byte-order mark and surrounding
    whitespace), the same for the submitted file and for the file a merge reads."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    return int.from_bytes(hashlib.blake2b(raw.strip(), digest_size=8).digest(), "little")


def line_hashes(path: str | os.PathLike) -> bytes:
    """The sorted hashes of a batch file's request lines, as a blob (8 bytes each)."""
    with open_binary(path) as stream:
        hashes = array("Q", sorted(line_hash(raw) for _number, raw in content_lines(stream)))
    return hashes.tobytes()


try:
    import fcntl

    def _try_lock(handle) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _wait_lock(handle) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX)

    def _unlock(handle) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _try_lock(handle) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _wait_lock(handle) -> None:
        while not _try_lock(handle):
            time.sleep(0.2)

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
