"""Group commit: the uploads of one process share one durable commit, and stay apart.

Each test holds a group open with a *gate* job (it waits until the other
callers are queued behind it), so the next group is known to hold exactly
those callers: what one of them does must not change what the others get.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sync.ledger import Ledger, StorageError
from sync.ledger._group import GroupCommit
from sync.ledger._storage import Storage, Tx
from sync.ledger._tills import TillRecord

from .helpers import ASGIClient, TillSim
from .rules import assert_sound

pytestmark = pytest.mark.timeout(120)


def tills(shop: Ledger, n: int) -> list[TillSim]:
    """``n`` new tills, after one sale of a warm-up till.

    The warm-up reads the bundle's ceilings once (an upload reads them before
    it queues, and a gate holding the database would make it wait).
    """
    made = [TillSim(f"KY-001-{i:02}", "KY-001", shop.add_till("KY-001", f"KY-001-{i:02}"))
            for i in range(50, 51 + n)]
    warm = made.pop(0)
    shop.upload(TillRecord(warm.till, warm.store), warm.body([warm.sale()]))
    return made


def gated(group: GroupCommit, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on threads queued behind one open group; their values or errors."""
    leading = threading.Event()

    def gate(tx: Tx) -> None:
        leading.set()
        deadline = time.monotonic() + 30
        while group.waiting() < len(calls):
            assert time.monotonic() < deadline, "the callers never queued"
            time.sleep(0.002)  # polling a condition with a deadline

    out: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            out[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - the caller's answer, checked by the test
            out[i] = exc

    leader = threading.Thread(target=call_quietly, args=(group.run, gate))
    leader.start()
    assert leading.wait(30)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads + [leader]:
        t.join(60)
    return out


def call_quietly(fn: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(StorageError):  # the gate's own group may be made to fail
        fn(*args)


def upload(shop: Ledger, till: TillSim, txns: list[dict[str, Any]]) -> Callable[[], Any]:
    return lambda: shop.upload(TillRecord(till.till, till.store), till.body(txns))


def points(sales: list[dict[str, Any]], account: str) -> int:
    return sum(s["result"]["totals"]["points"] - s["result"]["totals"]["redeemed_points"]
               for s in sales if s["customer"] and s["customer"]["account"] == account)


def test_one_sale_uploads_of_six_tills_queued_together_share_one_commit(shop: Ledger) -> None:
    group = shop.ingest.group
    six = tills(shop, 6)
    sales = [t.sale(["A-77", "B-01", None][i % 3]) for i, t in enumerate(six)]
    before = (group.groups, group.jobs)
    answers = gated(group, [upload(shop, t, [s]) for t, s in zip(six, sales, strict=True)])
    assert [a.results[0].status for a in answers] == ["accepted"] * 6
    assert [a.high_water for a in answers] == [1] * 6
    assert (group.groups - before[0], group.jobs - before[1]) == (2, 7)  # the gate, then all six
    assert group.combined == 6  # claimed, applied and finished set-based, together
    assert shop.balance("A-77") == 500 + points(sales, "A-77")
    assert shop.balance("B-01") == 40 + points(sales, "B-01")
    resent = gated(group, [upload(shop, t, [s]) for t, s in zip(six, sales, strict=True)])
    assert [a.results[0].status for a in resent] == ["duplicate"] * 6
    assert group.combined == 12
    assert_sound(shop)


def test_a_job_that_fails_in_a_group_is_undone_alone_and_the_others_commit(
        shop: Ledger) -> None:
    group = shop.ingest.group
    a, b = tills(shop, 2)
    sales = [a.sale("A-77"), b.sale("B-01")]

    def broken(tx: Tx) -> None:
        tx.execute("UPDATE accounts SET points = points + 1000 WHERE account = 'A-77'")
        raise ValueError("a bug in this job")

    answers = gated(group, [upload(shop, a, sales[:1]), lambda: group.run(broken),
                            upload(shop, b, sales[1:])])
    assert isinstance(answers[1], ValueError)
    assert [answers[0].results[0].status, answers[2].results[0].status] == ["accepted"] * 2
    assert shop.balance("A-77") == 500 + points(sales, "A-77")  # not +1000
    assert_sound(shop)


def test_a_job_failing_transiently_in_a_group_is_run_again_alone(shop: Ledger) -> None:
    group = shop.ingest.group
    (a,) = tills(shop, 1)
    runs: list[int] = []

    def deadlocked_once(tx: Tx) -> str:
        runs.append(1)
        tx.execute("UPDATE accounts SET points = points + 7 WHERE account = 'B-01'")
        if len(runs) == 1:
            raise StorageError("unavailable", "deadlock detected")
        return "done"

    sale = a.sale("A-77")
    answers = gated(group, [lambda: group.run(deadlocked_once), upload(shop, a, [sale])])
    assert answers[0] == "done" and len(runs) == 2
    assert answers[1].results[0].status == "accepted"
    assert shop.balance("B-01") == 40 + 7  # once, not twice
    assert shop.check() != []  # the raw +7 has no journal entry: the job wrote exactly once


class FailingCommit(Storage):
    """The real ledger database whose commits fail (the server went away at COMMIT)."""

    def __init__(self, real: Storage) -> None:
        super().__init__(real.url)
        self.real = real

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        with self.real.transaction(durable=durable) as tx:
            yield tx
            raise StorageError("unavailable", "the connection was lost at COMMIT")

    def close(self) -> None:
        self.real.close()


def test_a_failed_group_commit_fails_every_upload_in_it_and_the_resends_apply_once(
        shop: Ledger) -> None:
    three = tills(shop, 3)
    sales = [t.sale("A-77") for t in three]
    working = shop.ingest.group
    shop.ingest.group = GroupCommit(FailingCommit(shop.storage))
    answers = gated(shop.ingest.group, [upload(shop, t, [s])
                                        for t, s in zip(three, sales, strict=True)])
    assert all(isinstance(a, StorageError) and a.reason == "unavailable" for a in answers)
    assert shop.balance("A-77") == 500  # nothing of the group was kept
    shop.ingest.group = working
    resent = gated(working, [upload(shop, t, [s]) for t, s in zip(three, sales, strict=True)])
    assert [r.results[0].status for r in resent] == ["accepted"] * 3
    assert shop.balance("A-77") == 500 + points(sales, "A-77")
    assert_sound(shop)


def test_a_failed_commit_answers_503_with_retry_after(shop: Ledger, client: ASGIClient,
                                                     till: TillSim) -> None:
    tills(shop, 0)
    shop.ingest.group = GroupCommit(FailingCommit(shop.storage))
    resp = client.post("/v1/transactions", json=till.body([till.sale("A-77")]),
                       headers=till.headers)
    assert resp.status_code == 503 and "retry-after" in resp.headers
    assert shop.balance("A-77") == 500


class Recording(Storage):
    """The real database, noting whether each transaction asked for a durable commit."""

    def __init__(self, real: Storage) -> None:
        super().__init__(real.url)
        self.real = real
        self.durable: list[bool] = []

    def transaction(self, *, durable: bool = True) -> contextlib.AbstractContextManager[Tx]:
        self.durable.append(durable)
        return self.real.transaction(durable=durable)

    def close(self) -> None:
        self.real.close()


def test_a_heartbeat_commits_without_waiting_for_the_disk_and_is_read_at_once(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    recording = Recording(shop.storage)
    shop.ingest.group = GroupCommit(recording)
    resp = client.post("/v1/heartbeat", headers=till.headers, json={
        "till": till.till, "store": till.store, "at": "2026-11-22T15:00:00+07:00",
        "queue_depth": 3, "oldest_unsynced_age_s": 12})
    assert resp.status_code == 200, resp.text
    assert resp.json()["epoch"] == shop.epoch()
    assert recording.durable == [False]
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT queue_depth, oldest_unsynced_age_s FROM heartbeats "
                      "WHERE till = ?", (till.till,)) == (3, 12)
        assert tx.one("SELECT last_contact FROM till_state WHERE till = ?",
                      (till.till,))[0] is not None


def test_a_heartbeat_grouped_with_an_upload_is_committed_durably_with_it(
        shop: Ledger, till: TillSim) -> None:
    (other,) = tills(shop, 1)
    recording = Recording(shop.storage)
    group = shop.ingest.group = GroupCommit(recording)
    beat = {"at": None, "queue_depth": 0, "oldest_unsynced_age_s": 0}
    answers = gated(group, [lambda: shop.heartbeat(TillRecord(other.till, other.store), beat),
                            upload(shop, till, [till.sale("A-77")])])
    assert answers[0] == shop.epoch() and answers[1].results[0].status == "accepted"
    assert recording.durable == [True, True]  # the gate's group, then the heartbeat's


def test_a_key_is_looked_up_while_a_group_commit_holds_the_write_connection(
        shop: Ledger, till: TillSim) -> None:
    from sync.ledger._apikeys import authenticate

    leading, looked_up = threading.Event(), threading.Event()

    def hold(tx: Tx) -> bool:
        leading.set()
        return looked_up.wait(30)  # held open until the look-up below is done

    holder = threading.Thread(target=lambda: held.append(shop.ingest.group.run(hold)))
    held: list[bool] = []
    holder.start()
    assert leading.wait(30)
    with shop.reading() as tx:  # does not wait for the open group
        who = authenticate(tx, till.key)
    looked_up.set()
    holder.join(30)
    assert who is not None and who.till is not None and who.till.till == till.till
    assert held == [True]  # the group was still open during the look-up


def test_the_read_only_connection_refuses_a_write(shop: Ledger) -> None:
    with pytest.raises(Exception) as refused:  # noqa: PT011 - each driver has its own error
        with shop.reading() as tx:
            tx.execute("UPDATE accounts SET points = points + 1 WHERE account = 'A-77'")
    assert "read" in str(refused.value).lower()
    assert shop.balance("A-77") == 500


def test_look_ups_at_once_each_get_a_read_only_connection_and_reuse_them(shop: Ledger) -> None:
    import contextlib

    from sync.ledger._ledger import READERS

    for _ in range(2):  # the second round reuses the connections of the first
        with contextlib.ExitStack() as stack:
            txs = [stack.enter_context(shop.reading()) for _ in range(READERS)]
            assert len({id(tx) for tx in txs}) == READERS  # none waits for another
            assert all(tx.one("SELECT points FROM accounts WHERE account = 'A-77'") == (500,)
                       for tx in txs)
        assert len(shop._readers) == READERS


def test_a_job_deadlocked_again_when_run_alone_is_answered_unavailable_not_a_crash(
        shop: Ledger) -> None:
    import sqlite3

    group = shop.ingest.group
    runs: list[int] = []

    def always_deadlocked(tx: Tx) -> str:
        runs.append(1)
        tx.execute("UPDATE accounts SET points = points + 7 WHERE account = 'B-01'")
        raise sqlite3.OperationalError("deadlock detected")  # what a retry may fix

    with pytest.raises(StorageError) as refused:
        group.run(always_deadlocked)
    assert refused.value.reason == "unavailable" and "deadlock" in str(refused.value)
    assert len(runs) == 1  # alone in its group: answered at once, the till resends
    assert shop.balance("B-01") == 40  # nothing of it kept
