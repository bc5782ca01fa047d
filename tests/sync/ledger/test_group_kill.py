"""Group commit under a crash and under duplicate requests, with real servers.

A ``kopilka ledger serve`` is killed (-9) while it holds one-sale requests
of several tills in a group commit; every till then resends all it sent,
and each sale is applied exactly once. And the same one-sale request sent
twice at the same moment through two worker processes is applied once.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.ledger import Ledger

from .helpers import BUNDLE_TEXT, MEMBERS_CSV, TillSim
from .rules import assert_sound
from .test_races import race, results, upload
from .test_serve_workers import two_workers  # noqa: F401 - the fixture
from .test_server import Server, WriteWatch

pytestmark = pytest.mark.timeout(240)

TILLS = 6
ACCOUNTS = ["A-77", "B-01", None]


@pytest.fixture
def fleet(db_url: str) -> Iterator[tuple[str, list[TillSim]]]:
    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
        led.import_members(MEMBERS_CSV)
        tills = [TillSim(f"KY-001-{i:02}", "KY-001", led.add_till("KY-001", f"KY-001-{i:02}"))
                 for i in range(1, TILLS + 1)]
    yield db_url, tills


class OnlineTill:
    """A till selling one sale at a time, each posted at once (until the ledger is gone)."""

    def __init__(self, till: TillSim, url: str, stop: threading.Event) -> None:
        self.till, self.url, self.stop = till, url, stop
        self.sent: list[dict[str, Any]] = []
        self.acked: set[str] = set()
        self.in_flight = False
        self.lost = False
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            i = 0
            while not self.stop.is_set():
                sale = self.till.sale(ACCOUNTS[i % 3])
                i += 1
                self.sent.append(sale)
                self.in_flight = True
                try:
                    resp = c.post("/v1/transactions", json=self.till.body([sale]),
                                  headers=self.till.headers)
                except httpx.TransportError:
                    self.lost = True  # the answer never came: resent after the restart
                    return
                finally:
                    self.in_flight = False
                assert resp.status_code == 200, resp.text
                assert results(resp)[0]["status"] == "accepted"
                self.acked.add(sale["txn_id"])


def test_a_ledger_killed_during_a_group_commit_of_several_tills_applies_each_sale_once(
        fleet: tuple[str, list[TillSim]], tmp_path: Path) -> None:
    db_url, tills = fleet
    server = Server(db_url, tmp_path / "ledger.log")
    stop = threading.Event()
    online = [OnlineTill(t, server.url, stop) for t in tills]
    watch = WriteWatch(db_url)
    try:
        for o in online:
            o.thread.start()
        deadline = time.monotonic() + 60
        # several tills wait for their answer while the server is inside a write transaction
        while not (sum(len(o.acked) for o in online) >= 3 * TILLS
                   and sum(o.in_flight for o in online) >= 3 and watch.writing()):
            assert time.monotonic() < deadline, "the tills never overlapped"
        server.kill()
    finally:
        stop.set()
        watch.close()
        for o in online:
            o.thread.join(60)
    assert sum(o.lost for o in online) >= 2, "the kill held no request of several tills"

    server = Server(db_url, tmp_path / "ledger.log")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for o in online:  # each till resends everything it sent, twice
                for _round in range(2):
                    resp = c.post("/v1/transactions", json=o.till.body(o.sent),
                                  headers=o.till.headers)
                    got = {r["txn_id"]: r["status"] for r in results(resp)}
                    assert set(got.values()) <= {"accepted", "duplicate"}
                    assert all(got[t] == "duplicate" for t in o.acked)
                    assert resp.json()["high_water"] == len(o.sent)
                assert set(got.values()) == {"duplicate"}
    finally:
        server.kill()
    sales = [s for o in online for s in o.sent]
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*), COUNT(DISTINCT txn_id) FROM sales") == (
                len(sales), len(sales))
        for account, opening in (("A-77", 500), ("B-01", 40)):
            effect = sum(s["result"]["totals"]["points"] - s["result"]["totals"]["redeemed_points"]
                         for s in sales if s["customer"] and s["customer"]["account"] == account)
            assert led.balance(account) == opening + effect
        assert_sound(led)


def test_one_sale_requests_of_four_tills_each_sent_twice_at_once_to_two_workers_apply_once(
        two_workers: tuple[str, TillSim, Server], tmp_path: Path) -> None:  # noqa: F811
    db_url, _, server = two_workers
    with Ledger(db_url) as led:
        tills = [TillSim(f"KY-001-{i:02}", "KY-001", led.add_till("KY-001", f"KY-001-{i:02}"))
                 for i in range(11, 15)]
    sales = []
    for round_ in range(8):
        batch = [t.sale(ACCOUNTS[(round_ + i) % 3]) for i, t in enumerate(tills)]
        sales += batch
        calls = [upload(server, t, [s]) for t, s in zip(tills, batch, strict=True)]
        answers = race(calls + calls)  # new connections: the kernel deals them to either worker
        assert Counter(results(a)[0]["status"] for a in answers) == {
            "accepted": len(tills), "duplicate": len(tills)}
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*), COUNT(DISTINCT txn_id) FROM sales") == (32, 32)
            assert [r[0] for r in tx.all("SELECT high_water FROM till_state WHERE till IN "
                                         "(?, ?, ?, ?) ORDER BY till",
                                         [t.till for t in tills])] == [8] * 4
        for account, opening in (("A-77", 500), ("B-01", 40)):
            effect = sum(s["result"]["totals"]["points"] for s in sales
                         if s["customer"] and s["customer"]["account"] == account)
            assert led.balance(account) == opening + effect
        assert_sound(led)
