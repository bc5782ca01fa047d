"""Receipt text: what the customer takes home, and what tests parse back.

Plain fixed-width lines (40 columns fits 58 mm and 80 mm paper). The
layout is stable and machine-readable on purpose: every goods line is
``<name>`` then ``  <qty> x <price> = <amount>``; money is roubles with two
decimals. The card number is masked to its last 4 digits; nothing else
personal is printed.
"""
from __future__ import annotations

from typing import Any

from ._catalog import Catalog
from ._token import mask_card

WIDTH = 40


def rub(kopecks: int) -> str:
    """Kopecks as ``123.45`` (no float on the way)."""
    sign = "-" if kopecks < 0 else ""
    whole, frac = divmod(abs(int(kopecks)), 100)
    return f"{sign}{whole}.{frac:02d}"


def _pair(left: str, right: str) -> str:
    room = WIDTH - len(right) - 1
    return f"{left[:room]:<{room}} {right}"


def sale_receipt(txn: dict[str, Any], catalog: Catalog, *, header: str = "") -> str:
    """The sale receipt for one committed TXN."""
    res = txn["result"]
    out = [header.center(WIDTH) if header else "", f"RECEIPT {txn['receipt_id']}", f"TILL {txn['till']}  {txn['at']}"]
    out.append("-" * WIDTH)
    for ln in res["lines"]:
        item = catalog.items.get(ln["sku"], {})
        out.append(catalog.name(ln["sku"])[:WIDTH])
        out.append(_pair(f"  {ln['qty']} x {rub(item.get('price', 0))}", rub(ln["amount"])))
        if ln["discount"]:
            out.append(_pair("  discount", "-" + rub(ln["discount"])))
    out.append("-" * WIDTH)
    tot = res["totals"]
    out.append(_pair("SUBTOTAL", rub(tot["amount"])))
    if tot["discount"]:
        out.append(_pair("DISCOUNT", "-" + rub(tot["discount"])))
    if tot["redeemed"]:
        out.append(_pair(f"POINTS SPENT {tot['redeemed_points']}", "-" + rub(tot["redeemed"])))
    out.append(_pair("TOTAL", rub(tot["paid"])))
    pay = txn.get("payment") or {}
    if pay.get("method"):
        out.append(_pair(f"PAID {pay['method'].upper()}", rub(tot["paid"])))
    cust = txn.get("customer")
    if cust:
        out.append("-" * WIDTH)
        out.append(_pair("CARD", mask_card(str(cust.get("card", "")))))
        out.append(_pair("POINTS EARNED", str(tot["points"])))
        if txn.get("balance_after") is not None:
            out.append(_pair("POINTS BALANCE", str(txn["balance_after"])))
        out.append(_pair("MODE", txn.get("mode", "offline").upper()))
    out.append("-" * WIDTH)
    out.append("THANK YOU".center(WIDTH))
    return "\n".join(line for line in out if line != "") + "\n"


def return_receipt(txn: dict[str, Any], original: dict[str, Any], catalog: Catalog) -> str:
    """The return receipt: what came back, money refunded, points moved."""
    res = txn["result"]
    out = [f"RETURN {txn['receipt_id']}", f"FOR RECEIPT {original['receipt_id']}",
           f"TILL {txn['till']}  {txn['at']}", "-" * WIDTH]
    sale_lines = original["result"]["lines"]
    for ln in res["lines"]:
        sku = sale_lines[ln["line"]]["sku"]
        out.append(catalog.name(sku)[:WIDTH])
        out.append(_pair(f"  {ln['qty']} returned", rub(ln["refund"])))
    out.append("-" * WIDTH)
    tot = res["totals"]
    out.append(_pair("REFUND", rub(tot["refund"])))
    if tot["points_refunded"]:
        out.append(_pair("POINTS REFUNDED", str(tot["points_refunded"])))
    if tot["points_reversed"]:
        out.append(_pair("POINTS REVERSED", "-" + str(tot["points_reversed"])))
    cust = txn.get("customer")
    if cust:
        out.append(_pair("CARD", mask_card(str(cust.get("card", "")))))
    out.append("-" * WIDTH)
    return "\n".join(out) + "\n"


def parse_receipt(text: str) -> dict[str, Any]:
    """Read a receipt back (tests, audits): id, lines, totals as kopecks."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    doc: dict[str, Any] = {"lines": [], "totals": {}}
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("RECEIPT ") or ln.startswith("RETURN "):
            doc["kind"], doc["receipt_id"] = ln.split(" ", 1)
        elif ln.startswith("  ") and " x " in ln and i > 0:
            left, amount = ln.rsplit(" ", 1)
            qty, price = left.strip().split(" x ")
            doc["lines"].append({"name": lines[i - 1], "qty": qty, "price": _kop(price),
                                 "amount": _kop(amount), "discount": 0})
        elif ln.startswith("  discount") and doc["lines"]:
            doc["lines"][-1]["discount"] = -_kop(ln.rsplit(" ", 1)[1])
        elif ln.startswith("  ") and " returned" in ln:
            left, amount = ln.rsplit(" ", 1)
            doc["lines"].append({"name": lines[i - 1], "qty": left.split()[0], "refund": _kop(amount)})
        else:
            for key in ("SUBTOTAL", "DISCOUNT", "TOTAL", "REFUND", "POINTS EARNED", "POINTS REFUNDED",
                        "POINTS REVERSED", "CARD", "MODE", "POINTS BALANCE"):
                if ln.startswith(key + " ") and ln[len(key):len(key) + 1] == " ":
                    value = ln.rsplit(" ", 1)[1]
                    doc["totals"][key.lower().replace(" ", "_")] = value
            if ln.startswith("POINTS SPENT "):
                parts = ln.split()
                doc["totals"]["points_spent"] = int(parts[2])
                doc["totals"]["redeemed"] = -_kop(parts[-1])
        i += 1
    for key in ("subtotal", "discount", "total", "refund"):
        if key in doc["totals"]:
            doc["totals"][key] = abs(_kop(doc["totals"][key]))
    return doc


_RU_TOTALS = {"Сумма": "subtotal", "Скидка": "discount", "ИТОГО": "total", "Карта": "card",
              "Списано баллов": "points_spent", "Начислено баллов": "points_earned",
              "Баланс баллов": "points_balance"}


def parse_printed(text: str) -> dict[str, Any]:
    """Read back a receipt in either layout: the printer driver's (sales,
    ``Чек ...``) or the agent's plain one (returns, tests)."""
    if "Чек " not in text:
        return parse_receipt(text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    doc: dict[str, Any] = {"kind": "RECEIPT", "lines": [], "totals": {}}
    for i, ln in enumerate(lines):
        if ln.startswith("Чек "):
            doc["receipt_id"] = ln.split()[1]
        elif ln.startswith("  ") and " x " in ln + " " and ln.split()[1:2] == ["x"] and i > 0:
            doc["lines"].append({"name": lines[i - 1], "qty": ln.split()[0], "amount": _kop(ln.split()[-1]),
                                 "discount": 0})
        elif ln.startswith("  Скидка") and doc["lines"]:
            doc["lines"][-1]["discount"] = -_kop(ln.split()[-1])
        elif ln.startswith("Оплачено баллами"):
            doc["totals"]["points_spent"] = int(ln.split("(")[1].split(")")[0])
            doc["totals"]["redeemed"] = -_kop(ln.split()[-1])
        else:
            for label, key in _RU_TOTALS.items():
                if ln.startswith(label + " ") and key not in doc["totals"]:
                    value = ln.split()[-1]
                    doc["totals"][key] = value if key == "card" else (
                        int(value) if key.startswith("points") else abs(_kop(value)))
    return doc


def _kop(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))
