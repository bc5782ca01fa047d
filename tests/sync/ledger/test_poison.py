"""A TXN that cannot be applied is rejected alone; only what a retry can fix is a 5xx."""
from __future__ import annotations

import json
from typing import Any

import pytest

from sync.ledger import Ledger, StorageError
from sync.ledger._ingest import Ingest

from .helpers import ASGIClient, TillSim
from .rules import assert_sound, forged, post, results_of, snapshot


def test_a_sale_with_a_non_object_bonus_is_rejected_and_the_rest_of_the_batch_is_accepted(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    first, bad, last = till.sale("A-77"), till.sale("A-77"), till.sale("B-01")
    res = post(client, till, [first, forged(bad, "result.bonus", [1, 2]), last])
    assert [r["status"] for r in res] == ["accepted", "rejected", "accepted"]
    assert (res[1]["reason"], res[1]["field"]) == ("invalid", "result.bonus")
    assert_sound(shop)


@pytest.mark.parametrize("path", ["hold_id", "customer.account", "engine_version", "till_note"])
def test_nul_characters_in_text_are_rejected_invalid(
        client: ASGIClient, till: TillSim, shop: Ledger, path: str) -> None:
    before = snapshot(shop)
    (res,) = post(client, till, [forged(till.sale("A-77"), path, "x\x00y")])
    assert (res["status"], res["reason"], res["field"]) == ("rejected", "invalid", path)
    assert snapshot(shop) == before


def test_nesting_960_levels_deep_is_rejected_invalid_not_5xx(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    deep: Any = 1
    for _ in range(960):
        deep = [deep]
    sale["basket"]["note"] = deep
    sale["hash"] = "0" * 64  # the depth is refused before the hash is looked at
    head = json.dumps(till.body([]))[:-2]  # '{"till": ..., "transactions": ['
    text = json.dumps({k: v for k, v in sale.items() if k != "basket"})[:-1]
    body = (head + text + ', "basket": {"note": ' + "[" * 960 + "1" + "]" * 960 + "}}]}")
    resp = client.post("/v1/transactions", content=body.encode(), headers={
        **till.headers, "content-type": "application/json"})
    (res,) = results_of(resp, [sale])
    assert (res["status"], res["reason"]) == ("rejected", "invalid")
    assert "deeper than 64 levels" in res["detail"]


def test_a_body_nested_beyond_the_parsers_reach_is_a_400_not_a_5xx(
        client: ASGIClient, till: TillSim) -> None:
    body = '{"till": "KY-001-01", "store": "KY-001", "transactions": [' + "[" * 100_000
    resp = client.post("/v1/transactions", content=body.encode(), headers={
        **till.headers, "content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"] in ("bad_json", "invalid")


def test_a_return_whose_original_has_malformed_lines_is_rejected_not_5xx(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    assert post(client, till, [sale])[0]["status"] == "accepted"
    # a row stored before the ledger checked sale lines (or edited by hand)
    body = json.loads(_body(shop, sale["txn_id"]))
    body["result"]["lines"] = [1, "two", {"qty": "x"}]
    with shop.storage.transaction() as tx:
        tx.execute("UPDATE sales SET body = ? WHERE txn_id = ?", (json.dumps(body), sale["txn_id"]))
    before = snapshot(shop)
    (res,) = post(client, till, [till.ret(sale, [(0, "1")])])
    assert (res["status"], res["reason"]) == ("rejected", "invalid"), res
    assert snapshot(shop) == before


def _body(shop: Ledger, txn_id: str) -> str:
    with shop.storage.transaction() as tx:
        row = tx.one("SELECT body FROM sales WHERE txn_id = ?", (txn_id,))
    assert row is not None
    return str(row[0])


def test_an_unforeseen_failure_applying_one_txn_rejects_it_alone(
        client: ASGIClient, till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    poison = till.sale("A-77", redeem=10, available=500)  # redeems: applied one by one
    real = Ingest._apply_sale

    def apply_sale(self: Ingest, tx: Any, res: Any, now: str) -> None:
        real(self, tx, res, now)  # written, then the database refuses something
        if res.txn.txn_id == poison["txn_id"]:
            raise ValueError("a value the database refuses")

    monkeypatch.setattr(Ingest, "_apply_sale", apply_sale)
    before = snapshot(shop)
    res = post(client, till, [poison])
    assert (res[0]["status"], res[0]["reason"]) == ("rejected", "invalid")
    assert "ValueError" in res[0]["detail"]
    assert snapshot(shop) == before  # its savepoint was undone
    again = post(client, till, [poison, till.sale("A-77")])  # a retry: the same answer
    assert [r["status"] for r in again] == ["rejected", "accepted"]
    assert_sound(shop)


def test_a_failure_in_the_set_based_path_falls_back_to_one_by_one(
        client: ASGIClient, till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.ledger import _bulk

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unexpected shape")

    monkeypatch.setattr(_bulk, "write_sales", broken)
    sales = [till.sale("A-77") for _ in range(3)]
    assert [r["status"] for r in post(client, till, sales)] == ["accepted"] * 3
    assert_sound(shop)


def test_a_database_that_is_unavailable_is_a_503_and_nothing_is_half_applied(
        client: ASGIClient, till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Ingest._apply_return

    def down(self: Ingest, tx: Any, res: Any, now: str) -> None:
        raise StorageError("unavailable", "the database went away")

    sale = till.sale("A-77")
    post(client, till, [sale])
    monkeypatch.setattr(Ingest, "_apply_return", down)
    before = snapshot(shop)
    back = till.ret(sale, [(0, "1")])
    resp = client.post("/v1/transactions", json=till.body([back]), headers=till.headers)
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    assert snapshot(shop) == before
    monkeypatch.setattr(Ingest, "_apply_return", real)
    assert post(client, till, [back])[0]["status"] == "accepted"  # the retry goes through


def test_another_tills_sale_reusing_a_txn_id_never_mixes_with_the_victims_return(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    victim = till.sale("A-77")
    assert post(client, till, [victim])[0]["status"] == "accepted"
    thief = forged(other_till.sale("B-01"), "txn_id", victim["txn_id"])
    assert post(client, other_till, [thief])[0]["status"] == "accepted"  # its own account
    same_account = forged(other_till.sale("A-77"), "txn_id", victim["txn_id"])
    (res,) = post(client, other_till, [same_account])
    assert (res["status"], res["reason"]) == ("rejected", "txn_id_conflict")
    back = till.ret(victim, [(0, "1")])
    (res,) = post(client, till, [back])
    assert res["status"] == "accepted" and res["account"] == "A-77"
    assert res["journal"]["points_reversed"] == back["result"]["lines"][0]["points_reversed"]
    # the thief returning "its" sale on the victim's account finds nothing of its own
    stolen = other_till.ret(thief, [(0, "1")])
    stolen["customer"] = victim["customer"]
    stolen.pop("original_till", None)
    (res,) = post(client, other_till, [forged(stolen, "customer", victim["customer"])])
    assert (res["status"], res["reason"]) == ("rejected", "unknown_original")
    assert_sound(shop)


def test_a_return_naming_another_till_resolves_only_against_that_tills_sale(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    post(client, till, [sale])
    wrong = forged(other_till.ret(sale, [(0, "1")]), "original_till", "KY-009-01")
    (res,) = post(client, other_till, [wrong])
    assert (res["status"], res["reason"]) == ("rejected", "unknown_original")
    right = other_till.ret(sale, [(0, "1")])
    assert post(client, other_till, [right])[0]["status"] == "accepted"
