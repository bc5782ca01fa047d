"""Audit corrections: balances follow the ledger's arithmetic, bonuses are given once."""
from __future__ import annotations

import base64
import json

from sync.ledger import Ledger

from .helpers import CARD_A, CARD_C, ASGIClient, TillSim
from .rules import assert_sound, entries, forged, journal_sum, post, repriced


def audit_of(shop: Ledger, txn_id: str) -> tuple[str, str | None]:
    with shop.storage.transaction() as tx:
        row = tx.one("SELECT outcome, detail FROM audits WHERE txn_id = ?", (txn_id,))
    assert row is not None
    return str(row[0]), row[1]


def test_a_sale_claiming_more_points_than_its_re_pricing_gets_an_audit_correction(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    due = sale["result"]["totals"]["points"]
    claimed = forged(sale, "result.totals.points", 5000)
    assert post(client, till, [claimed])[0]["status"] == "accepted"
    assert shop.balance("A-77") == 500 + 5000  # what the till said, until re-priced
    assert shop.audit_pending() == 1
    (fix,) = entries(shop, "A-77", "audit_correction")
    assert fix[0] == f"{sale['txn_id']}:audit_correction" and fix[1] == due - 5000
    assert f"{due} points accrued" in (fix[2] or "") and "claimed 5000" in (fix[2] or "")
    assert shop.balance("A-77") == 500 + due == journal_sum(shop, "A-77")
    outcome, detail = audit_of(shop, sale["txn_id"])
    assert outcome == "mismatch" and f"totals.points: {due} != 5000" in (detail or "")
    assert shop.audit_pending() == 0 and len(entries(shop, "A-77", "audit_correction")) == 1
    assert_sound(shop)


def test_a_sale_redeeming_less_than_its_re_pricing_is_corrected_by_the_difference(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=100, available=500)
    light = forged(sale, "result.totals.redeemed_points", 10)
    assert post(client, till, [light])[0]["status"] == "accepted"
    shop.audit_pending()
    (fix,) = entries(shop, "A-77", "audit_correction")
    assert fix[1] == -90
    assert shop.balance("A-77") == 500 - 100 + sale["result"]["totals"]["points"]
    assert_sound(shop)


def test_a_till_giving_fewer_points_than_due_is_a_mismatch_but_never_mints(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = forged(till.sale("A-77"), "result.totals.points", 1)
    post(client, till, [sale])
    shop.audit_pending()
    assert entries(shop, "A-77", "audit_correction") == []
    assert audit_of(shop, sale["txn_id"])[0] == "mismatch"
    assert shop.balance("A-77") == 501


def test_an_anonymous_sale_is_never_corrected(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = forged(till.sale(None), "result.totals.points", 5000)
    post(client, till, [sale])
    shop.audit_pending()
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM journal WHERE kind = 'audit_correction'")[0] == 0


def test_a_second_welcome_bonus_is_taken_back_by_an_audit_correction(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    first = repriced(till.sale("B-01"), first_purchase=True)
    second = repriced(till.sale("B-01"), first_purchase=True)
    welcome = first["result"]["bonus"]["welcome"]
    assert welcome == 100
    res = post(client, till, [first, second])
    assert [r["status"] for r in res] == ["accepted", "accepted"]
    assert res[1]["journal"]["audit_correction"] == -welcome
    (fix,) = entries(shop, "B-01", "audit_correction")
    assert fix[0] == f"{second['txn_id']}:audit_correction:welcome" and fix[1] == -welcome
    shop.audit_pending()  # the re-pricing agrees with the till: nothing taken twice
    assert len(entries(shop, "B-01", "audit_correction")) == 1
    points = first["result"]["totals"]["points"] + second["result"]["totals"]["points"]
    assert shop.balance("B-01") == 40 + points - welcome
    assert_sound(shop)


def test_the_birthday_bonus_is_given_once_a_year_even_over_three_sales_the_same_day(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sales = [repriced(till.sale("A-77"), birthday="1990-11-22", birthday_bonus_available=True)
             for _ in range(3)]
    bonus = sales[0]["result"]["bonus"]["birthday"]
    assert bonus == 200
    res = post(client, till, sales[:1]) + post(client, till, sales[1:])
    assert [r["status"] for r in res] == ["accepted"] * 3
    fixes = entries(shop, "A-77", "audit_correction")
    assert sorted(f[0] for f in fixes) == sorted(f"{s['txn_id']}:audit_correction:birthday"
                                                 for s in sales[1:])
    assert all(f[1] == -bonus for f in fixes)
    shop.audit_pending()
    assert len(entries(shop, "A-77", "audit_correction")) == 2
    total = sum(s["result"]["totals"]["points"] for s in sales)
    assert shop.balance("A-77") == 500 + total - 2 * bonus
    assert_sound(shop)


def test_the_customer_look_up_says_whether_the_welcome_and_birthday_bonus_are_still_due(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    before = client.get(f"/v1/customers/{CARD_A}", headers=till.headers).json()
    assert before["first_purchase"] is True and before["birthday_bonus_available"] is True
    sale = repriced(till.sale("A-77"), birthday="1990-11-22", birthday_bonus_available=True)
    post(client, till, [sale])
    after = client.get(f"/v1/customers/{CARD_A}", headers=till.headers).json()
    assert after["first_purchase"] is False and after["birthday_bonus_available"] is False
    no_birthday = client.get(f"/v1/customers/{CARD_C}", headers=till.headers).json()
    assert no_birthday["birthday_bonus_available"] is False


def test_a_token_says_new_and_bdok_from_the_ledgers_record(
        till: TillSim, shop: Ledger) -> None:
    def claims() -> dict:
        body = shop.issue_token(CARD_A).split(".")[1]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    assert (claims()["new"], claims()["bdok"]) == (True, True)
    from sync.ledger import TillRecord

    sale = repriced(till.sale("A-77"), birthday="1990-11-22", birthday_bonus_available=True)
    shop.upload(TillRecord(till.till, till.store), till.body([sale]))
    assert (claims()["new"], claims()["bdok"]) == (False, False)


def test_birthday_sales_that_also_redeem_are_corrected_the_same_way_one_by_one(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sales = [repriced(till.sale("A-77", redeem=10, available=500), birthday="1990-11-22",
                      birthday_bonus_available=True) for _ in range(3)]
    assert all(s["result"]["totals"]["redeemed_points"] == 10 for s in sales)
    res = post(client, till, sales)
    assert [r["status"] for r in res] == ["accepted"] * 3
    assert [r["journal"].get("audit_correction") for r in res] == [None, -200, -200]
    assert len(entries(shop, "A-77", "audit_correction")) == 2
    assert_sound(shop)
