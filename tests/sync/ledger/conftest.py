"""Fixtures of the ledger tests: every test runs on SQLite and on PostgreSQL.

The PostgreSQL database is created once per session with a unique name on
127.0.0.1:5432 and dropped at the end; each test starts from an empty
schema. Tests send traffic only to 127.0.0.1.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from sync.ledger import Ledger, make_app

from .helpers import ASGIClient, TillSim

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class FakeClock:
    """The ledger clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 7, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = "kopilka_ledger_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_database")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(db_url: str, clock: FakeClock) -> Iterator[Ledger]:
    led = Ledger(db_url, clock=clock)
    yield led
    led.close()


@pytest.fixture
def client(ledger: Ledger) -> ASGIClient:
    return ASGIClient(make_app(ledger))


@pytest.fixture
def shop(ledger: Ledger) -> Ledger:
    """A ledger with the example bundle, two members (a family) and a card of its own."""
    from .helpers import BUNDLE_TEXT, MEMBERS_CSV

    ledger.import_bundle(BUNDLE_TEXT)
    ledger.import_members(MEMBERS_CSV)
    return ledger


@pytest.fixture
def till(shop: Ledger) -> TillSim:
    key = shop.add_till("KY-001", "KY-001-01")
    return TillSim("KY-001-01", "KY-001", key)


@pytest.fixture
def other_till(shop: Ledger) -> TillSim:
    key = shop.add_till("KY-002", "KY-002-01")
    return TillSim("KY-002-01", "KY-002", key)
