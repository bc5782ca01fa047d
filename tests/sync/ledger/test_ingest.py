"""Batch upload: exactly-once under duplicates, reordering, retries and crashes."""
from __future__ import annotations

import gzip
import json
import random

import pytest

from sync._hashchain import txn_hash
from sync.ledger import Ledger

from .helpers import ASGIClient, TillSim


def post(client: ASGIClient, till: TillSim, txns: list[dict]) -> dict:
    resp = client.post("/v1/transactions", json=till.body(txns), headers=till.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def one(ledger: Ledger, sql: str, params: tuple = ()) -> tuple:
    with ledger.storage.transaction() as tx:
        row = tx.one(sql, params)
    assert row is not None
    return row


def expected_effect(sales: list[dict]) -> int:
    return sum(s["result"]["totals"]["points"] - s["result"]["totals"]["redeemed_points"]
               for s in sales if s["customer"])


def test_a_sale_is_accepted_and_its_resend_is_a_duplicate_with_the_original_result(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=100, available=1000)
    first = post(client, till, [sale])["results"][0]
    assert first["status"] == "accepted"
    assert first["journal"] == {"accrual": sale["result"]["totals"]["points"], "redemption": -100}
    again = post(client, till, [sale])["results"][0]
    assert again["status"] == "duplicate"
    assert again["original"]["journal"] == first["journal"]
    assert again["original"]["accepted_at"] == first["accepted_at"]
    assert shop.balance("A-77") == 500 + expected_effect([sale])
    assert shop.check() == []


def test_duplicated_reordered_and_retried_batches_apply_every_sale_exactly_once(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    rng = random.Random(7)
    sales = [till.sale(rng.choice(["A-77", "B-01", None]), redeem=rng.choice([0, 10]),
                       available=40) for _ in range(40)]
    batches = [sales[i:i + 7] for i in range(0, 40, 7)]
    sends = batches + [rng.sample(sales, 10) for _ in range(4)] + batches[::-1]
    rng.shuffle(sends)
    for batch in sends:
        batch = batch + batch[:2]  # a batch that repeats itself
        rng.shuffle(batch)
        for res in post(client, till, batch)["results"]:
            assert res["status"] in ("accepted", "duplicate"), res
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM sales")[0] == 40
        assert tx.one("SELECT high_water FROM till_state WHERE till = ?", (till.till,))[0] == 40
    opening = {"A-77": 500, "B-01": 40}
    for account in opening:
        mine = [s for s in sales if s["customer"] and s["customer"]["account"] == account]
        assert shop.balance(account) == opening[account] + expected_effect(mine)
    assert shop.check() == []


def test_same_txn_id_with_another_body_is_rejected_txn_id_conflict(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    assert post(client, till, [sale])["results"][0]["status"] == "accepted"
    forged = dict(sale, at="2026-11-22T14:06:00+07:00")
    forged["hash"] = txn_hash(forged)
    res = post(client, till, [forged])["results"][0]
    assert (res["status"], res["reason"]) == ("rejected", "txn_id_conflict")
    assert shop.balance("A-77") == 500 + expected_effect([sale])
    assert one(shop, "SELECT rejected FROM till_state WHERE till = ?", (till.till,))[0] == 1


def test_txn_id_reused_by_another_till_for_the_same_account_is_a_conflict(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    copy = other_till.sale("A-77")
    copy["txn_id"] = sale["txn_id"]
    copy["hash"] = txn_hash(copy)
    res = post(client, other_till, [copy])["results"][0]
    assert (res["status"], res["reason"]) == ("rejected", "txn_id_conflict")
    assert one(shop, "SELECT COUNT(*) FROM till_seqs WHERE till = ?", (other_till.till,))[0] == 0


def test_a_reused_seq_is_rejected_seq_conflict_and_does_not_block_the_rest(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    a = till.sale("A-77")
    twin = till.sale("A-77", seq=1)
    b = till.sale("A-77", seq=2)
    results = post(client, till, [a, twin, b])["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["reason"] == "seq_conflict"
    assert shop.balance("A-77") == 500 + expected_effect([a, b])


def test_gaps_are_listed_and_the_high_water_mark_is_contiguous(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    from sync.ledger._ingest import gaps

    sales = [till.sale(None) for _ in range(7)]
    answer = post(client, till, [sales[i] for i in (0, 1, 3, 5, 6)])
    assert answer["high_water"] == 2
    with shop.storage.transaction() as tx:
        assert gaps(tx, till.till) == [(3, 3), (5, 5)]
    assert post(client, till, [sales[4]])["high_water"] == 2
    assert post(client, till, [sales[2]])["high_water"] == 7
    with shop.storage.transaction() as tx:
        assert gaps(tx, till.till) == []


def test_a_store_other_than_the_tills_is_rejected_bad_store(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    sale["store"] = "KY-002"
    sale["hash"] = txn_hash(sale)
    good = till.sale("A-77")
    results = post(client, till, [sale, good])["results"]
    assert (results[0]["status"], results[0]["reason"]) == ("rejected", "bad_store")
    assert results[1]["status"] == "accepted"


def test_an_invalid_txn_is_rejected_with_its_field_and_changes_nothing(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    tampered = till.sale("A-77")
    tampered["result"]["totals"]["points"] += 1000  # hash no longer describes the body
    missing = till.sale("A-77")
    del missing["mode"]
    missing["hash"] = txn_hash(missing)
    results = post(client, till, [tampered, missing, {"txn_id": 5}])["results"]
    assert [r["reason"] for r in results] == ["invalid"] * 3
    assert results[0]["detail"].startswith("hash")
    assert results[1]["detail"].startswith("mode")
    assert shop.balance("A-77") == 500
    assert one(shop, "SELECT COUNT(*) FROM till_seqs")[0] == 0


@pytest.mark.parametrize("at", ["2026-13-01T14:05:00+07:00", "2026-02-30T14:05:00+07:00",
                                "2016-12-31T23:59:60Z", "2026-11-22T14:05:00"])
def test_an_at_that_is_not_a_real_instant_is_rejected_naming_at(
        client: ASGIClient, till: TillSim, shop: Ledger, at: str) -> None:
    sale = till.sale("A-77")
    sale["at"] = at  # month 13, February 30, a leap second, no offset (fastcore.parse_instant)
    sale["hash"] = txn_hash(sale)
    (result,) = post(client, till, [sale])["results"]
    assert (result["status"], result["reason"], result["field"]) == ("rejected", "invalid", "at")
    assert shop.balance("A-77") == 500


def test_an_anonymous_sale_is_stored_without_journal_entries(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    assert post(client, till, [till.sale(None)])["results"][0]["status"] == "accepted"
    assert one(shop, "SELECT COUNT(*) FROM journal WHERE entry_id <> 'opening'")[0] == 0
    assert one(shop, "SELECT account FROM sales")[0] == f"anon:{till.till}"


def test_a_gzip_body_is_accepted(client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    data = gzip.compress(json.dumps(till.body([till.sale("A-77")])).encode())
    resp = client.post("/v1/transactions", content=data,
                       headers={**till.headers, "Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.json()["results"][0]["status"] == "accepted"


def test_a_sale_the_ledger_prices_differently_is_applied_and_flagged_in_the_audit(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    base = sale["result"]["totals"]["points"]
    honest = till.sale("A-77")
    bad = dict(sale)
    bad["result"] = json.loads(json.dumps(sale["result"]))
    bad["result"]["totals"]["points"] = base + 50
    bad["hash"] = txn_hash(bad)
    results = post(client, till, [bad, honest])["results"]
    assert [r["audit"] for r in results] == ["queued", "queued"]  # re-priced after the answer
    assert shop.audit_pending() == 2
    assert one(shop, "SELECT outcome FROM audits WHERE txn_id = ?", (honest["txn_id"],)) == ("ok",)
    row = one(shop, "SELECT outcome, detail FROM audits WHERE txn_id = ?", (bad["txn_id"],))
    assert row[0] == "mismatch" and "totals.points" in row[1]
    assert one(shop, "SELECT audit_mismatches FROM till_state WHERE till = ?", (till.till,))[0] == 1
    # the claimed extra 50 is taken back by an audit_correction (spec/sync.md, Audit)
    assert shop.balance("A-77") == 500 + base + honest["result"]["totals"]["points"]
    assert one(shop, "SELECT points FROM journal WHERE kind = 'audit_correction'") == (-50,)
    assert shop.check() == []


def test_a_sale_on_a_bundle_version_the_ledger_never_had_is_audited_no_bundle(
        client: ASGIClient, till: TillSim, ledger: Ledger) -> None:
    sale = till.sale("A-77", bundle_version=42)
    res = post(client, till, [sale])["results"][0]
    assert (res["status"], res["audit"]) == ("accepted", "queued")
    assert ledger.audit_pending() == 1
    found = one(ledger, "SELECT outcome, detail FROM audits WHERE txn_id = ?", (sale["txn_id"],))
    assert found[0] == "no_bundle" and "42" in found[1]


def test_an_upload_interrupted_after_the_claim_is_completed_once_by_the_resend(
        till: TillSim, shop: Ledger) -> None:
    from sync.ledger._ingest import Result
    from sync.ledger._tills import TillRecord
    from sync.ledger._txn import validate

    sales = [till.sale("A-77") for _ in range(3)]
    me = TillRecord(till.till, till.store)
    results = [Result(s["txn_id"], s["seq"], txn=validate(s)) for s in sales]
    claimed = shop.ingest._claim(me, results, shop.now_text())  # crash after step 1
    shop.ingest._apply(claimed[:2], shop.now_text())             # ... or after part of step 2
    answer = shop.upload(me, till.body(sales))
    assert [r.status for r in answer.results] == ["duplicate", "duplicate", "accepted"]
    assert answer.high_water == 3
    assert shop.balance("A-77") == 500 + expected_effect(sales)
    assert shop.check() == []


def test_per_sale_commit_mode_gives_the_same_answers(db_url: str, till: TillSim,
                                                     shop: Ledger) -> None:
    from sync.ledger._tills import TillRecord

    with Ledger(db_url, clock=shop.clock, per_sale_commit=True) as led:
        sales = [till.sale("A-77"), till.sale("B-01")]
        answer = led.upload(TillRecord(till.till, till.store), till.body(sales + sales[:1]))
        assert [r.status for r in answer.results] == ["accepted", "accepted", "duplicate"]
        assert led.check() == []


def test_a_customer_known_only_by_card_is_credited_to_the_cards_account(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    from .helpers import CARD_C

    known = till.sale("B-01")
    known["customer"] = {"card": CARD_C, "account": None, "jti": None, "claims": None}
    known["hash"] = txn_hash(known)
    stranger = till.sale("B-01")
    stranger["customer"] = {"card": "2900000999992", "account": None}
    stranger["hash"] = txn_hash(stranger)
    results = post(client, till, [known, stranger])["results"]
    assert [r["account"] for r in results] == ["B-01", "card:2900000999992"]
    assert shop.balance("B-01") == 40 + known["result"]["totals"]["points"]
    assert shop.check() == []
