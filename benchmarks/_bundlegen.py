"""Seeded chain-sized bundles and baskets for benchmarks, in two shapes.

``make_bundle``: 100,000 skus in a three-level category tree, 500 brands,
5,000 promotions of every kind (half aimed at 1-5 skus, the rest at
categories or brands, a few at the whole basket), groups, time windows and
customer conditions; about six promotions reach each line.

``make_dense_bundle``: a different shape, so that no figure depends on one
generator: a two-level tree of 12 departments, 40 brands, and promotions
aimed only at departments, sub-departments and brands (every line is
reached by dozens of them), many in groups, open to every basket.
"""
from __future__ import annotations

import random
from typing import Any

KINDS_WEIGHTED = (["percent"] * 30 + ["amount_off"] * 12 + ["fixed_price"] * 10 + ["n_for_m"] * 10
                  + ["basket_percent"] * 2 + ["basket_amount"] * 2 + ["bonus_multiplier"] * 8
                  + ["bonus_points"] * 8)


def make_bundle(n_skus: int = 100_000, n_promos: int = 5_000, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    tops = [f"c{i}" for i in range(20)]
    cats = [f"{t}/s{j}/l{k}" for t in tops for j in range(10) for k in range(5)]
    brands = [f"brand{i}" for i in range(500)]
    catalog = []
    for i in range(n_skus):
        kg = rng.random() < 0.08
        price = rng.randrange(1990, 99990)
        catalog.append({
            "sku": f"{4600000000000 + i * 7:013d}",
            "name": f"Товар {i}",
            "price": price,
            "category": rng.choice(cats),
            "brand": rng.choice(brands),
            "unit": "kg" if kg else "pcs",
            "min_price": price // 2 if rng.random() < 0.1 else 0,
            "flags": ["no_discount"] if rng.random() < 0.02 else [],
        })
    skus = [c["sku"] for c in catalog]
    promos = []
    for i in range(n_promos):
        kind = rng.choice(KINDS_WEIGHTED)
        p: dict[str, Any] = {"id": f"P{i:05d}", "kind": kind, "priority": rng.choice([100, 100, 50, 200, -1])}
        if kind in ("percent", "basket_percent"):
            p["value"] = rng.choice([500, 1000, 1500, 2000, 3000])
        elif kind in ("amount_off", "fixed_price"):
            p["value"] = rng.randrange(500, 5000)
        elif kind == "basket_amount":
            p["value"] = rng.randrange(5000, 30000)
            p["min_amount"] = 100000
        elif kind == "bonus_multiplier":
            p["value"] = rng.choice([150, 200, 300])
        elif kind == "bonus_points":
            p["value"] = rng.randrange(5, 100)
            p["per"] = rng.choice(["unit", "receipt"])
        else:
            p["n"], p["m"] = rng.choice([(2, 1), (3, 2), (4, 3)])
        if kind.startswith("basket"):
            # basket-wide offers are coupons, personal offers or tier perks,
            # and the open ones are alternatives of one group
            p["targets"] = {}
            roll = rng.random()
            if roll < 0.6:
                p["who"] = {"coupon": f"CPN{i % 97}"}
            elif roll < 0.85:
                p["who"] = {"personal": True}
            elif roll < 0.95:
                p["who"] = {"tiers": ["gold"]}
            else:
                p["group"] = "BASKET"
            promos.append(p)
            continue
        else:
            roll = rng.random()
            if roll < 0.5:
                p["targets"] = {"skus": rng.sample(skus, rng.randrange(1, 6))}
            elif roll < 0.8:
                p["targets"] = {"categories": [rng.choice(cats).rsplit("/", rng.randrange(0, 2))[0]]}
            else:
                p["targets"] = {"brands": [rng.choice(brands)]}
        if rng.random() < 0.2:
            p["when"] = {"days": rng.sample(range(1, 8), 5), "hours": [["08:00", "23:00"]]}
        if rng.random() < 0.1:
            p["who"] = {"tiers": ["silver", "gold"]}
        elif rng.random() < 0.05:
            p["who"] = {"personal": True}
        if kind in ("percent", "amount_off", "fixed_price") and rng.random() < 0.15:
            p["group"] = f"G{i % 300}"
        promos.append(p)
    return {
        "version": 1,
        "program": {"point_value": 100, "redeem_cap_bp": 7000, "accrue_on_redeemed": False, "welcome_points": 100,
                    "birthday_points": 200, "favorite_multiplier_pct": 200, "timezone": "Asia/Krasnoyarsk"},
        "tiers": [{"id": "base", "rate_bp": 100}, {"id": "silver", "rate_bp": 300}, {"id": "gold", "rate_bp": 500}],
        "stores": [{"id": f"KY-{i:03d}", "chain": "krasyar", "timezone": "Asia/Krasnoyarsk"} for i in range(1, 51)],
        "catalog": catalog,
        "promotions": promos,
    }


def make_baskets(bundle: dict[str, Any], n: int, lines: int = 40, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    catalog = bundle["catalog"]
    out = []
    for i in range(n):
        items = [rng.choice(catalog) for _ in range(lines)]
        customer = None
        if rng.random() < 0.8:
            customer = {"card": "2900000123454", "account": f"A-{i}", "tier": rng.choice(["base", "silver", "gold"]),
                        "segments": [], "offers": [f"P{rng.randrange(5000):05d}" for _ in range(3)],
                        "birthday": "1990-11-22", "favorite_category": "c1", "favorite_until": None,
                        "first_purchase": False, "available_points": rng.randrange(0, 5000)}
        out.append({
            "store": f"KY-{rng.randrange(1, 51):03d}",
            "at": f"2026-11-{rng.randrange(16, 23)}T{rng.randrange(8, 22):02d}:{rng.randrange(60):02d}:00+07:00",
            "customer": customer,
            "coupons": [f"CPN{rng.randrange(97)}"] if rng.random() < 0.3 else [],
            "lines": [{"sku": it["sku"], "qty": (f"0.{rng.randrange(100, 999)}" if it["unit"] == "kg" else rng.choice([1, 1, 2, 3]))}
                      for it in items],
            "redeem": rng.choice([0, 0, 100, "max"]),
        })
    return out


def make_dense_bundle(n_skus: int = 100_000, n_promos: int = 2_000, seed: int = 23) -> dict[str, Any]:
    """Category and brand promotions that every line reaches (see the module docstring)."""
    rng = random.Random(seed)
    depts = [f"d{i}" for i in range(12)]
    subs = [f"{d}/x{j}" for d in depts for j in range(15)]
    brands = [f"b{i}" for i in range(40)]
    catalog = []
    for i in range(n_skus):
        kg = rng.random() < 0.2
        price = rng.randrange(500, 250_000)
        catalog.append({
            "sku": f"2{i:012d}",
            "name": f"Item {i}",
            "price": price,
            "category": rng.choice(subs),
            "brand": rng.choice(brands),
            "unit": "kg" if kg else "pcs",
            "min_price": price * 6 // 10 if rng.random() < 0.3 else 0,
            "flags": rng.choice([[], [], [], [], ["no_accrual"], ["no_redeem"]]),
        })
    kinds = (["percent"] * 10 + ["amount_off"] * 3 + ["fixed_price"] * 2 + ["n_for_m"] * 3
             + ["bonus_multiplier"] * 3 + ["bonus_points"] * 3 + ["basket_percent"])
    promos = []
    for i in range(n_promos):
        kind = rng.choice(kinds)
        p: dict[str, Any] = {"id": f"D{i:05d}", "kind": kind, "priority": rng.randrange(-5, 5) * 10,
                             "stack": rng.random() < 0.15}
        if kind in ("percent", "basket_percent"):
            p["value"] = rng.choice([300, 500, 700, 1000])
        elif kind in ("amount_off", "fixed_price"):
            p["value"] = rng.randrange(100, 3000)
        elif kind == "bonus_multiplier":
            p["value"] = rng.choice([120, 150, 200, 250])
        elif kind == "bonus_points":
            p["value"] = rng.randrange(1, 30)
            p["per"] = rng.choice(["unit", "receipt"])
        else:
            p["n"], p["m"] = rng.choice([(3, 2), (5, 4)])
        roll = rng.random()
        if roll < 0.35:
            p["targets"] = {"categories": [rng.choice(depts)]}
        elif roll < 0.7:
            p["targets"] = {"categories": [rng.choice(subs)], "brands": [rng.choice(brands)]}
        else:
            p["targets"] = {"brands": rng.sample(brands, 3)}
        if rng.random() < 0.3:
            p["exclude"] = {"brands": [rng.choice(brands)]}
        p["min_amount"] = rng.choice([0, 0, 0, 20_000, 100_000])
        if kind in ("percent", "amount_off", "fixed_price", "n_for_m") and rng.random() < 0.4:
            p["group"] = f"DG{i % 60}"
        elif kind == "bonus_points" and rng.random() < 0.4:
            p["group"] = f"BG{i % 20}"
        if rng.random() < 0.1:
            p["when"] = {"hours": [["07:00", "22:00"]]}
        promos.append(p)
    return {
        "version": 1,
        "program": {"point_value": 50, "redeem_cap_bp": 5000, "accrue_on_redeemed": True, "welcome_points": 0,
                    "birthday_points": 500, "favorite_multiplier_pct": 150, "timezone": "Europe/Moscow"},
        "tiers": [{"id": "std", "rate_bp": 200}, {"id": "vip", "rate_bp": 700}],
        "stores": [{"id": f"MSK-{i:02d}", "timezone": "Europe/Moscow"} for i in range(1, 21)],
        "catalog": catalog,
        "promotions": promos,
    }


def make_dense_baskets(bundle: dict[str, Any], n: int, lines: int = 40, seed: int = 31) -> list[dict[str, Any]]:
    """Baskets for ``make_dense_bundle``: string quantities, some repeated lines, a customer in most."""
    rng = random.Random(seed)
    catalog = bundle["catalog"]
    out = []
    for _ in range(n):
        items = [rng.choice(catalog) for _ in range(lines)]
        for j in range(1, lines, 7):  # a till adds the same item again
            items[j] = items[j - 1]
        customer = None
        if rng.random() < 0.7:
            customer = {"card": "2900000123454", "tier": rng.choice(["std", "vip", None]),
                        "favorite_category": rng.choice(["d1", "d2/x3", None]), "available_points": rng.randrange(0, 20_000),
                        "birthday": "1985-03-14", "first_purchase": rng.random() < 0.05}
        out.append({
            "store": f"MSK-{rng.randrange(1, 21):02d}",
            "at": f"2026-12-{rng.randrange(1, 29):02d}T{rng.randrange(7, 23):02d}:{rng.randrange(60):02d}:00+03:00",
            "customer": customer,
            "lines": [{"sku": it["sku"], "qty": (f"{rng.randrange(1, 3)}.{rng.randrange(0, 999):03d}" if it["unit"] == "kg"
                                                   else str(rng.choice([1, 1, 1, 2, 5])))} for it in items],
            "redeem": rng.choice([0, "max", 500]),
        })
    return out
