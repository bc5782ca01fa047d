"""The till drains to a real ledger (uvicorn on 127.0.0.1) through the chaos proxy.

500 sales, made while the network cycles through every chaos mode and the
ledger is killed with SIGKILL and restarted, end up on the ledger exactly
once: the account's balance is the opening balance plus 500 accruals, the
ledger's journal sums to it, and re-offering every row is answered
``duplicate`` with a contiguous high-water mark of 500. Run against both
ledger backends.
"""
from __future__ import annotations

import gzip
import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import fastcore
from hardware_sim import ChaosMode, ChaosProxy
from sync import Backoff, Outbox, TillDb, Uploader

from .ledger_server import LedgerServer, ledger_available, postgres_available

ROOT = Path(__file__).resolve().parents[2]
CARD, ACCOUNT, OPENING = "2900000123458", "A-77", 1000
N_SALES = 500

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")


def priced_sale() -> tuple[dict[str, Any], int]:
    """A realistic sale TXN (basket priced by fastcore) and the points it accrues."""
    engine = fastcore.Engine(fastcore.load_bundle((ROOT / "examples" / "bundle.json").read_text("utf-8")))
    basket = json.loads((ROOT / "examples" / "basket.json").read_text("utf-8"))
    basket["redeem"] = 0
    basket["customer"]["card"] = CARD
    # the birthday bonus is given once a year: the ledger takes back a repeat
    # claim (audit_correction), which is not what this test is about
    basket["customer"]["birthday_bonus_available"] = False
    result = engine.price(basket).to_json()
    txn = {"kind": "sale", "at": basket["at"],
           "customer": {"card": CARD, "account": ACCOUNT, "jti": None, "claims": None},
           "mode": "offline", "hold_id": None, "basket": basket, "result": result,
           "bundle_version": 1, "engine_version": fastcore.ENGINE_VERSION}
    return txn, int(result["totals"]["points"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerServer]:
    if request.param == "postgres" and not postgres_available():
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    srv = LedgerServer(request.param, tmp_path,
                       members=[{"card": CARD, "account": ACCOUNT, "tier": "silver",
                                 "opening_balance": OPENING}])
    yield srv
    srv.close()


def wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_500_sales_drain_exactly_once_through_every_chaos_mode_and_a_ledger_crash(
        server: LedgerServer, tmp_path: Path) -> None:
    template, points = priced_sale()
    assert points > 0
    db = TillDb(tmp_path / "till.db")
    outbox = Outbox(db, till=server.till, store=server.store)
    outbox.append_many({**template, "txn_id": str(uuid.uuid4())} for _ in range(200))
    proxy = ChaosProxy(("127.0.0.1", server.port), delay_s=0.02, retry_after_s=0).start()
    uploader = Uploader(outbox, base_url=proxy.url, key=server.key, batch_size=25, timeout=1.0,
                        heartbeat_every_s=0.5, poll_every_s=0.05,
                        backoff=Backoff(base=0.01, cap=0.1, rng=random.Random(4)))
    stop_selling = threading.Event()

    def sell() -> None:  # the till keeps selling throughout
        made = 200
        while made < N_SALES:
            outbox.append({**template, "txn_id": str(uuid.uuid4())})
            made += 1
            if stop_selling.wait(0.005):
                break

    seller = threading.Thread(target=sell)
    try:
        uploader.start()
        seller.start()
        for mode in (ChaosMode.DROP, ChaosMode.RESET, ChaosMode.ERROR_503, ChaosMode.BLACKHOLE):
            failures = uploader.counters.failures
            proxy.mode = mode
            wait_for(lambda f=failures: uploader.counters.failures >= f + 2)
            proxy.mode = ChaosMode.PASS
            acked = outbox.status().acked_through
            wait_for(lambda a=acked: outbox.status().acked_through > a or outbox.status().queue_depth == 0)
        assert proxy.counts["resets"] >= 1
        proxy.mode = ChaosMode.DELAY
        acked = outbox.status().acked_through
        wait_for(lambda a=acked: outbox.status().acked_through > a or outbox.status().queue_depth == 0)
        proxy.mode = ChaosMode.PASS
        # The ledger dies mid-stream and comes back on the same port.
        server.kill()
        failures = uploader.counters.failures
        wait_for(lambda: uploader.counters.failures > failures)
        server.start()
        seller.join()
        wait_for(lambda: outbox.status().queue_depth == 0 and outbox.status().last_seq == N_SALES)
    finally:
        stop_selling.set()
        if seller.is_alive():
            seller.join()
        uploader.close()
        proxy.close()
    try:
        assert outbox.verify() == N_SALES
        assert outbox.quarantined() == []
        assert uploader.counters.duplicate >= 1  # a reset answer was retried and recognised
        with server.ledger() as led:
            assert led.balance(ACCOUNT) == OPENING + N_SALES * points
            assert led.check() == []
        # Every row is on the ledger exactly once: re-offering them all changes nothing.
        rows = outbox.rows()
        with httpx.Client(base_url=server.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {server.key}"}) as c:
            statuses: set[str] = set()
            high_water = 0
            for i in range(0, len(rows), 100):
                body = ('{"till": "%s", "store": "%s", "transactions": [%s]}' % (
                    server.till, server.store, ",".join(r.body for r in rows[i:i + 100]))).encode()
                resp = c.post("/v1/transactions", content=gzip.compress(body),
                              headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
                assert resp.status_code == 200, resp.text
                answer = resp.json()
                statuses |= {r["status"] for r in answer["results"]}
                high_water = answer["high_water"]
        assert statuses == {"duplicate"}
        assert high_water == N_SALES
        with server.ledger() as led:
            assert led.balance(ACCOUNT) == OPENING + N_SALES * points
    finally:
        db.close()


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # a file-level backup and restore
def test_a_ledger_restored_from_backup_gets_every_lost_sale_again(server: LedgerServer, tmp_path: Path) -> None:
    template, points = priced_sale()
    backup = tmp_path / "backup"
    with TillDb(tmp_path / "till.db") as db:
        outbox = Outbox(db, till=server.till, store=server.store)
        with Uploader(outbox, base_url=server.base_url, key=server.key, heartbeat_every_s=0) as up:
            outbox.append_many({**template, "txn_id": str(uuid.uuid4())} for _ in range(10))
            assert up.sync_now().accepted == 10
            # Head office backs the ledger up (online), the till sells on, then the ledger is restored.
            ledger_file = Path(server.url.removeprefix("sqlite:///"))
            src, dst = sqlite3.connect(ledger_file), sqlite3.connect(backup)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
            outbox.append_many({**template, "txn_id": str(uuid.uuid4())} for _ in range(5))
            assert up.sync_now().accepted == 5
            server.kill()
            for suffix in ("-wal", "-shm"):
                Path(str(ledger_file) + suffix).unlink(missing_ok=True)
            ledger_file.write_bytes(backup.read_bytes())
            with server.ledger() as led:
                led.bump_epoch()
                assert led.balance(ACCOUNT) == OPENING + 10 * points
            server.start()
            assert up.heartbeat()  # sees the new epoch, probes
            for _ in range(5):
                up.sync_now()
            assert outbox.status().queue_depth == 0
    with server.ledger() as led:
        assert led.balance(ACCOUNT) == OPENING + 15 * points


KILL_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[4])
from sync import Outbox, TillDb, Uploader
db = TillDb(sys.argv[1])
box = Outbox(db, till="KY-001-01", store="KY-001")
up = Uploader(box, base_url=sys.argv[2], key=sys.argv[3], batch_size=20, heartbeat_every_s=0)
def progress(done, total):
    if done >= 100:
        print("draining", flush=True)
up.sync_now(progress)
print("finished", flush=True)
"""


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_a_till_killed_mid_drain_resumes_to_exactly_once(server: LedgerServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    template, points = priced_sale()
    db_path = tmp_path / "till.db"
    with TillDb(db_path) as db:
        Outbox(db, till=server.till, store=server.store).append_many(
            {**template, "txn_id": str(uuid.uuid4())} for _ in range(600))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(db_path), server.base_url, server.key,
                             str(ROOT)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "draining"
        proc.kill()  # SIGKILL, somewhere between two batches or inside one
        proc.wait()
    finally:
        proc.stdout.close()
    with TillDb(db_path) as db:
        outbox = Outbox(db, till=server.till, store=server.store)
        assert outbox.status().queue_depth < 600  # it got somewhere before dying
        with Uploader(outbox, base_url=server.base_url, key=server.key, heartbeat_every_s=0) as up:
            report = up.sync_now()
        assert report.error is None and outbox.status().queue_depth == 0
        assert outbox.verify() == 600
    with server.ledger() as led:
        assert led.balance(ACCOUNT) == OPENING + 600 * points
