"""Quantities (pricing.md §2): exact thousandths from a JSON integer, a Decimal or decimal text."""
from __future__ import annotations

from decimal import Decimal

import pytest

from fastcore import parse_qty_milli, qty_milli, qty_text


@pytest.mark.parametrize("value,milli", [
    (2, 2000), (0, 0), ("2", 2000), ("0.455", 455), ("1.5000", 1500), ("2.0", 2000),
    ("007", 7000), ("0.001", 1), (Decimal("0.455"), 455), (Decimal("2.000"), 2000),
    (2**63, 2**63 * 1000), ("9223372036854775808", 2**63 * 1000),
])
def test_a_quantity_is_read_exactly(value: object, milli: int) -> None:
    assert parse_qty_milli(value) == milli
    assert qty_milli(value) == milli


@pytest.mark.parametrize("value", [
    "0.0001", "1.0005", "-1", -1, Decimal("-1"), Decimal("0.0005"), Decimal("NaN"), Decimal("Infinity"),
    0.5, 2.0, True, False, None, "", ".5", "5.", "1e3", " 1", "1 ", "+1", "1,5", "٣", "１", [1], {"qty": 1},
])
def test_anything_else_is_not_a_quantity(value: object) -> None:
    assert parse_qty_milli(value) is None
    with pytest.raises(ValueError):
        qty_milli(value)


@pytest.mark.parametrize("milli,text", [
    (2000, "2"), (1500, "1.5"), (455, "0.455"), (1, "0.001"), (10, "0.01"), (0, "0"), (999_999, "999.999"),
])
def test_thousandths_print_without_trailing_zeros(milli: int, text: str) -> None:
    assert qty_text(milli) == text


def test_text_and_thousandths_round_trip() -> None:
    for milli in range(0, 5000, 7):
        assert parse_qty_milli(qty_text(milli)) == milli
