"""Hypothesis strategies for random bundles and baskets (spec/pricing.md).

They cover every promotion kind, groups, stack/no-stack mixes, floors, kg
items, customer or none, redeem 0 / n / "max", coupons, personal offers,
and time and day windows across time zones.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ZONES = ["Europe/Moscow", "Asia/Krasnoyarsk", "Asia/Vladivostok", "UTC", "America/New_York"]
CATEGORIES = ["dairy", "dairy/milk", "dairy/milk/uht", "dairy/cheese", "frozen/icecream", "produce/fruit",
              "produce", "bakery/bread", "alcohol/beer", None]
BRANDS = ["a", "b", "c", None]
SEGMENTS = ["students", "families", "pensioners"]
COUPONS = ["C1", "C2", "C3"]
KINDS = ["percent", "amount_off", "fixed_price", "n_for_m", "basket_percent", "basket_amount",
         "bonus_multiplier", "bonus_points"]
GROUPS = {  # group names per phase, so a group never mixes phases
    "line": [None, None, "L1", "L2"],
    "basket": [None, None, "B1"],
    "bonus": [None, None, "P1"],
}
PHASE = {"percent": "line", "amount_off": "line", "fixed_price": "line", "n_for_m": "line",
         "basket_percent": "basket", "basket_amount": "basket", "bonus_multiplier": "bonus", "bonus_points": "bonus"}
DAYS_BASE = "2026-11-"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def items(draw: Any, index: int) -> dict[str, Any]:
    unit = draw(st.sampled_from(["pcs", "pcs", "kg"]))
    price = draw(st.integers(0, 30000))
    min_price = draw(st.one_of(st.just(0), st.integers(0, price)))
    return {
        "sku": f"46{index:011d}",
        "name": f"item {index}",
        "price": price,
        "category": draw(st.sampled_from(CATEGORIES)),
        "brand": draw(st.sampled_from(BRANDS)),
        "unit": unit,
        "min_price": min_price,
        "flags": draw(st.lists(st.sampled_from(["no_discount", "no_accrual", "no_redeem", "weird"]), max_size=2, unique=True)),
    }


@st.composite
def targets(draw: Any, skus: list[str]) -> dict[str, Any]:
    if draw(st.booleans()):
        return {}
    return {
        "skus": draw(st.lists(st.sampled_from(skus), max_size=2, unique=True)),
        "categories": draw(st.lists(st.sampled_from([c for c in CATEGORIES if c] + ["dair", "produce/"]), max_size=2, unique=True)),
        "brands": draw(st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=1)),
    }


@st.composite
def promotions(draw: Any, index: int, skus: list[str], tiers: list[str], stores: list[str], chains: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    p: dict[str, Any] = {"id": f"P{index:02d}-{kind[:3]}", "kind": kind}
    if kind in ("percent", "basket_percent"):
        p["value"] = draw(st.sampled_from([0, 500, 1000, 1500, 3333, 5000, 10000]))
    elif kind in ("amount_off", "fixed_price", "basket_amount"):
        p["value"] = draw(st.integers(0, 20000))
    elif kind == "bonus_multiplier":
        p["value"] = draw(st.sampled_from([50, 100, 150, 200, 300, 500]))
    elif kind == "bonus_points":
        p["value"] = draw(st.integers(0, 300))
        p["per"] = draw(st.sampled_from(["unit", "receipt"]))
    else:
        n = draw(st.integers(1, 4))
        p["n"], p["m"] = n, draw(st.integers(0, n - 1))
    p["targets"] = draw(targets(skus))
    if draw(st.integers(0, 3)) == 0:
        p["exclude"] = draw(targets(skus))
    when: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        when["from"] = f"{DAYS_BASE}{draw(st.integers(18, 24)):02d}T{draw(st.integers(0, 23)):02d}:00:00+07:00"
    if draw(st.integers(0, 3)) == 0:
        when["until"] = f"{DAYS_BASE}{draw(st.integers(20, 28)):02d}T{draw(st.integers(0, 23)):02d}:30:00Z"
    if draw(st.integers(0, 3)) == 0:
        when["days"] = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True))
    if draw(st.integers(0, 3)) == 0:
        start = draw(st.integers(0, 1400))
        end = draw(st.integers(start + 1, 1440))
        when["hours"] = [[_hhmm(start), _hhmm(end)]]
    p["when"] = when
    who: dict[str, Any] = {}
    roll = draw(st.integers(0, 9))
    if roll == 0:
        who["tiers"] = draw(st.lists(st.sampled_from(tiers + ["ghost"]), min_size=1, max_size=2, unique=True))
    elif roll == 1:
        who["segments"] = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=2, unique=True))
    elif roll == 2:
        who["personal"] = True
    elif roll == 3:
        who["coupon"] = draw(st.sampled_from(COUPONS))
    elif roll == 4:
        who["members_only"] = True
    elif roll == 5:
        who["stores"] = draw(st.lists(st.sampled_from(stores), min_size=1, max_size=1))
    elif roll == 6:
        who["chains"] = draw(st.lists(st.sampled_from(chains + ["other"]), min_size=1, max_size=1))
    p["who"] = who
    if draw(st.integers(0, 4)) == 0:
        p["min_qty"] = draw(st.sampled_from([1, 2, "0.5", 3]))
    if draw(st.integers(0, 4)) == 0:
        p["min_amount"] = draw(st.integers(0, 40000))
    p["priority"] = draw(st.sampled_from([100, 100, 50, -5, 0, 200]))
    if kind != "bonus_multiplier" and not (kind == "bonus_points" and draw(st.booleans())):
        p["group"] = draw(st.sampled_from(GROUPS[PHASE[kind]]))
    p["stack"] = draw(st.booleans())
    return p


@st.composite
def bundles(draw: Any, max_items: int = 8, max_promos: int = 12) -> dict[str, Any]:
    n_items = draw(st.integers(1, max_items))
    catalog = [draw(items(i)) for i in range(n_items)]
    skus = [c["sku"] for c in catalog]
    tiers = [{"id": t, "rate_bp": draw(st.sampled_from([0, 50, 100, 300, 1000]))}
             for t in draw(st.lists(st.sampled_from(["base", "silver", "gold"]), min_size=1, max_size=3, unique=True))]
    n_stores = draw(st.integers(1, 2))
    stores = [{"id": f"S-{i}", "chain": draw(st.sampled_from(["krasyar", "narodny", None])),
               "timezone": draw(st.sampled_from(ZONES + [None]))} for i in range(n_stores)]
    chains = [s["chain"] for s in stores if s["chain"]]
    n_promos = draw(st.integers(0, max_promos))
    promos = [draw(promotions(i, skus, [t["id"] for t in tiers], [s["id"] for s in stores], chains)) for i in range(n_promos)]
    return {
        "version": draw(st.integers(1, 1000)),
        "program": {
            "point_value": draw(st.sampled_from([1, 10, 100])),
            "redeem_cap_bp": draw(st.sampled_from([0, 3000, 7000, 10000])),
            "accrue_on_redeemed": draw(st.booleans()),
            "welcome_points": draw(st.sampled_from([0, 100])),
            "birthday_points": draw(st.sampled_from([0, 200])),
            "favorite_multiplier_pct": draw(st.sampled_from([80, 100, 200, 300])),
            "timezone": draw(st.sampled_from(ZONES)),
        },
        "tiers": tiers,
        "stores": stores,
        "catalog": catalog,
        "promotions": promos,
    }


@st.composite
def baskets(draw: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    catalog = bundle["catalog"]
    lines = []
    for _ in range(draw(st.integers(1, 7))):
        item = draw(st.sampled_from(catalog))
        if item["unit"] == "kg":
            milli = draw(st.integers(1, 5000))
            qty: Any = draw(st.sampled_from([f"{milli // 1000}.{milli % 1000:03d}", str(milli // 1000 or 1)]))
        else:
            qty = draw(st.sampled_from([1, 1, 2, 3, 4, 6, "2", "5"]))
        lines.append({"sku": item["sku"], "qty": qty})
    customer = None
    if draw(st.integers(0, 3)):
        promo_ids = [p["id"] for p in bundle["promotions"]]
        customer = {
            "card": "2900000123454",
            "account": "A-1",
            "tier": draw(st.sampled_from([t["id"] for t in bundle["tiers"]] + [None, "unknown"])),
            "segments": draw(st.lists(st.sampled_from(SEGMENTS), max_size=2, unique=True)),
            "offers": draw(st.lists(st.sampled_from(promo_ids), max_size=3, unique=True)) if promo_ids else [],
            "birthday": draw(st.sampled_from([None, "1990-11-22", "1988-02-29", "1975-11-23", "2000-01-01"])),
            "birthday_bonus_available": draw(st.sampled_from([None, True, False])),
            "favorite_category": draw(st.sampled_from([None, "dairy", "produce/fruit", "frozen"])),
            "favorite_until": draw(st.sampled_from([None, "2026-11-21", "2026-11-22", "2026-12-31"])),
            "first_purchase": draw(st.booleans()),
            "available_points": draw(st.sampled_from([0, 5, 60, 1500, 100000])),
        }
    day = draw(st.integers(19, 27))
    hour = draw(st.integers(0, 23))
    minute = draw(st.sampled_from([0, 29, 30, 59]))
    offset = draw(st.sampled_from(["+07:00", "+03:00", "Z", "-05:00"]))
    return {
        "store": draw(st.sampled_from([s["id"] for s in bundle["stores"]])),
        "at": f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00{offset}",
        "customer": customer,
        "coupons": draw(st.lists(st.sampled_from(COUPONS + ["NOPE"]), max_size=3)),
        "lines": lines,
        "redeem": draw(st.sampled_from([0, 0, 10, 150, 10**6, "max"])),
    }


@st.composite
def cases(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    bundle = draw(bundles())
    return bundle, draw(baskets(bundle))


@st.composite
def hint_options(draw: Any) -> dict[str, Any]:
    """Per-call hint settings: the near-miss threshold and the cap."""
    return {"near_bp": draw(st.sampled_from([0, 1000, 3000, 10000])),
            "limit": draw(st.sampled_from([None, None, 0, 1, 3]))}
