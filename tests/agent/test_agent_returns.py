"""Returns: found by receipt id, partial, cumulative, offline, printed."""
from __future__ import annotations

from typing import Any

import pytest

from agent import ReturnError
from agent._receipt import parse_printed
from agent._returns import make_return

MILK, CHEESE, APPLES = "4607000000014", "4607000000038", "2000000000053"


def sold(till, signer, redeem="max"):  # type: ignore[no-untyped-def]
    s = till.open_session()
    till.add_line(s.id, MILK, 3)
    till.add_line(s.id, CHEESE)
    till.add_line(s.id, APPLES, "0.455")
    till.identify(s.id, signer.token())
    till.redeem(s.id, redeem)
    return till.pay(s.id)


def test_returning_a_sale_in_pieces_gives_back_exactly_the_whole(make_till, signer, printer) -> None:
    till = make_till()
    s = sold(till, signer)
    sale = till.sale(s.receipt_id)["txn"]["result"]
    parts = [make_return(till, s.receipt_id, [{"line": 0, "qty": "1"}]),
             make_return(till, s.receipt_id, [{"line": 0, "qty": "2"}, {"line": 2, "qty": "0.2"}]),
             make_return(till, s.receipt_id, [{"line": 1, "qty": 1}, {"line": 2, "qty": "0.255"}])]
    total = {k: sum(p["totals"][k] for p in parts) for k in parts[0]["totals"]}
    assert total["refund"] == sale["totals"]["paid"]
    assert total["points_refunded"] == sale["totals"]["redeemed_points"]
    assert total["redeemed_refund"] == sale["totals"]["redeemed"]
    assert total["points_reversed"] == sale["totals"]["points"] - sale["bonus"]["welcome"] - sale["bonus"]["birthday"]
    rows = till.outbox.rows()
    assert [r.txn["kind"] for r in rows] == ["sale", "return", "return", "return"]
    assert rows[1].txn["original_txn_id"] == rows[0].txn_id
    assert rows[1].txn["returned"] == [{"line": 0, "qty": "1"}]
    back = parse_printed(printer.receipts[1])
    assert back["kind"] == "return" and back["totals"]["refund"] == parts[0]["totals"]["refund"]
    with pytest.raises(ReturnError) as info:
        make_return(till, s.receipt_id, [{"line": 0, "qty": 1}])
    assert info.value.reason == "too_much"


@pytest.mark.parametrize("items,reason", [
    ([], "empty"), ([{"line": 9}], "unknown_line"), ([{"line": "0"}], "unknown_line"),
    ([{"line": 0, "qty": 1}, {"line": 0, "qty": 1}], "duplicate_line"),
    ([{"line": 0, "qty": "1.5"}], "bad_qty"), ([{"line": 0, "qty": 4}], "too_much"),
    ([{"line": 0, "qty": -1}], "bad_qty"),
])
def test_bad_returns_are_refused_and_change_nothing(make_till, signer, items, reason) -> None:
    till = make_till()
    s = sold(till, signer)
    with pytest.raises(ReturnError) as info:
        make_return(till, s.receipt_id, items)
    assert info.value.reason == reason and len(till.outbox.rows()) == 1


def test_an_unknown_receipt_or_a_return_receipt_is_refused(make_till, signer) -> None:
    till = make_till()
    s = sold(till, signer)
    r = make_return(till, s.receipt_id, [{"line": 0, "qty": 1}])
    for key in ("KY-001-01/99", r["receipt_id"]):
        with pytest.raises(ReturnError) as info:
            make_return(till, key, [{"line": 0, "qty": 1}])
        assert info.value.reason == "unknown_receipt"


def test_a_return_by_txn_id_works_and_never_reverses_welcome_points(make_till, signer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, CHEESE)
    till.identify(s.id, signer.token(new=True))
    s = till.pay(s.id)
    sale = till.sale(s.receipt_id)["txn"]
    assert sale["result"]["bonus"]["welcome"] > 0
    r = make_return(till, sale["txn_id"], [{"line": 0}])
    welcome = sale["result"]["bonus"]["welcome"]
    assert r["totals"]["points_reversed"] == sale["result"]["totals"]["points"] - welcome


def _swap_bundle(till, bundle_doc, change) -> None:  # type: ignore[no-untyped-def]
    """The till moves to a newer bundle version (as after a delta)."""
    import copy

    from agent._catalog import Catalog

    doc = copy.deepcopy(bundle_doc)
    doc["version"] = int(doc.get("version", 1)) + 1
    change(doc)
    till.catalog = Catalog(doc)


def _paid(till: Any, *lines: tuple[str, Any]) -> Any:
    """A sale of ``(sku, qty)`` lines, paid (cash)."""
    s = till.open_session()
    for sku, qty in lines:
        till.add_line(s.id, sku, qty)
    return till.pay(s.id)


def test_a_kg_line_sold_in_whole_kilograms_comes_back_in_grams(make_till, signer) -> None:
    till = make_till()
    s = _paid(till, (APPLES, "1"), (MILK, 2))
    assert till.sale(s.receipt_id)["txn"]["result"]["lines"][0]["qty"] == "1"  # looks like pieces
    r = make_return(till, s.receipt_id, [{"line": 0, "qty": "0.25"}])
    assert r["lines"][0]["qty"] == "0.25"
    r = make_return(till, s.receipt_id, [{"line": 0, "qty": "0.75"}])
    with pytest.raises(ReturnError) as info:  # a pcs line stays whole
        make_return(till, s.receipt_id, [{"line": 1, "qty": "0.5"}])
    assert info.value.reason == "bad_qty"


def test_a_sale_priced_with_an_older_bundle_returns_with_that_bundles_units(make_till, bundle_doc) -> None:
    till = make_till()
    s = _paid(till, (APPLES, "2"), (MILK, 1))

    def apples_gone(doc):  # type: ignore[no-untyped-def]
        doc["catalog"] = [it for it in doc["catalog"] if it["sku"] != APPLES]
        for p in doc["promotions"]:
            p.get("targets", {}).get("skus", []) and p["targets"].update(
                skus=[k for k in p["targets"]["skus"] if k != APPLES])

    _swap_bundle(till, bundle_doc, apples_gone)
    assert APPLES not in till.catalog.items
    r = make_return(till, s.receipt_id, [{"line": 0, "qty": "0.5"}])
    assert r["lines"][0]["qty"] == "0.5" and r["totals"]["refund"] > 0
    assert "Яблоки" in r["receipt"]  # the name the sale was sold under


def test_a_legacy_sale_without_kept_units_is_never_guessed(make_till, bundle_doc) -> None:
    import json

    till = make_till()
    s = till.open_session()
    till.add_line(s.id, APPLES, "1")
    s = till.pay(s.id)
    with till.db.transaction() as conn:  # as committed before sales kept their units
        body = json.loads(conn.execute("SELECT body FROM agent_sale").fetchone()[0])
        body.pop("sold")
        conn.execute("UPDATE agent_sale SET body = ?", (json.dumps(body),))
    # same bundle version: its units are the sale's
    assert make_return(till, s.receipt_id, [{"line": 0, "qty": "0.1"}])["lines"][0]["qty"] == "0.1"
    _swap_bundle(till, bundle_doc, lambda doc: None)
    with pytest.raises(ReturnError) as info:
        make_return(till, s.receipt_id, [{"line": 0, "qty": "0.1"}])
    assert info.value.reason == "unknown_unit" and len(till.outbox.rows()) == 2


@pytest.mark.parametrize("items,status,reason", [
    ([{"line": 0, "qty": 1}, {"line": 0, "qty": 1}], 422, "duplicate_line"),
    ([{"line": 2, "qty": "0.2"}, {"line": 2, "qty": "0.1"}], 422, "duplicate_line"),
    ([{"line": 0, "qty": "1.5"}], 422, "bad_qty"),
    ([{"line": 2, "qty": "0.0001"}], 422, "bad_qty"),
    ([{"line": 0, "qty": 4}], 422, "too_much"),
    ([{"line": 7}], 404, "unknown_line"),
    ([], 422, "empty"),
    (["x"], 404, "unknown_line"),
])
def test_the_returns_desk_api_refuses_with_the_reason_and_the_field(make_till, signer, items, status, reason) -> None:
    import threading

    import httpx

    from agent._api import create_app
    from agent._runtime import ApiServer

    till = make_till()
    s = sold(till, signer)
    app = create_app(till, closing=threading.Event())
    server = ApiServer(app, "127.0.0.1", 0).start()
    try:
        r = httpx.post(server.url + "/v1/returns", json={"receipt": s.receipt_id, "items": items}, timeout=5,
                       headers={"Authorization": f"Bearer {app.state.api_token}"})
    finally:
        server.stop()
    assert (r.status_code, r.json()["error"]) == (status, reason), r.text
    if reason in ("duplicate_line", "bad_qty", "too_much"):
        assert r.json()["field"].startswith("items[")
    assert len(till.outbox.rows()) == 1
