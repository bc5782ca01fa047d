"""till.md §5 on the bytes that reach the printer twin over TCP, decoded:
one layout for sale, return and copy, Russian, 48 or 32 columns, the card
masked the same way on paper and on the screen, discounts and points per
line and in total, and a return receipt naming its sale and its points."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from agent_kit import CARD

from agent._printing import DriversPrinter
from agent._receipt import line_points, parse_printed
from agent._returns import make_return
from hardware_sim._escpos_parse import parse_all
from hardware_sim._printer import PrinterTwin

MILK, CHEESE, COFFEE, BREAD = "4607000000014", "4607000000038", "4607000000090", "4607000000045"
LABEL_455G = "2000000004556"


@pytest.fixture(params=[48, 32], ids=["80mm", "58mm"])
def paper(request: pytest.FixtureRequest) -> Iterator[tuple[PrinterTwin, DriversPrinter, int]]:
    columns = request.param
    twin = PrinterTwin(port=0, render_png=False, columns=columns).start()
    port = DriversPrinter(f"tcp://127.0.0.1:{twin.port}", columns=columns)
    try:
        yield twin, port, columns
    finally:
        port.close()
        twin.stop()


def sold(till: Any, signer: Any) -> Any:
    s = till.open_session()
    for code in (MILK, MILK, CHEESE, COFFEE, BREAD, LABEL_455G, "SPRING300"):
        till.scan(s.id, code)
    till.identify(s.id, signer.token(bal=900, cap=700))
    till.redeem(s.id, "max")
    return till.pay(s.id, "cash")


def test_the_sale_receipt_on_paper_matches_the_committed_sale(make_till, signer, paper) -> None:
    twin, port, columns = paper
    till = make_till(printer=port)
    s = sold(till, signer)
    assert twin.wait_for_receipts(1)
    printed = twin.receipts[0]
    txn = till.sale(s.receipt_id)["txn"]
    res = txn["result"]
    got = parse_printed(printed.text)
    assert got["kind"] == "sale" and got["receipt_id"] == s.receipt_id and not got["copy"]
    assert printed.qrs == [s.receipt_id] and printed.cut == "full" and twin.drawer_kicks  # cash: drawer
    assert all(len(row) <= columns for row in printed.text.splitlines()), printed.text
    assert "Чек" in printed.text and "ИТОГО" in printed.text and "Сумма" in printed.text
    # per line: quantity, amount, discount, points spent (allocated as returns do) and earned
    shares = line_points(res)
    assert [(ln["qty"], ln["amount"], ln["discount"], ln["points_spent"], ln["points_earned"])
            for ln in got["lines"]] == \
        [(ln["qty"], ln["amount"], ln["discount"], shares[i] if ln["redeemed"] else 0, ln["points"])
         for i, ln in enumerate(res["lines"])]
    assert any(ln["qty"] == "0.455" for ln in got["lines"]) and "0.455 кг x 169.90" in printed.text
    assert sum(shares) == res["totals"]["redeemed_points"] > 0
    tot = got["totals"]
    assert (tot["subtotal"], tot["discount"], tot["total"], tot["redeemed"]) == \
        (res["totals"]["amount"], res["totals"]["discount"], res["totals"]["paid"], res["totals"]["redeemed"])
    assert tot["points_spent"] == res["totals"]["redeemed_points"]
    assert tot["points_earned"] == res["totals"]["points"]
    # the card: last 4 digits, exactly as the screen shows it; never whole in the bytes
    assert tot["card"] == "****" + CARD[-4:] == till.view(s)["customer"]["card"]
    assert CARD.encode() not in printed.raw and CARD not in printed.text
    # one ESC/POS writer: the code page is set once, CP866, and the twin understood every byte
    ops = parse_all(printed.raw)
    assert [op for op in ops if op.name == "unknown"] == [] and twin.code_page == 17
    assert twin.unknown == []


def test_the_return_receipt_names_the_sale_the_refund_and_the_points_both_ways(
        make_till, signer, paper) -> None:
    twin, port, columns = paper
    till = make_till(printer=port)
    s = sold(till, signer)
    ret = make_return(till, s.receipt_id, [{"line": 0, "qty": 1}, {"line": 2}])
    assert twin.wait_for_receipts(2)
    printed = twin.receipts[1]
    got = parse_printed(printed.text)
    assert got["kind"] == "return" and got["receipt_id"] == ret["receipt_id"] and got["original"] == s.receipt_id
    assert "Возврат" in printed.text and f"По чеку {s.receipt_id}" in printed.text
    assert printed.qrs == [ret["receipt_id"]] and not twin.drawer_kicks[1:]  # a return opens no drawer here
    assert all(len(row) <= columns for row in printed.text.splitlines())
    t = ret["totals"]
    assert (got["totals"]["refund"], got["totals"]["redeemed_refund"]) == (t["refund"], t["redeemed_refund"])
    assert (got["totals"]["points_refunded"], got["totals"]["points_reversed"]) == \
        (t["points_refunded"], t["points_reversed"])
    assert t["points_refunded"] > 0 and t["points_reversed"] > 0
    assert [(ln["qty"], ln["refund"], ln["points_refunded"], ln["points_reversed"]) for ln in got["lines"]] == \
        [(ln["qty"], ln["refund"], ln["points_refunded"], ln["points_reversed"]) for ln in ret["lines"]]
    assert got["totals"]["card"] == "****" + CARD[-4:]


def test_a_copy_is_the_same_layout_marked_as_a_copy(make_till, signer, paper) -> None:
    twin, port, columns = paper
    till = make_till(printer=port)
    s = sold(till, signer)
    till.print_copy(s.receipt_id)
    assert twin.wait_for_receipts(2)
    first, copy = (parse_printed(r.text) for r in twin.receipts[:2])
    assert copy["copy"] and not first["copy"]
    assert twin.receipts[1].text.count("*** КОПИЯ ***") == 2
    assert {k: v for k, v in copy.items() if k != "copy"} == {k: v for k, v in first.items() if k != "copy"}
    assert len(twin.drawer_kicks) == 1  # the copy does not open the drawer again


def test_a_copy_of_an_unknown_receipt_is_refused(make_till) -> None:
    from agent import SessionError

    till = make_till()
    with pytest.raises(SessionError) as info:
        till.print_copy("KY-001-01/9")
    assert info.value.reason == "unknown_receipt"


def test_the_layout_speaks_english_when_the_store_does() -> None:
    from drivers._receipt import SaleInfo, as_text, layout, read_back

    result = {"lines": [{"sku": MILK, "qty": "2", "amount": 17980, "discount": 0, "redeemed": 0,
                         "paid": 17980, "points": 1, "promos": []}],
              "totals": {"amount": 17980, "discount": 0, "redeemed_points": 0, "redeemed": 0,
                         "paid": 17980, "points": 1}}
    text = as_text(layout(result, SaleInfo("T/1", "Shop", card=CARD, lang="en", names={MILK: "Milk"})))
    assert "Receipt T/1" in text and "TOTAL" in text and "****" + CARD[-4:] in text
    got = read_back(text, "en")
    assert got["totals"]["total"] == 17980 and got["lines"][0]["points_earned"] == 1
