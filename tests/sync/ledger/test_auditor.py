"""The audit worker: every uploaded sale re-priced after the acknowledgement, exactly once."""
from __future__ import annotations

import json
import threading
from typing import Any

from click.testing import CliRunner

from sync._hashchain import txn_hash
from sync.ledger import Ledger
from sync.ledger._auditor import Activity, Auditor
from sync.ledger.cli import ledger as ledger_group

from .helpers import ASGIClient, TillSim

DEADLINE = 30.0


def one(ledger: Ledger, sql: str, params: tuple = ()) -> tuple:
    with ledger.storage.transaction() as tx:
        row = tx.one(sql, params)
    assert row is not None
    return row


def tampered(till: TillSim) -> dict[str, Any]:
    sale = till.sale("A-77")
    sale["result"] = json.loads(json.dumps(sale["result"]))
    sale["result"]["totals"]["points"] += 50
    sale["hash"] = txn_hash({k: v for k, v in sale.items() if k != "hash"})
    return sale


def post(client: ASGIClient, till: TillSim, txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = client.post("/v1/transactions", json=till.body(txns), headers=till.headers)
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    return results


def test_a_tampered_sale_is_flagged_by_the_background_worker_after_the_answer(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    auditor = shop.start_auditor(max_defer=0.05)
    bad, honest = tampered(till), till.sale("A-77")
    results = post(client, till, [bad, honest])
    assert [(r["status"], r["audit"]) for r in results] == [("accepted", "queued")] * 2
    assert auditor.wait_idle(DEADLINE)
    assert shop.audits_queued() == 0
    outcome, detail = one(shop, "SELECT outcome, detail FROM audits WHERE txn_id = ?",
                          (bad["txn_id"],))
    assert outcome == "mismatch" and "totals.points" in detail
    assert one(shop, "SELECT outcome FROM audits WHERE txn_id = ?", (honest["txn_id"],)) == ("ok",)
    assert one(shop, "SELECT audit_mismatches FROM till_state WHERE till = ?",
               (till.till,)) == (1,)
    shop.stop_auditor()
    assert shop.auditor is None


def test_unaudited_sales_survive_a_restart_and_are_audited_by_the_next_worker(
        db_url: str, client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    bad = tampered(till)
    post(client, till, [bad] + [till.sale("A-77") for _ in range(3)])
    shop.close()  # the ledger stops before any audit ran (a crash leaves the same rows)
    with Ledger(db_url) as again:
        assert again.audits_queued() == 4
        assert one(again, "SELECT COUNT(*) FROM audits") == (0,)
        auditor = again.start_auditor()
        assert auditor.wait_idle(DEADLINE)
        assert again.audits_queued() == 0
        with again.storage.transaction() as tx:
            rows = dict(tx.all("SELECT outcome, COUNT(*) FROM audits GROUP BY outcome"))
        assert rows == {"mismatch": 1, "ok": 3}
        assert one(again, "SELECT audit_mismatches FROM till_state WHERE till = ?",
                   (till.till,)) == (1,)


def test_two_workers_racing_on_the_queue_audit_each_sale_once(
        db_url: str, client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    post(client, till, [tampered(till), till.sale("A-77"), tampered(till)])
    with Ledger(db_url) as other:
        rival = Auditor(other.storage, other.clock)

        class Overtaken(Auditor):
            """Prices its batch, then the rival audits the same rows before it records."""

            def _engine(self, digest: str, version: int) -> Any:
                assert rival.drain() == 3
                return super()._engine(digest, version)

        assert Overtaken(shop.storage, shop.clock).run_once() == 3
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM audits") == (3,)
        assert tx.one("SELECT COUNT(*) FROM audit_queue") == (0,)
    assert one(shop, "SELECT audit_mismatches FROM till_state WHERE till = ?",
               (till.till,)) == (2,)


def test_a_basket_the_engine_refuses_is_an_error_and_the_rest_of_the_batch_is_audited(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    broken = till.sale("A-77")
    broken["basket"] = dict(broken["basket"], store="NO-SUCH-STORE")
    broken["hash"] = txn_hash({k: v for k, v in broken.items() if k != "hash"})
    honest = till.sale("A-77")
    post(client, till, [broken, honest])
    assert shop.audit_pending() == 2
    outcome, detail = one(shop, "SELECT outcome, detail FROM audits WHERE txn_id = ?",
                          (broken["txn_id"],))
    assert outcome == "error" and "NO-SUCH-STORE" in detail
    assert one(shop, "SELECT outcome FROM audits WHERE txn_id = ?", (honest["txn_id"],)) == ("ok",)


def test_a_return_is_still_audited_during_its_upload(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    res = post(client, till, [till.ret(sale, [(0, "1")])])[0]
    assert (res["status"], res["audit"]) == ("accepted", "ok")
    assert shop.audits_queued() == 1  # only the sale waits for the worker


def test_the_worker_waits_for_a_pause_between_uploads() -> None:
    activity = Activity()
    entered, release = threading.Event(), threading.Event()

    def upload() -> None:
        with activity.busy():
            entered.set()
            release.wait(DEADLINE)

    worker = threading.Thread(target=upload)
    worker.start()
    try:
        assert entered.wait(DEADLINE)
        assert activity.wait_idle(0.01) is False
    finally:
        release.set()
        worker.join()
    assert activity.wait_idle(DEADLINE) is True


def test_ledger_audit_command_audits_what_is_queued(
        db_url: str, client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    post(client, till, [till.sale("A-77"), tampered(till)])
    out = CliRunner().invoke(ledger_group, ["audit", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "audited 2 sales"
    assert shop.audits_queued() == 0
    out = CliRunner().invoke(ledger_group, ["audit", "--db", db_url])
    assert out.output.strip() == "audited 0 sales"
