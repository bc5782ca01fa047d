"""The receipt layout: a priced sale → lines and codes, before any bytes.

Input is the engine's result dict (``spec/pricing.md`` §7) plus the sale's
metadata; output is a small document (``Line`` / ``Code``) that the ESC/POS
encoder turns into bytes, either as code-page text or as a picture. Money
is int kopecks all the way; the card number is masked to its last four
digits here, so no full number can reach the paper.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

COPY_MARK = "*** КОПИЯ ***"


@dataclass(frozen=True)
class Line:
    """One printed line."""

    text: str
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False
    big: bool = False  # double width and height


@dataclass(frozen=True)
class Code:
    """A symbol the returns desk scans: QR or Code 128."""

    kind: Literal["qr", "code128"]
    data: str


Block = Line | Code


@dataclass(frozen=True)
class SaleInfo:
    """What the receipt says besides the engine's numbers."""

    receipt_id: str
    store: str
    address: str = ""
    till: str = ""
    cashier: str = ""
    time: str = ""  # printed as given (the agent formats local time)
    card: str | None = None  # full number in, only the last 4 digits printed
    balance: int | None = None  # points balance after this sale, if known
    names: Mapping[str, str] = field(default_factory=dict)  # sku -> product name


def money(kopecks: int) -> str:
    """``12345`` → ``"123.45"``; integers only, never a float."""
    sign = "-" if kopecks < 0 else ""
    rub, kop = divmod(abs(kopecks), 100)
    return f"{sign}{rub}.{kop:02d}"


def mask_card(card: str) -> str:
    """Only the last four digits survive: ``"****1234"``."""
    digits = "".join(c for c in card if c.isdigit())
    return "****" + digits[-4:] if len(digits) >= 4 else "****"


def _pair(left: str, right: str, columns: int) -> str:
    room = columns - len(right) - 1
    if len(left) > room:
        left = left[: max(0, room)]
    return left + " " * (columns - len(left) - len(right)) + right


def _wrap(text: str, columns: int) -> list[str]:
    return [text[i : i + columns] for i in range(0, len(text), columns)] or [""]


def layout(
    result: Mapping[str, Any],
    sale: SaleInfo,
    *,
    columns: int = 48,
    code: Literal["qr", "code128"] = "qr",
) -> list[Block]:
    """The receipt of a priced sale, top to bottom (without the cut)."""
    rule = Line("-" * columns)
    out: list[Block] = [Line(sale.store, "center", bold=True, big=True)]
    if sale.address:
        out += [Line(t, "center") for t in _wrap(sale.address, columns)]
    out.append(Line(_pair(f"Чек {sale.receipt_id}", sale.time, columns)))
    if sale.till or sale.cashier:
        out.append(Line(_pair(f"Касса {sale.till}".strip(), sale.cashier, columns)))
    out.append(rule)
    for ln in result.get("lines", []):
        name = sale.names.get(ln["sku"], ln["sku"])
        out += [Line(t) for t in _wrap(name, columns)]
        out.append(Line(_pair(f"  {ln['qty']} x", money(ln["amount"]), columns)))
        if ln.get("discount"):
            promos = ", ".join(ln.get("promos", []))
            label = f"  Скидка {promos}".rstrip()
            out.append(Line(_pair(label, money(-ln["discount"]), columns)))
    totals = result.get("totals", {})
    out.append(rule)
    out.append(Line(_pair("Сумма", money(totals.get("amount", 0)), columns)))
    if totals.get("discount"):
        out.append(Line(_pair("Скидка", money(-totals["discount"]), columns)))
    if totals.get("redeemed"):
        label = f"Оплачено баллами ({totals.get('redeemed_points', 0)})"
        out.append(Line(_pair(label, money(-totals["redeemed"]), columns)))
    out.append(Line(_pair("ИТОГО", money(totals.get("paid", 0)), columns // 2), bold=True, big=True))
    if sale.card:
        out.append(rule)
        out.append(Line(_pair("Карта", mask_card(sale.card), columns)))
        out.append(Line(_pair("Списано баллов", str(totals.get("redeemed_points", 0)), columns)))
        out.append(Line(_pair("Начислено баллов", str(totals.get("points", 0)), columns)))
        if sale.balance is not None:
            out.append(Line(_pair("Баланс баллов", str(sale.balance), columns)))
    out.append(rule)
    out.append(Code(code, sale.receipt_id))
    out.append(Line(sale.receipt_id, "center"))
    return out


def copy_banner() -> list[Block]:
    """The mark that opens and closes a reprint."""
    return [Line(COPY_MARK, "center", bold=True, big=True)]
