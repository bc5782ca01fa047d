"""Expiry of unspent points (``kopilka ledger expire``, issue 12 item 2).

A lot earned ``program.expiry_days`` or more before the run's date loses
what is left of it: one ``expiry`` journal entry per lot (``expiry:<lot>``,
a deterministic id) and the lot emptied, in one transaction per account
with the account's row locked. Since redemptions take the oldest lots first,
what expires is always the oldest unspent points (FIFO).

Running it twice, or in two processes at once, expires nothing more: the
lots are read again under the lock, an emptied lot is not read again, and a
journal entry id is never written twice. The journal's ``at`` is the
ledger's clock (the journal is read by time); the note says which date the
run expired up to.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import _journal, _lots, _programme
from ._clock import utc_text
from ._storage import Storage, Tx

_DUE = ("FROM point_lots WHERE lot_id <> 'debt' AND remaining > 0 AND earned_at <= ?")


def _expire_account(tx: Tx, account: str, cutoff: str, day: str, days: int,
                    now: str) -> int:
    _lots.settle(tx, account, now)
    expired = 0
    for lot_id, earned, remaining in tx.all(
            f"SELECT lot_id, earned_at, remaining {_DUE} AND account = ? "
            "ORDER BY earned_at, lot_id", (cutoff, account)):
        points = int(remaining)
        note = f"{points} points earned {str(earned)[:10]} expired ({days} days, as of {day})"
        if _journal.post(tx, account, f"expiry:{lot_id}", "expiry", -points, now,
                         note=note, lots=False):
            tx.execute("UPDATE point_lots SET remaining = 0 WHERE account = ? AND lot_id = ?",
                       (account, lot_id))
            expired += points
    return expired


def expire(storage: Storage, at: datetime, now: str) -> dict[str, Any]:
    """Expire every lot due at ``at``; what expired, per account."""
    day = at.date().isoformat()
    with storage.transaction() as tx:
        life = _programme.current(tx)
        if life.expiry_days is None:
            return {"at": utc_text(at), "expiry_days": None, "accounts": 0, "points": 0,
                    "expired": []}
        days = life.expiry_days
        cutoff = utc_text(at - timedelta(days=days))
        accounts = [str(r[0]) for r in tx.all(f"SELECT DISTINCT account {_DUE} "
                                              "ORDER BY account", (cutoff,))]
    done = []
    for account in accounts:
        with storage.transaction() as tx:
            if tx.one("SELECT account FROM accounts WHERE account = ?" + storage.for_update,
                      (account,)) is None:
                continue
            points = _expire_account(tx, account, cutoff, day, days, now)
        if points:
            done.append({"account": account, "points": points})
    return {"at": utc_text(at), "expiry_days": days, "accounts": len(done),
            "points": sum(d["points"] for d in done), "expired": done}


def due(tx: Tx, account: str, at: datetime) -> int:
    """Points of ``account`` that a run at ``at`` would expire (the statement's warning)."""
    life = _programme.current(tx)
    if life.expiry_days is None:
        return 0
    cutoff = utc_text(at - timedelta(days=life.expiry_days))
    row = tx.one(f"SELECT COALESCE(SUM(remaining), 0) {_DUE} AND account = ?",
                 (cutoff, account))
    return int(row[0]) if row else 0

