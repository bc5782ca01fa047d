"""Cashier hints (issue 12 item 6): why each reached promotion did or did not
apply, with near-miss figures; the same on both twins (``Engine`` fixture)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from fastcore import HINT_REASONS, Hint

AT = "2026-11-22T14:05:00+07:00"  # a Sunday (ISO 7), 14:05 in Krasnoyarsk
MILK, CHEESE, BREAD, BEER = "4600000000011", "4600000000028", "4600000000035", "4600000000042"


def _promo(pid: str, kind: str, value: int | None = None, **rest: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"id": pid, "kind": kind, **rest}
    if value is not None:
        p["value"] = value
    return p


def _bundle(*promos: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "program": {"point_value": 100, "redeem_cap_bp": 7000, "favorite_multiplier_pct": 300,
                    "timezone": "Asia/Krasnoyarsk"},
        "tiers": [{"id": "base", "rate_bp": 100}, {"id": "silver", "rate_bp": 300}],
        "stores": [{"id": "KY-001", "chain": "krasyar", "timezone": "Asia/Krasnoyarsk"},
                   {"id": "KY-002", "chain": "krasyar", "timezone": "Asia/Krasnoyarsk"}],
        "catalog": [
            {"sku": MILK, "name": "Milk 1 l", "price": 9500, "category": "dairy/milk", "unit": "pcs"},
            {"sku": CHEESE, "name": "Cheese", "price": 19000, "category": "dairy/cheese", "unit": "pcs"},
            {"sku": BREAD, "name": "Bread", "price": 4000, "category": "bakery/bread", "unit": "pcs",
             "min_price": 4000},
            {"sku": BEER, "name": "Beer", "price": 12000, "category": "alcohol/beer", "unit": "pcs",
             "flags": ["no_discount"]},
        ],
        "promotions": list(promos),
    }


def _basket(*lines: tuple[str, int], customer: dict[str, Any] | None = None, **rest: Any) -> dict[str, Any]:
    return {"store": "KY-001", "at": AT, "customer": customer, "coupons": [],
            "lines": [{"sku": s, "qty": q} for s, q in lines], **rest}


MEMBER = {"card": "2900000123454", "account": "A-1", "tier": "base", "available_points": 0}


def _only(hints: list[Hint], promo: str) -> Hint:
    found = [h for h in hints if h.promo == promo]
    assert len(found) == 1, hints
    return found[0]


def test_hint_says_add_120_rub_of_dairy_for_10_percent_off(Engine: type) -> None:
    bundle = _bundle(_promo("DAIRY-10", "basket_percent", 1000, targets={"categories": ["dairy"]},
                            min_amount=50000))
    hint = _only(Engine(bundle).hints(_basket((MILK, 4))), "DAIRY-10")  # 4 x 95.00 = 380.00
    assert hint.to_json() == {
        "promo": "DAIRY-10", "kind": "basket_percent", "reason": "below_min_amount", "scope": "category:dairy",
        "near": True, "missing_kop": 12000, "discount": 0, "points": 0,
        "text_en": "add 120.00 ₽ of dairy for 10% off",
        "text_ru": "добавьте товаров (dairy) на 120.00 ₽ — скидка 10%",
    }
    bundle["catalog"].append({"sku": "4600000000059", "name": "Cream", "price": 12000, "category": "dairy/cream"})
    added = _only(Engine(bundle).hints(_basket((MILK, 4), ("4600000000059", 1))), "DAIRY-10")
    assert (added.reason, added.discount) == ("applied", 5000)


def test_hint_says_one_more_for_3_for_2(Engine: type) -> None:
    bundle = _bundle(_promo("MILK-3FOR2", "n_for_m", n=3, m=2, targets={"skus": [MILK]}))
    hint = _only(Engine(bundle).hints(_basket((MILK, 2))), "MILK-3FOR2")
    assert (hint.reason, hint.missing_qty_milli, hint.near) == ("below_set_size", 1000, True)
    assert hint.scope == f"sku:{MILK}"
    assert hint.text_en == "add 1 more of Milk 1 l for 3-for-2"
    assert hint.text_ru == "добавьте ещё 1 (Milk 1 l) — 3 по цене 2"
    taken = _only(Engine(bundle).hints(_basket((MILK, 3))), "MILK-3FOR2")
    assert (taken.reason, taken.discount) == ("applied", 9500)


def test_a_short_quantity_is_a_near_miss_only_within_the_threshold(Engine: type) -> None:
    bundle = _bundle(_promo("MILK-5", "percent", 500, targets={"skus": [MILK]}, min_qty=5))
    engine = Engine(bundle)
    far = _only(engine.hints(_basket((MILK, 2))), "MILK-5")
    assert (far.reason, far.missing_qty_milli, far.near) == ("below_min_qty", 3000, False)
    near = _only(engine.hints(_basket((MILK, 2)), near_bp=6000), "MILK-5")
    assert near.near and near.text_en == "add 3 more of Milk 1 l for 5% off"


def test_a_short_amount_beyond_the_threshold_is_no_near_miss(Engine: type) -> None:
    bundle = _bundle(_promo("BIG", "basket_amount", 5000, min_amount=100000))
    hint = _only(Engine(bundle).hints(_basket((MILK, 1))), "BIG")
    assert (hint.reason, hint.missing_kop, hint.near, hint.scope) == ("below_min_amount", 90500, False, "basket")
    assert hint.text_en == "add 905.00 ₽ for 50.00 ₽ off"


def test_an_applied_promotion_carries_its_figures_from_the_result(Engine: type) -> None:
    bundle = _bundle(_promo("CHEESE-15", "percent", 1500, targets={"categories": ["dairy/cheese"]}))
    engine = Engine(bundle)
    basket = _basket((CHEESE, 2))
    result = engine.price(basket)
    hint = _only(engine.hints(basket, result=result), "CHEESE-15")
    assert (hint.reason, hint.discount, hint.points) == ("applied", 5700, 0)
    assert result.to_json()["applied"] == [{"promo": "CHEESE-15", "discount": 5700, "points": 0}]
    assert hint.text_en == "15% off applied: −57.00 ₽"


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ({"from": "2026-11-23T00:00:00+07:00"}, "not_yet_started"),
        ({"until": "2026-11-22T12:00:00+07:00"}, "expired"),
        ({"days": [1, 2, 3, 4, 5]}, "wrong_day"),
        ({"hours": [["09:00", "12:00"]]}, "outside_time_window"),
    ],
)
def test_hint_names_the_failed_time_condition(Engine: type, when: dict[str, Any], reason: str) -> None:
    bundle = _bundle(_promo("MILK-T", "percent", 1000, targets={"skus": [MILK]}, when=when))
    assert _only(Engine(bundle).hints(_basket((MILK, 1), customer=MEMBER)), "MILK-T").reason == reason


@pytest.mark.parametrize(
    ("who", "reason", "text_en"),
    [
        ({"stores": ["KY-002"]}, "other_store", "10% off: not in this store"),
        ({"chains": ["narodny"]}, "other_store", "10% off: not in this store"),
        ({"tiers": ["silver"]}, "tier_required", "10% off: for tier silver only"),
        ({"segments": ["students"]}, "segment_required", "10% off: for students only"),
        ({"personal": True}, "personal_offer_missing", "10% off: a personal offer for other customers"),
        ({"coupon": "SPRING10"}, "coupon_missing", "10% off: needs coupon SPRING10"),
    ],
)
def test_hint_names_the_failed_who_condition(Engine: type, who: dict[str, Any], reason: str, text_en: str) -> None:
    bundle = _bundle(_promo("MILK-W", "percent", 1000, targets={"skus": [MILK]}, who=who))
    hint = _only(Engine(bundle).hints(_basket((MILK, 1), customer=MEMBER)), "MILK-W")
    assert (hint.reason, hint.text_en, hint.near) == (reason, text_en, False)


def test_the_coupon_and_the_personal_offer_make_it_apply(Engine: type) -> None:
    bundle = _bundle(_promo("MILK-C", "percent", 1000, targets={"skus": [MILK]}, who={"coupon": "SPRING10"}),
                     _promo("CHEESE-P", "percent", 1000, targets={"skus": [CHEESE]}, who={"personal": True}))
    customer = dict(MEMBER, offers=["CHEESE-P"])
    hints = Engine(bundle).hints(_basket((MILK, 1), (CHEESE, 1), customer=customer, coupons=["SPRING10"]))
    assert [(h.promo, h.reason) for h in hints] == [("CHEESE-P", "applied"), ("MILK-C", "applied")]


def test_members_only_and_bonus_promotions_need_a_card(Engine: type) -> None:
    bundle = _bundle(_promo("MEMBERS", "percent", 500, who={"members_only": True}),
                     _promo("X2", "bonus_multiplier", 200))
    hints = Engine(bundle).hints(_basket((MILK, 1)))
    assert {h.promo: h.reason for h in hints} == {"MEMBERS": "customer_required", "X2": "customer_required"}
    assert hints[0].text_en == "5% off: for loyalty members, scan a card"


def test_a_line_taken_by_an_earlier_exclusive_promotion_is_already_discounted(Engine: type) -> None:
    bundle = _bundle(_promo("FIRST", "percent", 2000, targets={"skus": [MILK]}, priority=10),
                     _promo("SECOND", "amount_off", 100, targets={"categories": ["dairy"]}))
    hints = Engine(bundle).hints(_basket((MILK, 1)))
    assert {h.promo: h.reason for h in hints} == {"FIRST": "applied", "SECOND": "lines_already_discounted"}


def test_a_stacking_promotion_still_reaches_a_discounted_line(Engine: type) -> None:
    bundle = _bundle(_promo("FIRST", "percent", 2000, targets={"skus": [MILK]}, priority=10, stack=True),
                     _promo("SECOND", "amount_off", 100, targets={"categories": ["dairy"]}, stack=True))
    hints = Engine(bundle).hints(_basket((MILK, 1)))
    assert {h.promo: h.reason for h in hints} == {"FIRST": "applied", "SECOND": "applied"}


def test_the_losing_member_of_a_group_is_superseded_by_better(Engine: type) -> None:
    bundle = _bundle(_promo("G-SMALL", "percent", 500, targets={"skus": [MILK]}, group="milk"),
                     _promo("G-BIG", "percent", 2500, targets={"skus": [MILK]}, group="milk"))
    hints = Engine(bundle).hints(_basket((MILK, 1)))
    assert {h.promo: h.reason for h in hints} == {"G-BIG": "applied", "G-SMALL": "superseded_by_better"}


def test_a_multiplier_below_the_favourite_is_superseded_by_better(Engine: type) -> None:
    bundle = _bundle(_promo("X2", "bonus_multiplier", 200, targets={"categories": ["dairy"]}))
    customer = dict(MEMBER, favorite_category="dairy")
    assert _only(Engine(bundle).hints(_basket((MILK, 1), customer=customer)), "X2").reason == "superseded_by_better"
    assert _only(Engine(bundle).hints(_basket((MILK, 1), customer=MEMBER)), "X2").reason == "applied"


def test_a_fixed_price_above_the_price_is_not_lower(Engine: type) -> None:
    bundle = _bundle(_promo("MILK-99", "fixed_price", 9900, targets={"skus": [MILK]}))
    hint = _only(Engine(bundle).hints(_basket((MILK, 1))), "MILK-99")
    assert (hint.reason, hint.text_en) == ("price_not_lower", "a price of 99.00 ₽: the price is already lower")


def test_an_item_at_its_minimum_price_is_at_price_floor(Engine: type) -> None:
    bundle = _bundle(_promo("BREAD-10", "percent", 1000, targets={"skus": [BREAD]}))
    assert _only(Engine(bundle).hints(_basket((BREAD, 2))), "BREAD-10").reason == "at_price_floor"


def test_a_zero_promotion_gave_nothing(Engine: type) -> None:
    bundle = _bundle(_promo("ZERO", "bonus_points", 0, per="receipt"))
    assert _only(Engine(bundle).hints(_basket((MILK, 1), customer=MEMBER)), "ZERO").reason == "gave_nothing"


def test_a_basket_wide_offer_with_only_no_discount_items_has_no_eligible_lines(Engine: type) -> None:
    bundle = _bundle(_promo("ALL-5", "basket_percent", 500))
    hint = _only(Engine(bundle).hints(_basket((BEER, 1))), "ALL-5")
    assert (hint.reason, hint.scope) == ("no_eligible_lines", "basket")


def test_promotions_the_basket_does_not_reach_give_no_hint(Engine: type) -> None:
    bundle = _bundle(_promo("BREAD-ONLY", "percent", 1000, targets={"categories": ["bakery"]}),
                     _promo("OLD", "basket_percent", 500, when={"until": "2026-11-01T00:00:00+07:00"}),
                     _promo("NOW", "basket_percent", 500, when={"hours": [["09:00", "12:00"]]}))
    hints = Engine(bundle).hints(_basket((MILK, 1)))
    assert [(h.promo, h.reason) for h in hints] == [("NOW", "outside_time_window")]


def test_near_misses_come_first_and_the_limit_caps_the_list(Engine: type) -> None:
    bundle = _bundle(_promo("A-APPLIED", "percent", 500, targets={"skus": [CHEESE]}, priority=1, stack=True),
                     _promo("B-COUPON", "percent", 500, targets={"skus": [MILK]}, who={"coupon": "X"}, priority=2),
                     _promo("C-NEAR", "basket_amount", 1000, min_amount=35000, priority=3, stack=True))
    engine = Engine(bundle)
    basket = _basket((MILK, 1), (CHEESE, 1))  # 285.00 -> 275.50 after cheese 5%
    assert [h.promo for h in engine.hints(basket)] == ["C-NEAR", "A-APPLIED", "B-COUPON"]
    assert [h.promo for h in engine.hints(basket, limit=2)] == ["C-NEAR", "A-APPLIED"]
    assert engine.hints(basket, limit=0) == []
    near = engine.hints(basket)[0]
    assert (near.reason, near.missing_kop) == ("below_min_amount", 35000 - 27550)


@pytest.mark.parametrize("options", [{"near_bp": -1}, {"near_bp": 10001}, {"near_bp": 0.3}, {"limit": -1}])
def test_bad_hint_options_are_refused(Engine: type, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Engine(_bundle()).hints(_basket((MILK, 1)), **options)


def test_hints_change_no_figure_of_the_result(Engine: type) -> None:
    bundle = _bundle(_promo("DAIRY-10", "basket_percent", 1000, targets={"categories": ["dairy"]},
                            min_amount=50000),
                     _promo("CHEESE-15", "percent", 1500, targets={"categories": ["dairy/cheese"]}))
    engine = Engine(bundle)
    basket = _basket((MILK, 4), (CHEESE, 1), customer=MEMBER)
    before = copy.deepcopy(engine.price(basket).to_json())
    result = engine.price(basket)
    assert engine.hints(basket, result=result)
    assert result.to_json() == before and "hints" not in before


def test_every_reason_code_is_listed_once() -> None:
    assert len(set(HINT_REASONS)) == len(HINT_REASONS)
    assert HINT_REASONS[0] == "applied"
