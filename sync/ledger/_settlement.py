"""Chain settlement (``kopilka report settlement``): who owes whom in a coalition.

Where several chains share one programme (the bundle's ``stores[].chain``),
a member earns points in one chain and spends them in another; the chain
that honoured a point is owed its value by the chain that issued it.

The rule, per period: a chain *earned* the points its stores accrued
(less the audit's corrections), and *spent* the points redeemed at its
stores. Points are fungible in an account and in the pool, so the points
spent at chain B are taken to come from each chain in proportion to what
it earned in the period (B's own share included): ``from A to B = spent_B
× earned_A / earned_all``, rounded to whole points by largest remainder so
that each chain's column adds up exactly to what it spent. The net of a
pair is what A owes B minus what B owes A, in points and in kopecks
(``point_value`` of the newest bundle). Returns and manual adjustments
stay with the chain where they happen and are not settled.

Figures come from the daily rollups, like every report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import _bundles
from ._rollup import Facts
from ._scope import Scope
from ._storage import Tx

PAIR_COLUMNS = ("earned_in", "spent_in", "points")
NET_COLUMNS = ("debtor", "creditor", "points", "kopecks")
CHAIN_COLUMNS = ("chain", "earned", "spent", "owes", "owed", "net_points", "net_kopecks")


def point_value(tx: Tx) -> int:
    """Kopecks a point is worth (the newest bundle's programme; 100 when none)."""
    body = _bundles.load(tx, _bundles.latest_version(tx)) or {}
    value = (body.get("program") or {}).get("point_value")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 100


def _split(total: int, weights: dict[str, int]) -> dict[str, int]:
    """``total`` shared by ``weights``: whole parts, largest remainder, summing to ``total``."""
    whole = sum(weights.values())
    if not whole or not total:
        return dict.fromkeys(weights, 0)
    parts = {k: total * w // whole for k, w in weights.items()}
    rest = total - sum(parts.values())
    order = sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[:rest]:
        parts[k] += 1
    return parts


@dataclass
class Settlement:
    """Chain totals, the earned-in/spent-in matrix and the net each pair settles."""

    scope: Scope
    value: int  # kopecks per point
    chains: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    nets: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.to_json(), "point_value": self.value,
                "chains": self.chains, "pairs": self.pairs, "nets": self.nets}


def build(facts: Facts, scope: Scope, value: int) -> Settlement:
    """The settlement of the period; with a store/chain filter, the pairs it takes part in."""
    inside = facts.only(scope.first, scope.last, None)
    earned: dict[str, int] = {}
    spent: dict[str, int] = {}
    for (_, store, kind), (points, _) in inside.points.items():
        if not store:
            continue
        chain = scope.chains.get(store, "")
        if kind in ("accrual", "audit_correction"):
            earned[chain] = earned.get(chain, 0) + points
        elif kind == "redemption":
            spent[chain] = spent.get(chain, 0) - points
    names = sorted(set(earned) | set(spent))
    weights = {c: max(0, earned.get(c, 0)) for c in names}
    flow = {b: _split(spent.get(b, 0), weights) for b in names}  # flow[b][a]: earned a, spent b
    mine = None if scope.stores is None else {scope.chains.get(s, "") for s in scope.stores}
    out = Settlement(scope, value)

    def shown(*chains: str) -> bool:
        return mine is None or any(c in mine for c in chains)

    for b in names:
        for a in names:
            if flow[b][a] and shown(a, b):
                out.pairs.append({"earned_in": a, "spent_in": b, "points": flow[b][a]})
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            net = flow[b][a] - flow[a][b]  # a's points honoured by b, less the reverse
            if net and shown(a, b):
                debtor, creditor = (a, b) if net > 0 else (b, a)
                out.nets.append({"debtor": debtor, "creditor": creditor, "points": abs(net),
                                 "kopecks": abs(net) * value})
    for c in names:
        if not shown(c):
            continue
        owes = sum(flow[b][c] for b in names if b != c)
        owed = sum(flow[c][a] for a in names if a != c)
        out.chains.append({"chain": c, "earned": earned.get(c, 0), "spent": spent.get(c, 0),
                           "owes": owes, "owed": owed, "net_points": owed - owes,
                           "net_kopecks": (owed - owes) * value})
    return out
