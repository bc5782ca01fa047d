"""The sync report over a period and a store/chain scope (``kopilka report sync``).

The per-till rows of ``_report`` (now, from each till's own shard) filtered
to the scope, every flag of ``_allflags``, and two series by day and
store from the rollups:

- **lag**: seconds from the till's ``at`` to the ledger's ``received_at``,
  mean and maximum over the transactions the till made that day (an
  online till's lag is the upload's round trip; an offline one's is how
  long it stayed offline);
- **backlog**: transactions made up to the end of a day and not yet
  received by then — the stores' queues as they were, day by day (the
  heartbeat's ``queue_depth`` is only the latest value of each till).
  A till whose clock runs ahead has sales received "before" they were
  made; the backlog never shows below zero for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._allflags import AllFlags
from ._report import TillRow
from ._rollup import STORE_COLUMNS, Facts
from ._scope import Scope

LAG_COLUMNS = ("day", "store", "chain", "txns", "mean_lag_s", "max_lag_s", "backlog")
_TXNS, _LAG, _MAX, _GOT = (STORE_COLUMNS.index(c) for c in
                           ("txns", "lag_sum_s", "lag_max_s", "received"))


@dataclass
class SyncReport:
    """Tills, lag and backlog per day and store, and the flags, of one scope."""

    scope: Scope
    tills: list[TillRow]
    flags: AllFlags
    days: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.to_json(),
                "tills": [r.to_json() for r in self.tills],
                "days": self.days, "flags": self.flags.to_json(),
                "flag_counts": self.flags.counts()}


def build(tills: list[TillRow], facts: Facts, scope: Scope, flags: AllFlags) -> SyncReport:
    """The report of ``scope``: ``facts`` hold every rolled-up day up to its last."""
    report = SyncReport(scope, [r for r in tills if scope.has(r.store)], flags)
    stores = sorted({s for _, s in facts.stores if s and scope.has(s)})
    days = scope.days()
    waiting: dict[str, int] = {}  # per store, made before the period and not yet received
    for (d, s), v in facts.stores.items():
        if d < scope.first:
            waiting[s] = waiting.get(s, 0) + v[_TXNS] - v[_GOT]
    for store in stores:
        queued = waiting.get(store, 0)
        for day in days:
            row = facts.stores.get((day, store))
            if row is None:
                if queued:
                    report.days.append({"day": day, "store": store,
                                        "chain": scope.chains.get(store, ""), "txns": 0,
                                        "mean_lag_s": 0, "max_lag_s": 0,
                                        "backlog": max(0, queued)})
                continue
            queued += row[_TXNS] - row[_GOT]
            report.days.append({"day": day, "store": store, "chain": scope.chains.get(store, ""),
                                "txns": row[_TXNS],
                                "mean_lag_s": row[_LAG] // row[_TXNS] if row[_TXNS] else 0,
                                "max_lag_s": row[_MAX], "backlog": max(0, queued)})
    return report
