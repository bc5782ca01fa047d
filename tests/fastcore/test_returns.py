"""spec/pricing.md §8: the arithmetic of returns, one home for till and ledger."""
from __future__ import annotations

import pytest

from fastcore import ReturnError, return_lines, return_totals

SALE = {
    "lines": [
        {"sku": "milk", "qty": "3", "paid": 1000, "redeemed": 200, "points": 10},
        {"sku": "apples", "qty": "1", "paid": 333, "redeemed": 100, "points": 7},
    ],
    "totals": {"redeemed_points": 3},
}
UNITS = ["pcs", "kg"]


def test_returning_a_line_in_steps_gives_back_exactly_the_line():
    first = return_lines(SALE, UNITS, [(0, "1")], {})
    second = return_lines(SALE, UNITS, [(0, 1)], {0: 1000})
    third = return_lines(SALE, UNITS, [(0, "1")], {0: 2000})
    parts = first + second + third
    assert sum(p.refund for p in parts) == 1000
    assert sum(p.redeemed_refund for p in parts) == 200
    assert sum(p.points_reversed for p in parts) == 10
    assert sum(p.points_refunded for p in parts) == 2  # allocate(3, [200, 100]) = [2, 1]
    assert [p.refund for p in parts] == [333, 334, 333]
    assert third[0].returned_milli == 3000


def test_kg_line_sold_as_whole_kilogram_returns_in_grams():
    (part,) = return_lines(SALE, UNITS, [(1, "0.25")], {})
    assert (part.qty, part.refund, part.points_reversed) == ("0.25", 83, 2)
    assert part.to_json()["qty"] == "0.25"


def test_pcs_line_refuses_a_fraction():
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [(0, "0.5")], {})
    assert (err.value.reason, err.value.field) == ("bad_qty", "items[0].qty")


def test_the_same_line_twice_is_refused():
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [(0, "1"), (0, "1")], {})
    assert err.value.reason == "duplicate_line"


def test_more_than_sold_is_refused():
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [(0, "2")], {0: 2000})
    assert err.value.reason == "too_much"


def test_rest_of_line_when_qty_is_none():
    (part,) = return_lines(SALE, UNITS, [(0, None)], {0: 1000})
    assert (part.qty_milli, part.refund) == (2000, 1000 - 333)


@pytest.mark.parametrize("line", [-1, 2, True, "0", None])
def test_unknown_line_is_refused(line):
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [(line, "1")], {})
    assert err.value.reason == "unknown_line"


@pytest.mark.parametrize("qty", ["0", 0, "-1", 1.5, "1e3", "1.0001", True, [], "١"])
def test_bad_quantities_are_refused(qty):
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [(1, qty)], {})
    assert err.value.reason in ("bad_qty", "too_much")


def test_nothing_to_return_is_refused():
    with pytest.raises(ReturnError) as err:
        return_lines(SALE, UNITS, [], {})
    assert err.value.reason == "empty"


@pytest.mark.parametrize("result", [
    None, [], {"lines": "x"}, {"lines": [1]},
    {"lines": [{"qty": "1", "paid": -5}]},
    {"lines": [{"qty": "1", "paid": 1.5}]},
    {"lines": [{"qty": "zero", "paid": 1}]},
    {"lines": [{"qty": "1", "paid": 1}], "totals": {"redeemed_points": "7"}},
])
def test_a_malformed_sale_is_bad_sale_not_a_crash(result):
    with pytest.raises(ReturnError) as err:
        return_lines(result, ["pcs"], [(0, "1")], {})
    assert err.value.reason == "bad_sale"


def test_totals_are_sums_of_lines():
    parts = return_lines(SALE, UNITS, [(0, "3"), (1, "1")], {})
    assert return_totals(parts) == {"refund": 1333, "redeemed_refund": 300,
                                    "points_refunded": 3, "points_reversed": 17}
