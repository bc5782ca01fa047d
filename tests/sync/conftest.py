"""Shared fixtures for the till side of sync: a real SQLite till database, a real ledger."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import Outbox, PromoCache, TillDb

from .ledger_server import LedgerServer, postgres_available

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture
def bundle() -> dict[str, Any]:
    """The example bundle, a fresh copy."""
    return dict(json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8")))


@pytest.fixture
def cache(tilldb: TillDb) -> PromoCache:
    """An empty promo cache on the till database."""
    return PromoCache(tilldb)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerServer]:
    """A real ledger server (subprocess) on each backend, with no members."""
    if request.param == "postgresql" and not postgres_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432")
    srv = LedgerServer(request.param, tmp_path)
    yield srv
    srv.close()
