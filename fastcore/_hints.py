"""Cashier hints: why each promotion the basket reaches did or did not apply.

Not part of the priced result (spec/pricing.md §7 is unchanged): a hint is
read from the bundle, the checked basket and the engine's own §7 result, so
each twin's hints follow from its own figures and the rules of §3 live in
one place (``_conditions``). A promotion is *reached* when a basket line is
eligible for it, or, for a basket-wide promotion (no targets), when the
basket's instant lies in its ``from``/``until`` window.

Figures are ints: ``missing_kop`` in kopecks, ``missing_qty_milli`` in
thousandths of the unit. A hint is a *near miss* when what is missing is
within ``near_bp`` basis points of the threshold (3000 = within 30%); one
more unit (1000 milli) is always near, as "1 more for 3-for-2".

The state a promotion met at its turn (which lines were already discounted
or closed) is rebuilt from the result's per-line ``promos`` in visit order.
A stacking promotion's ``current`` amount on a line that other promotions
discounted both before and after its turn is not recoverable from §7; the
line's final ``amount - discount`` is used there (a lower bound).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._basket import Basket
from ._bundle import Bundle, Item, Promotion
from ._conditions import admits, static_failure
from ._money import money_text
from ._quantity import qty_text
from ._values import rhu

HINT_REASONS = (
    "applied",
    "not_yet_started",
    "expired",
    "wrong_day",
    "outside_time_window",
    "other_store",
    "tier_required",
    "segment_required",
    "personal_offer_missing",
    "coupon_missing",
    "customer_required",
    "no_eligible_lines",
    "lines_already_discounted",
    "below_min_qty",
    "below_min_amount",
    "below_set_size",
    "superseded_by_better",
    "price_not_lower",
    "at_price_floor",
    "gave_nothing",
)
"""Every reason code a ``Hint`` may carry, in the order the spec checks them."""

NEAR_BP = 3000


@dataclass(frozen=True, slots=True)
class Hint:
    """Why one promotion did or did not apply to a basket, for the cashier.

    ``scope`` is ``basket`` or the promotion's targets as
    ``category:dairy,brand:a,sku:46...``; ``missing_kop``/``missing_qty_milli``
    say what would make it apply (``None`` when nothing the cashier can add
    would); ``discount``/``points`` are its figures when applied.
    """

    promo: str
    kind: str
    reason: str
    scope: str
    near: bool = False
    missing_kop: int | None = None
    missing_qty_milli: int | None = None
    discount: int = 0
    points: int = 0
    text_en: str = ""
    text_ru: str = ""

    def to_json(self) -> dict[str, Any]:
        """The hint as a JSON-ready dict; the missing figures only when known."""
        out: dict[str, Any] = {"promo": self.promo, "kind": self.kind, "reason": self.reason,
                               "scope": self.scope, "near": self.near}
        if self.missing_kop is not None:
            out["missing_kop"] = self.missing_kop
        if self.missing_qty_milli is not None:
            out["missing_qty_milli"] = self.missing_qty_milli
        out.update(discount=self.discount, points=self.points, text_en=self.text_en, text_ru=self.text_ru)
        return out


# -- texts ----------------------------------------------------------------------------


def _pct_text(value: int, unit: int) -> str:
    """``value/unit`` as short decimal text (1500/100 → ``15``, 250/100 → ``2.5``)."""
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{frac:0{width}d}".rstrip("0")


def _offer(p: Promotion) -> tuple[str, str]:
    """What the promotion gives, in (en, ru)."""
    k, v = p.kind, p.value
    if k in ("percent", "basket_percent"):
        return f"{_pct_text(v, 100)}% off", f"скидка {_pct_text(v, 100)}%"
    if k == "amount_off":
        return f"{money_text(v)} ₽ off per unit", f"скидка {money_text(v)} ₽ за единицу"
    if k == "basket_amount":
        return f"{money_text(v)} ₽ off", f"скидка {money_text(v)} ₽"
    if k == "fixed_price":
        return f"a price of {money_text(v)} ₽", f"цена {money_text(v)} ₽"
    if k == "n_for_m":
        return f"{p.n}-for-{p.m}", f"{p.n} по цене {p.m}"
    if k == "bonus_multiplier":
        return f"x{_pct_text(v, 100)} points", f"баллы x{_pct_text(v, 100)}"
    each = " per unit" if p.per == "unit" else ""
    return f"+{v} points{each}", f"+{v} баллов" + (" за единицу" if each else "")


def _scope(p: Promotion, bundle: Bundle) -> tuple[str, str, str]:
    """The scope code and its words in (en, ru): ``category:dairy``, " of dairy"."""
    t = p.targets
    if t.empty:
        return "basket", "", ""
    parts = [f"category:{c}" for c in t.categories] + [f"brand:{b}" for b in sorted(t.brands)]
    parts += [f"sku:{s}" for s in sorted(t.skus)]
    names = list(t.categories) + [f"brand {b}" for b in sorted(t.brands)]
    names += [bundle.catalog[s].name if s in bundle.catalog else s for s in sorted(t.skus)]
    words = " or ".join(names)
    return ",".join(parts), f" of {words}", f" ({words})"


_TEXTS = {  # reason -> (en, ru); {offer}, {scope_en}/{scope_ru}, {extra}
    "applied": ("{offer} applied{extra}", "применена акция: {offer}{extra}"),
    "not_yet_started": ("{offer}: not started yet", "{offer}: акция ещё не началась"),
    "expired": ("{offer}: has ended", "{offer}: акция закончилась"),
    "wrong_day": ("{offer}: not on this day of the week", "{offer}: не действует в этот день недели"),
    "outside_time_window": ("{offer}: not at this time of day", "{offer}: не действует в это время"),
    "other_store": ("{offer}: not in this store", "{offer}: не действует в этом магазине"),
    "tier_required": ("{offer}: for tier {extra} only", "{offer}: только для уровня {extra}"),
    "segment_required": ("{offer}: for {extra} only", "{offer}: только для групп: {extra}"),
    "personal_offer_missing": ("{offer}: a personal offer for other customers",
                               "{offer}: персональное предложение для других покупателей"),
    "coupon_missing": ("{offer}: needs coupon {extra}", "{offer}: нужен купон {extra}"),
    "customer_required": ("{offer}: for loyalty members, scan a card",
                          "{offer}: только для участников программы, отсканируйте карту"),
    "no_eligible_lines": ("{offer}: no item in the basket qualifies", "{offer}: в чеке нет подходящих товаров"),
    "lines_already_discounted": ("{offer}: the items already have another discount",
                                 "{offer}: на товары уже действует другая скидка"),
    "below_min_qty": ("add {extra} more{scope_en} for {offer}", "добавьте ещё {extra}{scope_ru} — {offer}"),
    "below_min_amount": ("add {extra} ₽{scope_en} for {offer}", "добавьте товаров{scope_ru} на {extra} ₽ — {offer}"),
    "below_set_size": ("add {extra} more{scope_en} for {offer}", "добавьте ещё {extra}{scope_ru} — {offer}"),
    "superseded_by_better": ("{offer}: a better offer applied", "{offer}: применено более выгодное предложение"),
    "price_not_lower": ("{offer}: the price is already lower", "{offer}: цена уже ниже"),
    "at_price_floor": ("{offer}: the items are at their minimum price", "{offer}: товары уже по минимальной цене"),
    "gave_nothing": ("{offer}: gives nothing on this basket", "{offer}: не даёт выгоды в этом чеке"),
}


# -- the index and the judge ----------------------------------------------------------


_Pending = tuple[int, bool, Any]  # (visit rank, near, (reason, extra, extra_ru, figures))


class Reach:
    """One bundle's promotions indexed for hints; built once per engine.

    Why: a basket reaches a few hundred of a chain's thousands of
    promotions, and asking every promotion about every line (§3
    "eligible") cost ~140 ms per 40-line basket on 5,000 promotions. The
    index finds a line's promotions by its sku, brand and each prefix of
    its category, and keeps, per sku seen, the ranks that are eligible for
    it (exclusions and flags checked once, by ``admits``); it also keeps the
    group turns and each promotion's texts. The per-sku memory is bounded
    (cleared past ``ITEMS_MAX`` skus).
    """

    ITEMS_MAX = 20_000

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        promos = bundle.promotions
        self.rank = {p.id: r for r, p in enumerate(promos)}
        first: dict[str, int] = {}
        for r, p in enumerate(promos):
            if p.group is not None:
                first.setdefault(p.group, r)
        # a group is judged, and its winner applied, at its first member's turn
        self.turn = [first[p.group] if p.group is not None else r for r, p in enumerate(promos)]
        self.by_sku: dict[str, list[int]] = {}
        self.by_brand: dict[str, list[int]] = {}
        self.by_category: dict[str, list[int]] = {}
        self.basket_wide: list[int] = []  # promotions without targets
        # can it be a near miss (a quantity, amount or set size to reach)?
        self.thresholds = [p.min_qty_milli > 0 or p.min_amount > 0 or p.kind == "n_for_m" for p in promos]
        for r, p in enumerate(promos):
            t = p.targets
            if t.empty:
                self.basket_wide.append(r)
            for key, index in ((t.skus, self.by_sku), (t.brands, self.by_brand), (t.categories, self.by_category)):
                for k in key:
                    index.setdefault(k, []).append(r)
        self._items: dict[str, tuple[int, ...]] = {}
        self._texts: dict[int, tuple[str, str, str, str, str]] = {}

    def item_ranks(self, item: Item) -> tuple[int, ...]:
        """The ranks of the promotions with targets that are eligible for ``item``."""
        got = self._items.get(item.sku)
        if got is not None:
            return got
        found = set(self.by_sku.get(item.sku, ()))
        if item.brand is not None:
            found.update(self.by_brand.get(item.brand, ()))
        if item.category is not None:
            parts = item.category.split("/")
            for k in range(1, len(parts) + 1):
                found.update(self.by_category.get("/".join(parts[:k]), ()))
        promos = self.bundle.promotions
        got = tuple(sorted(r for r in found if admits(promos[r], item)))
        if len(self._items) >= self.ITEMS_MAX:
            self._items.clear()
        self._items[item.sku] = got
        return got

    def texts(self, r: int) -> tuple[str, str, str, str, str]:
        """Promotion ``r``'s (scope, scope_en, scope_ru, offer_en, offer_ru)."""
        got = self._texts.get(r)
        if got is None:
            p = self.bundle.promotions[r]
            got = self._texts[r] = (*_scope(p, self.bundle), *_offer(p))
        return got


class _Judge:
    """The hints of one priced basket."""

    def __init__(self, reach: Reach, basket: Basket, result: dict[str, Any], near_bp: int) -> None:
        self.bundle = reach.bundle
        self.b = basket
        self.near_bp = near_bp
        promos = self.bundle.promotions
        self.rank = reach.rank
        self.turn = reach.turn
        self.applied = {a["promo"]: a for a in result["applied"]}
        self.winners = {promos[self.rank[i]].group for i in self.applied} - {None}
        self.lines = result["lines"]
        # per line: the first discount-phase turn that discounted it, and the
        # first that closed it (a promotion without stack); past the end: none
        never = len(promos)
        self.first_turn = [never] * len(self.lines)
        self.first_close = [never] * len(self.lines)
        for k, ln in enumerate(self.lines):
            for i in ln["promos"]:
                r = self.rank[i]
                q = promos[r]
                if q.phase < 2:
                    t = self.turn[r]
                    if t < self.first_turn[k]:
                        self.first_turn[k] = t
                    if not promos[t].stack and t < self.first_close[k]:
                        self.first_close[k] = t

    def _state(self, i: int, turn: int) -> tuple[bool, bool, int]:
        """Line ``i`` at a discount-phase turn: (discounted, closed, current)."""
        ln = self.lines[i]
        if self.first_turn[i] >= turn:
            return False, False, ln["amount"]
        return True, self.first_close[i] < turn, ln["amount"] - ln["discount"]

    def _near(self, missing: int, threshold: int, unit_floor: int) -> bool:
        return missing <= unit_floor or missing * 10000 <= threshold * self.near_bp

    def judge(self, r: int, p: Promotion, reached: list[int] | None) -> _Pending:
        """The hint for promotion ``p`` (visit rank ``r``), which the basket
        reaches: ``reached`` are the lines eligible for it (``None``: not
        listed yet, for a promotion without targets). The hint's texts are
        made later, and only for the hints shown (``_make``)."""
        b = self.b
        failed = static_failure(p, b)
        if failed is not None:
            extra = {"tier_required": ", ".join(sorted(p.tiers)), "segment_required": ", ".join(sorted(p.segments)),
                     "coupon_missing": p.coupon or ""}.get(failed, "")
            return self._hint(r, failed, extra=extra)
        if p.id in self.applied:
            a = self.applied[p.id]
            extra_en = extra_ru = ""
            if a["discount"]:
                extra_en = extra_ru = f": −{money_text(a['discount'])} ₽"
            elif a["points"]:
                extra_en, extra_ru = f": +{a['points']} points", f": +{a['points']} баллов"
            return self._hint(r, "applied", discount=a["discount"], points=a["points"], extra=extra_en, extra_ru=extra_ru)
        lines = b.lines
        if reached is None:
            reached = [i for i, ln in enumerate(lines) if admits(p, ln.item)]
        currents: dict[int, int] = {}
        if p.phase == 2:
            touched = reached
            on_current = self.bundle.program.accrue_on_redeemed
            amount = sum(self.lines[i]["amount"] - self.lines[i]["discount"] if on_current else self.lines[i]["paid"]
                         for i in touched)
        else:
            for i in reached:
                discounted, closed, current = self._state(i, self.turn[r])
                if not closed and (p.stack or not discounted):
                    currents[i] = current
            touched = list(currents)
            amount = sum(currents.values())
        if not touched:
            return self._hint(r, "lines_already_discounted" if reached else "no_eligible_lines")
        qty = sum(lines[i].qty_milli for i in touched)
        if qty < p.min_qty_milli:
            missing = p.min_qty_milli - qty
            return self._hint(r, "below_min_qty", missing_qty_milli=missing,
                              near=self._near(missing, p.min_qty_milli, 1000), extra=qty_text(missing))
        if amount < p.min_amount:
            missing = p.min_amount - amount
            return self._hint(r, "below_min_amount", missing_kop=missing,
                              near=self._near(missing, p.min_amount, 0), extra=money_text(missing))
        if (p.group is not None and p.group in self.winners) or p.kind == "bonus_multiplier":
            return self._hint(r, "superseded_by_better")
        if p.kind == "n_for_m":
            units = sum(lines[i].qty_milli // 1000 for i in touched)
            if units < p.n:
                missing = (p.n - units) * 1000
                return self._hint(r, "below_set_size", missing_qty_milli=missing,
                                  near=self._near(missing, p.n * 1000, 1000), extra=qty_text(missing))
        if p.kind == "fixed_price" and all(currents[i] <= rhu(p.value * lines[i].qty_milli, 1000) for i in touched):
            return self._hint(r, "price_not_lower")
        if p.phase < 2 and all(currents[i] <= self._floor(i) for i in touched):
            return self._hint(r, "at_price_floor")
        return self._hint(r, "gave_nothing")

    def _floor(self, i: int) -> int:
        ln = self.b.lines[i]
        if ln.item.no_discount:
            return self.lines[i]["amount"]  # type: ignore[no-any-return]
        return rhu(ln.item.min_price * ln.qty_milli, 1000)

    @staticmethod
    def _hint(r: int, reason: str, *, extra: str = "", extra_ru: str | None = None, **figures: Any) -> _Pending:
        return r, bool(figures.get("near")), (reason, extra, extra_ru, figures)


def _make(reach: Reach, pending: _Pending) -> Hint:
    """The ``Hint`` of a judged promotion, with its texts."""
    r, _, (reason, extra, extra_ru, figures) = pending
    p = reach.bundle.promotions[r]
    scope, scope_en, scope_ru, offer_en, offer_ru = reach.texts(r)
    en, ru = _TEXTS[reason]
    return Hint(
        promo=p.id, kind=p.kind, reason=reason, scope=scope,
        text_en=en.format(offer=offer_en, scope_en=scope_en, extra=extra),
        text_ru=ru.format(offer=offer_ru, scope_ru=scope_ru, extra=extra if extra_ru is None else extra_ru),
        **figures,
    )


def reached_lines(reach: Reach, basket: Basket) -> dict[int, list[int] | None]:
    """The promotions ``basket`` reaches, by visit rank: the lines eligible
    for each (``None`` for a promotion without targets, listed when judged).

    A promotion with targets is reached when some line is eligible for it;
    one without, when the basket's instant lies in its from/until window.
    """
    out: dict[int, list[int] | None] = {}
    for i, ln in enumerate(basket.lines):
        for r in reach.item_ranks(ln.item):
            got = out.get(r)
            if got is None:
                out[r] = [i]
            elif got[-1] != i:
                got.append(i)
    promos = reach.bundle.promotions
    for r in reach.basket_wide:
        p = promos[r]
        if (p.when_from is not None and basket.at < p.when_from) or (p.when_until is not None and basket.at >= p.when_until):
            continue
        out[r] = None
    return out


def hints_for(bundle: Bundle, basket: Basket, result: dict[str, Any], *,
              near_bp: int = NEAR_BP, limit: int | None = None, reach: Reach | None = None) -> list[Hint]:
    """The hints of a priced basket: near misses first, then applied
    promotions, then the rest, each part in visit order; at most ``limit``.

    ``result`` is the §7 object the engine gave for ``basket``; ``reach``
    the engine's index of ``bundle`` (built here when not given).
    """
    if isinstance(near_bp, bool) or not isinstance(near_bp, int) or not 0 <= near_bp <= 10000:
        raise ValueError(f"near_bp must be an int in 0..10000, not {near_bp!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an int >= 0 or None, not {limit!r}")
    if reach is None or reach.bundle is not bundle:
        reach = Reach(bundle)
    judge = _Judge(reach, basket, result, near_bp)
    promos = bundle.promotions
    reached = reached_lines(reach, basket)
    order = sorted(reached)
    judged: dict[int, _Pending] = {}

    def pending(r: int) -> _Pending:
        got = judged.get(r)
        if got is None:
            got = judged[r] = judge.judge(r, promos[r], reached[r])
        return got

    # Only a promotion with a threshold can be a near miss, and only one the
    # result applied can be "applied": the parts are filled in that order and
    # a promotion is judged only when its part can still be shown.
    want = len(order) if limit is None else limit
    applied = judge.applied
    b = basket
    shown = [pending(r) for r in order if reach.thresholds[r] and promos[r].id not in applied
             and static_failure(promos[r], b) is None and pending(r)[1]][:want]
    if len(shown) < want:
        shown += [x for x in (pending(r) for r in order if promos[r].id in applied)
                  if not x[1] and x[2][0] == "applied"][:want - len(shown)]
    if len(shown) < want:
        for r in order:
            x = pending(r)
            if not x[1] and x[2][0] != "applied":
                shown.append(x)
                if len(shown) == want:
                    break
    return [_make(reach, x) for x in shown]
