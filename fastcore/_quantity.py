"""Quantities (spec/pricing.md §2): exact thousandths in, decimal text out.

A ``qty`` is a JSON integer or a decimal string ``[0-9]+(\\.[0-9]+)?`` whose
exact value has at most three decimals (``"1.5000"`` is fine); internally it
is ``qty_milli``, an int. The text is parsed as a decimal, never as a float:
``0.455`` must stay 455/1000. Every reader of a quantity (basket, return,
till, ledger) parses it here; every writer prints it with ``qty_text``.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ._values import is_int

_QTY_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?\Z")


def parse_qty_milli(value: Any) -> int | None:
    """A quantity as thousandths, exactly; ``None`` when it is not one.

    Accepts a JSON integer >= 0, an exact ``Decimal`` >= 0 (JSON read by
    ``fastcore.loads``) or a decimal string, each with at most three
    decimals of value. Floats and booleans are refused: a float's value is
    not the text the till sent.
    """
    if is_int(value):
        return value * 1000 if value >= 0 else None
    if isinstance(value, str):
        if not _QTY_TEXT.match(value):
            return None
        value = Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite() or value < 0:
            return None
        try:
            milli = value * 1000
            if milli != milli.to_integral_value():
                return None
            return int(milli)
        except InvalidOperation:
            return None
    return None


def qty_milli(value: Any) -> int:
    """``parse_qty_milli`` for a quantity known to be valid; ``ValueError`` when it is not."""
    milli = parse_qty_milli(value)
    if milli is None:
        raise ValueError(f"not a quantity: {value!r}")
    return milli


def qty_text(milli: int) -> str:
    """Thousandths as decimal text without trailing zeros (``1500`` → ``"1.5"``)."""
    whole, frac = divmod(milli, 1000)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:03d}".rstrip("0")
