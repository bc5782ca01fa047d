"""Shared fixtures for the till side of sync: a real SQLite till database."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import Outbox, TillDb

TILL = "KY-001-01"
STORE = "KY-001"


def make_txn(n: int = 0, **over: Any) -> dict[str, Any]:
    """A small sale TXN as the agent would hand it to the outbox."""
    txn: dict[str, Any] = {
        "txn_id": str(uuid.uuid4()),
        "kind": "sale",
        "at": "2026-11-22T14:05:00+07:00",
        "customer": None,
        "mode": "offline",
        "hold_id": None,
        "basket": {"store": STORE, "lines": [{"sku": "4601234567893", "qty": 1 + n % 3}]},
        "result": {"lines": [], "totals": {"total": 8990 * (1 + n % 3), "points": 0, "redeemed_points": 0}},
        "bundle_version": 1,
        "engine_version": "test",
    }
    txn.update(over)
    return txn


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "till.db")


@pytest.fixture
def tilldb(db_path: str) -> Iterator[TillDb]:
    db = TillDb(db_path)
    yield db
    db.close()


@pytest.fixture
def outbox(tilldb: TillDb) -> Outbox:
    return Outbox(tilldb, till=TILL, store=STORE)
