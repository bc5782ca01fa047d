"""Compilation of a validated bundle into flat integer tables.

Done once per bundle version. The Cython engine keeps only these tables
(and a few dicts used at the Python boundary), so its per-basket loops touch
integers and arrays, never Python objects.

Keys: every category prefix of every item ("a", "a/b", "a/b/c"), every
brand, and every sku named by a promotion get a key id. An item lists its
keys; a key lists the promotions that target it (``key_targets``) or exclude
it (``key_excludes``). A basket's candidate promotions are the union over
its lines' items' runs (``item_targets``: the promotions an item's keys
reach, one shared run per distinct set of keys) plus the promotions whose
targets are empty, found through the one condition that gates them (a
coupon, a personal offer, a tier) or, ungated, for every basket.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ._bundle import Bundle

KIND_CODE = {
    "percent": 0, "amount_off": 1, "fixed_price": 2, "n_for_m": 3,
    "basket_percent": 4, "basket_amount": 5, "bonus_multiplier": 6, "bonus_points": 7,
}
NO_DISCOUNT, NO_ACCRUAL, NO_REDEEM, KG = 1, 2, 4, 8
LIMIT = 1 << 62  # larger inputs are priced by the reference twin (exact big ints)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """An aware instant as integer microseconds since 1970 (exact)."""
    return (moment - _EPOCH) // _US


def prefixes(category: str | None) -> list[str]:
    """Every whole-segment prefix of a category path, shortest first."""
    if category is None:
        return []
    parts = category.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _per_item(item_rows: list[list[int]], by_key: dict[int, list[int]]) -> list[list[int]]:
    """For each item, the sorted promotion ranks listed under any of its keys."""
    cache: dict[tuple[int, ...], list[int]] = {}
    out = []
    empty: list[int] = []
    for row in item_rows:
        hits = [k for k in row if k in by_key]
        if not hits:
            out.append(empty)
            continue
        key = tuple(hits)
        ranks = cache.get(key)
        if ranks is None:
            if len(hits) == 1:
                ranks = by_key[hits[0]]
            else:
                merged: set[int] = set()
                for k in hits:
                    merged.update(by_key[k])
                ranks = sorted(merged)
            cache[key] = ranks
        out.append(ranks)
    return out


def _shared_runs(rows: list[list[int]]) -> tuple[list[int], list[int], list[int]]:
    """Rows as (start, end) runs into one list, equal rows (the same list) stored once.

    Items with the same category and brand reach the same promotions; in a
    bundle of category-wide offers one copy per item would be tens of
    megabytes that every basket reads from cold memory.
    """
    lo: list[int] = []
    hi: list[int] = []
    data: list[int] = []
    seen: dict[int, tuple[int, int]] = {}
    for row in rows:
        run = seen.get(id(row))
        if run is None:
            run = seen[id(row)] = (len(data), len(data) + len(row))
            data.extend(row)
        lo.append(run[0])
        hi.append(run[1])
    return lo, hi, data


def _csr(rows: list[list[int]]) -> tuple[list[int], list[int]]:
    ptr = [0]
    data: list[int] = []
    for row in rows:
        data.extend(row)
        ptr.append(len(data))
    return ptr, data


@dataclass
class Compiled:
    sku_index: dict[str, int] = field(default_factory=dict)
    prefix_index: dict[str, int] = field(default_factory=dict)
    store_index: dict[str, int] = field(default_factory=dict)
    store_chain: list[int] = field(default_factory=list)
    tier_index: dict[str, int] = field(default_factory=dict)
    segment_index: dict[str, int] = field(default_factory=dict)
    coupon_index: dict[str, int] = field(default_factory=dict)
    promo_rank: dict[str, int] = field(default_factory=dict)
    items: dict[str, list[int]] = field(default_factory=dict)
    item_keys: tuple[list[int], list[int]] = ([0], [])
    promos: dict[str, list[int]] = field(default_factory=dict)
    hours: tuple[list[int], list[int]] = ([0], [])
    chains: tuple[list[int], list[int]] = ([0], [])
    stores: tuple[list[int], list[int]] = ([0], [])
    tiers: tuple[list[int], list[int]] = ([0], [])
    segments: tuple[list[int], list[int]] = ([0], [])
    key_targets: tuple[list[int], list[int]] = ([0], [])
    key_excludes: tuple[list[int], list[int]] = ([0], [])
    # item -> (start, end) into the ranks; items with equal keys share one run
    item_targets: tuple[list[int], list[int], list[int]] = ([], [], [])  # promotion ranks its keys reach
    item_excludes: tuple[list[int], list[int], list[int]] = ([], [], [])  # promotion ranks that exclude it
    global_promos: list[int] = field(default_factory=list)
    # the promotions without targets, split by the one condition that gates them,
    # so a basket visits only those its coupons, offers and tier can open
    global_open: list[int] = field(default_factory=list)  # no gate: every basket
    global_by_coupon: tuple[list[int], list[int]] = ([0], [])  # coupon id -> ranks
    global_by_tier: tuple[list[int], list[int]] = ([0], [])  # tier id -> ranks
    global_personal: list[int] = field(default_factory=list)  # ranks opened by an offer
    n_groups: int = 0
    too_large: bool = False  # some number needs big-int arithmetic


def compile_bundle(bundle: Bundle) -> Compiled:
    """Build the integer tables of ``bundle`` (see the module docstring)."""
    c = Compiled()
    keys: dict[tuple[str, str], int] = {}

    def key(kind: str, name: str) -> int:
        return keys.setdefault((kind, name), len(keys))

    big = 0  # prices, values, amounts: products with these stay within 128 bits
    big_rate = 0  # rates and multipliers: four of them multiply in the accrual
    # items and their keys
    item_rows: list[list[int]] = []
    category_keys: dict[str | None, list[int]] = {}  # a chain has ~1,000 categories, not 100,000
    brand_keys: dict[str, int] = {}
    price: list[int] = []
    min_price: list[int] = []
    flags: list[int] = []
    for sku, item in bundle.catalog.items():
        c.sku_index[sku] = len(price)
        price.append(item.price)
        min_price.append(item.min_price)
        big = max(big, item.price)
        flags.append(
            (NO_DISCOUNT if item.no_discount else 0) | (NO_ACCRUAL if item.no_accrual else 0)
            | (NO_REDEEM if item.no_redeem else 0) | (KG if item.unit == "kg" else 0)
        )
        base = category_keys.get(item.category)
        if base is None:
            base = category_keys[item.category] = [key("c", p) for p in prefixes(item.category)]
        row = base.copy()
        if item.brand is not None:
            bk = brand_keys.get(item.brand)
            if bk is None:
                bk = brand_keys[item.brand] = key("b", item.brand)
            row.append(bk)
        item_rows.append(row)
    c.prefix_index = {name: k for (kind, name), k in keys.items() if kind == "c"}
    # skus named by promotions get a key too
    named: set[str] = set()
    for p in bundle.promotions:
        named |= p.targets.skus | p.exclude.skus
    for sku in sorted(named):
        if sku in c.sku_index:
            item_rows[c.sku_index[sku]].append(key("s", sku))
    c.items = {"price": price, "min_price": min_price, "flags": flags}
    c.item_keys = _csr(item_rows)

    for i, store in enumerate(bundle.stores.values()):
        c.store_index[store.id] = i
    chain_ids: dict[str | None, int] = {}
    for store in bundle.stores.values():
        c.store_chain.append(chain_ids.setdefault(store.chain, len(chain_ids)) if store.chain is not None else -1)
    c.tier_index = {t.id: i for i, t in enumerate(bundle.tiers)}
    for t in bundle.tiers:
        big_rate = max(big_rate, t.rate_bp)

    groups: dict[str, int] = {}
    targets: dict[int, list[int]] = {}
    excludes: dict[int, list[int]] = {}
    cols: dict[str, list[int]] = {name: [] for name in (
        "kind", "phase", "value", "n", "m", "per_unit", "stack", "group", "need_customer", "personal",
        "coupon", "min_qty", "min_amount", "has_from", "from", "has_until", "until", "days")}
    hours, chains, stores, tiers, segments = [], [], [], [], []
    by_coupon: dict[int, list[int]] = {}
    by_tier: dict[int, list[int]] = {}

    def target_keys(target: Any) -> list[int]:
        out = [keys[("c", cat)] for cat in target.categories if ("c", cat) in keys]
        out += [keys[("b", b)] for b in target.brands if ("b", b) in keys]
        out += [keys[("s", s)] for s in target.skus if ("s", s) in keys]
        return sorted(set(out))

    for rank, p in enumerate(bundle.promotions):
        c.promo_rank[p.id] = rank
        cols["kind"].append(KIND_CODE[p.kind])
        cols["phase"].append(p.phase)
        cols["value"].append(p.value)
        cols["n"].append(p.n)
        cols["m"].append(p.m)
        cols["per_unit"].append(1 if p.per == "unit" else 0)
        cols["stack"].append(1 if p.stack else 0)
        cols["group"].append(groups.setdefault(p.group, len(groups)) if p.group is not None else -1)
        cols["need_customer"].append(1 if (p.members_only or p.phase == 2) else 0)
        cols["personal"].append(1 if p.personal else 0)
        cols["coupon"].append(c.coupon_index.setdefault(p.coupon, len(c.coupon_index)) if p.coupon is not None else -1)
        cols["min_qty"].append(p.min_qty_milli)
        cols["min_amount"].append(p.min_amount)
        cols["has_from"].append(p.when_from is not None)
        cols["from"].append(epoch_us(p.when_from) if p.when_from is not None else 0)
        cols["has_until"].append(p.when_until is not None)
        cols["until"].append(epoch_us(p.when_until) if p.when_until is not None else 0)
        cols["days"].append(sum(1 << d for d in p.days))
        big = max(big, p.value, p.n, p.min_qty_milli, p.min_amount)
        if p.kind == "bonus_multiplier":
            big_rate = max(big_rate, p.value)
        hours.append([x for window in p.hours for x in window])
        chains.append(sorted(chain_ids[ch] for ch in p.chains if ch in chain_ids) or ([-2] if p.chains else []))
        stores.append(sorted(c.store_index[s] for s in p.stores if s in c.store_index) or ([-2] if p.stores else []))
        tiers.append(sorted(c.tier_index[t] for t in p.tiers if t in c.tier_index) or ([-2] if p.tiers else []))
        segments.append(sorted(c.segment_index.setdefault(s, len(c.segment_index)) for s in p.segments))
        if p.targets.empty:
            c.global_promos.append(rank)
            if p.coupon is not None:
                by_coupon.setdefault(c.coupon_index[p.coupon], []).append(rank)
            elif p.personal:
                c.global_personal.append(rank)
            elif p.tiers:
                for tier in tiers[-1]:
                    if tier >= 0:  # a tier the bundle does not know opens nothing
                        by_tier.setdefault(tier, []).append(rank)
            else:
                c.global_open.append(rank)
        else:
            for k in target_keys(p.targets):
                targets.setdefault(k, []).append(rank)
        for k in target_keys(p.exclude):
            excludes.setdefault(k, []).append(rank)

    program = bundle.program
    big = max(big, program.point_value, program.redeem_cap_bp, program.welcome_points, program.birthday_points)
    big_rate = max(big_rate, program.favorite_multiplier_pct)
    c.promos = cols
    c.hours = _csr(hours)
    c.chains = _csr(chains)
    c.stores = _csr(stores)
    c.tiers = _csr(tiers)
    c.segments = _csr(segments)
    c.key_targets = _csr([targets.get(k, []) for k in range(len(keys))])
    c.key_excludes = _csr([excludes.get(k, []) for k in range(len(keys))])
    # Per item, the union over its keys: one contiguous run per basket line
    # instead of a walk through several keys' lists (memory latency, not
    # arithmetic, is what a basket against 100,000 skus waits for).
    c.item_targets = _shared_runs(_per_item(item_rows, targets))
    c.item_excludes = _shared_runs(_per_item(item_rows, excludes))
    c.global_by_coupon = _csr([by_coupon.get(k, []) for k in range(len(c.coupon_index))])
    c.global_by_tier = _csr([by_tier.get(k, []) for k in range(len(c.tier_index))])
    c.n_groups = len(groups)
    c.too_large = big >= (1 << 40) or big_rate >= (1 << 20)
    return c

