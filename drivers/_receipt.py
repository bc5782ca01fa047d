"""The one receipt layout (spec/till.md §5): sales, returns and copies.

Input is the engine's numbers (a sale's §7 result, or a return's lines and
totals, pricing.md §8) plus what the receipt says besides them
(``SaleInfo``); output is a small document (``Line`` / ``Code``) that the
ESC/POS encoder turns into bytes. Nothing else in kopilka lays a receipt
out: the agent builds ``SaleInfo`` and the printer prints what this module
returns, so the sale, the return and the copy can never drift apart.

- In the store's language (``SaleInfo.lang``, Russian by default; English
  is there for a chain that wants it), at the printer's width: 48 columns
  on 80 mm paper, 32 on 58 mm.
- The card number goes in whole and only its last 4 digits come out
  (``fastcore.mask_card``, the one rule for receipts, the API and logs);
  money is ``fastcore.money_text``.
- A line shows its discounts, the points it spent and the points it
  earned; the totals repeat them. A return names the original receipt, the
  refund, the points given back and the points taken back.

``read_back`` reads the text of a printed receipt (the printer twin's
decoding of the bytes) back into numbers, for tests and the demo.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastcore import mask_card, money_text

#: Each receipt word in Russian and English, side by side. Keys are stable;
#: ``read_back`` matches on them.
_WORD_ROWS: tuple[tuple[str, str, str], ...] = (
    ("copy", "*** КОПИЯ ***", "*** COPY ***"),
    ("sale", "Чек", "Receipt"),
    ("return", "Возврат", "Return"),
    ("of_receipt", "По чеку", "For receipt"),
    ("till", "Касса", "Till"),
    ("cashier", "Кассир", "Cashier"),
    ("discount", "Скидка", "Discount"),
    ("spent", "Баллами", "Paid in points"),
    ("earned", "Баллов начислено", "Earns points"),
    ("given_back", "Баллов возвращено", "Points returned"),
    ("taken_back", "Баллов списано", "Points reversed"),
    ("subtotal", "Сумма", "Subtotal"),
    ("total", "ИТОГО", "TOTAL"),
    ("paid_points", "Оплачено баллами", "Paid with points"),
    ("pay_cash", "Наличными", "Cash"),
    ("pay_card", "Картой", "Card payment"),
    ("pay_other", "Оплачено", "Paid"),
    ("card", "Карта", "Card"),
    ("points_spent", "Списано баллов", "Points spent"),
    ("points_earned", "Начислено баллов", "Points earned"),
    ("balance", "Баланс баллов", "Points balance"),
    ("refund", "К возврату", "Refund"),
    ("refund_points", "в т.ч. баллами", "of it in points"),
    ("points_back", "Возвращено баллов", "Points given back"),
    ("points_reversed", "Списано начисленных", "Points taken back"),
    ("offline", "Офлайн: баллы подтвердит центр", "Offline: points confirmed later"),
    ("kg", "кг", "kg"),
    ("thanks", "Спасибо за покупку!", "Thank you!"),
    ("next_time", "В следующий раз", "Next time"),
    ("rub", "руб.", "RUB"),
    ("cert_paid", "Сертификатом", "Gift certificate"),
    ("cert_left", "Остаток на сертификате", "Left on certificate"),
    ("cert_left_later", "Остаток подтвердит центр", "Balance confirmed later"),
    ("cert_sold", "Подарочный сертификат", "Gift certificate"),
    ("cert_activates", "Действует после отправки чека в центр", "Valid once this receipt reaches head office"),
)
WORDS: dict[str, dict[str, str]] = {
    "ru": {key: ru for key, ru, _ in _WORD_ROWS},
    "en": {key: en for key, _, en in _WORD_ROWS},
}

#: Paper widths in columns (font A): 80 mm and 58 mm rolls.
COLUMNS = {80: 48, 58: 32}


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
    """What a receipt says besides the engine's numbers.

    For a return, ``original`` is the sale's receipt id and the return's
    lines carry their ``sku``.
    """

    receipt_id: str
    store: str
    address: str = ""
    till: str = ""
    cashier: str = ""
    time: str = ""  # printed as given (the agent formats local time)
    card: str | None = None  # full number in, only the last 4 digits printed
    balance: int | None = None  # points balance after this sale, if known
    names: Mapping[str, str] = field(default_factory=dict)  # sku -> product name
    prices: Mapping[str, int] = field(default_factory=dict)  # sku -> price per unit (kopecks)
    units: Mapping[str, str] = field(default_factory=dict)  # sku -> "pcs" | "kg"
    method: str | None = None  # cash | card | other
    mode: str | None = None  # online | offline
    original: str | None = None  # a return's sale receipt id
    lang: str = "ru"
    next_time: Sequence[str] = ()  # near-miss hints ("add 120.00 ₽ of dairy for 10% off"), optional
    #: gift certificates of the sale (the TXN's ``certificates``: sold, tenders), optional
    certificates: Mapping[str, Any] | None = None


def _pair(left: str, right: str, columns: int) -> str:
    room = columns - len(right) - 1
    if len(left) > room:
        left = left[: max(0, room)]
    return left + " " * max(1, columns - len(left) - len(right)) + right


def _wrap(text: str, columns: int) -> list[str]:
    """Lines of at most ``columns``, broken between words where possible."""
    return textwrap.wrap(text, columns, break_on_hyphens=False) or [""]


def _words(sale: SaleInfo) -> dict[str, str]:
    return WORDS.get(sale.lang, WORDS["ru"])


def _head(kind: str, sale: SaleInfo, columns: int, copy: bool) -> list[Block]:
    w = _words(sale)
    out: list[Block] = []
    if copy:
        out.append(Line(w["copy"], "center", bold=True, big=True))
    out += [Line(t, "center", bold=True, big=True) for t in _wrap(sale.store, columns // 2)]  # double width
    if sale.address:
        out += [Line(t, "center") for t in _wrap(sale.address, columns)]
    title = f"{w[kind]} {sale.receipt_id}"
    if len(title) + 1 + len(sale.time) <= columns:
        out.append(Line(_pair(title, sale.time, columns)))
    else:  # 58 mm paper: the time goes under the receipt id, never cut off
        out += [Line(t) for t in _wrap(title, columns)] + ([Line(sale.time)] if sale.time else [])
    if sale.original:
        out.append(Line(f"{w['of_receipt']} {sale.original}"))
    if sale.till or sale.cashier:
        out.append(Line(_pair(f"{w['till']} {sale.till}".strip(), sale.cashier, columns)))
    out.append(Line("-" * columns))
    return out


def _qty(ln: Mapping[str, Any], sale: SaleInfo) -> str:
    w = _words(sale)
    unit = f" {w['kg']}" if sale.units.get(ln.get("sku", "")) == "kg" else ""
    price = sale.prices.get(ln.get("sku", ""))
    return f"  {ln['qty']}{unit} x" + (f" {money_text(price)}" if price is not None else "")


def _tail(sale: SaleInfo, columns: int, code: Literal["qr", "code128"], copy: bool) -> list[Block]:
    out: list[Block] = [Line("-" * columns), Code(code, sale.receipt_id), Line(sale.receipt_id, "center")]
    if copy:
        out.append(Line(_words(sale)["copy"], "center", bold=True, big=True))
    return out


def layout(
    result: Mapping[str, Any],
    sale: SaleInfo,
    *,
    columns: int = 48,
    code: Literal["qr", "code128"] = "qr",
    copy: bool = False,
) -> list[Block]:
    """A sale's receipt, top to bottom (without the cut).

    ``result`` is the §7 result; a line may carry ``redeemed_points`` (its
    share of the sale's spent points, which the agent allocates).
    """
    w = _words(sale)
    out = _head("sale", sale, columns, copy)
    for ln in result.get("lines", []):
        name = sale.names.get(ln["sku"], ln["sku"])
        out += [Line(t) for t in _wrap(name, columns)]
        out.append(Line(_pair(_qty(ln, sale), money_text(ln["amount"]), columns)))
        if ln.get("discount"):
            label = f"  {w['discount']} {', '.join(ln.get('promos', []))}".rstrip()
            out.append(Line(_pair(label, money_text(-ln["discount"]), columns)))
        if ln.get("redeemed"):
            pts = ln.get("redeemed_points")
            label = f"  {w['spent']}" + (f" ({pts})" if pts is not None else "")
            out.append(Line(_pair(label, money_text(-ln["redeemed"]), columns)))
        if ln.get("points"):
            out.append(Line(_pair(f"  {w['earned']}", f"+{ln['points']}", columns)))
    totals = result.get("totals", {})
    out.append(Line("-" * columns))
    out.append(Line(_pair(w["subtotal"], money_text(totals.get("amount", 0)), columns)))
    if totals.get("discount"):
        out.append(Line(_pair(w["discount"], money_text(-totals["discount"]), columns)))
    if totals.get("redeemed"):
        label = f"{w['paid_points']} ({totals.get('redeemed_points', 0)})"
        out.append(Line(_pair(label, money_text(-totals["redeemed"]), columns)))
    out.append(Line(_pair(w["total"], money_text(totals.get("paid", 0)), columns // 2), bold=True, big=True))
    out += _tenders(sale, columns)
    if sale.method:
        rest = int(totals.get("paid", 0)) - sum(int(t["amount"]) for t in _certs(sale, "tenders"))
        out.append(Line(_pair(w.get(f"pay_{sale.method}", w["pay_other"]), money_text(rest), columns)))
    if sale.card:
        out.append(Line("-" * columns))
        out.append(Line(_pair(w["card"], mask_card(sale.card), columns)))
        out.append(Line(_pair(w["points_spent"], str(totals.get("redeemed_points", 0)), columns)))
        out.append(Line(_pair(w["points_earned"], str(totals.get("points", 0)), columns)))
        if sale.balance is not None:
            out.append(Line(_pair(w["balance"], str(sale.balance), columns)))
        if sale.mode == "offline":
            out += [Line(t) for t in _wrap(w["offline"], columns)]
    return out + _sold_certificates(sale, columns, code) + _next_time(sale, columns) + _tail(sale, columns, code, copy)


def _certs(sale: SaleInfo, part: str) -> list[Mapping[str, Any]]:
    return list((sale.certificates or {}).get(part) or [])


def _tenders(sale: SaleInfo, columns: int) -> list[Block]:
    """Each gift certificate that paid: the amount, then what is left on it
    (online: the ledger's figure; offline: confirmed later). Payments, not
    discounts: the totals above are the engine's, unchanged."""
    w = _words(sale)
    out: list[Block] = []
    for t in _certs(sale, "tenders"):
        out.append(Line(_pair(f"{w['cert_paid']} *{str(t['cert_id'])[-4:]}", money_text(-int(t["amount"])), columns)))
        left = t.get("remaining")
        out.append(Line(_pair(f"  {w['cert_left']}", money_text(int(left)), columns)) if left is not None
                   else Line(f"  {w['cert_left_later']}"))
    return out


def _sold_certificates(sale: SaleInfo, columns: int, code: Literal["qr", "code128"]) -> list[Block]:
    """Each certificate the sale sold: its number as text and as a code to scan when
    spending it, and that it is valid once the sale reaches head office."""
    w = _words(sale)
    out: list[Block] = []
    signed = dict((sale.certificates or {}).get("codes") or {})
    for c in _certs(sale, "sold"):
        number = f"KPC-{c['cert_id']}"
        # the signed code (online at the sale) pays offline too; a Code 128 holds only the number
        data = signed.get(c["cert_id"]) if code == "qr" else None
        head: list[Block] = [Line("-" * columns),
                             Line(_pair(w["cert_sold"], money_text(int(c["face"])), columns), bold=True),
                             Code(code, str(data or number))]
        out += head + [Line(t, "center") for t in _wrap(number, columns)]
        out += [Line(t) for t in _wrap(w["cert_activates"], columns)]
    return out


def _next_time(sale: SaleInfo, columns: int) -> list[Block]:
    """The optional "next time" block: one bullet per near-miss hint,
    wrapped under its bullet (``read_back`` joins the pieces again).

    The screen's ₽ and dashes are not in the printers' code pages (CP866):
    they print as words and hyphens, so the receipt stays text."""
    if not sale.next_time:
        return []
    w = _words(sale)
    out: list[Block] = [Line("-" * columns), Line(w["next_time"], bold=True)]
    for text in sale.next_time:
        paper = text.replace("₽", w["rub"]).replace("—", "-").replace("−", "-")
        out += [Line(t) for t in textwrap.wrap(paper, columns, initial_indent="* ", subsequent_indent="  ",
                                               break_on_hyphens=False)]
    return out


def return_layout(
    result: Mapping[str, Any],
    sale: SaleInfo,
    *,
    columns: int = 48,
    code: Literal["qr", "code128"] = "qr",
    copy: bool = False,
) -> list[Block]:
    """A return's receipt: what came back, the refund, the points moved.

    ``result`` is the return's ``{"lines": [...], "totals": {...}}``
    (pricing.md §8 figures), each line with the ``sku`` it returns.
    """
    w = _words(sale)
    out = _head("return", sale, columns, copy)
    for ln in result.get("lines", []):
        name = sale.names.get(ln.get("sku", ""), ln.get("sku", ""))
        out += [Line(t) for t in _wrap(name, columns)]
        out.append(Line(_pair(_qty(ln, sale), money_text(ln["refund"]), columns)))
        if ln.get("points_refunded"):
            out.append(Line(_pair(f"  {w['given_back']}", f"+{ln['points_refunded']}", columns)))
        if ln.get("points_reversed"):
            out.append(Line(_pair(f"  {w['taken_back']}", f"-{ln['points_reversed']}", columns)))
    totals = result.get("totals", {})
    out.append(Line("-" * columns))
    out.append(Line(_pair(w["refund"], money_text(totals.get("refund", 0)), columns // 2), bold=True, big=True))
    if totals.get("redeemed_refund"):
        out.append(Line(_pair(f"  {w['refund_points']}", money_text(totals["redeemed_refund"]), columns)))
    out.append(Line(_pair(w["points_back"], str(totals.get("points_refunded", 0)), columns)))
    out.append(Line(_pair(w["points_reversed"], str(totals.get("points_reversed", 0)), columns)))
    if sale.card:
        out.append(Line(_pair(w["card"], mask_card(sale.card), columns)))
    return out + _tail(sale, columns, code, copy)


def as_text(blocks: list[Block]) -> str:
    """The document as plain lines (the print queue's readable copy)."""
    return "\n".join(b.text if isinstance(b, Line) else f"[{b.kind}: {b.data}]" for b in blocks) + "\n"


# ------------------------------------------------------------------ reading back


def _kop(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def read_back(text: str, lang: str = "ru") -> dict[str, Any]:
    """A printed receipt's text (as the printer twin decodes the bytes) read
    back into numbers: ``kind`` (``sale``/``return``), ``receipt_id``,
    ``original``, ``copy``, ``lines``, ``totals`` (kopecks and points) and
    ``next_time`` (the hint texts of the "next time" block, if printed)."""
    w = WORDS[lang]
    rows = [r.strip() for r in text.splitlines()]
    doc: dict[str, Any] = {"kind": None, "receipt_id": None, "original": None, "copy": w["copy"] in rows,
                           "lines": [], "totals": {}, "next_time": []}
    if w["next_time"] in rows:
        at = rows.index(w["next_time"])
        block = rows[at + 1:]
        end = next((i for i, r in enumerate(block) if not r.strip("-") or r.startswith("[")), len(block))
        for row in block[:end]:
            if row.startswith("* "):
                doc["next_time"].append(row[2:])
            elif doc["next_time"]:
                doc["next_time"][-1] += " " + row
        rows = rows[:at] + block[end:]
    money_totals = {w["subtotal"]: "subtotal", w["discount"]: "discount", w["total"]: "total",
                    w["refund"]: "refund", w["refund_points"]: "redeemed_refund"}
    point_totals = {w["points_spent"]: "points_spent", w["points_earned"]: "points_earned",
                    w["balance"]: "balance", w["points_back"]: "points_refunded",
                    w["points_reversed"]: "points_reversed"}
    prev = ""
    for row in rows:
        last = row.split()[-1] if row.split() else ""
        if doc["kind"] is None and (row.startswith(w["sale"] + " ") or row.startswith(w["return"] + " ")):
            doc["kind"] = "sale" if row.startswith(w["sale"] + " ") else "return"
            doc["receipt_id"] = row.split()[1]
        elif row.startswith(w["of_receipt"] + " "):
            doc["original"] = row.split()[-1]
        elif " x" in row and row.split()[1:2] in (["x"], [w["kg"]]) and row[0].isdigit():
            qty = row.split()[0]
            key = "refund" if doc["kind"] == "return" else "amount"
            doc["lines"].append({"name": prev, "qty": qty, key: _kop(last), "discount": 0,
                                 "points_spent": 0, "points_earned": 0, "points_refunded": 0,
                                 "points_reversed": 0})
        elif doc["lines"] and row.startswith(w["discount"] + " ") and not doc["totals"]:
            doc["lines"][-1]["discount"] = -_kop(last)
        elif doc["lines"] and row.startswith(w["spent"]) and not doc["totals"]:
            doc["lines"][-1]["points_spent"] = int(row.split("(")[1].split(")")[0]) if "(" in row else 0
            doc["lines"][-1]["redeemed"] = -_kop(last)
        elif doc["lines"] and row.startswith(w["earned"]) and not doc["totals"]:
            doc["lines"][-1]["points_earned"] = int(last)
        elif doc["lines"] and row.startswith(w["given_back"]) and not doc["totals"]:
            doc["lines"][-1]["points_refunded"] = int(last)
        elif doc["lines"] and row.startswith(w["taken_back"]) and not doc["totals"]:
            doc["lines"][-1]["points_reversed"] = -int(last)
        elif row.startswith(w["paid_points"]):
            doc["totals"]["points_spent"] = int(row.split("(")[1].split(")")[0])
            doc["totals"]["redeemed"] = -_kop(last)
        elif row.startswith(w["card"] + " "):
            doc["totals"]["card"] = last
        else:
            label = row[: len(row) - len(last)].strip() if last else ""
            label = " ".join(label.split())
            if label in money_totals and money_totals[label] not in doc["totals"]:
                doc["totals"][money_totals[label]] = abs(_kop(last))
            elif label in point_totals and point_totals[label] not in doc["totals"]:
                doc["totals"][point_totals[label]] = int(last)
        if row and not row.startswith("[") and not row.startswith("-"):
            prev = row
    return doc
