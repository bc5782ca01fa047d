"""Tiers computed from each account's rolling spend (issue 12, item 1).

With ``program.tier_rules`` in the newest bundle, an account's tier is the
highest tier whose threshold its *rolling spend* reaches: its net sales (a
member sale's ``totals.paid`` minus what its returns refunded, kopecks, the
``spend`` rows) received within the last ``window_days``.

- **Upgrade at once**: the sale whose spend crosses a threshold raises the
  tier in its own transaction (``after_sale``).
- **Downgrade only at review**: ``review`` (``kopilka ledger tiers review``,
  run by a timer at the end of each review period) lowers a tier whose
  rolling spend at the review date is below its threshold, and only once the
  tier has been held for ``review_days`` (a tier reached just before a review
  is kept until the next one). A return never lowers a tier by itself, and
  the points balance plays no part. A tier from the members file (never
  computed by the ledger) is *adopted* by its first review (held from then
  on) and so reviewed at the next one: a chain that starts tier rules gives
  every imported tier one full review period.

The tier is written on the account (``accounts.tier``/``tier_since``) and on
every card of it (``cards.tier``: tokens and the store customer caches read
it there), and every change is a ``tier_changes`` row (the statement's
``tiers`` section). Before the ledger has computed a tier, the card's tier
from the members file stands.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import _programme
from ._clock import parse_utc_text, utc_text
from ._programme import Settings
from ._storage import Storage, Tx


def record_spend(tx: Tx, account: str, txn_id: str, amount: int, at: str) -> None:
    """One sale's (+paid) or return's (−refund) net spend, once per TXN."""
    if amount:
        tx.execute("INSERT INTO spend (account, txn_id, at, amount) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING", (account, txn_id, at, amount))


def rolling(tx: Tx, account: str, at: str, window_days: int) -> int:
    """Net spend received in ``(at − window_days, at]``."""
    start = utc_text(parse_utc_text(at) - timedelta(days=window_days))
    row = tx.one("SELECT COALESCE(SUM(amount), 0) FROM spend WHERE account = ? AND at > ? "
                 "AND at <= ?", (account, start, at))
    return int(row[0]) if row else 0


def current(tx: Tx, account: str) -> tuple[str | None, str | None]:
    """The account's tier and since when: the ledger's, else its first card's (imported)."""
    row = tx.one("SELECT tier, tier_since FROM accounts WHERE account = ?", (account,))
    if row is not None and row[0] is not None:
        return str(row[0]), None if row[1] is None else str(row[1])
    card = tx.one("SELECT tier FROM cards WHERE account = ? ORDER BY card LIMIT 1", (account,))
    return (None if card is None or card[0] is None else str(card[0])), None


def _set(tx: Tx, account: str, change_id: str, tier: str, previous: str | None,
         reason: str, spend: int, now: str) -> None:
    tx.execute("INSERT INTO tier_changes (account, change_id, changed_at, tier, previous, "
               "reason, spend) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (account, change_id, now, tier, previous, reason, spend))
    tx.execute("UPDATE accounts SET tier = ?, tier_since = ? WHERE account = ?",
               (tier, now, account))
    # the store caches pick the cards up at their next refresh (tier_changes by time)
    tx.execute("UPDATE cards SET tier = ?, updated_at = ? WHERE account = ?",
               (tier, now, account))


def after_sale(tx: Tx, account: str, txn_id: str, now: str,
               life: Settings | None = None) -> str | None:
    """Raise the tier if the sale just received pushed the rolling spend over a threshold;
    the new tier, or None."""
    life = life or _programme.current(tx)
    if not life.tiered:
        return None
    assert life.window_days is not None
    return _raise(tx, account, txn_id, rolling(tx, account, now, life.window_days), now, life)


def _raise(tx: Tx, account: str, txn_id: str, spend: int, now: str,
           life: Settings) -> str | None:
    target = life.tier_for(spend)
    tier, _since = current(tx, account)
    if life.rank(target) <= life.rank(tier):
        return None
    _set(tx, account, f"sale:{txn_id}", target, tier, "upgrade", spend, now)
    return target


def after_batch(tx: Tx, account: str, sales: list[tuple[str, int]], now: str,
                life: Settings) -> None:
    """``after_sale`` for a batch's sales ``(txn_id, paid)`` of one account, in order, their
    spend already recorded: each tier is reached on the very sale that crosses it."""
    if not life.tiered:
        return
    assert life.window_days is not None
    running = rolling(tx, account, now, life.window_days) - sum(p for _, p in sales)
    for txn_id, paid in sales:
        running += paid
        _raise(tx, account, txn_id, running, now, life)


def _candidates(tx: Tx, life: Settings, held_since: str) -> list[str]:
    """Accounts above the default tier that have held it for a review period."""
    names = [t.tier for t in life.thresholds]
    marks = ",".join("?" * len(names))
    rows = tx.all(
        f"SELECT a.account FROM accounts a WHERE (a.tier IN ({marks}) AND a.tier_since <= ?) "
        f"OR (a.tier IS NULL AND EXISTS (SELECT 1 FROM cards c WHERE c.account = a.account "
        f"AND c.tier IN ({marks}))) ORDER BY a.account", (*names, held_since, *names))
    return [str(r[0]) for r in rows]


def review(storage: Storage, at: datetime, now: str) -> dict[str, Any]:
    """Lower the tiers whose rolling spend at ``at`` is below their threshold.

    One transaction per account, its row locked and its tier read again
    under the lock, so two runs at once (two processes) lower each tier once;
    a second run of the same review finds nothing to do.
    """
    at_text = utc_text(at)
    with storage.transaction() as tx:
        life = _programme.current(tx)
        if not life.tiered:
            return {"at": at_text, "reviewed": 0, "lowered": [], "tier_rules": False}
        assert life.window_days is not None and life.review_days is not None
        held_since = utc_text(at - timedelta(days=life.review_days))
        accounts = _candidates(tx, life, held_since)
    lowered = []
    adopted = 0
    for account in accounts:
        with storage.transaction() as tx:
            if tx.one("SELECT account FROM accounts WHERE account = ?" + storage.for_update,
                      (account,)) is None:
                continue
            tier, since = current(tx, account)
            if since is None:  # a tier from the members file: held from now on
                tx.execute("UPDATE accounts SET tier = ?, tier_since = ? WHERE account = ? "
                           "AND tier IS NULL", (tier, now, account))
                adopted += 1
                continue
            if since > held_since:
                continue  # raised (again) since the list was read
            spend = rolling(tx, account, at_text, life.window_days)
            target = life.tier_for(spend)
            if life.rank(target) >= life.rank(tier):
                continue
            _set(tx, account, f"review:{at_text}", target, tier, "review", spend, now)
            lowered.append({"account": account, "from": tier, "to": target, "spend": spend})
    return {"at": at_text, "reviewed": len(accounts), "lowered": lowered, "adopted": adopted,
            "tier_rules": True}


def history(tx: Tx, account: str) -> list[dict[str, Any]]:
    """Every tier change of ``account``, oldest first (the statement's ``tiers`` section)."""
    rows = tx.all("SELECT changed_at, tier, previous, reason, spend, change_id FROM "
                  "tier_changes WHERE account = ? ORDER BY changed_at, reason, spend", (account,))
    return [{"at": r[0], "tier": r[1], "previous": r[2], "reason": r[3], "spend": int(r[4]),
             "change_id": r[5]} for r in rows]
