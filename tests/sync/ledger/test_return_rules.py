"""Returns under the ledger's rules: §8 arithmetic with the sale's units, never more than sold."""
from __future__ import annotations

from sync.ledger import Ledger

from .helpers import ASGIClient, TillSim
from .rules import assert_sound, forged, post, snapshot

KG = "2000000000053"  # a weighed item of the example bundle


def test_a_return_naming_the_same_line_twice_is_refused(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    before = snapshot(shop)
    twice = forged(till.ret(sale, [(1, "1")]), "returned", [{"line": 1, "qty": "1"},
                                                             {"line": 1, "qty": "1"}])
    (res,) = post(client, till, [twice])
    assert (res["status"], res["reason"], res["field"]) == ("rejected", "invalid", "returned[1].line")
    assert snapshot(shop) == before


def test_a_weighed_line_sold_as_1_comes_back_in_fractions_and_a_piece_line_only_whole(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", lines=[{"sku": KG, "qty": "1"}, {"sku": "4607000000014", "qty": 3}])
    post(client, till, [sale])
    quarter = till.ret(sale, [(0, "0.25")])
    res = post(client, till, [quarter])[0]
    assert res["status"] == "accepted" and res["audit"] == "ok"
    before = snapshot(shop)
    half_a_carton = till.ret(sale, [(1, "0.5")])
    (res,) = post(client, till, [half_a_carton])
    assert (res["status"], res["reason"]) == ("rejected", "invalid")
    assert "bad_qty" in res["detail"]
    assert snapshot(shop) == before


def test_returning_a_line_in_steps_never_gives_back_more_than_was_sold(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=150, available=500)
    post(client, till, [sale])
    line = sale["result"]["lines"][1]  # qty 3
    got = []
    for already in (0, 1000, 2000):
        res = post(client, till, [till.ret(sale, [(1, "1")], {1: already})])[0]
        assert res["status"] == "accepted"
        got.append(res["lines"][0])
    assert sum(x["points_reversed"] for x in got) == line["points"]
    assert sum(x["refund"] for x in got) == line["paid"]
    (res,) = post(client, till, [till.ret(sale, [(1, "1")], {1: 3000})])
    assert (res["status"], res["reason"]) == ("rejected", "invalid")
    assert "too_much" in res["detail"]
    assert_sound(shop)


def test_reversed_points_may_take_the_balance_below_zero_and_later_accruals_raise_it(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("B-01")
    post(client, till, [sale])
    shop.adjust("B-01", -shop.balance("B-01"))  # the customer spent everything
    res = post(client, till, [till.ret(sale, [(0, "2"), (1, "3"), (2, "1")])])[0]
    assert res["status"] == "accepted"
    earned = sale["result"]["totals"]["points"]
    assert shop.balance("B-01") == -earned
    assert shop.available("B-01") == -earned  # kept, and listed below zero
    later = till.sale("B-01")
    post(client, till, [later])
    assert shop.balance("B-01") == -earned + later["result"]["totals"]["points"]
    assert_sound(shop)


def test_a_return_of_an_anonymous_sale_names_no_customer_and_finds_its_tills_sale(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    sale = till.sale(None)
    post(client, till, [sale])
    res = post(client, till, [till.ret(sale, [(0, "1")])])[0]
    assert res["status"] == "accepted" and res["account"] == f"anon:{till.till}"
    elsewhere = post(client, other_till, [other_till.ret(sale, [(0, "1")])])[0]
    assert elsewhere["status"] == "accepted" and elsewhere["account"] == f"anon:{till.till}"


def test_a_return_naming_another_customer_than_its_sale_is_unknown_original(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    back = forged(till.ret(sale, [(0, "1")]), "customer.account", "B-01")
    (res,) = post(client, till, [back])
    assert (res["status"], res["reason"]) == ("rejected", "unknown_original")
