"""Holds for online redemption: placed within the balance, consumed, released, expired."""
from __future__ import annotations

import uuid

from sync.ledger import Ledger

from .conftest import FakeClock
from .helpers import ASGIClient, TillSim


def hold(client: ASGIClient, till: TillSim, points: int, account: str = "A-77",
         txn_id: str | None = None):
    return client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": account, "points": points,
        "txn_id": txn_id or str(uuid.uuid4())})


def test_a_hold_within_the_balance_is_placed_and_reduces_the_available_points(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    resp = hold(client, till, 300)
    assert resp.status_code == 201
    body = resp.json()
    assert body["points"] == 300 and body["expires_at"] == "2026-11-22T07:15:00Z"
    assert shop.available("A-77") == 200
    assert client.get("/v1/customers/2900000123465", headers=till.headers).json()["balance"] == 200


def test_a_hold_above_the_available_balance_is_refused_409(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    assert hold(client, till, 400).status_code == 201
    resp = hold(client, till, 101)
    assert resp.status_code == 409
    assert resp.json()["error"] == "insufficient_balance"
    assert resp.json()["available"] == 100
    assert shop.available("A-77") == 100


def test_an_expired_hold_no_longer_counts_by_the_ledger_clock(
        client: ASGIClient, till: TillSim, shop: Ledger, clock: FakeClock) -> None:
    assert hold(client, till, 500).status_code == 201
    clock.advance(minutes=14, seconds=59)
    assert hold(client, till, 1).status_code == 409
    clock.advance(seconds=1)
    assert shop.available("A-77") == 500
    assert hold(client, till, 500).status_code == 201
    with shop.storage.transaction() as tx:
        states = sorted(r[0] for r in tx.all("SELECT state FROM holds"))
    assert states == ["active", "expired"]


def test_the_uploaded_sale_consumes_its_hold_and_journals_the_redemption(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77", redeem=100, available=500)
    placed = hold(client, till, 100, txn_id=sale["txn_id"]).json()
    sale = till.sale("A-77", redeem=100, available=500, hold_id=placed["hold_id"], seq=1,
                     mode="online")
    till.seq = 1
    resp = client.post("/v1/transactions", json=till.body([sale]), headers=till.headers)
    assert resp.json()["results"][0]["status"] == "accepted"
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT state FROM holds")[0] == "consumed"
    earned = sale["result"]["totals"]["points"]
    assert shop.balance("A-77") == 500 - 100 + earned
    assert shop.available("A-77") == 500 - 100 + earned
    again = client.delete(f"/v1/holds/{placed['hold_id']}", headers=till.headers)
    assert again.status_code == 409 and again.json()["error"] == "hold_consumed"


def test_placing_again_for_the_same_sale_resizes_the_hold(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    txn_id = str(uuid.uuid4())
    first = hold(client, till, 450, txn_id=txn_id).json()
    second = hold(client, till, 480, txn_id=txn_id).json()
    assert first["hold_id"] == second["hold_id"]
    assert shop.available("A-77") == 20


def test_a_released_hold_frees_the_points_and_releasing_twice_is_fine(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    placed = hold(client, till, 200).json()
    for _ in range(2):
        resp = client.delete(f"/v1/holds/{placed['hold_id']}", headers=till.headers)
        assert resp.status_code == 200 and resp.json() == {"released": True}
    assert shop.available("A-77") == 500


def test_a_till_cannot_release_another_tills_hold(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    placed = hold(client, till, 200).json()
    resp = client.delete(f"/v1/holds/{placed['hold_id']}", headers=other_till.headers)
    assert resp.status_code == 403
    assert shop.available("A-77") == 300


def test_hold_requests_that_are_wrong_get_a_specific_4xx_and_change_nothing(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    base = {"till": till.till, "account": "A-77", "points": 10, "txn_id": str(uuid.uuid4())}
    cases = [
        ({**base, "points": 0}, 400, "points"),
        ({**base, "points": True}, 400, "points"),
        ({**base, "points": "10"}, 400, "points"),
        ({**base, "txn_id": "nope"}, 400, "txn_id"),
        ({**base, "account": ""}, 400, "account"),
        ({**base, "till": other_till.till}, 403, "till"),
        ({**base, "store": "KY-002"}, 403, "store"),
        ({**base, "account": "NOBODY"}, 404, "account"),
        ([1, 2], 400, None),
    ]
    for body, status, field in cases:
        resp = client.post("/v1/holds", json=body, headers=till.headers)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json().get("field") == field
    assert client.delete("/v1/holds/garbage", headers=till.headers).status_code == 404
    unknown = "0" * 32 + ".QS03Nw"
    assert client.delete(f"/v1/holds/{unknown}", headers=till.headers).status_code == 404
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM holds")[0] == 0
