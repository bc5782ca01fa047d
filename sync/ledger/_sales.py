"""What an accepted sale does to the ledger: the rules, written once.

Two paths apply sales (``_ingest``): one by one under the account's lock
(redemptions, holds, a batch that raced) and set-based for a batch's plain
accruals (``_bulk``). They differ only in how they batch their reads and
writes; both take from here the sale's outcome, its welcome/birthday
corrections, its journal entries, its ``sales`` and ``audit_queue`` rows and
what it changes on the account, and (``after_sale``, ``after_bulk``,
``after_return``) its points lots and rolling spend, the tier it may raise
(docs/programme-life.md).
"""
from __future__ import annotations

import json
from typing import Any

from . import _lots, _programme, _tiers
from ._storage import Tx
from ._txn import Txn

#: a sale's ``audit`` in the answer: re-priced after the acknowledgement (see ``_auditor``)
AUDIT_QUEUED = "queued"
#: the ``sales`` columns, in the order of ``sale_row``
SALE_COLUMNS = ("account", "txn_id", "till", "store", "seq", "kind", "at", "mode", "hold_id",
                "bundle_version", "original_txn_id", "hash", "body", "outcome", "received_at")
#: the ``audit_queue`` columns, in the order of ``audit_row``
AUDIT_COLUMNS = ("account", "txn_id", "till", "store", "bundle_version", "queued_at")

Correction = tuple[str, int, str]  # (welcome | birthday, points taken back, note)


def outcome(txn: Txn, account: str, member: bool, now: str) -> dict[str, Any]:
    """The accepted sale's answer: a member accrues and redeems, an anonymous sale neither."""
    accrued = txn.points if member else 0
    redeemed = txn.redeemed_points if member else 0
    return {"status": "accepted", "accepted_at": now, "account": account,
            "journal": {"accrual": accrued, "redemption": -redeemed}, "audit": AUDIT_QUEUED}


def bonus_corrections(txn: Txn, state: list[Any]) -> list[Correction]:
    """Welcome points once per account, birthday points once per account and year.

    ``state`` is the account's ``[sales applied, birthday_bonus_year]`` as
    the ledger records it, updated here for the next sale of the batch. A
    claim the record says was already used is taken back by an
    ``audit_correction`` (the customer keeps the receipt's figure until the
    statement shows the correction).
    """
    out = []
    year = int(txn.at[:4])
    if txn.welcome and state[0] > 0:
        out.append(("welcome", -txn.welcome, "welcome points: not the account's first purchase"))
    if txn.birthday and state[1] is not None and int(state[1]) == year:
        out.append(("birthday", -txn.birthday, f"birthday points: already given in {year}"))
    state[0] += 1
    if txn.birthday and not birthday_taken_back(out):
        state[1] = year
    return out


def birthday_taken_back(corrections: list[Correction]) -> bool:
    """True when the sale's birthday points were refused (given already this year)."""
    return any(c[0] == "birthday" for c in corrections)


def correct(answer: dict[str, Any], corrections: list[Correction]) -> None:
    """Show the corrections in the sale's answer (journal total and what was taken back)."""
    if corrections:
        answer["journal"]["audit_correction"] = sum(c[1] for c in corrections)
        answer["corrected"] = {c[0]: -c[1] for c in corrections}


def journal_entries(txn: Txn, answer: dict[str, Any], corrections: list[Correction]
                    ) -> list[tuple[str, str, int, str | None]]:
    """A member's sale's journal entries ``(entry_id, kind, points, note)``, in order."""
    journal = answer["journal"]
    out: list[tuple[str, str, int, str | None]] = []
    if journal["accrual"]:
        out.append((f"{txn.txn_id}:accrual", "accrual", journal["accrual"], None))
    if journal["redemption"]:
        out.append((f"{txn.txn_id}:redemption", "redemption", journal["redemption"], None))
    for name, points, note in corrections:
        out.append((f"{txn.txn_id}:audit_correction:{name}", "audit_correction", points, note))
    return out


def outcome_text(answer: dict[str, Any]) -> str:
    """The answer as stored (and sent again to a resend)."""
    return json.dumps(answer, separators=(",", ":"))


def sale_row(txn: Txn, account: str, text: str, now: str) -> tuple[Any, ...]:
    """The ``sales`` row (``SALE_COLUMNS``) of an accepted TXN; ``text``: its stored outcome."""
    return (account, txn.txn_id, txn.till, txn.store, txn.seq, txn.kind, txn.at,
            txn.raw.get("mode"), txn.hold_id, txn.bundle_version, txn.original_txn_id, txn.hash,
            txn.canonical, text, now)


def audit_row(txn: Txn, account: str, now: str) -> tuple[Any, ...]:
    """The ``audit_queue`` row (``AUDIT_COLUMNS``) re-pricing a sale after the answer."""
    return (account, txn.txn_id, txn.till, txn.store, txn.bundle_version, now)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def paid(txn: Txn) -> int:
    """What the customer paid in money for goods (``totals.paid`` less the face values of
    the gift certificates it sold, kopecks): its spend.

    A certificate bought is money changing form, not spend: it counts when it pays for
    goods (that sale's ``totals.paid`` is unchanged by the tender), never twice, and a
    gift bought for someone else does not lift the buyer's tier (docs/programme-life.md).
    """
    totals = (txn.raw.get("result") or {}).get("totals") or {}
    value = _int(totals.get("paid")) if isinstance(totals, dict) else 0
    certs = txn.raw.get("certificates")
    sold = certs.get("sold") if isinstance(certs, dict) else None
    faces = sum(_int(s.get("face")) for s in sold if isinstance(s, dict)) if isinstance(
        sold, list) else 0
    return max(0, value - faces)


def after_sale(tx: Tx, txn: Txn, account: str, now: str) -> None:
    """A member's sale, applied one by one: its spend, and the tier it may raise.

    (Its lots moved with its journal entries, in ``_journal.post``.)
    """
    _tiers.record_spend(tx, account, txn.txn_id, paid(txn), now)
    _tiers.after_sale(tx, account, txn.txn_id, now)


def after_return(tx: Tx, account: str, txn_id: str, refund: int, now: str) -> None:
    """A member's return lowers the rolling spend (never the tier: that waits for review)."""
    _tiers.record_spend(tx, account, txn_id, -refund, now)


def after_bulk(tx: Tx, plans: list[Any], journal_rows: list[tuple[Any, ...]], now: str) -> None:
    """The set-based path's members' sales: their lots, spend and tiers.

    ``journal_rows`` (as inserted: account, entry_id, kind, points, txn_id,
    note, at) are the accruals and the welcome/birthday corrections of
    ``plans`` (no redemption takes this path). A sale's lot is its net
    points, opened in one statement for the batch; an account in debt goes
    entry by entry through ``_lots.follow`` (which pays the debt first).
    """
    members = [(p, paid(p.res.txn)) for p in plans if p.member]
    if not members:
        return
    tx.insert_many("spend", ("account", "txn_id", "at", "amount"),
                   [(p.account, p.res.txn.txn_id, now, amount) for p, amount in members
                    if amount])
    debtors = _lots.indebted(tx, [p.account for p, _ in members])
    net: dict[tuple[str, str], int] = {}
    for row in journal_rows:
        account, entry_id, kind, points, txn_id = row[0], row[1], row[2], row[3], row[4]
        if account in debtors:
            _lots.follow(tx, account, entry_id, kind, points, now, txn_id)
        else:
            net[(account, txn_id)] = net.get((account, txn_id), 0) + points
    lots = []
    for (account, txn_id), points in net.items():
        if points > 0:
            lots.append((account, f"{txn_id}:accrual", points, now, txn_id))
        elif points < 0:  # cannot happen (bonus <= points), but never lose a point
            _lots.debit(tx, account, -points, now)
    _lots.credit_many(tx, lots)
    life = _programme.current(tx)
    if life.tiered:
        by_account: dict[str, list[tuple[str, int]]] = {}
        for p, amount in members:
            by_account.setdefault(p.account, []).append((p.res.txn.txn_id, amount))
        for account, sales in sorted(by_account.items()):
            _tiers.after_batch(tx, account, sales, now, life)
