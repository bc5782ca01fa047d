"""Holds and the overdraft rule: who may redeem what (spec/sync.md, spec/token.md)."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from sync.ledger import Ledger

from .conftest import FakeClock
from .helpers import ASGIClient, TillSim
from .rules import assert_sound, forged, post, rehash, snapshot


def hold(client: ASGIClient, till: TillSim, points: int, txn_id: str,
         account: str = "A-77") -> dict[str, Any]:
    resp = client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": account, "points": points, "txn_id": txn_id})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def states(shop: Ledger) -> list[str]:
    with shop.storage.transaction() as tx:
        return [str(r[0]) for r in tx.all("SELECT state FROM holds ORDER BY created_at, hold_id")]


def online(till: TillSim, account: str, redeem: int, available: int,
           hold_id: str | None = None, txn_id: str | None = None) -> dict[str, Any]:
    sale = till.sale(account, redeem=redeem, available=available, hold_id=hold_id, mode="online")
    if txn_id is not None:
        sale["txn_id"] = txn_id
        rehash(sale)
    return sale


def test_a_sale_closes_its_tills_hold_carrying_its_txn_id_even_without_naming_it(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    txn_id = str(uuid.uuid4())
    hold(client, till, 100, txn_id)  # the answer was lost: the sale names no hold
    assert shop.available("A-77") == 400
    sale = online(till, "A-77", 100, 500, txn_id=txn_id)
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert states(shop) == ["consumed"]
    earned = sale["result"]["totals"]["points"]
    assert shop.available("A-77") == shop.balance("A-77") == 500 - 100 + earned


def test_a_plain_sale_carrying_a_holds_txn_id_closes_it_too(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    txn_id = str(uuid.uuid4())
    hold(client, till, 50, txn_id)
    sale = online(till, "A-77", 0, 500, txn_id=txn_id)  # the customer changed her mind
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert states(shop) == ["consumed"]
    assert shop.available("A-77") == shop.balance("A-77")


def test_another_tills_sale_cannot_consume_a_hold_nor_redeem_through_it(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    txn_id = str(uuid.uuid4())
    placed = hold(client, till, 500, txn_id)
    before = snapshot(shop)
    theirs = online(other_till, "A-77", 300, 500, hold_id=placed["hold_id"], txn_id=txn_id)
    (res,) = post(client, other_till, [theirs])
    assert (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert res["field"] == "result.totals.redeemed_points"
    assert snapshot(shop) == before and states(shop) == ["active"]
    assert shop.available("A-77") == 0


def test_an_expired_hold_no_longer_locks_the_points(
        client: ASGIClient, till: TillSim, shop: Ledger, clock: FakeClock) -> None:
    hold(client, till, 500, str(uuid.uuid4()))
    assert shop.available("A-77") == 0
    clock.advance(minutes=15)
    assert shop.available("A-77") == 500
    sale = online(till, "A-77", 200, 500)  # another sale may now redeem them
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert_sound(shop)


def test_an_online_sale_without_a_hold_cannot_redeem_beyond_the_available_balance(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    before = snapshot(shop)
    greedy = forged(online(till, "B-01", 0, 40), "result.totals.redeemed_points", 100_000)
    (res,) = post(client, till, [greedy])
    assert (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert "at most 40" in res["detail"]
    assert snapshot(shop) == before
    fair = online(till, "B-01", 40, 40)
    assert post(client, till, [fair])[0]["status"] == "accepted"
    assert shop.balance("B-01") >= 0
    assert_sound(shop)


def test_an_online_sale_redeems_against_its_hold_even_if_the_balance_dropped_meanwhile(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    txn_id = str(uuid.uuid4())
    placed = hold(client, till, 300, txn_id)
    shop.adjust("A-77", -400)  # e.g. an expiry ran
    sale = online(till, "A-77", 300, 500, hold_id=placed["hold_id"], txn_id=txn_id)
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert shop.balance("A-77") == 100 - 300 + sale["result"]["totals"]["points"]
    assert_sound(shop)


def with_token(sale: dict[str, Any], cap: int) -> dict[str, Any]:
    sale["customer"]["jti"] = uuid.uuid4().hex
    sale["customer"]["claims"] = {"cap": cap, "bal": cap}
    return rehash(sale)


def test_an_offline_sale_may_overdraw_within_its_token_cap_and_the_balance_stays_negative(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = with_token(till.sale("B-01", redeem=300, available=300), cap=300)
    assert sale["result"]["totals"]["redeemed_points"] == 300
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert shop.balance("B-01") == 40 - 300 + sale["result"]["totals"]["points"] < 0
    assert_sound(shop)


def test_an_offline_sale_beyond_its_token_cap_is_an_overdraft(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    before = snapshot(shop)
    sale = with_token(till.sale("B-01", redeem=300, available=300), cap=200)
    (res,) = post(client, till, [sale])
    assert (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert snapshot(shop) == before


def test_a_token_cap_above_the_accounts_offline_cap_counts_only_up_to_it(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.import_members("card,account,offline_cap\n2900000123472,B-01,100\n")
    sale = with_token(till.sale("B-01", redeem=300, available=300), cap=300)
    (res,) = post(client, till, [sale])
    assert (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert "at most 100" in res["detail"]


def test_an_offline_card_sale_redeems_beyond_the_balance_only_within_the_card_cap(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    within = till.sale("B-01", redeem=40, available=40)  # the balance itself: fine
    assert post(client, till, [within])[0]["status"] == "accepted"
    beyond = till.sale("B-01", redeem=100, available=100)  # card cap is 0
    (res,) = post(client, till, [beyond])
    assert (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert_sound(shop)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_a_batch_redeeming_twice_from_one_balance_accepts_only_what_the_balance_covers(
        client: ASGIClient, till: TillSim, shop: Ledger, mode: str) -> None:
    first = till.sale("B-01", redeem=40, available=40, mode=mode)
    second = till.sale("B-01", redeem=40, available=40, mode=mode)
    res = post(client, till, [first, second])
    assert res[0]["status"] == "accepted"
    earned = first["result"]["totals"]["points"]
    if earned >= 40:
        assert res[1]["status"] == "accepted"
    else:
        assert (res[1]["status"], res[1]["reason"]) == ("rejected", "overdraft")
    assert_sound(shop)
