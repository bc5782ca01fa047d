"""The loyalty report (``kopilka report loyalty``): what the programme did and cost.

Per day and store: sales, member and offline sales (offline share in
basis points), amount, discount and paid (kopecks), and the ledger's
points: accrued, redeemed, reversed by returns, corrected by audit. Over
the period: the promotions ranked by discount and by bonus points, the
liability (points outstanding at the end of each day) and the audit
corrections per day. Every figure comes from the daily rollups
(``_rollup``), never from a scan of the journal.

The liability of a scope with every store is the programme's: the sum of
every journal entry up to that day (adjustments, opening balances and
expiries included). Restricted to some stores it is what those stores
issued net of what they honoured, so a chain's own line adds up to its
share of the debt.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._rollup import STORE_COLUMNS, Facts
from ._scope import Scope

DAY_COLUMNS = ("day", "store", "chain", "sales", "member_sales", "offline_sales",
               "offline_share_bp", "returns", "amount", "discount", "paid", "accrued",
               "redeemed", "reversed", "corrected")
PROMO_COLUMNS = ("promo", "uses", "discount", "points")
#: promotions shown in each ranking of the table and the page
TOP = 10
_COL = {c: i for i, c in enumerate(STORE_COLUMNS)}


def share_bp(part: int, whole: int) -> int:
    """``part`` of ``whole`` in basis points (integer, rounded down; 0 of nothing)."""
    return part * 10000 // whole if whole else 0


def _points(facts: Facts, day: str, store: str, kind: str) -> int:
    got = facts.points.get((day, store, kind))
    return got[0] if got else 0


@dataclass
class Loyalty:
    """The loyalty report of one scope."""

    scope: Scope
    days: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    liability: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    #: the programme's points outstanding now (every store only): available and pending
    #: (still in the return window), with the points expired in the period
    outstanding: dict[str, int] | None = None
    certificates: dict[str, int] = field(default_factory=dict)  # _certflags.summary

    def top(self, key: str) -> list[dict[str, Any]]:
        """The ``TOP`` promotions by ``key`` (discount or points), ties by name."""
        ranked = sorted(self.promotions, key=lambda p: (-p[key], p["promo"]))
        return [p for p in ranked if p[key]][:TOP]

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.to_json(), "totals": self.totals, "days": self.days,
                "promotions": self.promotions,
                "top_by_discount": [p["promo"] for p in self.top("discount")],
                "top_by_points": [p["promo"] for p in self.top("points")],
                "liability": self.liability, "corrections": self.corrections,
                "outstanding": self.outstanding, "certificates": self.certificates}


def build(facts: Facts, scope: Scope, rolled: dict[str, list[int]] | None = None) -> Loyalty:
    """The report of ``scope`` from ``facts`` (rolled up, every day up to the last).

    ``rolled``: the promotions' totals summed by the database
    (``_rollup.promo_totals``), ``facts`` then holding only the newest
    promotion rows; None: every promotion row is in ``facts``.
    """
    report = Loyalty(scope)
    inside = facts.only(scope.first, scope.last, None if scope.stores is None
                        else set(scope.stores))
    keys = sorted({k for k in inside.stores} | {(d, s) for d, s, _ in inside.points if s})
    for day, store in keys:
        row = inside.stores.get((day, store), [0] * len(STORE_COLUMNS))
        sales = row[_COL["sales"]]
        if not sales and not any(inside.points.get((day, store, k)) for k in
                                 ("accrual", "redemption", "return_reversal",
                                  "audit_correction")) and not row[_COL["returns"]]:
            continue  # only received that day: a sync figure, not a loyalty one
        report.days.append({
            "day": day, "store": store, "chain": scope.chains.get(store, ""), "sales": sales,
            "member_sales": row[_COL["member_sales"]],
            "offline_sales": row[_COL["offline_sales"]],
            "offline_share_bp": share_bp(row[_COL["offline_sales"]], sales),
            "returns": row[_COL["returns"]], "amount": row[_COL["amount"]],
            "discount": row[_COL["discount"]], "paid": row[_COL["paid"]],
            "accrued": _points(inside, day, store, "accrual"),
            "redeemed": -_points(inside, day, store, "redemption"),
            "reversed": _points(inside, day, store, "return_reversal"),
            "corrected": _points(inside, day, store, "audit_correction")})
    sums = ("sales", "member_sales", "offline_sales", "returns", "amount", "discount", "paid",
            "accrued", "redeemed", "reversed", "corrected")
    report.totals = {k: sum(r[k] for r in report.days) for k in sums}
    report.totals["offline_share_bp"] = share_bp(report.totals["offline_sales"],
                                                 report.totals["sales"])
    report.totals["adjusted"] = sum(v[0] for (d, s, k), v in inside.points.items()
                                    if not s and scope.stores is None)
    promos: dict[str, list[int]] = {p: list(v) for p, v in (rolled or {}).items()}
    for (_, _, promo), vals in inside.promos.items():
        cur = promos.setdefault(promo, [0, 0, 0])
        for i, v in enumerate(vals):
            cur[i] += v
    report.promotions = [dict(zip(PROMO_COLUMNS, (p, *v), strict=True))
                         for p, v in sorted(promos.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    report.liability = _liability(facts, scope)
    fixes = {day: [0, 0] for day in scope.days()}
    for (d, _, k), (points, entries) in inside.points.items():
        if k == "audit_correction" and d in fixes:
            fixes[d][0] += entries
            fixes[d][1] += points
    report.corrections = [{"day": d, "entries": e, "points": p} for d, (e, p) in fixes.items()]
    return report


def _liability(facts: Facts, scope: Scope) -> list[dict[str, Any]]:
    """Points outstanding at the end of each day of the scope, and those expired that day."""
    net: dict[str, int] = {}
    expired: dict[str, int] = {}  # points that expired that day (shown positive)
    for (day, store, kind), (points, _) in facts.points.items():
        if (scope.stores is None and not store) or (store and scope.has(store)):
            net[day] = net.get(day, 0) + points
            if kind == "expiry":
                expired[day] = expired.get(day, 0) - points
    before = sum(p for d, p in net.items() if d < scope.first)
    out = []
    for day in scope.days():
        before += net.get(day, 0)
        out.append({"day": day, "outstanding": before, "expired": expired.get(day, 0)})
    return out
