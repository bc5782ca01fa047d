"""The compiled engine equals the reference twin on random bundles and baskets,
and both keep the spec's invariants (spec/pricing.md §7)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings

from fastcore import HINT_REASONS, BasketError, BundleError, compiled, reference
from fastcore._bundle import load_bundle

from .strategies import cases, hint_options

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


def _hints(engine: type, bundle: dict[str, Any], basket: dict[str, Any], options: dict[str, Any]) -> Any:
    try:
        return [h.to_json() for h in engine(bundle).hints(basket, **options)]
    except (BasketError, BundleError) as exc:
        return (type(exc).__name__, exc.field)


@SETTINGS
@given(cases(), hint_options())
def test_compiled_hints_equal_reference_hints(case: tuple[dict[str, Any], dict[str, Any]], options: dict[str, Any]) -> None:
    bundle, basket = case
    assert _hints(compiled.Engine, bundle, basket, options) == _hints(reference.Engine, bundle, basket, options)


@SETTINGS
@given(cases())
def test_hints_agree_with_the_result_on_random_baskets(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    bundle, basket = case
    engine = compiled.Engine(bundle) if not isinstance(_run(compiled.Engine, bundle, basket), tuple) else None
    if engine is None:
        return
    result = engine.price(basket)
    hints = engine.hints(basket, result=result)
    applied = {a["promo"]: a for a in result.to_json()["applied"]}
    assert {h.promo for h in hints if h.reason == "applied"} == set(applied)
    assert len({h.promo for h in hints}) == len(hints)
    for h in hints:
        assert h.reason in HINT_REASONS
        if h.reason == "applied":
            assert (h.discount, h.points) == (applied[h.promo]["discount"], applied[h.promo]["points"])
        if h.near:
            assert (h.missing_kop or 0) > 0 or (h.missing_qty_milli or 0) > 0
        if h.missing_kop is not None or h.missing_qty_milli is not None:
            assert h.reason in ("below_min_amount", "below_min_qty", "below_set_size")
    near = [h.near for h in hints]
    assert near == sorted(near, reverse=True)  # near misses first


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
    eligible = sum(ln["amount"] - ln["discount"] for ln in res["lines"] if not items[ln["sku"]].no_redeem)
    assert t["redeemed"] <= eligible * program.redeem_cap_bp // 10000
    bonus = res["bonus"]
    assert t["points"] == sum(ln["points"] for ln in res["lines"]) + bonus["welcome"] + bonus["birthday"]
    assert bonus["lines"] + bonus["promo"] == sum(ln["points"] for ln in res["lines"])
    assert sum(a["discount"] for a in res["applied"]) == t["discount"]
    assert sum(a["points"] for a in res["applied"]) == bonus["promo"]
    if basket["customer"] is None:
        assert t["points"] == 0 and t["redeemed"] == 0
