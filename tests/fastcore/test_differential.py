"""The compiled engine equals the reference twin on random bundles and baskets,
and both keep the spec's invariants (spec/pricing.md §7)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings

from fastcore import BasketError, BundleError, compiled, reference
from fastcore._bundle import load_bundle

from .strategies import cases

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(engine: type, bundle: dict[str, Any], basket: dict[str, Any]) -> Any:
    try:
        return engine(bundle).price(basket).to_json()
    except (BasketError, BundleError) as exc:
        return (type(exc).__name__, exc.field)


@SETTINGS
@given(cases())
def test_compiled_engine_equals_reference(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    bundle, basket = case
    assert _run(compiled.Engine, bundle, basket) == _run(reference.Engine, bundle, basket)


@SETTINGS
@given(cases())
def test_invariants_hold_on_random_baskets(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    bundle, basket = case
    res = _run(compiled.Engine, bundle, basket)
    if isinstance(res, tuple):
        return
    b = load_bundle(bundle)
    program = b.program
    items = b.catalog
    available = basket["customer"]["available_points"] if basket["customer"] else 0
    t = res["totals"]
    for line in res["lines"]:
        assert line["paid"] == line["amount"] - line["discount"] - line["redeemed"]
        item = items[line["sku"]]
        qty_milli = int(Decimal(line["qty"]) * 1000)
        floor = line["amount"] if item.no_discount else (2 * item.min_price * qty_milli + 1000) // 2000
        assert line["amount"] - line["discount"] - line["redeemed"] >= floor
        assert line["discount"] >= 0 and line["redeemed"] >= 0 and line["points"] >= 0
        if item.no_redeem:
            assert line["redeemed"] == 0
    for key in ("amount", "discount", "redeemed", "paid"):
        assert t[key] == sum(line[key] for line in res["lines"])
    assert t["paid"] == t["amount"] - t["discount"] - t["redeemed"]
    assert t["redeemed"] == t["redeemed_points"] * program.point_value
    assert res["redeem"]["points"] <= available
    eligible = sum(l["amount"] - l["discount"] for l in res["lines"] if not items[l["sku"]].no_redeem)
    assert t["redeemed"] <= eligible * program.redeem_cap_bp // 10000
    bonus = res["bonus"]
    assert t["points"] == sum(l["points"] for l in res["lines"]) + bonus["welcome"] + bonus["birthday"]
    assert bonus["lines"] + bonus["promo"] == sum(l["points"] for l in res["lines"])
    assert sum(a["discount"] for a in res["applied"]) == t["discount"]
    assert sum(a["points"] for a in res["applied"]) == bonus["promo"]
    if basket["customer"] is None:
        assert t["points"] == 0 and t["redeemed"] == 0
