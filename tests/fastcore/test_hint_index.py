"""The hints' index (``fastcore._hints.Reach``) and the lazy ordering give
exactly the hints of the plain rule: every promotion asked about every line
(§3 "eligible"), each judged on the full per-line history, then sorted."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from fastcore import BasketError, BundleError, Hint, reference
from fastcore._basket import read_basket
from fastcore._bundle import load_bundle
from fastcore._conditions import eligible
from fastcore._hints import Reach, _Judge, _make, _Pending, hints_for

from .strategies import cases, hint_options

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _PlainJudge(_Judge):
    """The judge with the line state read from the whole per-line history, as first written."""

    def _state(self, i: int, turn: int) -> tuple[bool, bool, int]:
        promos = self.bundle.promotions
        turns = [self.turn[self.rank[p]] for p in self.lines[i]["promos"] if promos[self.rank[p]].phase < 2]
        before = [t for t in turns if t < turn]
        ln = self.lines[i]
        if not before:
            return False, False, ln["amount"]
        return True, any(not promos[t].stack for t in before), ln["amount"] - ln["discount"]


def _plain_hints(bundle: Any, basket: Any, result: dict[str, Any], near_bp: int, limit: int | None) -> list[Hint]:
    reach = Reach(bundle)
    judge = _PlainJudge(reach, basket, result, near_bp)
    ranked: list[tuple[int, int, _Pending]] = []
    for r, p in enumerate(bundle.promotions):
        reached = [i for i, ln in enumerate(basket.lines) if eligible(p, ln.item)]
        if p.targets.empty:
            if (p.when_from is not None and basket.at < p.when_from) or (
                    p.when_until is not None and basket.at >= p.when_until):
                continue
        elif not reached:
            continue
        x = judge.judge(r, p, reached)
        ranked.append((0 if x[1] else 1 if x[2][0] == "applied" else 2, r, x))
    ranked.sort(key=lambda t: (t[0], t[1]))
    shown = ranked if limit is None else ranked[:limit]
    return [_make(reach, x) for _, _, x in shown]


@SETTINGS
@given(cases(), hint_options())
def test_indexed_lazy_hints_equal_every_promotion_asked(case: tuple[dict[str, Any], dict[str, Any]],
                                                        options: dict[str, Any]) -> None:
    raw_bundle, raw_basket = case
    try:
        bundle = load_bundle(raw_bundle)
        basket = read_basket(raw_basket, bundle)
        result = reference.Engine(bundle).price(raw_basket).to_json()
    except (BasketError, BundleError):
        return
    fast = hints_for(bundle, basket, result, reach=Reach(bundle), **options)
    assert fast == _plain_hints(bundle, basket, result, options["near_bp"], options["limit"])


def test_the_index_is_built_once_per_engine_and_kept_across_baskets() -> None:
    bundle = load_bundle({
        "version": 1, "program": {"point_value": 100, "timezone": "UTC"}, "tiers": [{"id": "base", "rate_bp": 100}],
        "stores": [{"id": "S", "timezone": "UTC"}],
        "catalog": [{"sku": "1", "name": "Milk", "price": 100, "category": "dairy/milk", "unit": "pcs"}],
        "promotions": [{"id": "D", "kind": "percent", "value": 1000, "targets": {"categories": ["dairy"]},
                        "min_qty": 3}],
    })
    engine = reference.Engine(bundle)
    basket = {"store": "S", "at": "2026-11-22T14:05:00+00:00", "lines": [{"sku": "1", "qty": 1}]}
    first = engine.hints(basket)
    reach = engine._reach
    assert reach is not None and [h.reason for h in first] == ["below_min_qty"]
    assert engine.hints(basket) == first and engine._reach is reach
    assert reach.item_ranks(bundle.catalog["1"]) == (0,)


def test_the_per_sku_memory_is_bounded() -> None:
    bundle = load_bundle({
        "version": 1, "program": {"point_value": 100, "timezone": "UTC"}, "tiers": [{"id": "base", "rate_bp": 100}],
        "stores": [{"id": "S", "timezone": "UTC"}],
        "catalog": [{"sku": str(i), "name": "x", "price": 100, "brand": "b", "unit": "pcs"} for i in range(5)],
        "promotions": [{"id": "B", "kind": "percent", "value": 1000, "targets": {"brands": ["b"]}}],
    })
    reach = Reach(bundle)
    reach.ITEMS_MAX = 3
    for i in range(5):
        assert reach.item_ranks(bundle.catalog[str(i)]) == (0,)
    assert len(reach._items) <= 3
