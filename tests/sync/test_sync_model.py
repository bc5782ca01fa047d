"""Sync as a state machine against an in-memory model.

Sales, poisoned sales, the ledger going down in several ways (refused
connection, 503, or applying a batch and losing the answer), coming back,
being restored from a backup under a new epoch, and the till crashing and
reopening its database. Whatever happens, the ledger never applies a sale
twice within an epoch, never holds a sale the till did not make, and once
the link is up every sale that was not rejected is on the ledger exactly
once; the till's hash chain stays valid throughout.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sync import Backoff, Outbox, TillDb, Uploader

from .conftest import STORE, TILL, make_txn
from .fake_ledger import FakeLedger


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="kopilka-sync-")
        self.path = os.path.join(self.dir, "till.db")
        self.ledger = FakeLedger()
        self.lost = 0
        self.epochs = 1
        self.sales: set[str] = set()
        self.poisoned: set[str] = set()
        self._open()

    def _open(self) -> None:
        self.db = TillDb(self.path)
        self.outbox = Outbox(self.db, till=TILL, store=STORE)
        self.uploader = Uploader(
            self.outbox, base_url="http://ledger", key="k", transport=self.ledger.transport(),
            batch_size=4, heartbeat_every_s=0,
            backoff=Backoff(base=0.001, cap=0.002, rng=random.Random(0)),
        )

    def _close(self) -> None:
        self.uploader.close()
        self.db.close()

    @rule(n=st.integers(1, 5))
    def sales_happen(self, n: int) -> None:
        for i in range(n):
            self.sales.add(self.outbox.append(make_txn(i)).txn_id)

    @rule()
    def a_poisoned_sale(self) -> None:
        row = self.outbox.append(make_txn())
        self.sales.add(row.txn_id)
        self.poisoned.add(row.txn_id)
        self.ledger.reject_txn_ids.add(row.txn_id)

    @rule(how=st.sampled_from(["refused", "503", "answer_lost"]))
    def ledger_goes_down(self, how: str) -> None:
        ledger = self.ledger

        def fail(request: httpx.Request) -> httpx.Response | None:
            if how == "refused":
                raise httpx.ConnectError("refused", request=request)
            if how == "503":
                return httpx.Response(503, headers={"Retry-After": "0"}, json={"error": "busy"})
            saved, ledger.fail = ledger.fail, None
            try:
                ledger.handler(request)  # committed on the ledger...
            finally:
                ledger.fail = saved
            raise httpx.ReadError("connection reset", request=request)  # ...answer lost

        ledger.fail = fail

    @rule()
    def ledger_comes_back(self) -> None:
        self.ledger.fail = None

    @rule()
    def sync(self) -> None:
        self.uploader.sync_now(max_failures=1, wait=lambda s: None)

    @rule()
    def heartbeat(self) -> None:
        self.uploader.heartbeat()

    @rule(keep=st.integers(0, 30))
    def ledger_restored_from_backup(self, keep: int) -> None:
        before = len(self.ledger.applied)
        self.epochs += 1
        self.ledger.restore(keep_through=min(keep, self.ledger.high_water), epoch=f"e{self.epochs}")
        self.lost += before - len(self.ledger.applied)

    @rule()
    def till_crashes_and_reopens(self) -> None:
        self._close()
        self._open()

    @invariant()
    def nothing_doubled_nothing_invented(self) -> None:
        assert self.ledger.apply_count == len(self.ledger.applied) + self.lost
        assert set(self.ledger.applied) <= self.sales - self.poisoned

    @invariant()
    def acked_rows_are_on_the_ledger_unless_a_restore_is_unseen(self) -> None:
        if self.outbox.status().epoch == self.ledger.epoch:
            acked = {r.txn_id for r in self.outbox.rows() if r.status == "acked"}
            assert acked <= set(self.ledger.applied)

    @invariant()
    def chain_is_valid(self) -> None:
        assert self.outbox.verify() == len(self.sales)

    def teardown(self) -> None:
        try:
            self.ledger.fail = None
            self.uploader.heartbeat()
            for _ in range(100):
                self.uploader.sync_now(max_failures=1, wait=lambda s: None)
                if self.outbox.status().queue_depth == 0:
                    break
            assert self.outbox.status().queue_depth == 0
            assert set(self.ledger.applied) == self.sales - self.poisoned
            assert {q["txn_id"] for q in self.outbox.quarantined()} == self.poisoned
            by_id = {r.txn_id: r for r in self.outbox.rows()}
            for tid, txn in self.ledger.applied.items():
                assert txn["hash"] == by_id[tid].hash
        finally:
            self._close()
            shutil.rmtree(self.dir)


SyncMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_sync_state_machine = SyncMachine.TestCase
