"""Reading the ledger without SQL (spec/sync.md, "Reading the ledger").

Store IT asks "did this sale reach head office?": transactions by till and
seq range, by ``txn_id``, by receipt id (``<till>/<seq>``, as the till
prints and builds it in ``agent/_returns.py``); head office asks "why is
this balance what it is?": an account's statement, every journal entry
oldest first with its receipt and a running balance, and the raw and
available balances.

Every read is bounded (``MAX_PAGE`` rows) and each query stays on one
distribution key where it can (docs/ledger-distribution.md): a till's range
reads ``till_seqs`` (by till) and then its sales by ``txn_id``; a statement
reads one account's ``journal`` rows.

Who may read what is the HTTP layer's decision (``_app``); these functions
only take an optional ``till`` that narrows a look-up to that till's sales.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastcore import ean13_valid

from . import _expiry, _favourite, _holds, _lots, _tiers
from ._clock import parse_utc_text
from ._errors import RequestError
from ._storage import Row, Tx

MAX_PAGE = 500
DEFAULT_PAGE = 100
_SALE_COLUMNS = ("till, store, seq, txn_id, kind, at, mode, account, received_at, "
                 "original_txn_id, hold_id, outcome, body, hash")


def receipt_id(till: str, seq: int) -> str:
    """The receipt id of a sale: ``<till>/<seq>`` (what agent/_returns.py builds)."""
    return f"{till}/{seq}"


def parse_receipt(receipt: str) -> tuple[str, int]:
    """``(till, seq)`` of a receipt id; 400 ``invalid`` when it is not one."""
    till, sep, seq = receipt.rpartition("/")
    if not sep or not till or not seq.isascii() or not seq.isdigit() or len(seq) > 16:
        raise RequestError("invalid", "a receipt id is <till>/<seq>", "receipt")
    return till, int(seq)


def _sale(row: Row, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "receipt": receipt_id(str(row[0]), int(row[2])), "till": row[0], "store": row[1],
        "seq": int(row[2]), "txn_id": row[3], "kind": row[4], "at": row[5], "mode": row[6],
        "account": row[7], "received_at": row[8], "original_txn_id": row[9],
        "hold_id": row[10], "outcome": json.loads(row[11])}
    if full:  # the TXN as the till sent it (stored without its hash, kept beside)
        out["txn"] = dict(json.loads(row[12]), hash=row[13])
    return out


def by_till(tx: Tx, till: str, first: int, last: int, limit: int) -> dict[str, Any] | None:
    """Applied transactions of ``till`` with ``first <= seq <= last``, at most ``limit``.

    None when no such till is registered.
    """
    state = tx.one("SELECT store, high_water, max_seq FROM till_state WHERE till = ?", (till,))
    if state is None:
        return None
    seqs = tx.all("SELECT seq, txn_id FROM till_seqs WHERE till = ? AND seq >= ? AND seq <= ? "
                  "AND state = 'applied' ORDER BY seq LIMIT ?", (till, first, last, limit + 1))
    more = len(seqs) > limit
    seqs = seqs[:limit]
    rows: list[Row] = []
    ids = [str(r[1]) for r in seqs]
    for i in range(0, len(ids), 100):
        part = ids[i:i + 100]
        rows += tx.all(f"SELECT {_SALE_COLUMNS} FROM sales WHERE till = ? AND txn_id IN ("
                       + ", ".join("?" * len(part)) + ")", [till, *part])
    rows.sort(key=lambda r: int(r[2]))
    return {"till": till, "store": state[0], "high_water": int(state[1]),
            "max_seq": int(state[2]), "from": first, "to": last,
            "transactions": [_sale(r, full=False) for r in rows],
            "next_from": int(seqs[-1][0]) + 1 if more else None}


def by_txn_id(tx: Tx, txn_id: str, till: str | None = None) -> list[dict[str, Any]]:
    """The sales stored under ``txn_id`` (one per till that used it), full bodies."""
    sql = f"SELECT {_SALE_COLUMNS} FROM sales WHERE txn_id = ?"
    params: list[Any] = [txn_id]
    if till is not None:
        sql += " AND till = ?"
        params.append(till)
    return [_sale(r, full=True) for r in tx.all(sql + " ORDER BY till, seq LIMIT ?",
                                                 [*params, MAX_PAGE])]


def by_receipt(tx: Tx, till: str, seq: int) -> dict[str, Any] | None:
    """The sale printed as receipt ``<till>/<seq>``, full body, or None."""
    row = tx.one("SELECT txn_id FROM till_seqs WHERE till = ? AND seq = ? AND state = 'applied'",
                 (till, seq))
    if row is None:
        return None
    found = by_txn_id(tx, str(row[0]), till)
    return found[0] if found else None


def account_of(tx: Tx, card_or_account: str, as_card: bool = True
               ) -> tuple[str, list[str]] | None:
    """``(account, its cards)`` for a card number (when ``as_card``) or an account id."""
    account = card_or_account
    if as_card and ean13_valid(card_or_account):
        row = tx.one("SELECT account FROM cards WHERE card = ?", (card_or_account,))
        if row is not None:
            account = str(row[0])
    if tx.one("SELECT 1 FROM accounts WHERE account = ?", (account,)) is None:
        return None
    cards = [str(r[0]) for r in tx.all("SELECT card FROM cards WHERE account = ? ORDER BY card "
                                       "LIMIT 100", (account,))]
    return account, cards


def balances(tx: Tx, account: str, now_text: str) -> dict[str, Any]:
    """Raw balance, pending points, points held by active holds, and available
    (raw − pending − held; may be < 0)."""
    row = tx.one("SELECT points FROM accounts WHERE account = ?", (account,))
    balance = 0 if row is None else int(row[0])
    held = _holds.held(tx, account, now_text)
    pending = _lots.pending(tx, account, now_text)
    holds = [{"hold_id": r[0], "txn_id": r[1], "points": int(r[2]), "till": r[3],
              "expires_at": r[4]}
             for r in tx.all("SELECT hold_id, txn_id, points, till, expires_at FROM holds "
                             "WHERE account = ? AND state = 'active' AND expires_at > ? "
                             "ORDER BY created_at LIMIT 100", (account, now_text))]
    return {"account": account, "balance": balance, "pending": pending, "held": held,
            "available": balance - pending - held, "holds": holds}


#: a statement's order: the ledger's time; within one instant (a batch's entries share
#: it) the opening balance, then entries of no sale (adjustments), then sales in the
#: till's own order, a sale's debits before its credits (the points a sale earns were
#: not there to spend in it: the lowest balance shown is the one that really was)
ENTRY_ORDER = ("j.at, CASE WHEN j.entry_id = 'opening' THEN 0 ELSE 1 END, "
               "COALESCE(s.till, ''), COALESCE(s.seq, 0), j.points, j.entry_id")
_ENTRIES = ("FROM journal j LEFT JOIN sales s ON s.account = j.account AND s.txn_id = j.txn_id "
            "WHERE j.account = ? ORDER BY " + ENTRY_ORDER)


#: the statement warns of points expiring within this many days
EXPIRY_WARNING_DAYS = 30


def _expiring(tx: Tx, account: str, now_text: str) -> dict[str, Any]:
    """Points a run of the expiry job within ``EXPIRY_WARNING_DAYS`` would remove."""
    by = parse_utc_text(now_text) + timedelta(days=EXPIRY_WARNING_DAYS)
    return {"points": _expiry.due(tx, account, by), "by": by.date().isoformat()}


def statement(tx: Tx, account: str, now_text: str, offset: int, limit: int) -> dict[str, Any]:
    """Journal entries of ``account`` oldest first, each with its receipt and running balance."""
    before = tx.one(f"SELECT COALESCE(SUM(points), 0) FROM (SELECT j.points {_ENTRIES} "
                    "LIMIT ?) AS earlier", (account, offset))
    running = int(before[0]) if before else 0
    total = tx.one("SELECT COUNT(*) FROM journal WHERE account = ?", (account,))
    rows = tx.all(f"SELECT j.entry_id, j.kind, j.points, j.txn_id, j.note, j.at, s.till, s.seq "
                  f"{_ENTRIES} LIMIT ? OFFSET ?", (account, limit, offset))
    entries = []
    for entry_id, kind, points, txn_id, note, at, till, seq in rows:
        running += int(points)
        entries.append({"at": at, "kind": kind, "points": int(points), "balance": running,
                        "txn_id": txn_id,
                        "receipt": receipt_id(str(till), int(seq)) if till is not None else None,
                        "note": note, "entry_id": entry_id})
    count = int(total[0]) if total else 0
    out = balances(tx, account, now_text)
    out.update({"entries": entries, "offset": offset, "total_entries": count,
                "favourite": _favourite.history(tx, account),  # no points: not journal rows
                "tier": _tiers.current(tx, account)[0], "tiers": _tiers.history(tx, account),
                "lots": [lot.to_json() for lot in _lots.open_lots(tx, account, now_text)],
                "expiring": _expiring(tx, account, now_text),
                "next_offset": offset + len(rows) if offset + len(rows) < count else None})
    return out
