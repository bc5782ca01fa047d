from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from sync import Outbox, TillDb, TillDbCorrupt
from sync._tilldb import MIGRATIONS

from .conftest import STORE, TILL, make_txn


def test_migrations_are_numbered_recorded_and_applied_once(db_path: str) -> None:
    with TillDb(db_path) as db:
        assert db.migrations() == [n for n, _, _ in MIGRATIONS]
    with TillDb(db_path) as db:
        assert db.migrate() == []
        assert db.migrations() == [n for n, _, _ in MIGRATIONS]


def test_database_runs_in_wal_with_synchronous_full(tilldb: TillDb) -> None:
    assert tilldb.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert tilldb.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # A WAL reset shrinks the file back to this size after a burst.
    assert tilldb.conn.execute("PRAGMA journal_size_limit").fetchone()[0] == tilldb.checkpoint_above_bytes


def test_a_file_that_is_not_a_database_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "till.db"
    path.write_bytes(b"this is not sqlite" * 512)
    with pytest.raises(TillDbCorrupt) as info:
        TillDb(str(path))
    assert info.value.reason == "corrupt"


def test_a_damaged_page_fails_quick_check_at_start(tmp_path: Path) -> None:
    path = str(tmp_path / "till.db")
    with TillDb(path) as db:
        Outbox(db, till=TILL, store=STORE).append_many(make_txn(i, note="x" * 400) for i in range(300))
        db.checkpoint()
        page = db.conn.execute("PRAGMA page_size").fetchone()[0]
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 10
    with open(path, "r+b") as f:  # scribble over the b-tree pages, keep the header
        for p in range(2, pages):
            f.seek(p * page + 0)
            f.write(b"\x0d\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(TillDbCorrupt):
        TillDb(path)


def test_checkpoint_truncates_the_wal_and_is_reported(outbox: Outbox, tilldb: TillDb) -> None:
    outbox.append_many(make_txn(i) for i in range(200))
    assert tilldb.wal_bytes() > 0
    assert tilldb.wal_status().last_checkpoint_at is None
    busy, _frames, _done = tilldb.checkpoint()
    assert busy == 0
    status = tilldb.wal_status()
    assert status.wal_bytes == 0
    assert status.checkpoints == 1 and status.last_checkpoint_at is not None


def test_scheduled_checkpointer_runs_without_being_asked(db_path: str) -> None:
    db = TillDb(db_path, checkpoint_every_s=0.01)
    try:
        Outbox(db, till=TILL, store=STORE).append(make_txn())
        db.start_checkpointer(poll_s=0.005)
        assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        deadline = time.monotonic() + 10
        while db.wal_status().checkpoints < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.wal_status().checkpoints >= 2
    finally:
        db.close()


def test_a_growing_wal_is_checkpointed_before_its_time_is_due(db_path: str) -> None:
    db = TillDb(db_path, checkpoint_every_s=3600, checkpoint_above_bytes=256 * 1024)
    try:
        db.start_checkpointer(poll_s=0.005)
        box = Outbox(db, till=TILL, store=STORE)
        box.append_many(make_txn(i, note="x" * 2000) for i in range(500))
        deadline = time.monotonic() + 10
        while db.wal_status().checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.wal_status().checkpoints >= 1
        while db.wal_bytes() > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.wal_bytes() == 0  # truncated once everything was copied
    finally:
        db.close()


def test_a_checkpoint_never_waits_for_a_busy_writer(tilldb: TillDb, outbox: Outbox) -> None:
    outbox.append(make_txn())
    with tilldb.transaction() as conn:  # a sale is being committed
        TillDb.set_state(conn, "k", "v")
        busy, _, _ = tilldb.checkpoint("TRUNCATE")
    assert busy == 1
    assert tilldb.checkpoint("PASSIVE")[0] == 0
    with pytest.raises(ValueError):
        tilldb.checkpoint("FULL")


def test_state_values_round_trip(tilldb: TillDb) -> None:
    assert tilldb.get_state("epoch") is None
    with tilldb.transaction() as conn:
        TillDb.set_state(conn, "epoch", "e1")
    assert tilldb.get_state("epoch") == "e1"


def test_a_failed_transaction_rolls_back(tilldb: TillDb) -> None:
    with pytest.raises(sqlite3.OperationalError):
        with tilldb.transaction() as conn:
            TillDb.set_state(conn, "k", "v")
            conn.execute("INSERT INTO nowhere VALUES (1)")
    assert tilldb.get_state("k") is None
    assert os.path.exists(tilldb.path)


def test_a_non_durable_transaction_leaves_the_connection_at_synchronous_full(tilldb: TillDb) -> None:
    with tilldb.transaction(durable=False) as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL, this transaction only
        TillDb.set_state(conn, "k", "v")
    assert tilldb.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(sqlite3.OperationalError):
        with tilldb.transaction(durable=False) as conn:
            conn.execute("INSERT INTO nowhere VALUES (1)")
    assert tilldb.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert tilldb.get_state("k") == "v"
