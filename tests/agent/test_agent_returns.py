"""Returns: found by receipt id, partial, cumulative, offline, printed."""
from __future__ import annotations

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
