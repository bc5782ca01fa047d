"""Returns: accrued points reversed and redeemed points refunded, per line."""
from __future__ import annotations

from sync.ledger import Ledger

from .helpers import ASGIClient, TillSim


def post(client: ASGIClient, till: TillSim, txns: list[dict]) -> list[dict]:
    resp = client.post("/v1/transactions", json=till.body(txns), headers=till.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def test_returning_a_whole_line_reverses_its_points_and_refunds_its_redeemed_points(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=200, available=500)
    post(client, till, [sale])
    after_sale = shop.balance("A-77")
    line = sale["result"]["lines"][2]  # one cheese, qty 1
    back = till.ret(sale, [(2, "1")])
    res = post(client, till, [back])[0]
    assert res["status"] == "accepted" and res["audit"] == "ok"
    (mine,) = res["lines"]
    assert mine["points_reversed"] == line["points"]
    assert mine["refund"] == line["paid"] and mine["redeemed_refund"] == line["redeemed"]
    assert shop.balance("A-77") == after_sale - mine["points_reversed"] + mine["points_refunded"]
    assert mine["points_refunded"] > 0
    assert shop.check() == []


def test_returning_a_line_in_steps_reverses_exactly_its_points_in_total(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=150, available=500)
    post(client, till, [sale])
    line = sale["result"]["lines"][1]  # milk, qty 3
    first = till.ret(sale, [(1, "1")])
    r1 = post(client, till, [first])[0]["lines"][0]
    with shop.storage.transaction() as tx:
        already = {int(r[0]): int(r[1]) for r in tx.all("SELECT line, qty_milli FROM return_lines")}
    second = till.ret(sale, [(1, "2")], already)
    r2 = post(client, till, [second])[0]
    assert r2["audit"] == "ok"
    r2 = r2["lines"][0]
    assert r1["points_reversed"] + r2["points_reversed"] == line["points"]
    assert r1["refund"] + r2["refund"] == line["paid"]
    assert r1["points_reversed"] == (2 * line["points"] * 1 + 3) // 6  # rhu(P*1, 3)
    assert shop.check() == []


def test_returning_more_than_was_sold_is_rejected_invalid(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    before = shop.balance("A-77")
    too_many = till.ret(sale, [(0, "3")])
    no_line = till.ret(sale, [(9, "1")])
    results = post(client, till, [too_many, no_line])
    assert [(r["status"], r["reason"]) for r in results] == [("rejected", "invalid")] * 2
    assert shop.balance("A-77") == before


def test_a_return_of_an_unknown_sale_is_rejected_unknown_original(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    ghost = till.sale("A-77")  # never uploaded
    res = post(client, till, [till.ret(ghost, [(0, "1")])])[0]
    assert (res["status"], res["reason"]) == ("rejected", "unknown_original")


def test_a_return_at_another_store_reverses_on_the_original_account(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    back = other_till.ret(sale, [(0, "2")])
    res = post(client, other_till, [back])[0]
    assert res["status"] == "accepted" and res["account"] == "A-77"
    assert res["journal"]["points_reversed"] == sale["result"]["lines"][0]["points"]
