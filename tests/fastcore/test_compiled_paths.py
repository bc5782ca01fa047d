"""The compiled engine's shortcuts give the reference twin's results.

Each shortcut of issue 13 (sku table, offers indexed by their gate, the
per-promotion "no static condition" flag, the result built on access) has
an input here where a wrong shortcut would change the figures.
"""
from __future__ import annotations

import copy
import gc
from typing import Any

import pytest

from fastcore import BasketError, Result, compiled, reference


def _bundle(catalog: list[dict[str, Any]], promotions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 3,
        "program": {"point_value": 100, "redeem_cap_bp": 7000, "accrue_on_redeemed": False, "welcome_points": 10,
                    "birthday_points": 20, "favorite_multiplier_pct": 200, "timezone": "Asia/Krasnoyarsk"},
        "tiers": [{"id": "base", "rate_bp": 100}, {"id": "gold", "rate_bp": 500}],
        "stores": [{"id": "S0", "chain": "c0", "timezone": "Asia/Krasnoyarsk"},
                   {"id": "S1", "chain": "c1", "timezone": "Asia/Krasnoyarsk"}],
        "catalog": catalog,
        "promotions": promotions,
    }


def _item(sku: str, price: int = 10000, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": sku, "price": price, "category": "a/b", "brand": "br", "unit": "pcs", **extra}


def _basket(lines: list[tuple[str, Any]], **extra: Any) -> dict[str, Any]:
    basket: dict[str, Any] = {"store": "S0", "at": "2026-11-22T10:30:00+07:00",
                              "customer": {"tier": "gold", "available_points": 0, "offers": []},
                              "lines": [{"sku": s, "qty": q} for s, q in lines]}
    basket.update(extra)
    return basket


def _both(bundle: dict[str, Any], basket: dict[str, Any]) -> dict[str, Any]:
    fast = compiled.Engine(copy.deepcopy(bundle)).price(copy.deepcopy(basket)).to_json()
    slow = reference.Engine(copy.deepcopy(bundle)).price(copy.deepcopy(basket)).to_json()
    assert fast == slow
    return fast


ODD_SKUS = ["4600000000007", "0", "x" * 19, "y" * 20, "Молоко-1", "4600000000007 ", "a\u00e9", "Z" * 64]


@pytest.mark.parametrize("sku", ODD_SKUS)
def test_sku_of_any_length_or_alphabet_is_found(sku: str) -> None:
    catalog = [_item(s, 1000 + i) for i, s in enumerate(ODD_SKUS)]
    res = _both(_bundle(catalog, []), _basket([(sku, 1)]))
    assert res["lines"][0]["sku"] == sku
    assert res["lines"][0]["amount"] == 1000 + ODD_SKUS.index(sku)


@pytest.mark.parametrize("sku", ["460000000000", "46000000000070", "x" * 18, "y" * 21, "Молоко-2", "4600000000007\x00"])
def test_sku_that_only_resembles_a_catalog_sku_is_unknown(Engine: type, sku: str) -> None:
    catalog = [_item(s) for s in ODD_SKUS]
    with pytest.raises(BasketError) as err:
        Engine(_bundle(catalog, [])).price(_basket([("4600000000007", 1), (sku, 1)]))
    assert err.value.field == "lines[1].sku"


def test_many_skus_with_colliding_table_slots_are_all_found() -> None:
    catalog = [_item(f"{i:05d}", 100 + i) for i in range(3000)]
    engine = compiled.Engine(_bundle(catalog, []))
    for i in range(0, 3000, 7):
        assert engine.price(_basket([(f"{i:05d}", 1)])).paid == 100 + i


CONDITIONS = [
    {"who": {"stores": ["S0"]}},
    {"who": {"stores": ["S1"]}},
    {"who": {"chains": ["c0"]}},
    {"who": {"chains": ["c1"]}},
    {"who": {"tiers": ["base"]}},
    {"who": {"tiers": ["gold"]}},
    {"when": {"hours": [["00:00", "10:00"]]}},
    {"when": {"hours": [["00:00", "11:00"]]}},
    {"when": {"days": [1]}},
    {"when": {"days": [7]}},
    {"when": {"from": "2026-11-22T11:00:00+07:00"}},
    {"when": {"until": "2026-11-22T10:30:00+07:00"}},
    {"who": {"members_only": True}},
    {"who": {"segments": ["s0"]}},
    {"who": {"personal": True}},
    {"who": {"coupon": "C0"}},
]


@pytest.mark.parametrize("targets", [{"skus": ["A"]}, {}], ids=["targeted", "whole-basket"])
@pytest.mark.parametrize("condition", CONDITIONS, ids=[str(c) for c in CONDITIONS])
def test_each_static_condition_is_checked_for_targeted_and_basket_wide_offers(
        condition: dict[str, Any], targets: dict[str, Any]) -> None:
    kind = "percent" if targets else "basket_percent"
    promo = {"id": "P", "kind": kind, "value": 1000, "targets": targets, **condition}
    bundle = _bundle([_item("A"), _item("B")], [promo])
    for customer in (None, {"tier": "gold", "segments": ["s0"], "offers": ["P"]}, {"tier": "base"}):
        for coupons in ([], ["C0"], ["C1", "C0", "C0"]):
            basket = _basket([("A", 1), ("B", 2)], customer=customer, coupons=coupons)
            _both(bundle, basket)


def test_basket_wide_offers_open_only_to_their_coupon_offer_or_tier() -> None:
    promos = [
        {"id": "CPN", "kind": "basket_amount", "value": 100, "who": {"coupon": "C0"}},
        {"id": "PERS", "kind": "basket_amount", "value": 200, "who": {"personal": True}},
        {"id": "GOLD", "kind": "basket_amount", "value": 400, "who": {"tiers": ["gold"]}},
        {"id": "NOTIER", "kind": "basket_amount", "value": 800, "who": {"tiers": ["platinum"]}},
        {"id": "OPEN", "kind": "basket_amount", "value": 1600},
        {"id": "CPN-PERS", "kind": "basket_amount", "value": 3200, "who": {"coupon": "C1", "personal": True}},
    ]
    for p in promos:
        p["stack"] = True  # each one that opens gives something
    bundle = _bundle([_item("A")], promos)
    cases = [
        ({"tier": "base"}, [], {"OPEN"}),
        ({"tier": "gold"}, [], {"OPEN", "GOLD"}),
        ({"tier": "base", "offers": ["PERS", "CPN-PERS"]}, ["C0"], {"OPEN", "PERS", "CPN"}),
        ({"tier": "base", "offers": ["CPN-PERS"]}, ["C1"], {"OPEN", "CPN-PERS"}),
        (None, ["C0", "C1", "C9"], {"OPEN", "CPN"}),
    ]
    for customer, coupons, expected in cases:
        res = _both(bundle, _basket([("A", 1)], customer=customer, coupons=coupons))
        assert {a["promo"] for a in res["applied"]} == expected


def test_group_judged_at_its_first_members_turn_when_that_member_cannot_apply() -> None:
    promos = [
        {"id": "G1", "kind": "percent", "value": 5000, "group": "g", "priority": 1, "targets": {"skus": ["A"]},
         "who": {"coupon": "NONE"}},
        {"id": "X", "kind": "percent", "value": 1000, "priority": 2, "targets": {"skus": ["A"]}, "stack": True},
        {"id": "G2", "kind": "percent", "value": 2000, "group": "g", "priority": 3, "targets": {"skus": ["A"]}},
    ]
    res = _both(_bundle([_item("A")], promos), _basket([("A", 1)]))
    # G2 wins at G1's turn (before X) and closes the line X would have discounted
    assert [a["promo"] for a in res["applied"]] == ["G2"]


def test_result_is_built_once_on_access_and_equals_the_twins() -> None:
    bundle = _bundle([_item("A"), _item("B", 25000)], [{"id": "P", "kind": "percent", "value": 1000}])
    basket = _basket([("A", 2), ("B", 1)])
    res = compiled.Engine(bundle).price(basket)
    assert res.paid == 40500 and res.points == 20  # read before any dict is built
    doc = res.to_json()
    assert res.to_json() is doc
    assert res == reference.Engine(bundle).price(basket)
    assert res.totals["paid"] == res.paid and res.lines[1]["sku"] == "B"
    assert not gc.is_tracked(doc) and not gc.is_tracked(doc["lines"][0]["promos"])
    doc["extra"] = {"kept": [1]}  # a dict given a container is tracked again by CPython
    assert gc.is_tracked(doc)


def test_result_pickles_and_copies_as_its_data(Engine: type) -> None:
    import pickle

    res = Engine(_bundle([_item("A")], [])).price(_basket([("A", 3)]))
    for twin in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res), copy.copy(res)):
        assert twin == res and twin.to_json() == res.to_json() and twin.paid == 30000


def test_result_needs_data_or_a_source() -> None:
    with pytest.raises(ValueError):
        Result()


def test_price_many_results_equal_price_results_on_both_engines(Engine: type) -> None:
    bundle = _bundle([_item("A"), _item("B", 777)], [{"id": "P", "kind": "n_for_m", "n": 2, "m": 1}])
    baskets = [_basket([("A", n), ("B", 1)], redeem="max") for n in range(1, 6)]
    engine = Engine(bundle)
    assert [r.to_json() for r in engine.price_many(baskets)] == [engine.price(b).to_json() for b in baskets]


class _Str(str):
    pass


CUSTOMER_FIELDS: list[tuple[str, Any]] = [
    ("available_points", v) for v in (None, 0, 5, True, -1, 1.0, "5", 2**62, 2**70)
] + [
    ("tier", v) for v in (None, "gold", "nosuch", 1, _Str("gold"))
] + [
    (k, v) for k in ("birthday", "favorite_until")
    for v in (None, "2024-02-29", "2023-02-29", "0000-01-01", "2024-13-01", "2024-1-01", "2024-04-31",
              "\uff12024-01-01", "2024-01-01 ", 20240101, "1990-11-22", "2026-11-21", "2026-11-22")
] + [
    (k, v) for k in ("segments", "offers") for v in (None, [], ["s0"], ["P"], "P", [1], [_Str("P")], ("P",))
] + [
    (k, v) for k in ("birthday_bonus_available", "first_purchase") for v in (None, True, False, 0, "true")
] + [
    (k, v) for k in ("card", "account", "favorite_category") for v in (None, "a", "a/b", 7, _Str("a"))
]


@pytest.mark.parametrize(("field", "value"), CUSTOMER_FIELDS, ids=[f"{k}={v!r}" for k, v in CUSTOMER_FIELDS])
def test_customer_fields_read_alike_by_both_engines(field: str, value: Any) -> None:
    promos = [{"id": "P", "kind": "percent", "value": 1000, "who": {"personal": True}},
              {"id": "S", "kind": "bonus_points", "value": 7, "per": "receipt", "who": {"segments": ["s0"]}}]
    bundle = _bundle([_item("A"), _item("B", 5000)], promos)
    customer = {"tier": "base", "available_points": 100, "birthday": "1990-11-22", "favorite_category": "a",
                "favorite_until": "2026-11-22", "offers": ["P"], "segments": ["s0"], field: value}
    basket = _basket([("A", 1), ("B", 2)], customer=customer, redeem="max")

    def run(engine: type) -> Any:
        try:
            return engine(copy.deepcopy(bundle)).price(copy.deepcopy(basket)).to_json()
        except BasketError as exc:
            return ("BasketError", exc.field)

    assert run(compiled.Engine) == run(reference.Engine)


def test_customer_that_is_not_an_object_is_refused_alike(Engine: type) -> None:
    with pytest.raises(BasketError) as err:
        Engine(_bundle([_item("A")], [])).price(_basket([("A", 1)], customer=["x"]))
    assert err.value.field == "customer"
