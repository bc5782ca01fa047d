"""Gift certificates in the reports (docs/certificates.md).

- the sync report's flag ``certificate_double_use``: a certificate whose
  tenders claimed more than it had (the same certificate spent at two
  offline tills, or at a till beyond its code's ``ocap``), or a tender of a
  certificate the ledger does not know. One ``TillFlag`` row per tender of
  that certificate, so head office sees every till and receipt concerned;
  ``value`` is the kopecks the ledger could not take (the chain's loss);
- the loyalty report's ``certificates``: sold, redeemed and outstanding
  (kopecks) in the scope.
"""
from __future__ import annotations

from typing import Any

from ._readers import receipt_id
from ._scope import Scope
from ._storage import Tx


def double_use(tx: Tx, scope: Scope) -> list[Any]:
    """The ``certificate_double_use`` flag rows (``_allflags.TillFlag``) in ``scope``."""
    from ._allflags import TillFlag  # _allflags registers this function: imported at call time

    short = {str(r[0]) for r in tx.all("SELECT DISTINCT cert_id FROM certificate_entries WHERE "
                                       "kind = 'redeem' AND (shortfall > 0 OR note IS NOT NULL)")}
    out = []
    for cert in sorted(short):
        rows = tx.all("SELECT e.till, e.store, e.txn_id, e.claimed, e.amount, e.shortfall, e.mode, "
                      "e.note, s.seq, s.at FROM certificate_entries e LEFT JOIN sales s ON "
                      "s.txn_id = e.txn_id AND s.till = e.till WHERE e.cert_id = ? AND "
                      "e.kind = 'redeem' ORDER BY e.at, e.entry_id", (cert,))
        if not any(scope.covers(str(r[1]), str(r[9] or "")) for r in rows):
            continue
        for r in rows:
            detail = (f"certificate {cert}: {r[6]} tender {int(r[3])}, taken {-int(r[4])}, "
                      f"short {int(r[5])}" + (f" ({r[7]})" if r[7] else ""))
            out.append(TillFlag(str(r[1]), str(r[0]), detail, str(r[2]),
                                receipt_id(str(r[0]), int(r[8])) if r[8] is not None else "",
                                "certificate_double_use", 0, int(r[5])))
    return out


def summary(tx: Tx, scope: Scope) -> dict[str, int]:
    """Certificates sold, redeemed (kopecks) in the scope, and outstanding now."""
    sold = redeemed = 0
    for store, at, kind, amount in tx.all(
            "SELECT store, at, kind, amount FROM certificate_entries WHERE till IS NOT NULL"):
        if not scope.covers(str(store), str(at)):
            continue
        if kind == "issue":
            sold += int(amount)
        else:
            redeemed -= int(amount)
    row = tx.one("SELECT COUNT(*), COALESCE(SUM(balance), 0) FROM certificates")
    return {"sold": sold, "redeemed": redeemed, "outstanding": int(row[1]) if row else 0,
            "certificates": int(row[0]) if row else 0}


def loyalty_figures(storage: Any, scope: Scope) -> dict[str, int]:
    """``summary`` in its own read transaction (the loyalty report's ``certificates``)."""
    with storage.transaction() as tx:
        return summary(tx, scope)


def loyalty_section(figures: dict[str, int]) -> list[tuple[str, tuple[str, ...], list[dict[str, Any]]]]:
    """The loyalty report's table/CSV block of gift certificates (none when none was ever issued)."""
    if not figures.get("certificates"):
        return []
    return [("gift certificates (kopecks)", ("sold", "redeemed", "outstanding", "certificates"),
             [dict(figures)])]
