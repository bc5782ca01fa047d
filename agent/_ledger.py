"""The ledger port on top of the sync package's ``HoldClient``.

``HoldClient`` already bounds every call by the hold budget; this adapter
turns its outcomes into what the till expects: a customer dict (or None
when the ledger does not know the card), a hold dict, or
``LedgerUnavailable`` / ``InsufficientBalance``.
"""
from __future__ import annotations

from typing import Any

from sync import HoldClient

from ._errors import InsufficientBalance, LedgerUnavailable, SessionError


class HoldClientLedger:
    """``LedgerPort`` over ``sync.HoldClient`` (timeouts are its budget)."""

    def __init__(self, client: HoldClient) -> None:
        self.client = client

    def customer(self, card: str, timeout: float) -> dict[str, Any] | None:
        found = self.client.lookup_card(card)
        if found.kind == "found":
            return dict(found.customer)
        if found.kind == "unknown":
            return None
        raise LedgerUnavailable("offline", found.reason or "offline")

    def hold(self, account: str, points: int, txn_id: str, timeout: float) -> dict[str, Any]:
        out = self.client.place(account, points, txn_id)
        if out.kind == "held":
            return {"hold_id": out.hold_id, "points": out.points, "expires_at": out.expires_at}
        if out.kind == "insufficient":
            raise InsufficientBalance(available=out.available or 0)
        raise LedgerUnavailable("offline", out.reason or "offline")

    def release(self, hold_id: str, timeout: float) -> None:
        if not self.client.release(hold_id):
            raise LedgerUnavailable("offline", "release not confirmed")

    def enrol(self, card: str, registration: str | None, timeout: float) -> dict[str, Any]:
        found = self.client.enrol(card, registration)
        if found.kind == "found":
            return dict(found.customer)
        if found.kind == "unknown":
            raise SessionError(found.reason or "refused", "the ledger refused to enrol this card")
        raise LedgerUnavailable("offline", found.reason or "offline")

    def close(self) -> None:
        self.client.close()
