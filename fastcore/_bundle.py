"""Bundle loading and validation (spec/pricing.md §2–3).

``load_bundle`` turns the JSON a ledger ships into a frozen ``Bundle`` whose
promotions are already in visit order. Every rule of the spec is checked
here, once per bundle version, so that neither engine validates per basket.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._certificate import CertificateKind, certificate_kind
from ._errors import BundleError
from ._json import loads
from ._instants import parse_instant
from ._quantity import parse_qty_milli
from ._values import is_int, parse_hhmm

LINE_KINDS = ("percent", "amount_off", "fixed_price", "n_for_m")
BASKET_KINDS = ("basket_percent", "basket_amount")
BONUS_KINDS = ("bonus_multiplier", "bonus_points")
#: sync.md: every integer a till sends lies in 0 … 2^53 − 1
MAX_INT = 2**53 - 1
CARD_PREFIXES = ("29",)
WEIGHT_PREFIXES = tuple(str(p) for p in range(20, 29))
MAX_POINTS_PER_SALE = 1_000_000
#: the largest ``program.max_line_qty`` a bundle may set (whole units)
MAX_LINE_QTY = 1_000_000
#: docs/enrolment.md: where a till may enrol a new card
ENROLMENT_MODES = ("offline", "online", "off")
PHASE = {k: 0 for k in LINE_KINDS} | {k: 1 for k in BASKET_KINDS} | {k: 2 for k in BONUS_KINDS}


@dataclass(frozen=True, slots=True)
class Program:
    point_value: int
    redeem_cap_bp: int
    accrue_on_redeemed: bool
    welcome_points: int
    birthday_points: int
    favorite_multiplier_pct: int
    timezone: str | None
    offline_card_redeem_cap: int
    #: till.md §1: 13-digit codes with these 2-digit prefixes are cards
    card_prefixes: tuple[str, ...] = CARD_PREFIXES
    #: till.md §2: EAN-13 scale labels ``PP CCCCC WWWWW K`` with these prefixes
    weight_prefixes: tuple[str, ...] = WEIGHT_PREFIXES
    #: till.md §4 and sync.md: a line's quantity ceiling in whole units
    #: (999 means at most 999 pcs or 999.999 kg)
    max_line_qty: int = 999
    #: sync.md: the most points one sale may accrue or redeem
    max_points_per_sale: int = MAX_POINTS_PER_SALE
    #: till.md §2a: ``"store"`` (home store and recent buyers) or ``"all"``
    customer_cache: str = "store"
    #: docs/enrolment.md: ``"offline"`` (a till may enrol a new card offline),
    #: ``"online"`` (only while the ledger answers) or ``"off"``
    enrolment: str = "offline"

    @property
    def max_line_qty_milli(self) -> dict[str, int]:
        """The quantity ceiling per unit, in thousandths."""
        return {"pcs": self.max_line_qty * 1000, "kg": self.max_line_qty * 1000 + 999}


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    rate_bp: int


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    chain: str | None
    timezone: str
    zone: ZoneInfo = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    name: str
    price: int
    category: str | None
    brand: str | None
    unit: str
    min_price: int
    no_discount: bool
    no_accrual: bool
    no_redeem: bool
    #: till.md §2: the 5-digit code of a weighed item on scale labels
    plu: str | None = None
    #: a gift certificate (``kind: "certificate"``; docs/certificates.md); None for goods
    certificate: CertificateKind | None = None


@dataclass(frozen=True, slots=True)
class Target:
    skus: frozenset[str]
    categories: tuple[str, ...]
    brands: frozenset[str]

    @property
    def empty(self) -> bool:
        return not (self.skus or self.categories or self.brands)


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    kind: str
    phase: int  # 0 line, 1 basket, 2 bonus
    value: int
    targets: Target
    exclude: Target
    when_from: datetime | None
    when_until: datetime | None
    days: frozenset[int]
    hours: tuple[tuple[int, int], ...]
    chains: frozenset[str]
    stores: frozenset[str]
    tiers: frozenset[str]
    segments: frozenset[str]
    personal: bool
    coupon: str | None
    members_only: bool
    min_qty_milli: int
    min_amount: int
    priority: int
    group: str | None
    stack: bool
    n: int
    m: int
    per: str | None


@dataclass(frozen=True, slots=True)
class Bundle:
    """A validated bundle; ``promotions`` are in visit order (§4)."""

    version: int
    program: Program
    tiers: tuple[Tier, ...]
    stores: Mapping[str, Store]
    catalog: Mapping[str, Item]
    promotions: tuple[Promotion, ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    def tier(self, tier_id: str | None) -> Tier:
        """The customer's tier; the first tier when none or unknown."""
        for t in self.tiers:
            if t.id == tier_id:
                return t
        return self.tiers[0]


class _Reader:
    """Typed field access that names the offending path in its errors."""

    def __init__(self, obj: Any, path: str) -> None:
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            raise BundleError("bad_bundle", "must be a JSON object", path or "bundle")
        self.obj = obj
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        return self.obj.get(key)

    def int(self, key: str, default: int = 0, *, minimum: int | None = 0) -> int:
        v = self.obj.get(key)
        if v is None:
            return default
        if not is_int(v):
            raise BundleError("bad_bundle", f"must be a JSON integer, not {v!r}", self.at(key))
        if minimum is not None and v < minimum:
            raise BundleError("bad_bundle", f"must be >= {minimum}, not {v}", self.at(key))
        return v

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        v = self.obj.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise BundleError("bad_bundle", f"must be true or false, not {v!r}", self.at(key))
        return v

    def str(self, key: builtins.str, *, required: builtins.bool = False) -> builtins.str | None:
        v = self.obj.get(key)
        if v is None:
            if required:
                raise BundleError("bad_bundle", "is required", self.at(key))
            return None
        if not isinstance(v, str):
            raise BundleError("bad_bundle", f"must be a string, not {v!r}", self.at(key))
        return v

    def strs(self, key: builtins.str) -> builtins.list[builtins.str]:
        v = self.obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise BundleError("bad_bundle", "must be a list of strings", self.at(key))
        return v

    def list(self, key: builtins.str) -> builtins.list[Any]:
        v = self.obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise BundleError("bad_bundle", "must be a list", self.at(key))
        return v


def _zone(name: str, path: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BundleError("bad_bundle", f"unknown time zone {name!r}", path) from exc


def _program(r: _Reader) -> Program:
    point_value = r.int("point_value")
    if point_value < 1:
        raise BundleError("bad_bundle", "must be at least 1", r.at("point_value"))
    tz = r.str("timezone")
    if tz is not None:
        _zone(tz, r.at("timezone"))
    card = _prefixes(r, "card_prefixes", CARD_PREFIXES)
    weight = _prefixes(r, "weight_prefixes", WEIGHT_PREFIXES)
    both = sorted(set(card) & set(weight))
    if both:
        raise BundleError("bad_bundle", f"overlaps card_prefixes: {', '.join(both)}", r.at("weight_prefixes"))
    max_qty = r.int("max_line_qty", 999, minimum=1)
    if max_qty > MAX_LINE_QTY:
        raise BundleError("bad_bundle", f"must be <= {MAX_LINE_QTY}, not {max_qty}", r.at("max_line_qty"))
    max_points = r.int("max_points_per_sale", MAX_POINTS_PER_SALE)
    if max_points > MAX_INT:
        raise BundleError("bad_bundle", f"must be <= 2^53 - 1, not {max_points}", r.at("max_points_per_sale"))
    cache = r.str("customer_cache") or "store"
    if cache not in ("store", "all"):
        raise BundleError("bad_bundle", f"must be 'store' or 'all', not {cache!r}", r.at("customer_cache"))
    welcome = r.int("welcome_points")
    if welcome > max_points:
        # an enrolled card's first sale carries the welcome bonus: above the
        # ledger's ceiling, every such sale would be rejected
        raise BundleError("bad_bundle", f"must be <= max_points_per_sale ({max_points}), not {welcome}",
                          r.at("welcome_points"))
    enrolment = r.str("enrolment") or "offline"
    if enrolment not in ENROLMENT_MODES:
        raise BundleError("bad_bundle", f"must be one of {', '.join(ENROLMENT_MODES)}, not {enrolment!r}",
                          r.at("enrolment"))
    return Program(
        point_value=point_value,
        redeem_cap_bp=r.int("redeem_cap_bp"),
        accrue_on_redeemed=r.bool("accrue_on_redeemed"),
        welcome_points=welcome,
        birthday_points=r.int("birthday_points"),
        favorite_multiplier_pct=r.int("favorite_multiplier_pct"),
        timezone=tz,
        offline_card_redeem_cap=r.int("offline_card_redeem_cap"),
        card_prefixes=card,
        weight_prefixes=weight,
        max_line_qty=max_qty,
        max_points_per_sale=max_points,
        customer_cache=cache,
        enrolment=enrolment,
    )


def _prefixes(r: _Reader, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of distinct 2-digit prefixes (till.md §1–2)."""
    if r.get(key) is None:
        return default
    out = r.strs(key)
    for i, p in enumerate(out):
        if len(p) != 2 or not p.isascii() or not p.isdigit():
            raise BundleError("bad_bundle", f"must be a 2-digit string, not {p!r}", f"{r.at(key)}[{i}]")
    if len(set(out)) != len(out):
        raise BundleError("bad_bundle", "lists a prefix twice", r.at(key))
    return tuple(out)


def _tiers(top: _Reader) -> tuple[Tier, ...]:
    tiers: list[Tier] = []
    seen: set[str] = set()
    for i, raw in enumerate(top.list("tiers")):
        r = _Reader(raw, f"tiers[{i}]")
        tid = r.str("id", required=True)
        assert tid is not None
        if tid in seen:
            raise BundleError("bad_bundle", f"duplicate tier id {tid!r}", r.at("id"))
        seen.add(tid)
        tiers.append(Tier(tid, r.int("rate_bp")))
    if not tiers:
        raise BundleError("bad_bundle", "at least one tier is required", "tiers")
    return tuple(tiers)


#: the longest hold, expiry, spend window or review period a programme may set (days)
MAX_PROGRAM_DAYS = 36500


def _program_days(r: _Reader, key: str, minimum: int) -> int | None:
    if r.get(key) is None:
        return None
    days = r.int(key, minimum=minimum)
    if days > MAX_PROGRAM_DAYS:
        raise BundleError("bad_bundle", f"must be <= {MAX_PROGRAM_DAYS}, not {days}", r.at(key))
    return days


def _lifecycle(r: _Reader, tiers: tuple[Tier, ...]) -> None:
    """The ledger's points lifecycle and tier rules (docs/pricing-notes.md); the engine
    does not read them, but a bundle the ledger would misread is refused here."""
    hold = _program_days(r, "hold_days", 0) or 0
    expiry = _program_days(r, "expiry_days", 1)
    if expiry is not None and expiry <= hold:
        raise BundleError("bad_bundle", f"must be more than hold_days ({hold}), not {expiry}",
                          r.at("expiry_days"))
    if r.get("tier_rules") is None:
        return
    rules = _Reader(r.get("tier_rules"), r.at("tier_rules"))
    for key in ("window_days", "review_days"):
        if rules.get(key) is None:
            raise BundleError("bad_bundle", "is required", rules.at(key))
        _program_days(rules, key, 1)
    raw = rules.list("thresholds")
    if not raw:
        raise BundleError("bad_bundle", "at least one threshold is required", rules.at("thresholds"))
    known = [t.id for t in tiers]
    seen: set[str] = set()
    last = 0
    for i, item in enumerate(raw):
        t = _Reader(item, f"{rules.at('thresholds')}[{i}]")
        tier = t.str("tier", required=True)
        if tier not in known:
            raise BundleError("bad_bundle", f"unknown tier {tier!r}", t.at("tier"))
        if tier == known[0]:
            raise BundleError("bad_bundle", f"{tier!r} is the default tier (the first of tiers)",
                              t.at("tier"))
        if tier in seen:
            raise BundleError("bad_bundle", f"tier {tier!r} has two thresholds", t.at("tier"))
        seen.add(tier)
        if t.get("spend") is None:
            raise BundleError("bad_bundle", "is required", t.at("spend"))
        spend = t.int("spend", minimum=1)
        if spend > MAX_INT:
            raise BundleError("bad_bundle", f"must be <= 2^53 - 1, not {spend}", t.at("spend"))
        if spend <= last:
            raise BundleError("bad_bundle", f"must be above the previous threshold ({last})",
                              t.at("spend"))
        last = spend


def _stores(top: _Reader, program: Program) -> dict[str, Store]:
    stores: dict[str, Store] = {}
    for i, raw in enumerate(top.list("stores")):
        r = _Reader(raw, f"stores[{i}]")
        sid = r.str("id", required=True)
        assert sid is not None
        if sid in stores:
            raise BundleError("bad_bundle", f"duplicate store id {sid!r}", r.at("id"))
        tz = r.str("timezone")
        if tz is None:
            if program.timezone is None:
                raise BundleError("bad_bundle", "store has no time zone and the program has none", r.at("timezone"))
            tz = program.timezone
        stores[sid] = Store(sid, r.str("chain"), tz, _zone(tz, r.at("timezone")))
    return stores


def _item(raw: Any, i: int, catalog: dict[str, Item], plus: dict[str, str]) -> Item:
    """Validate one catalog item, naming the field at fault."""
    r = _Reader(raw, f"catalog[{i}]")
    sku = r.str("sku", required=True)
    assert sku is not None
    if sku in catalog:
        raise BundleError("bad_bundle", f"duplicate sku {sku!r}", r.at("sku"))
    price = r.int("price")
    min_price = r.int("min_price")
    if min_price > price:
        raise BundleError("bad_bundle", f"min_price {min_price} is above price {price} (sku {sku})", r.at("min_price"))
    unit = r.get("unit")
    if unit is None:
        unit = "pcs"
    if unit not in ("pcs", "kg"):
        raise BundleError("bad_bundle", f"unit must be 'pcs' or 'kg', not {unit!r} (sku {sku})", r.at("unit"))
    flags = set(r.strs("flags"))
    plu = r.str("plu")
    if plu is not None:
        if len(plu) != 5 or not plu.isascii() or not plu.isdigit():
            raise BundleError("bad_bundle", f"must be 5 digits, not {plu!r} (sku {sku})", r.at("plu"))
        if unit != "kg":
            raise BundleError("bad_bundle", f"only a kg item carries a plu (sku {sku})", r.at("plu"))
        if plu in plus:
            raise BundleError("bad_bundle", f"plu {plu} is also sku {plus[plu]!r}", r.at("plu"))
        plus[plu] = sku
    certificate = certificate_kind(raw, r.path, price, flags)
    return Item(
        sku=sku,
        name=r.str("name") or "",
        price=price,
        category=r.str("category"),
        brand=r.str("brand"),
        unit=unit,
        min_price=min_price,
        no_discount="no_discount" in flags,
        no_accrual="no_accrual" in flags,
        no_redeem="no_redeem" in flags,
        plu=plu,
        certificate=certificate,
    )


_NO_FLAGS: list[str] = []


def _catalog(top: _Reader) -> dict[str, Item]:
    """All items. The common, well-formed item takes a fast path of plain
    type checks; anything unusual goes through ``_item``, which names the
    field at fault. A chain's 100,000 skus validate in well under a second.
    """
    catalog: dict[str, Item] = {}
    plus: dict[str, str] = {}
    new = object.__new__
    put = object.__setattr__
    for i, raw in enumerate(top.list("catalog")):
        if type(raw) is dict:
            sku = raw.get("sku")
            price = raw.get("price")
            min_price = raw.get("min_price", 0)
            unit = raw.get("unit", "pcs")
            flags = raw.get("flags", _NO_FLAGS)
            name = raw.get("name", "")
            category = raw.get("category")
            brand = raw.get("brand")
            if (type(sku) is str and sku not in catalog and type(price) is int and price >= 0
                    and type(min_price) is int and 0 <= min_price <= price and (unit == "pcs" or unit == "kg")
                    and type(flags) is list and type(name) is str
                    and (category is None or type(category) is str) and (brand is None or type(brand) is str)
                    and (not flags or all(type(f) is str for f in flags)) and "plu" not in raw
                    and "kind" not in raw and "ocap" not in raw and "valid_days" not in raw):
                item = new(Item)
                put(item, "sku", sku)
                put(item, "name", name)
                put(item, "price", price)
                put(item, "category", category)
                put(item, "brand", brand)
                put(item, "unit", unit)
                put(item, "min_price", min_price)
                put(item, "no_discount", "no_discount" in flags)
                put(item, "no_accrual", "no_accrual" in flags)
                put(item, "no_redeem", "no_redeem" in flags)
                put(item, "plu", None)
                put(item, "certificate", None)
                catalog[sku] = item
                continue
        item = _item(raw, i, catalog, plus)
        catalog[item.sku] = item
    return catalog


def _target(raw: Any, path: str) -> Target:
    r = _Reader(raw, path)
    return Target(frozenset(r.strs("skus")), tuple(r.strs("categories")), frozenset(r.strs("brands")))


def _instant(r: _Reader, key: str) -> datetime | None:
    v = r.get(key)
    if v is None:
        return None
    parsed = parse_instant(v, strict=True)
    if parsed is None:
        raise BundleError("bad_bundle", f"must be an RFC 3339 instant with an offset, not {v!r}", r.at(key))
    return parsed


def _hours(r: _Reader) -> tuple[tuple[int, int], ...]:
    windows = []
    for j, w in enumerate(r.list("hours")):
        path = r.at(f"hours[{j}]")
        if not isinstance(w, list) or len(w) != 2:
            raise BundleError("bad_bundle", "an hours window is a pair [\"HH:MM\", \"HH:MM\"]", path)
        start = parse_hhmm(w[0], allow_24=False)
        end = parse_hhmm(w[1], allow_24=True)
        if start is None or end is None:
            raise BundleError("bad_bundle", f"bad hours window {w!r} (\"24:00\" is allowed as an end only)", path)
        if start >= end:
            raise BundleError("bad_bundle", f"window start {w[0]} is not before its end {w[1]}", path)
        windows.append((start, end))
    return tuple(windows)


def _days(r: _Reader) -> frozenset[int]:
    days = r.list("days")
    for j, d in enumerate(days):
        if not is_int(d) or not 1 <= d <= 7:
            raise BundleError("bad_bundle", f"weekday must be 1..7, not {d!r}", r.at(f"days[{j}]"))
    return frozenset(days)


def _promotion(raw: Any, path: str) -> Promotion:
    r = _Reader(raw, path)
    pid = r.str("id", required=True)
    assert pid is not None
    kind = r.get("kind")
    if kind not in PHASE:
        raise BundleError("bad_bundle", f"unknown kind {kind!r} (promotion {pid})", r.at("kind"))
    if kind == "n_for_m":
        value = 0
    else:
        if r.get("value") is None:
            raise BundleError("bad_bundle", f"value is required (promotion {pid})", r.at("value"))
        value = r.int("value")
        if kind in ("percent", "basket_percent") and value > 10000:
            raise BundleError("bad_bundle", f"percent value {value} is over 10000 bp (promotion {pid})", r.at("value"))
    n = r.int("n")
    m = r.int("m")
    if kind == "n_for_m" and (r.get("n") is None or r.get("m") is None or not n > m >= 0):
        raise BundleError("bad_bundle", f"n_for_m needs integers n > m >= 0 (promotion {pid})", r.at("n"))
    per = r.get("per")
    if kind == "bonus_points":
        if per not in ("unit", "receipt"):
            raise BundleError("bad_bundle", f"bonus_points needs per 'unit' or 'receipt' (promotion {pid})", r.at("per"))
    elif per is not None and not isinstance(per, str):
        raise BundleError("bad_bundle", "must be a string", r.at("per"))
    min_qty = r.get("min_qty")
    min_qty_milli = 0 if min_qty is None else parse_qty_milli(min_qty)
    if min_qty_milli is None:
        raise BundleError("bad_bundle", f"bad quantity {min_qty!r} (promotion {pid})", r.at("min_qty"))
    when = _Reader(r.get("when"), r.at("when"))
    who = _Reader(r.get("who"), r.at("who"))
    return Promotion(
        id=pid,
        kind=kind,
        phase=PHASE[kind],
        value=value,
        targets=_target(r.get("targets"), r.at("targets")),
        exclude=_target(r.get("exclude"), r.at("exclude")),
        when_from=_instant(when, "from"),
        when_until=_instant(when, "until"),
        days=_days(when),
        hours=_hours(when),
        chains=frozenset(who.strs("chains")),
        stores=frozenset(who.strs("stores")),
        tiers=frozenset(who.strs("tiers")),
        segments=frozenset(who.strs("segments")),
        personal=who.bool("personal"),
        coupon=who.str("coupon"),
        members_only=who.bool("members_only"),
        min_qty_milli=min_qty_milli,
        min_amount=r.int("min_amount"),
        priority=r.int("priority", 100, minimum=None),
        group=r.str("group"),
        stack=r.bool("stack"),
        n=n,
        m=m,
        per=per,
    )


def _promotions(top: _Reader) -> tuple[Promotion, ...]:
    promos: list[Promotion] = []
    seen: set[str] = set()
    group_phase: dict[str, int] = {}
    for i, raw in enumerate(top.list("promotions")):
        p = _promotion(raw, f"promotions[{i}]")
        if p.id in seen:
            raise BundleError("bad_bundle", f"duplicate promotion id {p.id!r}", f"promotions[{i}].id")
        seen.add(p.id)
        if p.group is not None:
            if p.kind == "bonus_multiplier":
                raise BundleError("bad_bundle", f"a bonus_multiplier cannot be in a group (promotion {p.id})", f"promotions[{i}].group")
            if group_phase.setdefault(p.group, p.phase) != p.phase:
                raise BundleError("bad_bundle", f"group {p.group!r} mixes phases (promotion {p.id})", f"promotions[{i}].group")
        promos.append(p)
    promos.sort(key=lambda p: (p.phase if p.phase < 2 else 2, p.priority, p.id))
    return tuple(promos)


def load_bundle(source: Any) -> Bundle:
    """Validate a bundle (JSON text, bytes or an already parsed dict).

    Raises ``BundleError`` naming the field at the first problem found.
    """
    if isinstance(source, Bundle):
        return source
    if isinstance(source, (str, bytes, bytearray)):
        try:
            source = loads(source)
        except ValueError as exc:
            raise BundleError("bad_bundle", f"not valid JSON: {exc}", "bundle") from exc
    top = _Reader(source, "")
    version = top.int("version")
    program = _program(_Reader(top.get("program"), "program"))
    tiers = _tiers(top)
    _lifecycle(_Reader(top.get("program"), "program"), tiers)
    stores = _stores(top, program)
    catalog = _catalog(top)
    promotions = _promotions(top)
    return Bundle(version, program, tiers, stores, catalog, promotions, source)
