"""The ledger's own mechanics: where it lives, migrations, rows and lookups. How it makes submit resumable
and idempotent is shown with real interrupted processes in test_submit_resume.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from polling import poll
from submitsupport import cli_command, cli_env, invoke

from batchkit import ledger as ledger_module
from batchkit.errors import InputError
from batchkit.ledger import CREATED, MIGRATIONS, UPLOADED, Ledger


def _row(ledger: Ledger, **overrides):
    values = dict(path="/data/a.jsonl", sha256="a" * 64, size=10, provider="kluster", base_url="https://x/v1")
    return ledger.start(**(values | overrides))


def test_lives_in_batchkit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHKIT_HOME", str(tmp_path / "home"))
    ledger = Ledger()
    assert ledger.path == tmp_path / "home" / "ledger.db"
    assert ledger.path.is_file()


def test_migrations_run_once_in_order(tmp_path, monkeypatch):
    path = tmp_path / "ledger.db"
    Ledger(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    _row(Ledger(path))  # reopening does not run them again (a second CREATE TABLE would fail)

    # a later version adds a column: only the new migration runs, and the old rows stay
    monkeypatch.setattr(
        ledger_module, "MIGRATIONS", [*MIGRATIONS, "ALTER TABLE submissions ADD COLUMN note TEXT"]
    )
    Ledger(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert db.execute("SELECT count(*), min(note) FROM submissions").fetchone() == (1, None)


def test_rows_move_through_the_steps(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    entry = _row(ledger)
    assert entry.step == "started" and entry.batch_id is None and entry.created_at == entry.updated_at
    entry = ledger.update(entry.id, step=UPLOADED, file_id="file-1")
    entry = ledger.update(entry.id, step=CREATED, batch_id="batch-1", status="validating", total=3)
    again = Ledger(tmp_path / "l.db").for_batch("batch-1")
    assert again == entry
    assert (again.file_id, again.status, again.total) == ("file-1", "validating", 3)
    with pytest.raises(ValueError, match="not ledger columns"):
        ledger.update(entry.id, api_key="x")


def test_counts_past_64_bits_are_kept_as_none(tmp_path):
    """A provider's count SQLite cannot hold (10**20 requests) is none, never an OverflowError."""
    ledger = Ledger(tmp_path / "l.db")
    entry = ledger.update(_row(ledger).id, total=10**20, completed=2**63, failed=-(2**63))
    assert (entry.total, entry.completed, entry.failed) == (None, None, -(2**63))


def test_lookups_take_the_latest_submission_per_server(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    first = _row(ledger, base_url="https://one/v1")
    second = _row(ledger, base_url="https://two/v1")
    third = _row(ledger, base_url="https://one/v1")
    assert ledger.for_file("a" * 64).id == third.id
    assert ledger.for_file("a" * 64, "https://two/v1").id == second.id
    assert ledger.for_file("a" * 64, "https://three/v1") is None
    assert ledger.for_file("b" * 64) is None
    ledger.update(first.id, batch_id="batch-7")
    assert ledger.for_batch("batch-7", "https://two/v1") is None
    assert ledger.for_batch("batch-7").id == first.id
    assert [e.id for e in ledger.entries()] == [third.id, second.id, first.id]
    assert [e.id for e in ledger.entries(limit=1)] == [third.id]


def test_columns_hold_no_key(tmp_path):
    Ledger(tmp_path / "l.db")
    with sqlite3.connect(tmp_path / "l.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(submissions)")]
    assert "key_env" in columns  # the variable's name, so a later command knows which one to read
    assert not [c for c in columns if "key" in c and c != "key_env"]


# --- a damaged or unwritable ledger ----------------------------------------------------------------------


def _damaged_copies(home):
    return sorted(p for p in home.iterdir() if p.name.startswith("ledger.db.damaged-"))


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "it is empty (0 bytes)"), (b"this is not a database\n" * 200, "file is not a database")],
)
def test_a_damaged_ledger_is_moved_aside_with_one_line_and_exit_2(tmp_path, monkeypatch, content, reason):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("BATCHKIT_HOME", str(home))
    (home / "ledger.db").write_bytes(content)
    result = invoke("list")
    assert result.returncode == 2
    (aside,) = _damaged_copies(home)
    assert result.stderr.splitlines() == [
        f"batchkit: error: the ledger {home / 'ledger.db'} is damaged: {reason}; moved it aside to {aside}, "
        "so the next command starts a new ledger. The batches it recorded are still on their servers: "
        "`batchkit list --remote` shows them"
    ]
    assert aside.read_bytes() == content  # kept as it was, never replaced
    assert not (home / "ledger.db").exists()
    again = invoke("list", "--format", "json")  # the next command starts afresh, and says nothing was lost
    assert again.returncode == 0 and json.loads(again.stdout) == []
    assert _damaged_copies(home) == [aside]


def test_a_ledger_from_a_newer_batchkit_is_left_alone(tmp_path):
    path = tmp_path / "l.db"
    Ledger(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(InputError, match="written by a newer batchkit"):
        Ledger(path)
    assert path.is_file() and not _damaged_copies(tmp_path)


def _without_root_powers(command: list[str]) -> list[str]:
    """Root passes every permission bit: run the command without the capabilities that let it."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", *command]


@pytest.mark.slow
@pytest.mark.parametrize("inside", ["", "state"])
def test_a_read_only_home_is_one_line_and_exit_2(inside):
    home = Path(tempfile.mkdtemp(prefix="batchkit-readonly-"))
    try:
        home.chmod(0o555)
        state = home / inside if inside else home
        result = subprocess.run(
            _without_root_powers(cli_command("list")), env=cli_env(BATCHKIT_HOME=str(state)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        home.chmod(0o755)
        shutil.rmtree(home)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"batchkit: error: cannot write batchkit's state in {state}")
    assert lines[0].endswith("make it writable or set BATCHKIT_HOME to a folder you can write")


# --- names and turns -------------------------------------------------------------------------------------


def test_version_1_ledgers_keep_their_rows_and_downloads(tmp_path):
    path = tmp_path / "l.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO submissions (path, sha256, size, provider, base_url, step, batch_id, output_path,"
            " downloaded_at, created_at, updated_at) VALUES"
            " ('/d/a.jsonl', 'a', 1, 'kluster', 'u', 'created', 'batch-1', '/d/a.output.jsonl', 5, 1, 1)"
        )
    ledger = Ledger(path)
    entry = ledger.for_batch("batch-1")
    assert (entry.path, entry.step, entry.error) == ("/d/a.jsonl", "created", None)
    (name,) = ledger.names(entry.id)
    assert (name.path, name.output_path, name.error_path, name.downloaded_at) == (
        "/d/a.jsonl", "/d/a.output.jsonl", None, 5,
    )  # fmt: skip


def test_every_name_of_a_content_has_its_own_downloads(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    entry = _row(ledger, path="/d/a.jsonl")
    ledger.add_name(entry.id, "/d/copy.jsonl")
    ledger.add_name(entry.id, "/d/copy.jsonl")  # once
    ledger.downloaded(entry.id, "/d/copy.jsonl", "/d/copy.output.jsonl", None)
    names = {n.path: n for n in ledger.names(entry.id)}
    assert sorted(names) == ["/d/a.jsonl", "/d/copy.jsonl"]
    assert names["/d/a.jsonl"].downloaded_at is None
    assert names["/d/copy.jsonl"].output_path == "/d/copy.output.jsonl"
    assert ledger.for_name("/d/copy.jsonl").id == entry.id
    ledger.forget([entry.id])
    assert ledger.entries() == [] and ledger.names(entry.id) == []


def test_one_holder_at_a_time_per_content_and_server(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    other = Ledger(tmp_path / "l.db")
    waited: list[str] = []
    inside = threading.Event()
    order: list[str] = []

    def second():
        with other.lock("a" * 64, "https://x/v1", waited.append):
            order.append("second")

    with ledger.lock("a" * 64, "https://x/v1", waited.append):
        assert ledger.is_locked("a" * 64, "https://x/v1")
        with other.lock("a" * 64, "https://y/v1", waited.append):  # another server: no waiting
            inside.set()
        thread = threading.Thread(target=second)
        thread.start()
        poll(lambda: waited, what="the second holder to wait")
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"] and inside.is_set()
    assert waited == [str(os.getpid())]
    assert not ledger.is_locked("a" * 64, "https://x/v1")


def test_a_failing_statement_is_not_taken_for_damage(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    entry = _row(ledger)
    with pytest.raises(sqlite3.IntegrityError):  # a mistake in batchkit, shown as one, the ledger untouched
        ledger._run(
            "INSERT INTO names (submission_id, path, added_at) VALUES (?, ?, 1)", (entry.id, entry.path)
        )
    assert not _damaged_copies(tmp_path) and Ledger(tmp_path / "l.db").entries() == [entry]


@pytest.mark.parametrize(
    "schema, reason",
    [
        ("PRAGMA user_version = 2", "it is a SQLite file without the table submissions"),
        (
            "CREATE TABLE submissions (id INTEGER PRIMARY KEY, path TEXT)",  # someone else's database
            "table submissions already exists",
        ),
        (
            "CREATE TABLE names (x); CREATE TABLE submissions (id INTEGER PRIMARY KEY); PRAGMA user_version = 2",
            "it is a SQLite file without the column submissions.path",
        ),
    ],
)
def test_a_sqlite_file_without_the_ledgers_tables_is_handled_as_damaged(
    tmp_path, monkeypatch, schema, reason
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("BATCHKIT_HOME", str(home))
    with contextlib.closing(sqlite3.connect(home / "ledger.db")) as db:
        db.executescript(schema)
    content = (home / "ledger.db").read_bytes()
    result = invoke("list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (aside,) = _damaged_copies(home)
    assert result.stderr.startswith(
        f"batchkit: error: the ledger {home / 'ledger.db'} is damaged: {reason}; "
    )
    assert f"moved it aside to {aside}" in result.stderr and len(result.stderr.splitlines()) == 1
    assert aside.read_bytes() == content
    assert invoke("list").returncode == 0  # the next command starts a new ledger
