"""The local record of what this machine submitted: one row per submission of a file to a server.

A row is written before and after every remote step (upload, create, download), so an interrupted run
knows exactly where it stopped: `step` says how far it got, and the ids say what exists remotely. The
ledger holds the name of the variable with the key, never a key.

The schema grows by appending to MIGRATIONS; `PRAGMA user_version` counts the ones applied.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path

from .. import paths

FILENAME = "ledger.db"

# Steps of a submission, in order. "uploading"/"creating" mean the step was started and its outcome is
# unknown until the row moves on.
STARTED, UPLOADING, UPLOADED, CREATING, CREATED = "started", "uploading", "uploaded", "creating", "created"

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
    CREATE INDEX submissions_by_batch ON submissions (batch_id);
    """,
]


@dataclass
class Entry:
    id: int
    path: str
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
    output_path: str | None
    error_path: str | None
    downloaded_at: int | None
    created_at: int
    updated_at: int

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COLUMNS = tuple(f.name for f in fields(Entry))
UPDATABLE = frozenset(COLUMNS) - {"id", "created_at"}


class Ledger:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.home() / FILENAME
        with self._connect() as db:
            self._migrate(db)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], version + 1):
            db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def _run(self, sql: str, params=()) -> list[Entry]:
        db = self._connect()
        try:
            with db:
                rows = db.execute(sql, params).fetchall()
        finally:
            db.close()
        return [Entry(**dict(row)) for row in rows]

    def start(self, **values) -> Entry:
        """A new submission row (step `started` unless given)."""
        now = int(time.time())
        values = {"step": STARTED, **values, "created_at": now, "updated_at": now}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        (entry,) = self._run(
            f"INSERT INTO submissions ({names}) VALUES ({marks}) RETURNING *", tuple(values.values())
        )
        return entry

    def update(self, entry_id: int, **values) -> Entry:
        unknown = set(values) - UPDATABLE
        if unknown:
            raise ValueError(f"not ledger columns: {sorted(unknown)}")
        values["updated_at"] = int(time.time())
        assignments = ", ".join(f"{name} = ?" for name in values)
        (entry,) = self._run(
            f"UPDATE submissions SET {assignments} WHERE id = ? RETURNING *", (*values.values(), entry_id)
        )
        return entry

    def for_file(self, sha256: str, base_url: str | None = None) -> Entry | None:
        """The latest submission of the file with this sha256 (to this server, when given)."""
        if base_url is None:
            rows = self._run("SELECT * FROM submissions WHERE sha256 = ? ORDER BY id DESC LIMIT 1", (sha256,))
        else:
            rows = self._run(
                "SELECT * FROM submissions WHERE sha256 = ? AND base_url = ? ORDER BY id DESC LIMIT 1",
                (sha256, base_url),
            )
        return rows[0] if rows else None

    def for_batch(self, batch_id: str, base_url: str | None = None) -> Entry | None:
        if base_url is None:
            rows = self._run(
                "SELECT * FROM submissions WHERE batch_id = ? ORDER BY id DESC LIMIT 1", (batch_id,)
            )
        else:
            rows = self._run(
                "SELECT * FROM submissions WHERE batch_id = ? AND base_url = ? ORDER BY id DESC LIMIT 1",
                (batch_id, base_url),
            )
        return rows[0] if rows else None

    def entries(self, limit: int | None = None) -> list[Entry]:
        """Submissions, newest first."""
        if limit is None:
            return self._run("SELECT * FROM submissions ORDER BY id DESC")
        return self._run("SELECT * FROM submissions ORDER BY id DESC LIMIT ?", (limit,))
