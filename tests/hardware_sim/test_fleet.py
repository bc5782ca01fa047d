"""The fleet simulator against a real `kopilka ledger serve` on SQLite and PostgreSQL.

After a fleet has sold and every till has drained, the ledger must hold
exactly what the tills' outboxes say they sold: each account's balance is
its opening balance plus what its sales and returns claimed, each journal
kind adds up, every transaction is there once, and the audit worker
re-prices every sale to the same figures.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hardware_sim import FleetConfig, FleetResult, run_fleet
from hardware_sim._fleet import outbox_rows
from hardware_sim._fleet_plan import Offline, Online, Return, Sale, make_plan
from sync.ledger import Ledger
from tests.sync.ledger_server import LedgerServer

pytestmark = pytest.mark.timeout(600)

#: 5 stores x 2 tills x 2 days, a simulated day in about 4 s
SMALL = FleetConfig(stores=5, tills=2, days=2, seed=11, sales_per_day=40, offline_share=0.5,
                    compress=12_600.0, start=date(2026, 11, 16))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerServer]:
    """A running `kopilka ledger serve` on a new database of its own (dropped after)."""
    server = LedgerServer(request.param, tmp_path)
    try:
        yield server
    finally:
        server.close()


def expected_from_outboxes(result: FleetResult
                           ) -> tuple[dict[str, int], Counter[str], list[str], int]:
    """Per account the points the tills' rows claim, per journal kind the total, every
    txn_id, and how many journal entries the rows make (one per non-zero figure)."""
    per_account: dict[str, int] = {}
    kinds: Counter[str] = Counter()
    ids: list[str] = []
    entries = 0
    for txn in result.transactions():
        assert txn["_status"] == "acked", (txn["till"], txn["seq"], txn["_status"])
        ids.append(txn["txn_id"])
        customer = txn.get("customer")
        if not customer:
            continue
        totals = txn["result"]["totals"]
        if txn["kind"] == "sale":
            kinds["accrual"] += totals["points"]
            kinds["redemption"] -= totals["redeemed_points"]
            delta = totals["points"] - totals["redeemed_points"]
            entries += (totals["points"] > 0) + (totals["redeemed_points"] > 0)
        else:
            kinds["return_reversal"] += totals["points_refunded"] - totals["points_reversed"]
            delta = totals["points_refunded"] - totals["points_reversed"]
            entries += (totals["points_refunded"] > 0) + (totals["points_reversed"] > 0)
        per_account[customer["account"]] = per_account.get(customer["account"], 0) + delta
    return per_account, kinds, ids, entries


def ledger_figures(db_url: str, accounts: list[str]) -> dict[str, Any]:
    with Ledger(db_url) as led:
        led.audit_pending()
        assert led.check() == []
        with led.storage.transaction() as tx:
            balances = {str(a): int(p) for a, p in tx.all("SELECT account, points FROM accounts")}
            kinds = {str(k): int(s) for k, s in tx.all(
                "SELECT kind, SUM(points) FROM journal WHERE entry_id <> 'opening' GROUP BY kind")}
            sales = [str(r[0]) for r in tx.all("SELECT txn_id FROM sales")]
            twice = tx.all("SELECT txn_id, kind, COUNT(*) FROM journal WHERE kind IN "
                           "('accrual', 'redemption') GROUP BY txn_id, kind HAVING COUNT(*) > 1")
            entries = tx.one("SELECT COUNT(*) FROM journal WHERE txn_id IS NOT NULL")
            audits = dict(tx.all("SELECT outcome, COUNT(*) FROM audits GROUP BY outcome"))
            seqs = tx.all("SELECT till, high_water FROM till_state")
    return {"balances": {a: balances.get(a) for a in accounts}, "kinds": kinds, "sales": sales,
            "twice": twice, "entries": int(entries[0]), "audits": audits, "high_water": {str(t): int(h) for t, h in seqs}}


def test_a_drained_fleet_leaves_the_ledger_equal_to_the_sums_of_its_tills_outboxes(
        served: LedgerServer, tmp_path: Path) -> None:
    db_url = served.url
    result = run_fleet(served.base_url, db_url, SMALL, work_dir=tmp_path / "tills",
                       upload_threads=4)

    assert result.drained and result.pending == 0 and result.errors == 0
    assert result.rejected == 0
    c = result.counters
    assert c.sales > 500 and c.returns > 0 and c.qr_sales > 0 and c.card_sales > 0
    assert c.redemptions > 0 and c.holds > 0
    # offline periods happened, tills sold through them, and every one caught up
    assert c.offline_periods > 0 and c.offline_sales > 0
    assert c.caught_up >= c.offline_periods

    per_account, kinds, ids, entries = expected_from_outboxes(result)
    opening = {m.account: m.opening_balance for m in make_plan(SMALL).members}
    got = ledger_figures(db_url, result.accounts)
    assert got["balances"] == {a: opening[a] + per_account.get(a, 0) for a in result.accounts}
    assert got["kinds"] == {k: v for k, v in kinds.items() if v}
    # exactly once: every transaction of every outbox, each once, each journal entry once
    assert len(ids) == len(set(ids)) == result.uploaded == c.sales + c.returns
    assert sorted(got["sales"]) == sorted(ids)
    assert got["twice"] == [] and got["entries"] == entries
    assert got["audits"] == {"ok": c.sales + c.returns}
    assert {t: got["high_water"][t] for t in result.tills} == {
        t: len(outbox_rows(p)) for t, p in zip(result.tills, result.till_dbs(), strict=True)}


def test_the_same_seed_plans_the_same_sales_and_another_seed_does_not() -> None:
    def plan_of(seed: int) -> list[Any]:
        plan = make_plan(FleetConfig(stores=2, tills=2, days=2, seed=seed, sales_per_day=30,
                                     start=date(2026, 11, 16)))
        return [m for m in plan.members] + [ev for t in plan.tills for ev in plan.events(t)]

    one, again, other = plan_of(3), plan_of(3), plan_of(4)
    assert one == again
    assert one != other
    kinds = Counter(type(ev).__name__ for ev in one if isinstance(ev, (Sale, Return, Offline, Online)))
    assert kinds["Sale"] > 100 and kinds["Offline"] == kinds["Online"]


def test_kopilka_sim_fleet_prints_a_summary_of_a_drained_fleet(tmp_path: Path) -> None:
    from cli import main

    server = LedgerServer("sqlite", tmp_path)
    try:
        out = CliRunner().invoke(main, [
            "sim", "fleet", "--ledger", server.base_url, "--db", server.url, "--stores", "2",
            "--tills", "1", "--days", "1", "--sales-per-day", "30", "--compress", "20000",
            "--seed", "2", "--offline-share", "1", "--work", str(tmp_path / "tills")])
    finally:
        server.close()
    assert out.exit_code == 0, out.output
    for what in ("sales", "txns uploaded", "acks (batches)", "retries", "offline periods",
                 "upload latency"):
        assert what in out.output
    assert "0 still queued" in out.output
    assert sorted(p.name for p in (tmp_path / "tills").glob("*.db")) == ["FL-0001-01.db",
                                                                         "FL-0002-01.db"]
