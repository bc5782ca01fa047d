"""A real uvicorn ledger on 127.0.0.1, killed (-9) mid-batch and restarted.

Nothing acknowledged may be lost and nothing may be applied twice: the till
re-sends everything it has no acknowledgement for, and the ledger answers
``accepted`` or ``duplicate`` for each, with the journal equal to the
balances afterwards.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sync.ledger import Ledger

from .helpers import BUNDLE_TEXT, MEMBERS_CSV, ROOT, TillSim

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``kopilka ledger serve`` in a subprocess."""

    def __init__(self, db_url: str, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from sync.ledger.cli import ledger; ledger()", "serve",
             "--db", db_url, "--port", str(self.port), *args],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, log.read_text()
            try:
                if httpx.get(self.url + "/v1/time", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ledger did not start"
            time.sleep(0.05)  # polling a condition with a deadline

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> str:
        """Stop (SIGTERM, as systemd does) and return everything it logged."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class WriteWatch:
    """A plain driver connection that sees whether the ledger is inside a write transaction.

    Uploads commit their claim, apply and finish together (one transaction):
    nothing of a batch shows before its commit, so "mid-batch" is "a write
    transaction is open". PostgreSQL: a backend holding a transaction id;
    SQLite: the write lock is taken (our ``BEGIN IMMEDIATE`` is refused).
    """

    def __init__(self, db_url: str) -> None:
        self.sqlite = db_url.startswith("sqlite:///")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(db_url[len("sqlite:///"):], isolation_level=None,
                                             timeout=0)
        else:
            self.conn = psycopg.connect(db_url, autocommit=True)

    def writing(self) -> bool:
        if not self.sqlite:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()").fetchone()
            return int(row[0]) > 0
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked: a writer is at work
            return True
        self.conn.execute("ROLLBACK")
        return False

    def writing_for(self, polls: int) -> bool:
        """Writing at each of ``polls`` polls in a row (not a short read-only lock)."""
        return all(self.writing() for _ in range(polls))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def prepared(db_url: str) -> Iterator[tuple[str, TillSim]]:
    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
        led.import_members(MEMBERS_CSV)
        key = led.add_till("KY-001", "KY-001-01")
    yield db_url, TillSim("KY-001-01", "KY-001", key)


def test_a_ledger_killed_mid_batch_loses_nothing_and_doubles_nothing(
        prepared: tuple[str, TillSim], tmp_path: Path) -> None:
    db_url, till = prepared
    sales = [till.sale(["A-77", "B-01", None][i % 3], redeem=1 if i % 3 == 0 else 0,
                       available=10**6) for i in range(5000)]
    server = Server(db_url, tmp_path / "ledger.log")
    outcome: dict[str, object] = {}

    def upload_all_at_once() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=120) as c:
                outcome["status"] = c.post("/v1/transactions", json=till.body(sales),
                                           headers=till.headers).status_code
        except httpx.TransportError as exc:
            outcome["error"] = exc

    watch = WriteWatch(db_url)
    sender = threading.Thread(target=upload_all_at_once)
    sender.start()
    deadline = time.monotonic() + 60
    try:
        # The batch's transaction is open: the ledger is mid-batch (applying
        # 5,000 sales takes far longer than a few polls).
        while not watch.writing_for(5):
            assert time.monotonic() < deadline and sender.is_alive()
            time.sleep(0.001)
        server.kill()
    finally:
        watch.close()
    sender.join(timeout=30)
    assert "error" in outcome, "the batch finished before the kill"

    server = Server(db_url, tmp_path / "ledger.log")
    try:
        statuses: dict[str, list[str]] = {}
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for _round in range(2):  # the till re-offers everything unacknowledged, twice
                for i in range(0, len(sales), 1000):
                    resp = c.post("/v1/transactions", json=till.body(sales[i:i + 1000]),
                                  headers=till.headers)
                    assert resp.status_code == 200, resp.text
                    for r in resp.json()["results"]:
                        statuses.setdefault(r["txn_id"], []).append(r["status"])
                    high = resp.json()["high_water"]
        assert high == 5000
        assert len(statuses) == 5000
        assert all(set(s) <= {"accepted", "duplicate"} for s in statuses.values())
        assert all(s.count("accepted") <= 1 and s[-1] == "duplicate" for s in statuses.values())
    finally:
        server.kill()
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*) FROM sales")[0] == 5000
            assert tx.one("SELECT COUNT(*) FROM till_seqs WHERE state = 'applied'")[0] == 5000
        for account, opening in (("A-77", 500), ("B-01", 40)):
            mine = [s for s in sales if s["customer"] and s["customer"]["account"] == account]
            effect = sum(s["result"]["totals"]["points"] - s["result"]["totals"]["redeemed_points"]
                         for s in mine)
            assert led.balance(account) == opening + effect
        assert led.check() == []
