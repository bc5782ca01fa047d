"""Cashier hints on the till (issue 12 item 6): the session view carries
the engine's hints of the same priced result, near misses first, in the
till's language, limited by ``[hints]``; no figure changes with hints on."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest
from agent_kit import PROGRAM, served_api

from agent._catalog import Catalog
from agent._printing import DriversPrinter
from agent._config import HintSettings
from agent._receipt import parse_printed
from agent._till import Till
from hardware_sim._escpos_parse import parse_all
from hardware_sim._printer import PrinterTwin
from sync import TillDb

KEFIR, CHEESE, MILK = "4607000000021", "4607000000038", "4607000000014"


def hint_bundle(bundle_doc: dict[str, Any]) -> dict[str, Any]:
    """The example bundle with a 3-for-2 on kefir and 10% off cheese from 559.80 ₽."""
    doc = copy.deepcopy(bundle_doc)
    doc["promotions"] = [
        {"id": "KEFIR-3FOR2", "kind": "n_for_m", "n": 3, "m": 2, "targets": {"skus": [KEFIR]}},
        {"id": "CHEESE-10", "kind": "basket_percent", "value": 1000, "min_amount": 55980,
         "targets": {"categories": ["dairy/cheese"]}},
        {"id": "MILK-2FOR1", "kind": "n_for_m", "n": 2, "m": 1, "targets": {"categories": ["dairy/milk"]}},
    ]
    return doc


@pytest.fixture
def tills(tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> Iterator[Any]:
    catalog = Catalog(hint_bundle(bundle_doc))
    opened: list[TillDb] = []

    def make(name: str = "till", **kw: Any) -> Till:
        db = TillDb(tmp_path / f"{name}.sqlite3", clock=clock)
        opened.append(db)
        return Till(db, catalog, till="KY-001-01", store="KY-001", program=PROGRAM, clock=clock, **kw)

    yield make
    for db in opened:
        db.close()


def short_basket(client: Any) -> dict[str, Any]:
    """Two kefirs (one short of 3-for-2) and two cheeses (439.80 ₽: 120.00 ₽ short of 559.80 ₽)."""
    s = client.post("/v1/sessions").json()
    client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": KEFIR, "qty": 2})
    r = client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": CHEESE, "qty": 2})
    assert r.status_code == 200
    return dict(r.json())


def test_the_api_gives_near_misses_one_short_of_3_for_2_and_120_rub_short_of_a_category_discount(tills) -> None:
    with served_api(tills()) as client:
        view = short_basket(client)
        assert view["result"]["totals"]["discount"] == 0
        near = [h for h in view["hints"] if h["near"]]
        assert [h["promo"] for h in near] == ["KEFIR-3FOR2", "CHEESE-10"]
        kefir, cheese = near
        assert (kefir["reason"], kefir["missing_qty_milli"]) == ("below_set_size", 1000)
        assert (cheese["reason"], cheese["missing_kop"], cheese["scope"]) == \
            ("below_min_amount", 12000, "category:dairy/cheese")
        assert cheese["text"] == "добавьте товаров (dairy/cheese) на 120.00 ₽ — скидка 10%"
        assert kefir["text"].startswith("добавьте ещё 1 (Кефир") and kefir["text"].endswith("3 по цене 2")
        assert "text_en" not in cheese and "text_ru" not in cheese and "hints" not in view["result"]
        # one more kefir and 120.00 ₽ more of cheese: both apply, and the hints say so
        sid = view["id"]
        client.post(f"/v1/sessions/{sid}/lines", json={"sku": KEFIR, "qty": 1})
        view = client.post(f"/v1/sessions/{sid}/lines", json={"sku": CHEESE, "qty": 1}).json()
        applied = {h["promo"]: h for h in view["hints"] if h["reason"] == "applied"}
        assert applied["KEFIR-3FOR2"]["discount"] == 7490
        assert applied["CHEESE-10"]["discount"] == 6597  # 10% of 659.70 ₽
        assert not any(h["near"] for h in view["hints"])
        assert client.get(f"/v1/sessions/{sid}").json()["hints"] == view["hints"]


def test_hints_are_in_english_on_an_english_till(tills) -> None:
    with served_api(tills(language="en")) as client:
        cheese = [h for h in short_basket(client)["hints"] if h["promo"] == "CHEESE-10"][0]
        assert cheese["text"] == "add 120.00 ₽ of dairy/cheese for 10% off"


def test_hints_are_absent_when_disabled(tills) -> None:
    with served_api(tills(hints=HintSettings(enabled=False))) as client:
        assert short_basket(client)["hints"] == []


def test_hints_are_at_most_max_near_misses_first(tills) -> None:
    with served_api(tills(hints=HintSettings(max=1))) as client:
        assert [h["promo"] for h in short_basket(client)["hints"]] == ["KEFIR-3FOR2"]


@pytest.mark.parametrize("lines", [
    [(KEFIR, 2), (CHEESE, 2)],
    [(KEFIR, 3), (CHEESE, 3), (MILK, 2)],
    [(MILK, 1)],
])
def test_no_figure_of_the_sale_changes_with_hints_on_or_off(tills, lines) -> None:
    on, off = tills("on"), tills("off", hints=HintSettings(enabled=False))
    results = []
    for till in (on, off):
        s = till.open_session()
        for sku, qty in lines:
            till.add_line(s.id, sku, qty)
        view = till.view(s)
        assert bool(view["hints"]) is (till is on)
        paid = till.pay(s.id, "cash")
        results.append((view["result"], till.sale(paid.receipt_id)["txn"]["result"]))
    assert results[0] == results[1]


@pytest.mark.parametrize("columns", [48, 32])
def test_the_printer_twin_reads_back_the_next_time_near_misses_when_print_is_on(tills, columns) -> None:
    twin = PrinterTwin(port=0, render_png=False, columns=columns).start()
    port = DriversPrinter(f"tcp://127.0.0.1:{twin.port}", columns=columns)
    try:
        till = tills(printer=port, hints=HintSettings(print=True))
        s = till.open_session()
        till.add_line(s.id, KEFIR, 2)
        till.add_line(s.id, CHEESE, 2)
        near = [h["text"] for h in till.view(s)["hints"] if h["near"]]
        till.pay(s.id, "cash")
        assert twin.wait_for_receipts(1)
        printed = twin.receipts[0]
    finally:
        port.close()
        twin.stop()
    got = parse_printed(printed.text)
    assert near == ["добавьте ещё 1 (Кефир 1% 900 г) — 3 по цене 2",
                    "добавьте товаров (dairy/cheese) на 120.00 ₽ — скидка 10%"]
    assert got["next_time"] == ["добавьте ещё 1 (Кефир 1% 900 г) - 3 по цене 2",
                                "добавьте товаров (dairy/cheese) на 120.00 руб. - скидка 10%"]
    assert "В следующий раз" in printed.text and all(len(row) <= columns for row in printed.text.splitlines())
    assert got["totals"]["total"] == 2 * 7490 + 2 * 21990 and got["receipt_id"] == printed.qrs[0]
    assert [op for op in parse_all(printed.raw) if op.name == "unknown"] == []


def test_the_receipt_has_no_next_time_block_by_default(tills, printer) -> None:
    till = tills(printer=printer)
    s = till.open_session()
    till.add_line(s.id, KEFIR, 2)
    till.pay(s.id, "cash")
    assert parse_printed(printer.receipts[0])["next_time"] == []
    assert "В следующий раз" not in printer.receipts[0]
