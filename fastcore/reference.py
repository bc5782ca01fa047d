"""The readable pure-Python twin of the pricing engine.

It follows spec/pricing.md section by section and is the yardstick of the
Cython engine: a differential hypothesis test feeds both the same bundles and
baskets and requires identical results. Clarity beats speed here; change it
together with ``_engine.pyx``.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable

from ._basket import MAX, Basket, read_basket
from ._bundle import Bundle, Item, Promotion, load_bundle
from ._conditions import eligible, static_failure
from ._hints import NEAR_BP, Hint, Reach, hints_for
from ._result import Result
from ._quantity import qty_text
from ._values import INF, _gc_paused, allocate, category_matches, rhu

ENGINE_NAME = "reference"


# -- line state -----------------------------------------------------------------------


@dataclass
class _Line:
    index: int
    item: Item
    q: int  # qty_milli
    amount: int
    floor: int
    discount: int = 0
    closed: bool = False
    redeemed: int = 0
    base: int = 0
    points: int = 0

    @property
    def current(self) -> int:
        return self.amount - self.discount

    @property
    def room(self) -> int:
        return self.amount - self.discount - self.floor

    @property
    def paid(self) -> int:
        return self.current - self.redeemed


class _Pricing:
    """One basket priced against one bundle: §4, §5, §6, then §7."""

    def __init__(self, bundle: Bundle, basket: Basket) -> None:
        self.bundle = bundle
        self.b = basket
        self.lines: list[_Line] = []
        for i, ln in enumerate(basket.lines):
            amount = rhu(ln.item.price * ln.qty_milli, 1000)
            floor = amount if ln.item.no_discount else rhu(ln.item.min_price * ln.qty_milli, 1000)
            self.lines.append(_Line(i, ln.item, ln.qty_milli, amount, floor))
        self.line_promos: list[set[int]] = [set() for _ in self.lines]
        self.totals: dict[int, list[int]] = {}  # visit rank -> [discount, points]
        self.used_coupons: set[str] = set()

    # -- §3 applicability with the lines' state ---------------------------------------

    def _touched(self, p: Promotion) -> list[_Line]:
        if p.phase == 2:
            return [ln for ln in self.lines if eligible(p, ln.item)]
        return [
            ln
            for ln in self.lines
            if eligible(p, ln.item) and not ln.closed and (p.stack or ln.discount == 0)
        ]

    def _applicable(self, p: Promotion) -> list[_Line] | None:
        """The lines ``p`` would touch, or None when ``p`` does not apply."""
        if static_failure(p, self.b) is not None:
            return None
        touched = self._touched(p)
        if not touched:
            return None
        if sum(ln.q for ln in touched) < p.min_qty_milli:
            return None
        amount = sum(ln.base if p.phase == 2 else ln.current for ln in touched)
        if amount < p.min_amount:
            return None
        if p.coupon is not None:
            self.used_coupons.add(p.coupon)
        return touched

    # -- §4 discount phase --------------------------------------------------------------

    def _discounts(self, p: Promotion, touched: list[_Line]) -> list[tuple[_Line, int]]:
        """What ``p`` would give each touched line, without changing any state."""
        if p.kind in ("basket_percent", "basket_amount"):
            if p.kind == "basket_percent":
                total = rhu(sum(ln.current for ln in touched) * p.value, 10000)
            else:
                total = p.value
            shares = allocate(total, [ln.current for ln in touched], [ln.room for ln in touched])
            return list(zip(touched, shares, strict=True))
        if p.kind == "n_for_m":
            free = self._free_units(p, touched)
        out = []
        for ln in touched:
            if p.kind == "percent":
                d = rhu(ln.current * p.value, 10000)
            elif p.kind == "amount_off":
                d = rhu(p.value * ln.q, 1000)
            elif p.kind == "fixed_price":
                d = max(0, ln.current - rhu(p.value * ln.q, 1000))
            else:  # n_for_m
                units = ln.q // 1000
                d = rhu(ln.current * free[ln.index], units)
            out.append((ln, min(d, ln.room)))
        return out

    @staticmethod
    def _free_units(p: Promotion, touched: list[_Line]) -> dict[int, int]:
        """Which units are free: the cheapest ``(U // n) * (n - m)``, ties by line."""
        order = sorted(touched, key=lambda ln: (Fraction(ln.current, ln.q // 1000), ln.index))
        left = (sum(ln.q // 1000 for ln in touched) // p.n) * (p.n - p.m)
        free = {}
        for ln in order:
            k = min(left, ln.q // 1000)
            free[ln.index] = k
            left -= k
        return free

    def _give_discount(self, rank: int, p: Promotion, shares: list[tuple[_Line, int]]) -> None:
        for ln, d in shares:
            if d > 0:
                ln.discount += d
                if not p.stack:
                    ln.closed = True
                self.line_promos[ln.index].add(rank)
                self.totals.setdefault(rank, [0, 0])[0] += d

    def _visit(self, phase_check: Any, effect: Any, give: Any) -> None:
        """Visit promotions in order, judging each group once (§4 "Groups")."""
        promos = self.bundle.promotions
        judged: set[str] = set()
        for rank, p in enumerate(promos):
            if not phase_check(p):
                continue
            if p.group is None:
                touched = self._applicable(p)
                if touched is not None:
                    give(rank, p, effect(p, touched))
                continue
            if p.group in judged:
                continue
            judged.add(p.group)
            best = None
            for r, member in enumerate(promos):
                if member.group != p.group:
                    continue
                touched = self._applicable(member)
                if touched is None:
                    continue
                shares = effect(member, touched)
                total = sum(s for _, s in shares)
                if total > 0 and (best is None or total > best[0]):
                    best = (total, r, member, shares)
            if best is not None:
                give(best[1], best[2], best[3])

    # -- §5 redemption ------------------------------------------------------------------

    def _redeem(self) -> dict[str, Any]:
        program = self.bundle.program
        c = self.b.customer
        available = c.available_points if c is not None else 0
        eligible_lines = [ln for ln in self.lines if not ln.item.no_redeem]
        rooms = [ln.current - ln.floor for ln in eligible_lines]
        cap_amount = sum(ln.current for ln in eligible_lines) * program.redeem_cap_bp // 10000
        max_points = min(available, min(cap_amount, sum(rooms)) // program.point_value)
        requested = self.b.redeem
        points = max_points if requested == MAX else min(int(requested), max_points)
        shares = allocate(points * program.point_value, [ln.current for ln in eligible_lines], rooms)
        for ln, s in zip(eligible_lines, shares, strict=True):
            ln.redeemed = s
        if requested != MAX and points == requested:
            limited_by = "none"
        else:
            limited_by = next(
                name
                for name, value in (
                    ("balance", available),
                    ("cap", cap_amount // program.point_value),
                    ("floor", sum(rooms) // program.point_value),
                )
                if value == max_points
            )
        return {"requested": requested, "max_points": max_points, "points": points, "limited_by": limited_by}

    # -- §6 accrual ---------------------------------------------------------------------

    def _accrue(self) -> tuple[int, int, int, int]:
        program = self.bundle.program
        c = self.b.customer
        if c is None:
            return 0, 0, 0, 0
        for ln in self.lines:
            ln.base = ln.current if program.accrue_on_redeemed else ln.paid
        local_date = self.b.local.date()
        promos = self.bundle.promotions
        multipliers = []  # (rank, promotion, touched line indexes)
        for rank, p in enumerate(promos):
            if p.kind == "bonus_multiplier":
                touched = self._applicable(p)
                if touched is not None:
                    multipliers.append((rank, p, {ln.index for ln in touched}))
        fav_ok = c.favorite_category is not None and (
            c.favorite_until is None or local_date <= c.favorite_until
        )
        acc_milli = []
        for ln in self.lines:
            if ln.item.no_accrual:
                acc_milli.append(0)
                continue
            fav = program.favorite_multiplier_pct if fav_ok and category_matches(ln.item.category, c.favorite_category or "") else 100
            best, best_rank = 0, None
            for rank, p, indexes in multipliers:
                if ln.index in indexes and p.value > best:
                    best, best_rank = p.value, rank
            mult = max(100, fav, best)
            if best_rank is not None and best > 100 and best > fav:
                self.line_promos[ln.index].add(best_rank)
                self.totals.setdefault(best_rank, [0, 0])
            acc_milli.append(
                (ln.base * c.tier.rate_bp * mult * 1000) // (10000 * 100 * program.point_value)
            )
        base_points = sum(acc_milli) // 1000
        for ln, share in zip(self.lines, allocate(base_points, acc_milli, [INF] * len(acc_milli)), strict=True):
            ln.points += share

        promo_points = 0

        def give_points(rank: int, p: Promotion, shares: list[tuple[_Line, int]]) -> None:
            nonlocal promo_points
            for ln, pts in shares:
                if pts > 0:
                    ln.points += pts
                    promo_points += pts
                    self.line_promos[ln.index].add(rank)
                    self.totals.setdefault(rank, [0, 0])[1] += pts

        self._visit(lambda p: p.kind == "bonus_points", self._bonus_points, give_points)

        welcome = program.welcome_points if c.first_purchase else 0
        birthday = 0
        if c.birthday is not None and c.birthday_bonus_available:
            month, day = c.birthday.month, c.birthday.day
            if (month, day) == (2, 29) and not calendar.isleap(local_date.year):
                day = 28
            if (local_date.month, local_date.day) == (month, day):
                birthday = program.birthday_points
        return base_points, promo_points, welcome, birthday

    @staticmethod
    def _bonus_points(p: Promotion, touched: list[_Line]) -> list[tuple[_Line, int]]:
        if p.per == "unit":
            return [(ln, p.value * (ln.q // 1000) if ln.item.unit == "pcs" else p.value) for ln in touched]
        weights = [ln.base for ln in touched]
        if not any(weights):
            weights = [1] * len(touched)
        return list(zip(touched, allocate(p.value, weights, [INF] * len(touched)), strict=True))

    # -- §7 result ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self._visit(lambda p: p.phase < 2, self._discounts, self._give_discount)
        redeem = self._redeem()
        base_points, promo_points, welcome, birthday = self._accrue()
        promos = self.bundle.promotions
        lines = [
            {
                "sku": ln.item.sku,
                "qty": qty_text(ln.q),
                "amount": ln.amount,
                "discount": ln.discount,
                "redeemed": ln.redeemed,
                "paid": ln.paid,
                "points": ln.points,
                "promos": [promos[r].id for r in sorted(self.line_promos[ln.index])],
            }
            for ln in self.lines
        ]
        applied = [
            {"promo": promos[r].id, "discount": d, "points": pts}
            for r, (d, pts) in sorted(self.totals.items())
        ]
        redeemed = sum(ln.redeemed for ln in self.lines)
        totals = {
            "amount": sum(ln.amount for ln in self.lines),
            "discount": sum(ln.discount for ln in self.lines),
            "redeemed_points": redeem["points"],
            "redeemed": redeemed,
            "paid": sum(ln.paid for ln in self.lines),
            "points": sum(ln.points for ln in self.lines) + welcome + birthday,
        }
        return {
            "lines": lines,
            "applied": applied,
            "totals": totals,
            "bonus": {"lines": base_points, "promo": promo_points, "welcome": welcome, "birthday": birthday},
            "redeem": redeem,
            "rejected_coupons": [code for code in self.b.coupons if code not in self.used_coupons],
        }


class Engine:
    """Prices baskets against one bundle; the pure-Python implementation."""

    name = ENGINE_NAME

    def __init__(self, bundle: Bundle | dict[str, Any] | str | bytes) -> None:
        self.bundle = load_bundle(bundle)
        self._reach: Reach | None = None  # the hints' index, built on the first hints() call

    @property
    def version(self) -> int:
        """The bundle version this engine prices with."""
        return self.bundle.version

    def price(self, basket: dict[str, Any]) -> Result:
        """Price one basket (§2 JSON as a dict); raises ``BasketError``."""
        return Result(_Pricing(self.bundle, read_basket(basket, self.bundle)).run())

    def hints(self, basket: dict[str, Any], *, result: Result | None = None,
              near_bp: int = NEAR_BP, limit: int | None = None) -> list[Hint]:
        """Cashier hints for one basket (``fastcore._hints``): why each reached
        promotion did or did not apply, near misses first.

        ``result`` is this engine's result for ``basket`` when the caller has
        priced it already; otherwise the basket is priced here. ``price()``
        itself never computes hints.
        """
        checked = read_basket(basket, self.bundle)
        data = (result if result is not None else self.price(basket)).to_json()
        if self._reach is None:
            self._reach = Reach(self.bundle)
        return hints_for(self.bundle, checked, data, near_bp=near_bp, limit=limit, reach=self._reach)

    def price_many(self, baskets: Iterable[dict[str, Any]]) -> list[Result]:
        """Price a day of receipts (the ledger's audit) in one call.

        The cyclic garbage collector is paused for the batch (pricing makes
        no reference cycles), as in the compiled engine.
        """
        with _gc_paused():
            return [self.price(b) for b in baskets]
