"""Holds for online redemption (spec/sync.md, "Holds").

A hold reserves points of an account for one sale (``txn_id``) for a
limited time. ``available = balance - pending - active unexpired holds``
(pending: points earned within ``program.hold_days``, see ``_lots``); a hold
above it is refused, ``insufficient_balance`` (the till's contract) with
``pending`` and ``available_from`` when pending points are what is missing. The uploaded sale consumes its hold; an unused hold lapses at
``expires_at`` by the ledger's clock (it simply stops counting, and its
state is set to ``expired`` the next time the account is touched). Holds
never write the journal: the sale's redemption does.

The hold id carries its account (``<uuid>.<base64url(account)>``) so that a
release is routed to the account's shard without a look-up.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastcore import b64url_decode, b64url_encode

from . import _lots
from ._clock import utc_text
from ._errors import RequestError
from ._storage import Storage, Tx

DEFAULT_TTL = timedelta(minutes=15)


def make_hold_id(account: str) -> str:
    """A new hold id routed by ``account``."""
    return uuid.uuid4().hex + "." + b64url_encode(account.encode("utf-8"))


def account_of(hold_id: str) -> str | None:
    """The account encoded in ``hold_id``, or None if it is not a hold id."""
    head, _, tail = hold_id.partition(".")
    if len(head) != 32 or not tail:
        return None
    raw = b64url_decode(tail)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def expire(tx: Tx, account: str, now_text: str) -> None:
    """Mark the account's lapsed holds ``expired``."""
    tx.execute("UPDATE holds SET state = 'expired', closed_at = expires_at WHERE account = ? "
               "AND state = 'active' AND expires_at <= ?", (account, now_text))


def held(tx: Tx, account: str, now_text: str, *, excluding: str | None = None) -> int:
    """Points held by active, unexpired holds of the account."""
    row = tx.one("SELECT COALESCE(SUM(points), 0) FROM holds WHERE account = ? AND "
                 "state = 'active' AND expires_at > ? AND hold_id <> ?",
                 (account, now_text, excluding or ""))
    return int(row[0]) if row else 0


def available(tx: Tx, account: str, now_text: str) -> int:
    """Balance minus pending points minus active holds (negative after an overdraft)."""
    row = tx.one("SELECT points FROM accounts WHERE account = ?", (account,))
    if row is None:
        return 0
    return _lots.spendable(tx, account, int(row[0]), now_text) - held(tx, account, now_text)


def place(storage: Storage, till: str, store: str, account: str, points: int, txn_id: str,
          now: datetime, ttl: timedelta = DEFAULT_TTL) -> dict[str, object]:
    """Place (or, for the same ``txn_id``, resize) a hold; 409 above the balance."""
    now_text = utc_text(now)
    expires = now + ttl
    with storage.transaction() as tx:
        row = tx.one("SELECT points FROM accounts WHERE account = ?" + storage.for_update,
                     (account,))
        if row is None:
            raise RequestError("unknown_account", f"no account {account}", "account")
        expire(tx, account, now_text)
        same = tx.one("SELECT hold_id, state, till FROM holds WHERE account = ? AND txn_id = ?",
                      (account, txn_id))
        if same is not None and same[1] != "active":
            raise RequestError("hold_closed", f"the hold for this sale is {same[1]}", "txn_id")
        if same is not None and same[2] != till:
            raise RequestError("forbidden", "that sale's hold belongs to another till",
                               "txn_id")
        pending = _lots.pending(tx, account, now_text)
        avail = int(row[0]) - pending - held(tx, account, now_text,
                                             excluding=same[0] if same else None)
        if points > avail:
            if pending and points <= avail + pending:
                soon = _lots.available_from(tx, account, now_text)
                raise RequestError("insufficient_balance",
                                   f"{points} points requested, {max(avail, 0)} available: "
                                   f"{pending} more are pending (the return window) and "
                                   f"become available from {soon}", "points",
                                   available=max(avail, 0), pending=pending, available_from=soon)
            raise RequestError("insufficient_balance",
                               f"{points} points requested, {max(avail, 0)} available",
                               "points", available=max(avail, 0))
        if same is not None:
            hold_id = str(same[0])
            tx.execute("UPDATE holds SET points = ?, expires_at = ? WHERE account = ? AND "
                       "hold_id = ?", (points, utc_text(expires), account, hold_id))
        else:
            hold_id = make_hold_id(account)
            tx.execute("INSERT INTO holds (account, hold_id, txn_id, points, till, store, state, "
                       "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                       (account, hold_id, txn_id, points, till, store, now_text,
                        utc_text(expires)))
    return {"hold_id": hold_id, "points": points,
            "expires_at": expires.isoformat(timespec="seconds").replace("+00:00", "Z")}


def release(storage: Storage, till: str, hold_id: str, now: datetime) -> None:
    """Release a hold placed by ``till``; releasing twice is fine, a consumed one is 409."""
    account = account_of(hold_id)
    if account is None:
        raise RequestError("unknown_hold", "no such hold", "hold_id")
    now_text = utc_text(now)
    with storage.transaction() as tx:
        expire(tx, account, now_text)
        release_row(tx, "holds", "account", account, hold_id, till, now_text)


def release_row(tx: Tx, table: str, key: str, value: str, hold_id: str, till: str,
                now_text: str) -> None:
    """The rule of giving any hold back (points or a certificate's), in one place.

    Releasing twice is fine; a hold its sale consumed is 409; another till's is 403.
    ``table``/``key`` are the callers' constants (``holds``/``account``,
    ``certificate_holds``/``cert_id``), never input.
    """
    row = tx.one(f"SELECT till, state FROM {table} WHERE {key} = ? AND hold_id = ?",
                 (value, hold_id))
    if row is None:
        raise RequestError("unknown_hold", "no such hold", "hold_id")
    if row[0] != till:
        raise RequestError("forbidden", "the hold belongs to another till", "hold_id")
    if row[1] == "consumed":
        raise RequestError("hold_consumed", "the sale already used this hold", "hold_id")
    if row[1] == "active":
        tx.execute(f"UPDATE {table} SET state = 'released', closed_at = ? WHERE {key} = ? "
                   "AND hold_id = ?", (now_text, value, hold_id))


def of_sale(tx: Tx, account: str, till: str, txn_id: str, hold_id: str | None
            ) -> tuple[str, int] | None:
    """The open hold a sale may use: ``(hold_id, points)`` or None.

    Only a hold placed by the sale's own till on the sale's account counts,
    found by the sale's ``txn_id`` (even when the sale does not name it: the
    answer to the hold may have been lost) or by the ``hold_id`` it names.
    A lapsed hold still counts for the sale it was placed for: the
    redemption happened at the till while it was valid.
    """
    rows = tx.all("SELECT hold_id, points FROM holds WHERE account = ? AND till = ? AND "
                  "state IN ('active', 'expired') AND (txn_id = ? OR hold_id = ?) "
                  "ORDER BY hold_id", (account, till, txn_id, hold_id or ""))
    if not rows:
        return None
    return str(rows[0][0]), sum(int(r[1]) for r in rows)


def close_for_sale(tx: Tx, account: str, till: str, txn_id: str, hold_id: str | None,
                   now_text: str) -> int:
    """The uploaded sale turns its till's holds for it into a redemption; how many."""
    return tx.execute("UPDATE holds SET state = 'consumed', closed_at = ? WHERE account = ? "
                      "AND till = ? AND state IN ('active', 'expired') AND "
                      "(txn_id = ? OR hold_id = ?)",
                      (now_text, account, till, txn_id, hold_id or ""))
