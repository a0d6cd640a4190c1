"""The ledger's own mechanics: where it lives, migrations, rows and lookups. How it makes submit resumable
and idempotent is shown with real interrupted processes in test_submit_resume.py."""

from __future__ import annotations

import sqlite3

import pytest

from batchkit.remote import ledger as ledger_module
from batchkit.remote.ledger import CREATED, MIGRATIONS, UPLOADED, Ledger


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
