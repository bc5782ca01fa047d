"""Two ledger processes (connections) taking the same batch at once: still exactly once.

On PostgreSQL the two uploads really race: both read "not claimed", one
insert waits on the other's unique index and then fails, and that upload
redoes its batch on the per-transaction path. On SQLite the write lock
serialises them. Either way every sale is applied once.
"""
from __future__ import annotations

import threading

import pytest

from sync.ledger import Conflict, Ledger, TillRecord
from sync.ledger import _bulk

from .helpers import TillSim


def test_the_same_batch_uploaded_twice_at_once_is_applied_once(
        db_url: str, till: TillSim, shop: Ledger) -> None:
    me = TillRecord(till.till, till.store)
    batches = [[till.sale("A-77") for _ in range(50)] for _ in range(4)]
    ledgers = [Ledger(db_url, clock=shop.clock) for _ in range(2)]
    errors: list[BaseException] = []
    answers: list[list[tuple[str, str | None, str | None]]] = []
    barrier = threading.Barrier(2)

    def worker(led: Ledger) -> None:
        try:
            for batch in batches:
                barrier.wait(timeout=30)
                answers.append([(r.status, r.reason, r.detail)
                                for r in led.upload(me, till.body(batch)).results])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(led,)) for led in ledgers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        for led in ledgers:
            led.close()
    assert not errors, errors
    flat = [s for a in answers for s in a]
    assert [s for s in flat if s[0] == "rejected"] == []
    statuses = [s[0] for s in flat]
    assert statuses.count("accepted") == 200 and statuses.count("duplicate") == 200
    sales = [s for b in batches for s in b]
    effect = sum(s["result"]["totals"]["points"] for s in sales)
    assert shop.balance("A-77") == 500 + effect
    assert shop.check() == []


def test_a_lost_claim_race_falls_back_to_claiming_one_by_one(
        till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    def lost_race(*args: object, **kwargs: object) -> None:
        raise Conflict("conflict", "duplicate key value violates unique constraint")

    monkeypatch.setattr(_bulk, "plan_claims", lost_race)
    a, b = till.sale("A-77"), till.sale("A-77")
    twin = till.sale("A-77", seq=1)
    answer = shop.upload(TillRecord(till.till, till.store), till.body([a, b, twin, a]))
    assert [r.status for r in answer.results] == ["accepted", "accepted", "rejected", "duplicate"]
    assert answer.results[2].reason == "seq_conflict"
    assert shop.check() == []
