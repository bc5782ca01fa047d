"""What an accepted sale does to the ledger: the rules, written once.

Two paths apply sales (``_ingest``): one by one under the account's lock
(redemptions, holds, a batch that raced) and set-based for a batch's plain
accruals (``_bulk``). They differ only in how they batch their reads and
writes; both take from here the sale's outcome, its welcome/birthday
corrections, its journal entries, its ``sales`` and ``audit_queue`` rows and
what it changes on the account.
"""
from __future__ import annotations

import json
from typing import Any

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
