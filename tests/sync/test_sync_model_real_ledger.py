"""Sync as a state machine against the real ledger (uvicorn on 127.0.0.1) behind the chaos proxy.

The model is a set of sales and the points each accrues on one account.
Whatever the network does (every chaos mode), however often the ledger's
restore epoch changes and the till crashes and reopens, the account's
balance on the ledger only ever holds whole, distinct sales, every row the
till counts as acknowledged is among them, and once the link is up it is
exactly the opening balance plus every sale that was not rejected.
"""
from __future__ import annotations

import random
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from hardware_sim import ChaosMode, ChaosProxy
from sync import Backoff, Outbox, TillDb, Uploader

from .ledger_server import LedgerServer, ledger_available
from .test_sync_ledger_integration import priced_sale

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")

OPENING = 500


def ean13(n: int) -> str:
    body = f"29{n:010d}"
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - s % 10) % 10)


@pytest.fixture(scope="module")
def ledger_and_proxy() -> Iterator[tuple[LedgerServer, ChaosProxy]]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = LedgerServer("sqlite", Path(tmp))
        proxy = ChaosProxy(("127.0.0.1", srv.port), delay_s=0.01, retry_after_s=0).start()
        try:
            yield srv, proxy
        finally:
            proxy.close()
            srv.close()


class RealLedgerSync(RuleBasedStateMachine):
    counter = 0

    def __init__(self, server: LedgerServer, proxy: ChaosProxy) -> None:
        super().__init__()
        RealLedgerSync.counter += 1
        n = RealLedgerSync.counter
        self.server, self.proxy = server, proxy
        proxy.mode = ChaosMode.PASS
        self.till = f"KY-001-M{n}-{uuid.uuid4().hex[:6]}"
        self.card, self.account = ean13(1000 + n), f"M-{uuid.uuid4().hex[:8]}"
        with server.ledger() as led:
            self.key = led.add_till("KY-001", self.till)
            led.import_members(
                f'{{"card": "{self.card}", "account": "{self.account}", "tier": "silver", '
                f'"opening_balance": {OPENING}}}'
            )
        template, self.points = priced_sale()
        template["customer"] = {"card": self.card, "account": self.account, "jti": None, "claims": None}
        template["basket"]["customer"]["card"] = self.card
        template["basket"]["customer"]["account"] = self.account
        self.template: dict[str, Any] = template
        self.dir = tempfile.TemporaryDirectory()
        self.good: set[str] = set()
        self.poisoned: set[str] = set()
        self._open()

    def _open(self) -> None:
        self.db = TillDb(Path(self.dir.name) / "till.db")
        self.outbox = Outbox(self.db, till=self.till, store="KY-001")
        self.uploader = Uploader(self.outbox, base_url=self.proxy.url, key=self.key, batch_size=3,
                                 timeout=0.5, heartbeat_every_s=0,
                                 backoff=Backoff(base=0.001, cap=0.002, rng=random.Random(0)))

    def _close(self) -> None:
        self.uploader.close()
        self.db.close()

    def _balance(self) -> int:
        with self.server.ledger() as led:
            value = led.balance(self.account)
        assert value is not None
        return int(value)

    @rule(n=st.integers(1, 4))
    def sales(self, n: int) -> None:
        for _ in range(n):
            self.good.add(self.outbox.append({**self.template, "txn_id": str(uuid.uuid4())}).txn_id)

    @rule()
    def a_sale_the_ledger_rejects(self) -> None:
        row = self.outbox.append({**self.template, "txn_id": str(uuid.uuid4()), "bundle_version": -1})
        self.poisoned.add(row.txn_id)

    @rule(mode=st.sampled_from([ChaosMode.DROP, ChaosMode.RESET, ChaosMode.ERROR_503,
                                ChaosMode.BLACKHOLE, ChaosMode.DELAY]))
    def network_misbehaves(self, mode: ChaosMode) -> None:
        self.proxy.mode = mode

    @rule()
    def network_recovers(self) -> None:
        self.proxy.mode = ChaosMode.PASS

    @rule()
    def sync(self) -> None:
        self.uploader.sync_now(max_failures=1, wait=lambda s: None)

    @rule()
    def ledger_restore_epoch_changes(self) -> None:
        with self.server.ledger() as led:
            led.bump_epoch()

    @rule()
    def heartbeat(self) -> None:
        self.uploader.heartbeat()

    @rule()
    def till_crashes_and_reopens(self) -> None:
        self._close()
        self._open()

    @invariant()
    def ledger_holds_whole_distinct_sales_including_every_acked_one(self) -> None:
        gained = self._balance() - OPENING
        assert gained % self.points == 0
        on_ledger = gained // self.points
        assert on_ledger <= len(self.good)
        acked = sum(1 for r in self.outbox.rows() if r.status == "acked")
        assert acked <= on_ledger
        assert self.outbox.verify() == len(self.good) + len(self.poisoned)

    def teardown(self) -> None:
        try:
            self.proxy.mode = ChaosMode.PASS
            self.uploader.heartbeat()
            for _ in range(20):
                self.uploader.sync_now(max_failures=1, wait=lambda s: None)
                if self.outbox.status().queue_depth == 0:
                    break
            assert self.outbox.status().queue_depth == 0
            assert self._balance() == OPENING + self.points * len(self.good)
            assert {q["txn_id"] for q in self.outbox.quarantined()} == self.poisoned
        finally:
            self._close()
            self.dir.cleanup()


def test_sync_against_the_real_ledger_behaves_like_the_model(
        ledger_and_proxy: tuple[LedgerServer, ChaosProxy]) -> None:
    server, proxy = ledger_and_proxy
    run_state_machine_as_test(
        lambda: RealLedgerSync(server, proxy),
        settings=settings(max_examples=12, stateful_step_count=15, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck)),
    )
