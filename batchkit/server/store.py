"""The server's state: SQLite (`server.db`) for files, batches and finished requests; file bodies on disk
under `files/`.

Crash safety rests on one rule: a request counts as finished only when its result line is committed in
the `results` table (primary key batch + custom_id), in the same transaction that updates the batch's
request_counts. After a `kill -9`, whatever was not committed runs again and whatever was committed
never does; output and error files are written from `results` only when a batch ends, so each custom_id
appears exactly once. Files on disk that no row names (an upload or result file cut short by a crash)
are removed when the store opens.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from ..atomic import atomic_write
from ..errors import InputError, UsageError
from ..wire import new_id
from .enqueued import IN_FLIGHT, over_limit

UNFINISHED = ("validating", "in_progress", "finalizing", "cancelling")
# a file every route still sees: not deleted and not expired (the parameter: now, in seconds)
LIVE = "deleted = 0 AND (expires_at IS NULL OR expires_at > ?)"
TIMESTAMPS = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)

MIGRATIONS = [
    """
    CREATE TABLE files (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        filename TEXT NOT NULL,
        purpose TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE batches (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        completion_window TEXT NOT NULL,
        model TEXT,
        metadata TEXT,
        errors TEXT,
        output_file_id TEXT,
        error_file_id TEXT,
        created_at INTEGER NOT NULL,
        in_progress_at INTEGER, expires_at INTEGER, finalizing_at INTEGER, completed_at INTEGER,
        failed_at INTEGER, expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER,
        deadline REAL NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        output_expires_after INTEGER,
        idempotency_key TEXT UNIQUE,
        params TEXT
    );
    CREATE TABLE results (
        batch_id TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        line INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (batch_id, custom_id)
    ) WITHOUT ROWID;
    CREATE INDEX results_by_line ON results (batch_id, ok, line);
    """,
    # prompt tokens per model ({model: n}) of a batch admitted under --enqueued-token-limit
    "ALTER TABLE batches ADD COLUMN enqueued_tokens TEXT;",
    # the API a batch was created through (openai, anthropic, gemini, mistral), the requests of it that
    # expired or were canceled unrun (counted in `failed` too), and an uploaded file's media type
    """
    ALTER TABLE batches ADD COLUMN surface TEXT NOT NULL DEFAULT 'openai';
    ALTER TABLE batches ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN canceled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN mime_type TEXT;
    """,
]

# The id a new batch gets, by the API it is created through
BATCH_PREFIX = {"openai": "batch_", "anthropic": "msgbatch_", "gemini": "gbatch", "mistral": "mbatch_"}
# APIs whose ids have a shape of their own: Vertex's job number, Bedrock's 12 lowercase letters and digits
BATCH_IDS = {
    "vertex": lambda: str(10**18 + secrets.randbelow(9 * 10**18)),
    "bedrock": lambda: "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)),
}


def batch_id_for(surface: str) -> str:
    made = BATCH_IDS.get(surface)
    return made() if made else new_id(BATCH_PREFIX[surface])


# How a request ended, as recorded with its result line: only `succeeded` goes to an output file.
SUCCEEDED, ERRORED, EXPIRED, CANCELED = "succeeded", "errored", "expired", "canceled"


def _claim(root: Path):
    """Hold an exclusive lock on the data folder for the life of the process (released even by kill -9):
    a second server on the same folder would sweep the first one's uploads."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no guard
        return None
    handle = open(root / "server.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(
            f"{root} is in use by another batchkit serve; give each server its own --data-dir"
        ) from None
    return handle


BUSY_TIMEOUT = 1.0  # seconds SQLite waits for another connection's lock before giving up once
BUSY_ATTEMPTS = 3  # tries of one piece of database work before it is reported busy
RETRY_AFTER = 2  # seconds a client is told to wait when the database stays busy


class StoreBusy(Exception):
    """The database stayed locked (by another process) through every attempt."""


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


async def off_loop(work: Callable, *args, **kwargs):
    """Run a piece of database work in a thread, retrying while the database is locked; StoreBusy when it
    stays locked. The event loop never waits on SQLite."""
    for attempt in range(1, BUSY_ATTEMPTS + 1):
        try:
            return await asyncio.to_thread(work, *args, **kwargs)
        except sqlite3.OperationalError as e:
            if not _locked(e):
                raise
            if attempt == BUSY_ATTEMPTS:
                raise StoreBusy(str(e)) from e
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process; WAL keeps it consistent
    db.execute("PRAGMA foreign_keys=ON")
    return db


# a file body (`file-…`), an upload cut short (`.file-….part`), a result published through a scratch file
# (`.BATCH_ID.publish`)
OWN_FILE = re.compile(r"file-[0-9a-f]{24}|\.file-[0-9a-f]{24}\.part|\.[A-Za-z0-9_]+\.publish")


class Store:
    """All reads and writes of the server's state. Thread-safe (one connection behind a lock)."""

    def __init__(self, data_dir: str | os.PathLike):
        self.root = Path(data_dir)
        self.files_dir = self.root / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self._owner = _claim(self.root)
        self.db_path = self.root / "server.db"
        self.lock = threading.RLock()
        try:
            self.db = _connect(self.db_path)
            self._migrate()
        except sqlite3.DatabaseError as e:
            if self._owner is not None:
                self._owner.close()
            raise InputError(
                f"{self.db_path}: not a database batchkit serve can read ({e}); give another --data-dir, or "
                "move that file away to start an empty one"
            ) from None
        self.expire_files(time.time())
        self._sweep()

    def close(self) -> None:
        with self.lock:
            self.db.close()
        if self._owner is not None:
            self._owner.close()

    def _migrate(self) -> None:
        with self.lock:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                self.db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")

    def _sweep(self) -> None:
        """Remove bodies no live row names: cut-short uploads, result files of an interrupted finalization,
        and deleted files whose removal waited for their batch to end."""
        with self.lock:
            keep = {r[0] for r in self.db.execute("SELECT id FROM files WHERE deleted = 0")}
            keep |= {
                r[0]
                for r in self.db.execute(
                    f"SELECT input_file_id FROM batches WHERE status IN ({','.join('?' * len(UNFINISHED))})",
                    UNFINISHED,
                )
            }
        for path in self.files_dir.iterdir():  # server.lock and server.db live one level up
            # only what the server names so (a folder given as --data-dir may hold the user's own files)
            if path.name not in keep and OWN_FILE.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)

    # files -------------------------------------------------------------------------------------------

    def file_path(self, file_id: str) -> Path:
        return self.files_dir / file_id

    def upload_path(self) -> tuple[str, Path]:
        """A new file id and the temporary path to write its body to before `add_file`."""
        file_id = new_id("file-")
        return file_id, self.files_dir / f".{file_id}.part"

    def add_file(
        self,
        file_id: str,
        written: Path,
        filename: str,
        purpose: str,
        expires_at: int | None = None,
        mime_type: str | None = None,
    ) -> dict:
        """Record a file whose body was written (and synced) at `written`; moves it into place once the row
        is written, so a locked database leaves the upload where it was, for a retry."""
        with self.lock, self.db:
            self._add_file(file_id, written, filename, purpose, expires_at, mime_type)
        return self.get_file(file_id)

    def _add_file(self, file_id, written: Path, filename, purpose, expires_at=None, mime_type=None) -> None:
        """The INSERT of `add_file`, inside the caller's transaction (the body moves once it is written)."""
        self.db.execute(
            "INSERT INTO files (id, filename, purpose, bytes, created_at, expires_at, mime_type)"
            " VALUES (?,?,?,?,?,?,?)",
            (file_id, filename, purpose, written.stat().st_size, int(time.time()), expires_at, mime_type),
        )
        os.replace(written, self.file_path(file_id))  # a crash before the commit: the sweep removes it

    def file_record(self, file_id: str) -> dict | None:
        """A live file's row (id, filename, purpose, bytes, created_at, expires_at, mime_type): not deleted,
        not expired."""
        with self.lock:
            row = self.db.execute(
                f"SELECT * FROM files WHERE id = ? AND {LIVE}", (file_id, time.time())
            ).fetchone()
        return dict(row) if row else None

    def get_file(self, file_id: str) -> dict | None:
        """The file, or None when there is none, or it was deleted, or it expired (gone, as on OpenAI)."""
        with self.lock:
            row = self.db.execute(
                f"SELECT * FROM files WHERE id = ? AND {LIVE}", (file_id, time.time())
            ).fetchone()
        return _file_object(row) if row else None

    def list_files(
        self, *, purpose: str | None, limit: int, order: str, after: str | None, records: bool = False
    ) -> tuple[list[dict], bool] | None:
        """(files, has_more), or None when `after` names no file; `records` gives rows, not OpenAI objects."""
        direction = "DESC" if order == "desc" else "ASC"
        where, args = [LIVE], [time.time()]
        with self.lock:
            if after:
                row = self.db.execute("SELECT seq FROM files WHERE id = ?", (after,)).fetchone()
                if row is None:
                    return None
                where.append("seq < ?" if direction == "DESC" else "seq > ?")
                args.append(row[0])
            if purpose:
                where.append("purpose = ?")
                args.append(purpose)
            rows = self.db.execute(
                f"SELECT * FROM files WHERE {' AND '.join(where)} ORDER BY seq {direction} LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        shape = dict if records else _file_object
        return [shape(r) for r in rows[:limit]], len(rows) > limit

    def delete_file(self, file_id: str) -> bool:
        """Mark a file deleted; its body goes now, or when the unfinished batch reading it ends."""
        return self._remove_file(file_id, time.time())

    def expire_files(self, now: float) -> None:
        """Remove the files whose expires_at has passed, as deleting them does (every route already
        treats them as gone)."""
        with self.lock:
            expired = self.db.execute(
                "SELECT id FROM files WHERE deleted = 0 AND expires_at <= ?", (now,)
            ).fetchall()
        for (file_id,) in expired:
            self._remove_file(file_id, None)

    def _remove_file(self, file_id: str, live_at: float | None) -> bool:
        """Mark a file deleted (only if it is live at `live_at`, when given) and remove its body unless an
        unfinished batch reads it. Whether it was marked."""
        condition, args = (LIVE, (file_id, live_at)) if live_at is not None else ("deleted = 0", (file_id,))
        with self.lock, self.db:
            changed = self.db.execute(
                f"UPDATE files SET deleted = 1 WHERE id = ? AND {condition}", args
            ).rowcount
            in_use = self.db.execute(
                f"SELECT 1 FROM batches WHERE input_file_id = ? AND status IN ({','.join('?' * len(UNFINISHED))})",
                (file_id, *UNFINISHED),
            ).fetchone()
        if changed and not in_use:
            self.file_path(file_id).unlink(missing_ok=True)
        return bool(changed)

    def release_input(self, batch: dict) -> None:
        """Remove a finished batch's input body if the file was deleted while the batch ran."""
        with self.lock:
            row = self.db.execute(
                "SELECT deleted FROM files WHERE id = ?", (batch["input_file_id"],)
            ).fetchone()
        if row is not None and row[0]:
            self.file_path(batch["input_file_id"]).unlink(missing_ok=True)

    # batches -----------------------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        endpoint: str,
        input_file_id: str,
        completion_window: str,
        metadata,
        window_seconds: float,
        output_expires_after: int | None = None,
        idempotency_key: str | None = None,
        params: dict,
        surface: str = "openai",
        model: str | None = None,
        total: int = 0,
        status: str = "validating",
        written: Path | None = None,
    ) -> dict:
        """A new batch (its record). `written`: the input file's body, recorded as `input_file_id` in the
        same transaction (requests sent inline in the create call), so a crash leaves both or neither."""
        now = time.time()
        batch_id = batch_id_for(surface)
        deadline = now + window_seconds
        with self.lock, self.db:
            if written is not None:
                self._add_file(input_file_id, written, f"{batch_id}_requests.jsonl", "batch")
            self.db.execute(
                "INSERT INTO batches (id, status, endpoint, input_file_id, completion_window, metadata, created_at,"
                " expires_at, deadline, output_expires_after, idempotency_key, params, surface, model, total,"
                " in_progress_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    status,
                    endpoint,
                    input_file_id,
                    completion_window,
                    _json(metadata),
                    int(now),
                    int(deadline),
                    deadline,
                    output_expires_after,
                    idempotency_key,
                    _json(params),
                    surface,
                    model,
                    total,
                    int(now) if status == "in_progress" else None,
                ),
            )
        return self.get_batch(batch_id) if surface == "openai" else self.record(batch_id)

    def batch_by_key(self, idempotency_key: str) -> tuple[dict, dict] | None:
        """(batch, the parameters it was created with) for an idempotency key, if used before."""
        with self.lock:
            row = self.db.execute(
                "SELECT * FROM batches WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return (_batch_object(row), orjson.loads(row["params"])) if row else None

    def record_by_key(self, surface: str, idempotency_key: str) -> dict | None:
        """The record of a surface's batch created with an idempotency key, if any."""
        with self.lock:
            row = self.db.execute(
                "SELECT * FROM batches WHERE idempotency_key = ? AND surface = ?", (idempotency_key, surface)
            ).fetchone()
        return _record(row) if row else None

    def get_batch(self, batch_id: str) -> dict | None:
        """An OpenAI batch object (of a batch created through the OpenAI API)."""
        with self.lock:
            row = self.db.execute(
                "SELECT * FROM batches WHERE id = ? AND surface = 'openai'", (batch_id,)
            ).fetchone()
        return _batch_object(row) if row else None

    def record(self, batch_id: str, surface: str | None = None) -> dict | None:
        """A batch's row as a dict (JSON columns read), of any surface or only of `surface`."""
        with self.lock:
            row = self.db.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None or (surface is not None and row["surface"] != surface):
            return None
        return _record(row)

    def deadline(self, batch_id: str) -> float:
        with self.lock:
            return self.db.execute("SELECT deadline FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]

    def list_batches(self, *, after: str | None, limit: int) -> tuple[list[dict], bool] | None:
        """(OpenAI batch objects newest first, has_more), or None when `after` names no batch."""
        listed = self.list_records("openai", after=after, limit=limit)
        if listed is None:
            return None
        return [self.get_batch(r["id"]) for r in listed[0]], listed[1]

    def list_records(
        self,
        surface: str,
        *,
        limit: int,
        after: str | None = None,
        before: str | None = None,
        offset: int = 0,
        oldest_first: bool = False,
        where: dict | None = None,
    ) -> tuple[list[dict], bool] | None:
        """(records of one surface's batches, has_more), newest first unless `oldest_first`. `after` and
        `before` are cursors (an id: the batches past it, or before it, in that order); None when a cursor
        names no batch of the surface. `where`: column → allowed values."""
        clauses, args = ["surface = ?"], [surface]
        for column, values in (where or {}).items():
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
        forward = "ASC" if oldest_first else "DESC"
        order = forward
        with self.lock:
            for cursor, later in ((after, True), (before, False)):
                if not cursor:
                    continue
                row = self.db.execute(
                    "SELECT seq FROM batches WHERE id = ? AND surface = ?", (cursor, surface)
                ).fetchone()
                if row is None:
                    return None
                clauses.append("seq > ?" if later == oldest_first else "seq < ?")
                args.append(row[0])
                if not later:  # the page just before the cursor: read backwards from it
                    order = "DESC" if forward == "ASC" else "ASC"
            rows = self.db.execute(
                f"SELECT * FROM batches WHERE {' AND '.join(clauses)} ORDER BY seq {order} LIMIT ? OFFSET ?",
                (*args, limit + 1, offset),
            ).fetchall()
        page = rows[:limit]
        if order != forward:
            page.reverse()
        return [_record(r) for r in page], len(rows) > limit

    def count_records(self, surface: str, where: dict | None = None) -> int:
        clauses, args = ["surface = ?"], [surface]
        for column, values in (where or {}).items():
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
        with self.lock:
            return self.db.execute(
                f"SELECT count(*) FROM batches WHERE {' AND '.join(clauses)}", args
            ).fetchone()[0]

    def delete_batch(self, batch_id: str) -> bool:
        """Remove a finished batch, its results and its result files (and its input, when the batch made
        it from requests sent inline). False when it is unfinished or unknown."""
        with self.lock, self.db:
            row = self.db.execute(
                f"SELECT * FROM batches WHERE id = ? AND status NOT IN ({','.join('?' * len(UNFINISHED))})",
                (batch_id, *UNFINISHED),
            ).fetchone()
            if row is None:
                return False
            owned = [row["output_file_id"], row["error_file_id"]]
            if (
                row["endpoint"]
                and self.db.execute(
                    "SELECT 1 FROM files WHERE id = ? AND filename = ?",
                    (row["input_file_id"], f"{batch_id}_requests.jsonl"),
                ).fetchone()
            ):
                owned.append(row["input_file_id"])
            owned = [f for f in owned if f]
            self.db.execute("DELETE FROM results WHERE batch_id = ?", (batch_id,))
            self.db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
            self.db.executemany("UPDATE files SET deleted = 1 WHERE id = ?", [(f,) for f in owned])
        for file_id in owned:
            self.file_path(file_id).unlink(missing_ok=True)
        return True

    def unfinished_batches(self) -> list[str]:
        with self.lock:
            rows = self.db.execute(
                f"SELECT id FROM batches WHERE status IN ({','.join('?' * len(UNFINISHED))}) ORDER BY seq",
                UNFINISHED,
            ).fetchall()
        return [r[0] for r in rows]

    def overdue_batches(self, now: float) -> list[str]:
        """Unfinished batches whose completion window has passed."""
        with self.lock:
            rows = self.db.execute(
                f"SELECT id FROM batches WHERE status IN ({','.join('?' * len(UNFINISHED))}) AND deadline <= ?",
                (*UNFINISHED, now),
            ).fetchall()
        return [r[0] for r in rows]

    def transition(self, batch_id: str, to: str, *, when: Iterable[str], **fields) -> bool:
        """Move a batch to status `to` (stamping `<to>_at`) only if its status is one of `when`."""
        with self.lock, self.db:
            return self._transition(batch_id, to, tuple(when), fields)

    def _transition(self, batch_id: str, to: str, when: tuple[str, ...], fields: dict) -> bool:
        """The UPDATE of `transition`, inside the caller's transaction."""
        fields = {k: _json(v) if k in ("errors", "metadata") else v for k, v in fields.items()}
        stamp = f"{to}_at"
        if stamp in TIMESTAMPS:
            fields.setdefault(stamp, int(time.time()))
        sets = ", ".join(f"{k} = ?" for k in ("status", *fields))
        changed = self.db.execute(
            f"UPDATE batches SET {sets} WHERE id = ? AND status IN ({','.join('?' * len(when))})",
            (to, *fields.values(), batch_id, *when),
        ).rowcount
        return bool(changed)

    def admit(self, batch_id: str, tokens: dict[str, int], limit: int, **fields) -> dict | None:
        """Move a validating batch to in_progress when its tokens fit under the enqueued-token limit (checked
        and recorded in one transaction, so two batches never both take the last room); else the error."""
        in_flight: dict[str, int] = {}
        with self.lock, self.db:
            for (counted,) in self.db.execute(
                f"SELECT enqueued_tokens FROM batches WHERE enqueued_tokens IS NOT NULL "
                f"AND status IN ({','.join('?' * len(IN_FLIGHT))})",
                IN_FLIGHT,
            ):
                for model, count in orjson.loads(counted).items():
                    in_flight[model] = in_flight.get(model, 0) + count
            error = over_limit(tokens, in_flight, limit)
            if error is None:
                fields["enqueued_tokens"] = orjson.dumps(tokens).decode()
                self._transition(batch_id, "in_progress", ("validating",), fields)
            return error

    # results -----------------------------------------------------------------------------------------

    def done_custom_ids(self, batch_id: str) -> set[str]:
        with self.lock:
            return {
                r[0] for r in self.db.execute("SELECT custom_id FROM results WHERE batch_id = ?", (batch_id,))
            }

    def record_results(
        self, batch_id: str, results: Iterable[tuple[str, int, str, bytes, dict | None]]
    ) -> int:
        """Commit finished requests — (request id, line, outcome, line bytes, usage) — and count them, in
        one transaction. A request already recorded is ignored. Returns how many were new."""
        counts = dict.fromkeys((SUCCEEDED, ERRORED, EXPIRED, CANCELED), 0)
        input_tokens = output_tokens = 0
        with self.lock, self.db:
            for custom_id, line, outcome, data, usage in results:
                inserted = self.db.execute(
                    "INSERT OR IGNORE INTO results (batch_id, custom_id, line, ok, data) VALUES (?,?,?,?,?)",
                    (batch_id, custom_id, line, int(outcome == SUCCEEDED), data),
                ).rowcount
                if not inserted:
                    continue
                counts[outcome] += 1
                if isinstance(usage, dict):
                    input_tokens += _int(usage.get("prompt_tokens", usage.get("input_tokens")))
                    output_tokens += _int(usage.get("completion_tokens", usage.get("output_tokens")))
            failed = counts[ERRORED] + counts[EXPIRED] + counts[CANCELED]
            self.db.execute(
                "UPDATE batches SET completed = completed + ?, failed = failed + ?, expired = expired + ?,"
                " canceled = canceled + ?, input_tokens = input_tokens + ?, output_tokens = output_tokens + ?"
                " WHERE id = ?",
                (
                    counts[SUCCEEDED],
                    failed,
                    counts[EXPIRED],
                    counts[CANCELED],
                    input_tokens,
                    output_tokens,
                    batch_id,
                ),
            )
        return sum(counts.values())

    def write_results(self, batch_id: str, ok: bool | None, path: Path) -> int:
        """Write a batch's successes (ok), failures (not ok) or every result (None), in input line order,
        to `path` (atomically). Returns the number of lines; writes nothing when there are none. Safe to
        call from a thread."""
        chosen, args = ("", (batch_id,)) if ok is None else (" AND ok = ?", (batch_id, int(ok)))
        reader = _connect(self.db_path)  # its own connection: the writer stays free while this streams
        try:
            count = reader.execute(
                f"SELECT count(*) FROM results WHERE batch_id = ?{chosen}", args
            ).fetchone()[0]
            if count:
                with atomic_write(path) as out:
                    for (data,) in reader.execute(
                        f"SELECT data FROM results WHERE batch_id = ?{chosen} ORDER BY line", args
                    ):
                        out.write(data)
            return count
        finally:
            reader.close()

    def finish_batch(
        self,
        batch_id: str,
        status: str,
        *,
        when: Iterable[str],
        output: tuple[str, Path] | None,
        errors: tuple[str, Path] | None,
        batch_errors: list[dict] | None = None,
    ) -> bool:
        """Record the result files (already written in place) and the final status (with `errors.data`
        when given), in one transaction."""
        now = int(time.time())
        with self.lock:
            keep = self.db.execute(
                "SELECT output_expires_after FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()[0]
        expires_at = now + keep if keep else None
        fields = {
            "output_file_id": output[0] if output else None,
            "error_file_id": errors[0] if errors else None,
        }
        if batch_errors:
            fields["errors"] = batch_errors
        with self.lock, self.db:
            if not self._transition(batch_id, status, tuple(when), fields):
                return False
            for kind, item in (("output", output), ("error", errors)):
                if item:
                    file_id, path = item
                    self.db.execute(
                        "INSERT INTO files (id, filename, purpose, bytes, created_at, expires_at)"
                        " VALUES (?,?,'batch_output',?,?,?)",
                        (file_id, f"{batch_id}_{kind}.jsonl", path.stat().st_size, now, expires_at),
                    )
        return True


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _record(row: sqlite3.Row) -> dict:
    record = dict(row)
    for name in ("metadata", "errors", "params", "enqueued_tokens"):
        record[name] = orjson.loads(record[name]) if record[name] else None
    return record


def _sample_type(row: sqlite3.Row) -> str:
    if row["purpose"] != "batch_output":
        return "batch_request"
    return "batch_error" if row["filename"].endswith("_error.jsonl") else "batch_result"


def _file_object(row: sqlite3.Row) -> dict:
    """A file as OpenAI's API shows it, with the fields Mistral's adds (its SDK reads both)."""
    return {
        "id": row["id"],
        "object": "file",
        "bytes": row["bytes"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": "processed",
        "status_details": None,
        "sample_type": _sample_type(row),
        "source": "upload" if row["purpose"] == "batch" else "mistral",
        "mimetype": row["mime_type"] or "application/jsonl",
        "deleted": False,
    }


def _batch_object(row: sqlite3.Row) -> dict:
    errors = orjson.loads(row["errors"]) if row["errors"] else None
    batch = {
        "id": row["id"],
        "object": "batch",
        "endpoint": row["endpoint"],
        "model": row["model"],
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": row["input_file_id"],
        "completion_window": row["completion_window"],
        "status": row["status"],
        "output_file_id": row["output_file_id"],
        "error_file_id": row["error_file_id"],
        "created_at": row["created_at"],
        **{name: row[name] for name in TIMESTAMPS},
        "request_counts": {"total": row["total"], "completed": row["completed"], "failed": row["failed"]},
        "usage": {
            "input_tokens": row["input_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": row["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": row["input_tokens"] + row["output_tokens"],
        },
        "metadata": orjson.loads(row["metadata"]) if row["metadata"] else None,
    }
    return batch
