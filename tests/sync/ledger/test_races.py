"""Two `kopilka ledger serve` processes on one database, racing (spec/sync.md: any number).

Each race starts both requests behind a barrier, so that on PostgreSQL the
two server processes really apply at the same moment; the rules must hold
whichever wins: a line returned once, holds within the balance, a sale
applied once.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.ledger import Ledger

from .helpers import BUNDLE_TEXT, MEMBERS_CSV, TillSim
from .rules import assert_sound
from .test_server import Server

pytestmark = pytest.mark.timeout(240)

ROUNDS = 8


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[tuple[str, TillSim, TillSim,
                                                            list[Server]]]:
    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
        led.import_members(MEMBERS_CSV)
        a = TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))
        b = TillSim("KY-002-01", "KY-002", led.add_till("KY-002", "KY-002-01"))
    servers = [Server(db_url, tmp_path / f"ledger-{i}.log") for i in range(2)]
    try:
        yield db_url, a, b, servers
    finally:
        for s in servers:
            s.kill()


def race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls at the same moment, one thread each; their answers in order."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            out[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, httpx.Response) for r in out), out
    return out


def upload(server: Server, till: TillSim, txns: list[dict[str, Any]]
           ) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(server.url + "/v1/transactions", json=till.body(txns),
                              headers=till.headers, timeout=60)


def results(resp: httpx.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    out: list[dict[str, Any]] = resp.json()["results"]
    return out


def test_two_tills_returning_the_same_line_through_two_servers_give_it_back_once(
        two_servers: tuple[str, TillSim, TillSim, list[Server]]) -> None:
    db_url, a, b, (one, two) = two_servers
    for _ in range(ROUNDS):
        sale = a.sale("A-77")
        assert results(upload(one, a, [sale])())[0]["status"] == "accepted"
        mine, theirs = a.ret(sale, [(0, "2")]), b.ret(sale, [(0, "2")])
        answers = race([upload(one, a, [mine]), upload(two, b, [theirs])])
        statuses = sorted(results(r)[0]["status"] for r in answers)
        assert statuses == ["accepted", "rejected"], [results(r) for r in answers]
        refused = [results(r)[0] for r in answers if results(r)[0]["status"] == "rejected"]
        assert refused[0]["reason"] == "invalid" and "too_much" in refused[0]["detail"]
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            lines = tx.all("SELECT qty_milli FROM return_lines")
        assert [int(q) for (q,) in lines] == [2000] * ROUNDS
        assert_sound(led)


def test_holds_placed_at_once_through_two_servers_never_exceed_the_balance(
        two_servers: tuple[str, TillSim, TillSim, list[Server]]) -> None:
    db_url, a, b, (one, two) = two_servers

    def place(server: Server, till: TillSim) -> Callable[[], httpx.Response]:
        return lambda: httpx.post(server.url + "/v1/holds", headers=till.headers, timeout=30,
                                  json={"till": till.till, "account": "A-77", "points": 300,
                                        "txn_id": str(uuid.uuid4())})

    codes = sorted(r.status_code for r in race([place(one, a), place(two, b)]))
    assert codes == [201, 409]
    with Ledger(db_url) as led:
        assert led.available("A-77") == 200


def test_online_sales_redeeming_the_same_points_through_two_servers_never_overdraw(
        two_servers: tuple[str, TillSim, TillSim, list[Server]]) -> None:
    db_url, a, b, (one, two) = two_servers
    for _ in range(ROUNDS):
        with Ledger(db_url) as led:
            balance = led.balance("A-77")
        assert balance is not None
        # each redeems the whole balance (the engine caps it at 70 % of the basket)
        x = a.sale("A-77", redeem=balance, available=balance, mode="online")
        y = b.sale("A-77", redeem=balance, available=balance, mode="online")
        answers = race([upload(one, a, [x]), upload(two, b, [y])])
        got = [results(r)[0] for r in answers]
        assert all(g["status"] == "accepted" or g["reason"] == "overdraft" for g in got), got
        with Ledger(db_url) as led:
            assert (led.balance("A-77") or 0) >= 0
            assert_sound(led)


def test_the_same_batch_sent_to_two_servers_at_once_is_applied_once(
        two_servers: tuple[str, TillSim, TillSim, list[Server]]) -> None:
    db_url, a, _, (one, two) = two_servers
    batches = [[a.sale(["A-77", "B-01", None][i % 3]) for i in range(40)] for _ in range(4)]
    for batch in batches:
        answers = race([upload(one, a, batch), upload(two, a, batch)])
        flat = [r["status"] for resp in answers for r in results(resp)]
        assert flat.count("accepted") == 40 and flat.count("duplicate") == 40
    with Ledger(db_url) as led:
        sales = [s for b in batches for s in b]
        for account, opening in (("A-77", 500), ("B-01", 40)):
            mine = [s for s in sales if s["customer"] and s["customer"]["account"] == account]
            assert led.balance(account) == opening + sum(
                s["result"]["totals"]["points"] for s in mine)
        assert_sound(led)
