"""The §3 conditions of spec/pricing.md: which lines a promotion reaches and
which of its basket-level conditions fails.

One home for both the reference engine (which only asks "does it apply?")
and the cashier hints (which ask "which condition failed?"), so the two can
never disagree on a rule.
"""
from __future__ import annotations

from typing import Any

from ._basket import Basket
from ._bundle import Item, Promotion
from ._values import category_matches


def _matches(target: Any, item: Item) -> bool:
    return (
        item.sku in target.skus
        or (item.brand is not None and item.brand in target.brands)
        or any(category_matches(item.category, c) for c in target.categories)
    )


def eligible(p: Promotion, item: Item) -> bool:
    """Does promotion ``p`` reach this item (targets, exclude, flags)?"""
    if not p.targets.empty and not _matches(p.targets, item):
        return False
    return admits(p, item)


def admits(p: Promotion, item: Item) -> bool:
    """``eligible`` once the targets are known to match: exclude and flags."""
    if not p.exclude.empty and _matches(p.exclude, item):
        return False
    if p.phase == 2:
        return not item.no_accrual
    if item.no_discount:
        return False
    return p.kind != "n_for_m" or item.unit == "pcs"


def static_failure(p: Promotion, b: Basket) -> str | None:
    """The first §3 condition independent of the lines' state that ``p`` fails
    on basket ``b``, as a hint reason code; ``None`` when all hold.

    Checked in the spec's order: dates, weekday, hours, store, tier, segment,
    personal offer, coupon, customer.
    """
    if p.when_from is not None and b.at < p.when_from:
        return "not_yet_started"
    if p.when_until is not None and not b.at < p.when_until:
        return "expired"
    if p.days and b.local.isoweekday() not in p.days:
        return "wrong_day"
    if p.hours:
        minute = b.local.hour * 60 + b.local.minute
        if not any(start <= minute < end for start, end in p.hours):
            return "outside_time_window"
    if (p.chains and b.store.chain not in p.chains) or (p.stores and b.store.id not in p.stores):
        return "other_store"
    c = b.customer
    if p.tiers and (c is None or c.tier.id not in p.tiers):
        return "tier_required"
    if p.segments and (c is None or not (c.segments & p.segments)):
        return "segment_required"
    if p.personal and (c is None or p.id not in c.offers):
        return "personal_offer_missing"
    if p.coupon is not None and p.coupon not in b.coupons:
        return "coupon_missing"
    if (p.members_only or p.phase == 2) and c is None:
        return "customer_required"
    return None
