"""Points lots: when each point was earned, whether it is pending, what is left of it.

Every journal entry that moves a balance moves ``point_lots`` in the same
transaction (``_journal.post`` calls ``follow``), so that the sum of an
account's lots' ``remaining`` always equals its balance (``check`` proves it).

- A credit first pays off the account's debt lot (``lot_id = 'debt'``, a
  negative remainder left by an offline overdraft or a return after the
  points were spent), then opens a lot ``lot_id = entry_id``. An accrual's
  lot is *pending* (``pending = 1``) for ``program.hold_days`` after it was
  earned (the return window); other credits (a refund of redeemed points,
  an adjustment) are available at once.
- A debit takes from lots in a fixed order: a return's reversal first from
  its own sale's lot, then from the pending lots (newest first: the points
  the return window still covers), then like any other debit from the
  available lots oldest first (so the points that would expire first are
  spent first), then from pending lots, then it deepens the debt lot.
- ``_expiry`` empties lots older than ``program.expiry_days`` with
  ``expiry`` journal entries.

Pending is a matter of time (``earned_at`` against the ledger's clock), so
points become available without any job: ``spendable`` is balance minus
the pending remainder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import _programme
from ._clock import parse_utc_text, utc_text
from ._storage import Tx

DEBT = "debt"
_COLUMNS = ("account", "lot_id", "earned_at", "points", "remaining", "pending", "txn_id")


def pending_since(now: str, hold_days: int) -> str | None:
    """Lots earned after this instant are still pending (None: nothing is pending)."""
    if hold_days <= 0:
        return None
    return utc_text(parse_utc_text(now) - timedelta(days=hold_days))


def _debt(tx: Tx, account: str) -> int:
    row = tx.one("SELECT remaining FROM point_lots WHERE account = ? AND lot_id = ?",
                 (account, DEBT))
    return int(row[0]) if row else 0


def _add_debt(tx: Tx, account: str, points: int, at: str) -> None:
    """Move the debt lot by ``points`` (negative deepens it)."""
    if tx.execute("UPDATE point_lots SET remaining = remaining + ?, points = points + ? "
                  "WHERE account = ? AND lot_id = ?", (points, points, account, DEBT)) != 1:
        tx.execute("INSERT INTO point_lots (account, lot_id, earned_at, points, remaining, "
                   "pending, txn_id) VALUES (?, ?, ?, ?, ?, 0, NULL)",
                   (account, DEBT, at, points, points))


def credit(tx: Tx, account: str, lot_id: str, points: int, at: str, pending: bool,
           txn_id: str | None) -> None:
    """Pay off the debt first, then open a lot with the rest."""
    debt = _debt(tx, account)
    if debt < 0:
        paid = min(points, -debt)
        _add_debt(tx, account, paid, at)
        points -= paid
    if points > 0:
        tx.execute("INSERT INTO point_lots (account, lot_id, earned_at, points, remaining, "
                   "pending, txn_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (account, lot_id, at, points, points, 1 if pending else 0, txn_id))


def _take(tx: Tx, account: str, rows: list[Any], want: int) -> int:
    """Take up to ``want`` from ``rows`` (lot_id, remaining) in order; what is still wanted."""
    for lot_id, remaining in rows:
        if want <= 0:
            break
        take = min(int(remaining), want)
        if take <= 0:
            continue
        tx.execute("UPDATE point_lots SET remaining = remaining - ? WHERE account = ? AND "
                   "lot_id = ?", (take, account, lot_id))
        want -= take
    return want


def debit(tx: Tx, account: str, points: int, at: str, *, own_txn: str | None = None,
          pending_first: bool = False) -> None:
    """Take ``points`` (> 0) from the account's lots in the module's order."""
    since = pending_since(at, _programme.current(tx).hold_days) or at
    want = points
    if own_txn is not None:
        want = _take(tx, account, tx.all(
            "SELECT lot_id, remaining FROM point_lots WHERE account = ? AND txn_id = ? AND "
            "lot_id <> ? AND remaining > 0 ORDER BY earned_at, lot_id",
            (account, own_txn, DEBT)), want)
    pending_rows = "SELECT lot_id, remaining FROM point_lots WHERE account = ? AND " \
        "lot_id <> ? AND remaining > 0 AND pending = 1 AND earned_at > ? ORDER BY earned_at {}, lot_id {}"
    if want > 0 and pending_first:
        want = _take(tx, account, tx.all(pending_rows.format("DESC", "DESC"),
                                         (account, DEBT, since)), want)
    if want > 0:
        want = _take(tx, account, tx.all(
            "SELECT lot_id, remaining FROM point_lots WHERE account = ? AND lot_id <> ? AND "
            "remaining > 0 AND (pending = 0 OR earned_at <= ?) ORDER BY earned_at, lot_id",
            (account, DEBT, since)), want)
    if want > 0:
        want = _take(tx, account, tx.all(pending_rows.format("", ""),
                                         (account, DEBT, since)), want)
    if want > 0:
        _add_debt(tx, account, -want, at)


def settle(tx: Tx, account: str, at: str) -> None:
    """Pay a debt lot from the account's positive lots, if both exist.

    Credits pay the debt first, so they coexist only after the set-based
    sale path read "no debt" just before another transaction made one; the
    expiry job settles them first, so that it never expires points that
    paid a debt.
    """
    debt = _debt(tx, account)
    if debt >= 0:
        return
    since = pending_since(at, _programme.current(tx).hold_days) or at
    rows = tx.all("SELECT lot_id, remaining FROM point_lots WHERE account = ? AND lot_id <> ? "
                  "AND remaining > 0 ORDER BY CASE WHEN pending = 1 AND earned_at > ? THEN 1 "
                  "ELSE 0 END, earned_at, lot_id", (account, DEBT, since))
    left = _take(tx, account, rows, -debt)
    if -debt - left:
        _add_debt(tx, account, -debt - left, at)


def follow(tx: Tx, account: str, entry_id: str, kind: str, points: int, at: str,
           txn_id: str | None) -> None:
    """Move the account's lots as the journal entry ``entry_id`` moved its balance."""
    if points > 0:
        credit(tx, account, entry_id, points, at, kind == "accrual", txn_id)
    elif points < 0:
        own = None
        if kind == "return_reversal" and txn_id is not None:
            row = tx.one("SELECT original_txn_id FROM sales WHERE account = ? AND txn_id = ?",
                         (account, txn_id))
            own = str(row[0]) if row and row[0] is not None else None
        elif kind == "audit_correction":
            own = txn_id  # the sale's own welcome/birthday points taken back
        debit(tx, account, -points, at, own_txn=own, pending_first=kind == "return_reversal")


def credit_many(tx: Tx, rows: Sequence[tuple[str, str, int, str, str | None]]) -> None:
    """Open accrual lots ``(account, lot_id, points, at, txn_id)`` of accounts without debt
    in one statement (the set-based sale path; ``_sales.after_bulk`` sorts out the rest)."""
    tx.insert_many("point_lots", _COLUMNS, [(a, lot, at, p, p, 1, txn)
                                            for a, lot, p, at, txn in rows])


def indebted(tx: Tx, accounts: list[str]) -> set[str]:
    """Which of ``accounts`` have a debt lot."""
    from ._bulk import select_in

    return {str(r[0]) for r in select_in(
        tx, "SELECT account FROM point_lots WHERE lot_id = 'debt' AND remaining < 0 AND "
        "account IN ({})", (), sorted(set(accounts)))}


def pending(tx: Tx, account: str, now: str) -> int:
    """Points of ``account`` still pending at ``now``."""
    since = pending_since(now, _programme.current(tx).hold_days)
    if since is None:
        return 0
    row = tx.one("SELECT COALESCE(SUM(remaining), 0) FROM point_lots WHERE account = ? AND "
                 "pending = 1 AND remaining > 0 AND earned_at > ?", (account, since))
    return int(row[0]) if row else 0


def pending_of(tx: Tx, accounts: list[str], now: str) -> dict[str, int]:
    """``pending`` of many accounts (one read per chunk)."""
    from ._bulk import select_in

    since = pending_since(now, _programme.current(tx).hold_days)
    if since is None or not accounts:
        return {}
    return {str(r[0]): int(r[1]) for r in select_in(
        tx, "SELECT account, SUM(remaining) FROM point_lots WHERE pending = 1 AND "
        "remaining > 0 AND earned_at > ? AND account IN ({}) GROUP BY account", (since,),
        sorted(set(accounts)))}


def available_from(tx: Tx, account: str, now: str) -> str | None:
    """When the account's oldest pending lot becomes spendable (None: nothing pending)."""
    life = _programme.current(tx)
    since = pending_since(now, life.hold_days)
    if since is None:
        return None
    row = tx.one("SELECT MIN(earned_at) FROM point_lots WHERE account = ? AND pending = 1 "
                 "AND remaining > 0 AND earned_at > ?", (account, since))
    if row is None or row[0] is None:
        return None
    return utc_text(parse_utc_text(str(row[0])) + timedelta(days=life.hold_days))


def spendable(tx: Tx, account: str, balance: int, now: str) -> int:
    """What a till may spend before holds: the balance minus its pending points."""
    return balance - pending(tx, account, now)


@dataclass(frozen=True)
class Lot:
    """One lot as the statement shows it."""

    lot_id: str
    earned_at: str
    points: int
    remaining: int
    #: when it becomes spendable (None: it is, or never was pending)
    pending_until: str | None
    #: when it expires (None: never)
    expires_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"lot_id": self.lot_id, "earned_at": self.earned_at, "points": self.points,
                "remaining": self.remaining, "pending_until": self.pending_until,
                "expires_at": self.expires_at}


def open_lots(tx: Tx, account: str, now: str, limit: int = 100) -> list[Lot]:
    """The account's lots with points left, oldest first (the debt lot included)."""
    life = _programme.current(tx)
    out = []
    for lot_id, earned, points, remaining, is_pending in tx.all(
            "SELECT lot_id, earned_at, points, remaining, pending FROM point_lots WHERE "
            "account = ? AND remaining <> 0 ORDER BY earned_at, lot_id LIMIT ?",
            (account, limit)):
        start = parse_utc_text(str(earned))
        until = (utc_text(start + timedelta(days=life.hold_days))
                 if is_pending and life.hold_days and lot_id != DEBT else None)
        expires = (utc_text(start + timedelta(days=life.expiry_days))
                   if life.expiry_days and lot_id != DEBT else None)
        out.append(Lot(str(lot_id), str(earned), int(points), int(remaining),
                       until if until is not None and until > now else None, expires))
    return out


def changed_since(tx: Tx, since: str, now: str) -> set[str]:
    """Accounts whose spendable balance or tier changed in ``(since, now]`` without a journal
    entry: a lot that stopped being pending, a tier change (for the store caches)."""
    out = {str(r[0]) for r in tx.all("SELECT DISTINCT account FROM tier_changes WHERE "
                                     "changed_at > ?", (since,))}
    hold = _programme.current(tx).hold_days
    if hold and since:
        start, end = pending_since(since, hold), pending_since(now, hold)
        out |= {str(r[0]) for r in tx.all(
            "SELECT DISTINCT account FROM point_lots WHERE pending = 1 AND remaining > 0 AND "
            "earned_at > ? AND earned_at <= ?", (start, end))}
    return out


def outstanding(tx: Tx, now: str) -> dict[str, int]:
    """The programme's points outstanding now, split available / pending (the return window)."""
    since = pending_since(now, _programme.current(tx).hold_days)
    total = tx.one("SELECT COALESCE(SUM(points), 0) FROM accounts")
    pending = tx.one("SELECT COALESCE(SUM(remaining), 0) FROM point_lots WHERE pending = 1 "
                     "AND remaining > 0 AND earned_at > ?", (since,)) if since else None
    waiting = int(pending[0]) if pending else 0
    return {"available": (int(total[0]) if total else 0) - waiting, "pending": waiting}


def mismatches(tx: Tx) -> list[tuple[str, int, int]]:
    """Accounts whose lots do not add up to their balance: (account, balance, lots)."""
    rows = tx.all(
        "SELECT a.account, a.points, COALESCE(SUM(l.remaining), 0) FROM accounts a "
        "LEFT JOIN point_lots l ON l.account = a.account GROUP BY a.account, a.points "
        "HAVING a.points <> COALESCE(SUM(l.remaining), 0) ORDER BY a.account")
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]
