"""Basket reading (spec/pricing.md §2), shared by both engines.

The reader resolves skus, the store and its local clock, the customer's tier
and the redemption request once, so the engines see only checked values.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ._bundle import Bundle, Item, Store, Tier
from ._errors import BasketError
from ._instants import parse_instant
from ._quantity import parse_qty_milli
from ._values import is_int, parse_date

MAX = "max"


@dataclass(slots=True)
class Customer:
    card: str | None
    account: str | None
    tier: Tier
    segments: frozenset[str]
    offers: frozenset[str]
    birthday: date | None
    birthday_bonus_available: bool
    favorite_category: str | None
    favorite_until: date | None
    first_purchase: bool
    available_points: int


@dataclass(frozen=True)
class Line:
    item: Item
    qty_milli: int


@dataclass(frozen=True)
class Basket:
    store: Store
    at: datetime
    local: datetime  # ``at`` on the store's wall clock
    customer: Customer | None
    coupons: tuple[str, ...]
    lines: tuple[Line, ...]
    redeem: int | str  # points, or "max"


def _strs(obj: dict[str, Any], key: str, path: str) -> list[str]:
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BasketError("bad_basket", "must be a list of strings", path)
    return v


def _bool(obj: dict[str, Any], key: str, path: str, default: bool) -> bool:
    v = obj.get(key)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise BasketError("bad_basket", f"must be true or false, not {v!r}", path)
    return v


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise BasketError("bad_basket", f"must be a string, not {v!r}", path)
    return v


def _opt_date(obj: dict[str, Any], key: str, path: str) -> date | None:
    v = obj.get(key)
    if v is None:
        return None
    d = parse_date(v)
    if d is None:
        raise BasketError("bad_basket", f"must be a YYYY-MM-DD date, not {v!r}", path)
    return d


def _customer(raw: Any, bundle: Bundle) -> Customer | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BasketError("bad_basket", "must be a JSON object or null", "customer")
    points = raw.get("available_points")
    if points is None:
        points = 0
    if not is_int(points) or points < 0:
        raise BasketError("bad_basket", f"must be a JSON integer >= 0, not {points!r}", "customer.available_points")
    tier = _opt_str(raw, "tier", "customer.tier")
    return Customer(
        card=_opt_str(raw, "card", "customer.card"),
        account=_opt_str(raw, "account", "customer.account"),
        tier=bundle.tier(tier),
        segments=frozenset(_strs(raw, "segments", "customer.segments")),
        offers=frozenset(_strs(raw, "offers", "customer.offers")),
        birthday=_opt_date(raw, "birthday", "customer.birthday"),
        birthday_bonus_available=_bool(raw, "birthday_bonus_available", "customer.birthday_bonus_available", True),
        favorite_category=_opt_str(raw, "favorite_category", "customer.favorite_category"),
        favorite_until=_opt_date(raw, "favorite_until", "customer.favorite_until"),
        first_purchase=_bool(raw, "first_purchase", "customer.first_purchase", False),
        available_points=points,
    )


def read_lines(raw: Any, catalog: Any) -> tuple[Line, ...]:
    """Resolve ``lines``: known skus, exact quantities, whole ``pcs``."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise BasketError("bad_basket", "must be a list", "lines")
    if not raw:
        raise BasketError("bad_basket", "a basket needs at least one line", "lines")
    lines = []
    for i, line in enumerate(raw):
        if not isinstance(line, dict):
            raise BasketError("bad_basket", "must be a JSON object", f"lines[{i}]")
        sku = line.get("sku")
        item = catalog.get(sku) if isinstance(sku, str) else None
        if item is None:
            raise BasketError("bad_basket", f"unknown sku {sku!r}", f"lines[{i}].sku")
        qty = line.get("qty")
        milli = parse_qty_milli(qty)
        if milli is None or milli == 0:
            raise BasketError("bad_basket", f"quantity must be > 0 with at most 3 decimals, not {qty!r}", f"lines[{i}].qty")
        if item.unit == "pcs" and milli % 1000:
            raise BasketError("bad_basket", f"{sku} is sold by the piece; {qty} is not a whole number", f"lines[{i}].qty")
        lines.append(Line(item, milli))
    return tuple(lines)


def read_redeem(raw: Any) -> int | str:
    """``0``, a JSON integer >= 0, or ``"max"``."""
    if raw is None:
        return 0
    if raw == MAX and isinstance(raw, str):
        return MAX
    if not is_int(raw) or raw < 0:
        raise BasketError("bad_basket", f"must be \"max\" or a JSON integer >= 0, not {raw!r}", "redeem")
    return raw


def read_basket(raw: Any, bundle: Bundle) -> Basket:
    """Check a basket against the bundle; raises ``BasketError`` naming the field."""
    if not isinstance(raw, dict):
        raise BasketError("bad_basket", "must be a JSON object", "basket")
    store_id = raw.get("store")
    store = bundle.stores.get(store_id) if isinstance(store_id, str) else None
    if store is None:
        raise BasketError("bad_basket", f"unknown store {store_id!r}", "store")
    at = parse_instant(raw.get("at"), strict=False)
    if at is None:
        raise BasketError("bad_basket", f"must be an ISO-8601 instant with an offset, not {raw.get('at')!r}", "at")
    coupons = tuple(_strs(raw, "coupons", "coupons"))
    return Basket(
        store=store,
        at=at,
        local=at.astimezone(store.zone),
        customer=_customer(raw.get("customer"), bundle),
        coupons=coupons,
        lines=read_lines(raw.get("lines"), bundle.catalog),
        redeem=read_redeem(raw.get("redeem")),
    )
