"""The bundle the till sells with: engine, catalog names, keys, customers.

Built once per bundle version and swapped whole (an attribute assignment),
so a new bundle never pauses scanning and a bad one never replaces a good
one: ``load_bundle`` validates first.

Memory: the agent builds it from the promo cache's small ``meta`` dict and
the engine; catalog items are then read from the engine's validated
``fastcore.Bundle`` (``ItemView``), not held a second time as dicts.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Mapping, cast
from zoneinfo import ZoneInfo

import fastcore

from ._token import KeySet


class ItemView(Mapping[str, Mapping[str, Any]]):
    """The engine's catalog (``fastcore.Item`` objects) read as item dicts.

    Why: the agent only needs name, unit and price of a few items per sale;
    a dict per item for 100,000 skus would cost ~40 MB beside the engine.
    """

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = items

    def __getitem__(self, sku: str) -> Mapping[str, Any]:
        # a shallow copy: an Item's fields are immutable values (asdict's deep
        # copy cost ~40 µs an item, twice per basket line on every scan)
        item = self._items[sku]
        return {name: getattr(item, name) for name in item.__dataclass_fields__}

    def __contains__(self, sku: object) -> bool:
        return sku in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Catalog:
    """One validated bundle version, ready to price with."""

    def __init__(self, doc: Mapping[str, Any], engine: Any = None) -> None:
        self.doc = dict(doc)
        self.engine = engine if engine is not None else fastcore.Engine(fastcore.load_bundle(self.doc))
        self.version = int(self.doc.get("version", 0))
        self.items: Mapping[str, Mapping[str, Any]]
        bundle = getattr(self.engine, "bundle", None)
        if "catalog" not in self.doc and isinstance(bundle, fastcore.Bundle):
            self.items = ItemView(bundle.catalog)
        else:
            self.items = {it["sku"]: it for it in self.doc.get("catalog", [])}
        self.keys = KeySet.from_jwks(self.doc.get("keys"))
        customers = self.doc.get("customers") or []
        self.customers: dict[str, dict[str, Any]] = {
            c["card"]: cast("dict[str, Any]", c)
            for c in customers if isinstance(c, Mapping) and isinstance(c.get("card"), str)
        }
        self.program: dict[str, Any] = dict(self.doc.get("program") or {})
        self.point_value = int(self.program.get("point_value", 100))
        self.offline_card_redeem_cap = int(self.program.get("offline_card_redeem_cap") or 0)
        self._stores = {s["id"]: s for s in self.doc.get("stores", [])}
        self._index(bundle if isinstance(bundle, fastcore.Bundle) else fastcore.load_bundle(self.doc))

    def _index(self, bundle: fastcore.Bundle) -> None:
        """What routing a scanned code needs (spec/till.md §1–2), built once per version.

        ``plu`` → sku of the weighed items; the coupon codes the promotions
        know; the program's prefixes and quantity ceiling. One pass over the
        catalog (100,000 skus: a few milliseconds at bundle swap).
        """
        rules = bundle.program
        self.card_prefixes: tuple[str, ...] = tuple(rules.card_prefixes)
        self.enrolment: str = rules.enrolment  # docs/enrolment.md
        self.weight_prefixes: tuple[str, ...] = tuple(rules.weight_prefixes)
        self.max_qty_milli: dict[str, int] = dict(rules.max_line_qty_milli)
        self.plu: dict[str, str] = {it.plu: sku for sku, it in bundle.catalog.items() if it.plu is not None}
        self.coupons: frozenset[str] = frozenset(p.coupon for p in bundle.promotions if p.coupon is not None)

    def price(self, basket: Mapping[str, Any]) -> dict[str, Any]:
        """The §7 result dict; raises ``fastcore.BasketError``."""
        return self.quote(basket)[0]

    def quote(self, basket: Mapping[str, Any], *, near_bp: int | None = None,
              limit: int | None = None) -> tuple[dict[str, Any], list[fastcore.Hint]]:
        """The §7 result dict and, when ``near_bp`` is given, the cashier's
        hints read from that same result (the basket is priced once)."""
        doc = dict(basket)
        result = self.engine.price(doc)
        hints = [] if near_bp is None else list(self.engine.hints(doc, result=result, near_bp=near_bp, limit=limit))
        return dict(result.to_json()), hints

    def zone(self, store: str) -> ZoneInfo:
        tz = (self._stores.get(store) or {}).get("timezone") or self.program.get("timezone") or "UTC"
        return ZoneInfo(tz)

    def local_now(self, store: str, epoch: float) -> str:
        """``epoch`` as an ISO instant in the store's time zone (basket ``at``)."""
        return datetime.fromtimestamp(int(epoch), tz=self.zone(store)).isoformat()

    def name(self, sku: str) -> str:
        return str(self.items.get(sku, {}).get("name", sku))

    def unit(self, sku: str) -> str:
        return str(self.items.get(sku, {}).get("unit", "pcs"))


def normalize_qty(qty: Any, unit: str) -> str:
    """A quantity as the decimal string a basket carries; ValueError if bad."""
    if isinstance(qty, bool) or not isinstance(qty, (int, str)):
        raise ValueError("qty must be an integer or a decimal string")
    milli = fastcore.parse_qty_milli(qty)
    if milli is None:
        raise ValueError("qty must look like 2 or 0.455 (at most 3 decimals)")
    if milli <= 0:
        raise ValueError("qty must be above 0")
    if unit == "pcs" and milli % 1000:
        raise ValueError("a piece item takes a whole quantity")
    return fastcore.qty_text(milli)
