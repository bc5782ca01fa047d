"""The append-only points journal and the balance it materialises.

Every change to an account's points is one journal row plus the same
amount added to ``accounts.points`` in the same transaction; nothing ever
updates or deletes a journal row. ``check`` proves the invariant
balance == sum(journal) for every account. Entry ids are deterministic
(``<txn_id>:accrual``), so re-applying the same fact is refused by the
primary key instead of being counted twice. The account's points lots
(``_lots``: pending, available, expiring) move with every entry, so
``check`` also proves sum(lots) == balance.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastcore import MAX_INT

from . import _lots
from ._errors import BalanceOutOfBounds
from ._storage import Tx

KINDS = ("accrual", "redemption", "return_reversal", "adjustment", "expiry", "audit_correction",
         "merge")


def _out_of_bounds(account: str, points: int) -> BalanceOutOfBounds:
    return BalanceOutOfBounds("out_of_bounds", f"{points:+d} points would take the balance of "
                              f"{account} outside ±(2^53 − 1)", "points")


def post(tx: Tx, account: str, entry_id: str, kind: str, points: int, at: str,
         txn_id: str | None = None, note: str | None = None, *, lots: bool = True) -> bool:
    """Append one entry and move the balance and lots; False if the entry already exists.

    ``lots=False``: the caller moves the lots itself (the expiry job empties
    the very lots it expires).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown journal kind {kind!r}")
    if not -MAX_INT <= points <= MAX_INT:
        raise _out_of_bounds(account, points)
    added = tx.execute(
        "INSERT INTO journal (account, entry_id, kind, points, txn_id, note, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (account, entry_id, kind, points, txn_id, note, at),
    )
    if added != 1:
        return False
    # The bound is checked without computing ``points + ?`` (which could overflow a
    # BIGINT on PostgreSQL or turn into a REAL on SQLite); the caller's savepoint
    # drops the journal row above when this refuses.
    moved = tx.execute("UPDATE accounts SET points = points + ? WHERE account = ? AND "
                       "? BETWEEN ? - points AND ? - points",
                       (points, account, points, -MAX_INT, MAX_INT))
    if moved != 1 and tx.one("SELECT 1 FROM accounts WHERE account = ?", (account,)):
        raise _out_of_bounds(account, points)
    if lots and moved == 1:
        _lots.follow(tx, account, entry_id, kind, points, at, txn_id)
    return True


def ensure_account(tx: Tx, account: str, at: str) -> bool:
    """Create the account with a zero balance if missing; True if created."""
    return tx.execute(
        "INSERT INTO accounts (account, points, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
        (account, at),
    ) == 1


@dataclass(frozen=True)
class Mismatch:
    """An account whose materialised balance differs from its journal sum (or its lots')."""

    account: str
    balance: int | None
    journal: int
    #: what disagrees with the balance: ``journal`` or ``lots``
    source: str = "journal"


def check(tx: Tx) -> list[Mismatch]:
    """Every account whose balance != sum of its journal or of its lots (empty = consistent)."""
    rows = tx.all(
        "SELECT a.account, a.points, COALESCE(SUM(j.points), 0) FROM accounts a "
        "LEFT JOIN journal j ON j.account = a.account GROUP BY a.account, a.points "
        "HAVING a.points <> COALESCE(SUM(j.points), 0) ORDER BY a.account"
    )
    out = [Mismatch(str(r[0]), int(r[1]), int(r[2])) for r in rows]
    orphans = tx.all(
        "SELECT j.account, SUM(j.points) FROM journal j LEFT JOIN accounts a "
        "ON a.account = j.account WHERE a.account IS NULL GROUP BY j.account ORDER BY j.account"
    )
    out.extend(Mismatch(str(r[0]), None, int(r[1])) for r in orphans)
    out.extend(Mismatch(a, b, lots, "lots") for a, b, lots in _lots.mismatches(tx))
    return out
