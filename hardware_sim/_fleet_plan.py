"""What a simulated fleet sells, decided up front from one seed.

Every figure of the plan (stores, tills, members, each till's sales with
their baskets, customers and redemption wishes, returns, offline windows)
comes from ``random.Random`` streams seeded with ``(seed, till, day)``, so
the same seed gives the same plan whatever the machine or the timing of
the run. What the ledger answers online (a token's balance, a hold) may
still differ between runs; the plan does not.

A till's events are generated lazily, one day at a time, so a chain-sized
fleet (1,500 stores × 10 tills) never holds a day of sales in memory.
"""
from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any

from fastcore import ean13_check_digit

#: a store day: 08:00 to 22:00 local time (the night is skipped by the simulated clock)
OPEN_HOUR, CLOSE_HOUR = 8, 22
DAY_S = (CLOSE_HOUR - OPEN_HOUR) * 3600
#: relative traffic of each open hour (08 … 21): a morning, lunch and evening peak
HOUR_WEIGHTS = (4, 6, 6, 7, 9, 8, 7, 7, 8, 11, 13, 12, 8, 5)
#: member cards: the bundle's ``29`` prefix, far from hand-made test cards
CARD_BASE = 2_970_000_000


@dataclass(frozen=True)
class FleetConfig:
    """How big a fleet is, how it sells, and how fast simulated time runs."""

    stores: int = 5
    tills: int = 2
    days: int = 1
    seed: int = 1
    sales_per_day: int = 200
    #: the share of till-days with one offline window (uploader paused)
    offline_share: float = 0.3
    #: simulated seconds per real second (3,600: an open hour a second)
    compress: float = 3600.0
    chains: int = 1
    members: int | None = None  # default: 40 per store
    member_share: float = 0.7
    qr_share: float = 0.4
    redeem_share: float = 0.25
    return_share: float = 0.03
    prefix: str = "FL"
    #: every till sells the whole plan offline, then all reconnect at once (a backlog drain)
    backlog: bool = False
    start: date | None = None  # default: ``days`` days before today (UTC)
    bundle: Path | None = None  # default: examples/bundle.json

    def member_count(self) -> int:
        return self.members if self.members is not None else max(1, 40 * self.stores)

    def first_day(self) -> date:
        return self.start or (datetime.now(timezone.utc).date() - timedelta(days=self.days))


@dataclass(frozen=True)
class Store:
    id: str
    chain: str


@dataclass(frozen=True)
class TillSpec:
    index: int
    id: str
    store: str


@dataclass(frozen=True)
class Member:
    card: str
    account: str
    tier: str
    home_store: str
    opening_balance: int
    offline_cap: int

    def to_import(self) -> dict[str, Any]:
        """One line of ``kopilka ledger members import`` (JSON lines)."""
        return {"card": self.card, "account": self.account, "tier": self.tier,
                "home_store": self.home_store, "opening_balance": self.opening_balance,
                "offline_cap": self.offline_cap}


@dataclass(frozen=True)
class Sale:
    """A sale to make at ``t`` (simulated seconds since the first opening)."""

    t: float
    txn_id: str
    lines: tuple[tuple[str, Any], ...]
    member: int | None  # index into the plan's members
    by_qr: bool
    redeem: int | str  # 0, points, or "max"
    coupons: tuple[str, ...]
    return_at: float | None


@dataclass(frozen=True)
class Return:
    """Give back part of an earlier sale of the same till."""

    t: float
    txn_id: str
    sale_txn_id: str
    line: int
    percent: int  # share of the line's quantity (50 or 100), rounded to its unit


@dataclass(frozen=True)
class Offline:
    """The till loses the ledger from ``t`` for ``seconds`` (simulated)."""

    t: float
    seconds: float


@dataclass(frozen=True)
class Online:
    t: float


Event = Sale | Return | Offline | Online


@dataclass
class Plan:
    """Stores, tills, members and the bundle text a fleet runs with."""

    config: FleetConfig
    stores: list[Store]
    tills: list[TillSpec]
    members: list[Member]
    bundle: dict[str, Any]
    by_store: dict[str, list[int]] = field(default_factory=dict)
    tz: tzinfo = timezone.utc

    @property
    def sim_seconds(self) -> float:
        return float(self.config.days * DAY_S)

    def instant(self, t: float) -> str:
        """The local wall time of simulated second ``t`` (ISO 8601 with the store offset)."""
        day, rest = divmod(t, DAY_S)
        base = datetime.combine(self.config.first_day() + timedelta(days=int(day)),
                                datetime.min.time()).replace(tzinfo=self.tz)
        at = base + timedelta(hours=OPEN_HOUR, seconds=rest)
        return at.isoformat(timespec="seconds")

    def events(self, till: TillSpec) -> Iterator[Event]:
        """The till's events in time order, generated a day at a time."""
        pending: list[tuple[float, int, Return]] = []
        n = 0
        for day in range(self.config.days):
            for ev in self._day(till, day):
                while pending and pending[0][0] <= ev.t:
                    yield heapq.heappop(pending)[2]
                if isinstance(ev, Sale) and ev.return_at is not None:
                    rng = random.Random(f"{self.config.seed}:ret:{ev.txn_id}")
                    n += 1
                    ret = Return(ev.return_at, _uuid(rng), ev.txn_id,
                                 rng.randrange(len(ev.lines)), rng.choice((100, 50)))
                    heapq.heappush(pending, (ret.t, n, ret))
                yield ev
        while pending:
            yield heapq.heappop(pending)[2]

    def _day(self, till: TillSpec, day: int) -> Iterator[Event]:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}:{till.id}:{day}")
        t0 = day * DAY_S
        window: tuple[float, float] | None = None
        if rng.random() < cfg.offline_share:
            start = t0 + rng.uniform(3600, DAY_S - 4 * 3600)
            window = (start, rng.uniform(1800, 3 * 3600))
        total = sum(HOUR_WEIGHTS)
        emitted_off = emitted_on = False
        catalog = self.bundle["catalog"]
        for hour, weight in enumerate(HOUR_WEIGHTS):
            rate = cfg.sales_per_day * weight / total / 3600.0  # sales per simulated second
            t = t0 + hour * 3600.0
            end = t + 3600.0
            while rate > 0:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                if window is not None and not emitted_off and t >= window[0]:
                    emitted_off = True
                    yield Offline(window[0], window[1])
                if window is not None and emitted_off and not emitted_on \
                        and t >= window[0] + window[1]:
                    emitted_on = True
                    yield Online(window[0] + window[1])
                yield self._sale(rng, till, t, catalog, t0)
        if window is not None:
            if not emitted_off:
                yield Offline(window[0], window[1])
            if not emitted_on:
                yield Online(min(window[0] + window[1], t0 + DAY_S))

    def _sale(self, rng: random.Random, till: TillSpec, t: float, catalog: list[dict[str, Any]],
              t0: float) -> Sale:
        cfg = self.config
        n_lines = min(len(catalog), max(1, int(rng.expovariate(1 / 6.0)) + 1))
        lines = []
        for item in rng.sample(catalog, n_lines):
            if item.get("unit") == "kg":
                qty: Any = f"0.{rng.randrange(150, 999):03d}"
            else:
                qty = rng.choice((1, 1, 1, 2, 2, 3))
            lines.append((str(item["sku"]), qty))
        member = None
        by_qr = False
        redeem: int | str = 0
        if rng.random() < cfg.member_share and self.members:
            home = self.by_store.get(till.store)
            if home and rng.random() < 0.8:
                member = rng.choice(home)
            else:
                member = rng.randrange(len(self.members))
            by_qr = rng.random() < cfg.qr_share
            if rng.random() < cfg.redeem_share:
                redeem = rng.choice(("max", 100, 50))
        coupons = ("SPRING300",) if rng.random() < 0.05 else ()
        return_at = None
        if rng.random() < cfg.return_share:
            return_at = min(t + rng.uniform(600, 7200), t0 + DAY_S - 1)
        return Sale(t, _uuid(rng), tuple(lines), member, by_qr, redeem, coupons, return_at)


_ROOT = Path(__file__).resolve().parents[1]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def card_number(i: int) -> str:
    body = f"{CARD_BASE + i:012d}"
    return body + str(ean13_check_digit(body))


def make_plan(cfg: FleetConfig) -> Plan:
    """The fleet's stores, tills and members, and its bundle with the fleet's stores added."""
    if cfg.stores < 1 or cfg.tills < 1 or cfg.days < 1 or cfg.chains < 1:
        raise ValueError("stores, tills, days and chains are at least 1")
    if cfg.compress <= 0:
        raise ValueError("compress is a positive factor")
    path = cfg.bundle or _ROOT / "examples" / "bundle.json"
    bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    rng = random.Random(f"{cfg.seed}:fleet")
    stores = [Store(f"{cfg.prefix}-{i + 1:04d}", f"{cfg.prefix.lower()}-chain{i % cfg.chains + 1}")
              for i in range(cfg.stores)]
    tills = [TillSpec(s * cfg.tills + k, f"{st.id}-{k + 1:02d}", st.id)
             for s, st in enumerate(stores) for k in range(cfg.tills)]
    tiers = [str(t["id"]) for t in bundle.get("tiers", [])] or ["base"]
    members = []
    by_store: dict[str, list[int]] = {}
    for i in range(cfg.member_count()):
        home = rng.choice(stores).id
        by_store.setdefault(home, []).append(i)
        members.append(Member(card_number(i), f"{cfg.prefix}-A{i + 1:07d}", rng.choice(tiers),
                              home, rng.randrange(300, 5000), rng.choice((200, 300, 500))))
    tz = bundle.get("program", {}).get("timezone", "Asia/Krasnoyarsk")
    known = {s.get("id") for s in bundle.get("stores", [])}
    bundle["stores"] = list(bundle.get("stores", [])) + [
        {"id": s.id, "chain": s.chain, "timezone": tz} for s in stores if s.id not in known]
    return Plan(cfg, stores, tills, members, bundle, by_store, ZoneInfo(tz))
