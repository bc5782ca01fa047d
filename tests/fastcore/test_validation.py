"""One test per bundle and basket error of spec/pricing.md, on both engines.

Each error names its field; a bad input changes nothing and prices nothing.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from fastcore import BasketError, BundleError, load_bundle

EXAMPLES = Path(__file__).parents[2] / "examples"


def _bundle() -> dict[str, Any]:
    return json.loads((EXAMPLES / "bundle.json").read_text())


def _basket() -> dict[str, Any]:
    return json.loads((EXAMPLES / "basket.json").read_text())


def _promo(bundle: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in bundle["promotions"] if p["id"] == pid)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


BUNDLE_ERRORS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown_kind": (_set(["promotions", 0, "kind"], "percent_off"), "promotions[0].kind"),
    "missing_value": (lambda b: b["promotions"][0].pop("value"), "promotions[0].value"),
    "n_for_m_n_equal_m": (_set(["promotions", 1, "m"], 2), "promotions[1].n"),
    "n_for_m_without_m": (lambda b: b["promotions"][1].pop("m"), "promotions[1].n"),
    "n_for_m_negative_m": (_set(["promotions", 1, "m"], -1), "promotions[1].m"),
    "bonus_points_without_per": (lambda b: b["promotions"][7].pop("per"), "promotions[7].per"),
    "bonus_points_bad_per": (_set(["promotions", 7, "per"], "kg"), "promotions[7].per"),
    "group_mixes_phases": (_set(["promotions", 0, "group"], "BASKET"), "promotions[4].group"),
    "group_on_bonus_multiplier": (_set(["promotions", 6, "group"], "X"), "promotions[6].group"),
    "duplicate_promotion_id": (_set(["promotions", 1, "id"], "ICE-15"), "promotions[1].id"),
    "duplicate_sku": (_set(["catalog", 1, "sku"], "4601234567893"), "catalog[1].sku"),
    "duplicate_tier": (_set(["tiers", 1, "id"], "base"), "tiers[1].id"),
    "duplicate_store": (_set(["stores", 1, "id"], "KY-001"), "stores[1].id"),
    "percent_over_10000": (_set(["promotions", 0, "value"], 10001), "promotions[0].value"),
    "basket_percent_over_10000": (_set(["promotions", 4, "value"], 12000), "promotions[4].value"),
    "negative_value": (_set(["promotions", 3, "value"], -5), "promotions[3].value"),
    "negative_price": (_set(["catalog", 0, "price"], -1), "catalog[0].price"),
    "negative_min_price": (_set(["catalog", 0, "min_price"], -1), "catalog[0].min_price"),
    "negative_min_qty": (_set(["promotions", 0, "min_qty"], -1), "promotions[0].min_qty"),
    "min_qty_four_decimals": (_set(["promotions", 0, "min_qty"], "0.0001"), "promotions[0].min_qty"),
    "min_price_above_price": (_set(["catalog", 0, "min_price"], 9000), "catalog[0].min_price"),
    "bad_unit": (_set(["catalog", 0, "unit"], "litre"), "catalog[0].unit"),
    "point_value_zero": (_set(["program", "point_value"], 0), "program.point_value"),
    "no_tiers": (_set(["tiers"], []), "tiers"),
    "hours_start_after_end": (_set(["promotions", 0, "when", "hours"], [["18:00", "09:00"]]), "promotions[0].when.hours[0]"),
    "hours_empty_window": (_set(["promotions", 0, "when", "hours"], [["09:00", "09:00"]]), "promotions[0].when.hours[0]"),
    "hours_24_as_start": (_set(["promotions", 0, "when", "hours"], [["24:00", "24:00"]]), "promotions[0].when.hours[0]"),
    "hours_bad_text": (_set(["promotions", 0, "when", "hours"], [["9:00", "12:00"]]), "promotions[0].when.hours[0]"),
    "weekday_zero": (_set(["promotions", 0, "when", "days"], [0, 1]), "promotions[0].when.days[0]"),
    "weekday_eight": (_set(["promotions", 0, "when", "days"], [8]), "promotions[0].when.days[0]"),
    "unknown_store_zone": (_set(["stores", 1, "timezone"], "Asia/Atlantis"), "stores[1].timezone"),
    "unknown_program_zone": (_set(["program", "timezone"], "Mars/Olympus"), "program.timezone"),
    "instant_without_offset": (_set(["promotions", 0, "when", "from"], "2026-11-01T00:00:00"), "promotions[0].when.from"),
    "store_without_zone": (lambda b: (b["program"].pop("timezone"), b["stores"][0].pop("timezone")), "stores[0].timezone"),
    "float_price": (_set(["catalog", 0, "price"], Decimal("8990.0")), "catalog[0].price"),
    "bool_value": (_set(["promotions", 0, "value"], True), "promotions[0].value"),
    "not_an_object": (_set(["catalog", 0], "sku"), "catalog[0]"),
    # till.md §1-2 and sync.md: scale labels, card prefixes and program ceilings
    "plu_not_five_digits": (_set(["catalog", 10, "plu"], "455"), "catalog[10].plu"),
    "plu_not_ascii_digits": (_set(["catalog", 10, "plu"], "０００００"), "catalog[10].plu"),
    "plu_on_pcs_item": (_set(["catalog", 0, "plu"], "00002"), "catalog[0].plu"),
    "plu_twice": (_set(["catalog", 11, "plu"], "00000"), "catalog[11].plu"),
    "prefixes_overlap": (_set(["program", "weight_prefixes"], ["20", "29"]), "program.weight_prefixes"),
    "card_prefix_not_two_digits": (_set(["program", "card_prefixes"], ["2"]), "program.card_prefixes[0]"),
    "weight_prefix_not_string": (_set(["program", "weight_prefixes"], [20]), "program.weight_prefixes"),
    "card_prefix_twice": (_set(["program", "card_prefixes"], ["29", "29"]), "program.card_prefixes"),
    "max_line_qty_zero": (_set(["program", "max_line_qty"], 0), "program.max_line_qty"),
    "max_line_qty_huge": (_set(["program", "max_line_qty"], 2**63), "program.max_line_qty"),
    "max_points_per_sale_huge": (_set(["program", "max_points_per_sale"], 2**53), "program.max_points_per_sale"),
    "max_points_per_sale_negative": (_set(["program", "max_points_per_sale"], -1), "program.max_points_per_sale"),
    "customer_cache_unknown": (_set(["program", "customer_cache"], "some"), "program.customer_cache"),
    # docs/enrolment.md: where a till may enrol, and a welcome bonus a sale may carry
    "enrolment_unknown": (_set(["program", "enrolment"], "sometimes"), "program.enrolment"),
    "enrolment_not_text": (_set(["program", "enrolment"], True), "program.enrolment"),
    "welcome_points_negative": (_set(["program", "welcome_points"], -1), "program.welcome_points"),
    "welcome_points_above_sale_ceiling": (
        lambda b: b["program"].update(welcome_points=1001, max_points_per_sale=1000), "program.welcome_points"),
    "welcome_points_huge": (_set(["program", "welcome_points"], 2**63), "program.welcome_points"),
}


@pytest.mark.parametrize("case", sorted(BUNDLE_ERRORS))
def test_bundle_error_names_its_field(Engine: type, case: str) -> None:
    change, field = BUNDLE_ERRORS[case]
    bundle = _bundle()
    change(bundle)
    with pytest.raises(BundleError) as info:
        Engine(bundle)
    assert info.value.field == field
    assert field in str(info.value)


def test_bundle_that_is_not_json_is_a_bundle_error() -> None:
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(b"{\"version\": 1,")


def test_unknown_flags_and_extra_keys_are_ignored(Engine: type) -> None:
    bundle = _bundle()
    bundle["catalog"][0]["flags"] = ["organic"]
    bundle["keys"] = {"keys": []}
    bundle["customers"] = []
    assert Engine(bundle).price(_basket()).totals["amount"] > 0


BASKET_ERRORS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown_sku": (_set(["lines", 0, "sku"], "0000000000000"), "lines[0].sku"),
    "unknown_store": (_set(["store"], "MSK-999"), "store"),
    "missing_store": (lambda k: k.pop("store"), "store"),
    "empty_lines": (_set(["lines"], []), "lines"),
    "lines_not_a_list": (_set(["lines"], {"sku": "x"}), "lines"),
    "fraction_of_a_piece": (_set(["lines", 0, "qty"], "1.5"), "lines[0].qty"),
    "four_decimals": (_set(["lines", 5, "qty"], Decimal("1.0001")), "lines[5].qty"),
    "zero_qty": (_set(["lines", 0, "qty"], 0), "lines[0].qty"),
    "negative_qty": (_set(["lines", 0, "qty"], -1), "lines[0].qty"),
    "qty_with_comma": (_set(["lines", 5, "qty"], "0,455"), "lines[5].qty"),
    "qty_with_space": (_set(["lines", 0, "qty"], " 1"), "lines[0].qty"),
    "qty_bool": (_set(["lines", 0, "qty"], True), "lines[0].qty"),
    "qty_float": (_set(["lines", 5, "qty"], 0.455), "lines[5].qty"),
    "redeem_string_number": (_set(["redeem"], "10"), "redeem"),
    "redeem_true": (_set(["redeem"], True), "redeem"),
    "redeem_fraction": (_set(["redeem"], Decimal("1.5")), "redeem"),
    "redeem_two_point_zero": (_set(["redeem"], Decimal("2.0")), "redeem"),
    "redeem_negative": (_set(["redeem"], -1), "redeem"),
    "at_without_offset": (_set(["at"], "2026-11-22T14:05:00"), "at"),
    "at_missing": (lambda k: k.pop("at"), "at"),
    "points_negative": (_set(["customer", "available_points"], -1), "customer.available_points"),
    "points_float": (_set(["customer", "available_points"], Decimal("10.0")), "customer.available_points"),
    "birthday_malformed": (_set(["customer", "birthday"], "22.11.1990"), "customer.birthday"),
    "favorite_until_malformed": (_set(["customer", "favorite_until"], "2026-13-01"), "customer.favorite_until"),
    "customer_not_object": (_set(["customer"], "A-77"), "customer"),
    "segments_not_strings": (_set(["customer", "segments"], [1]), "customer.segments"),
    "coupons_not_a_list": (_set(["coupons"], "SPRING300"), "coupons"),
    "line_not_object": (_set(["lines", 0], "4601234567893"), "lines[0]"),
}


@pytest.mark.parametrize("case", sorted(BASKET_ERRORS))
def test_basket_error_names_its_field(Engine: type, case: str) -> None:
    change, field = BASKET_ERRORS[case]
    engine = Engine(_bundle())
    basket = _basket()
    change(basket)
    before = copy.deepcopy(basket)
    with pytest.raises(BasketError) as info:
        engine.price(basket)
    assert info.value.field == field
    assert basket == before  # the input is left as it was


def test_basket_that_is_not_an_object_is_rejected(Engine: type) -> None:
    with pytest.raises(BasketError):
        Engine(_bundle()).price(["lines"])  # type: ignore[arg-type]


def test_whole_number_written_with_zeros_is_fine_for_pieces(Engine: type) -> None:
    basket = _basket()
    basket["lines"][0]["qty"] = "2.000"
    assert Engine(_bundle()).price(basket).lines[0]["qty"] == "2"


def test_engine_keeps_pricing_after_a_bad_basket(Engine: type) -> None:
    engine = Engine(_bundle())
    good = engine.price(_basket())
    bad = _basket()
    bad["lines"][0]["sku"] = "nope"
    with pytest.raises(BasketError):
        engine.price(bad)
    assert engine.price(_basket()) == good


def test_program_defaults_follow_the_till_spec() -> None:
    bundle = _bundle()
    for key in ("card_prefixes", "weight_prefixes", "max_line_qty", "max_points_per_sale"):
        bundle["program"].pop(key, None)
    program = load_bundle(bundle).program
    assert program.card_prefixes == ("29",)
    assert program.weight_prefixes == tuple(str(p) for p in range(20, 29))
    assert program.max_line_qty_milli == {"pcs": 999_000, "kg": 999_999}
    assert program.customer_cache == "store"
    assert program.enrolment == "offline"  # docs/enrolment.md


def test_weighed_items_carry_their_plu() -> None:
    catalog = load_bundle(_bundle()).catalog
    assert catalog["2000000000053"].plu == "00000"
    assert catalog["4601234567893"].plu is None
