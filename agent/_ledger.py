"""The ledger port on top of the sync package's ``HoldClient``.

``HoldClient`` already bounds every call by the hold budget; this adapter
turns its outcomes into what the till expects: a customer dict (or None
when the ledger does not know the card), a hold dict, or
``LedgerUnavailable`` / ``InsufficientBalance``.
"""
from __future__ import annotations

from typing import Any

from sync import HoldClient

from fastcore import is_int

from ._errors import InsufficientBalance, LedgerUnavailable, SessionError

#: the ledger's answers to a certificate hold that are the certificate's, not the network's
CERT_REFUSALS = ("unknown_certificate", "certificate_spent", "certificate_expired",
                 "certificate_not_active")


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

    def cert_hold(self, cert_id: str, amount: int, txn_id: str, timeout: float) -> dict[str, Any]:
        """Hold up to ``amount`` of a gift certificate (docs/certificates.md), within the budget.

        The ledger's refusals (unknown, spent, expired) are ``SessionError``
        with its reason; no answer in time is ``LedgerUnavailable``.
        """
        body = {"till": self.client.till, "txn_id": txn_id, "amount": amount}
        resp = self.client.call("POST", f"/v1/certificates/{cert_id}/holds", body)
        if isinstance(resp, str):
            raise LedgerUnavailable("offline", resp)
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if resp.status_code == 201 and isinstance(answer, dict) and is_int(answer.get("amount")):
            return answer
        reason = answer.get("error") if isinstance(answer, dict) else None
        if resp.status_code in (404, 409) and reason in CERT_REFUSALS:
            raise SessionError(str(reason), str(answer.get("detail") or reason) if isinstance(answer, dict) else "")
        raise LedgerUnavailable("offline", str(reason or f"http_{resp.status_code}"))

    def cert_reserve(self, cert_id: str, sku: str, face: int, version: int, txn_id: str,
                     timeout: float) -> str:
        """The signed code of a certificate just sold (pending on the ledger until the sale arrives)."""
        body = {"till": self.client.till, "txn_id": txn_id, "sku": sku, "face": face,
                "bundle_version": version}
        resp = self.client.call("PUT", f"/v1/certificates/{cert_id}", body)
        if isinstance(resp, str) or resp.status_code != 200:
            raise LedgerUnavailable("offline", resp if isinstance(resp, str) else f"http_{resp.status_code}")
        try:
            answer = resp.json()
        except ValueError as exc:
            raise LedgerUnavailable("offline", "bad_answer") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("code"), str):
            raise LedgerUnavailable("offline", "bad_answer")
        return str(answer["code"])

    def cert_release(self, cert_id: str, hold_id: str, timeout: float) -> None:
        """Give a certificate hold back (a cancelled sale); ``LedgerUnavailable`` if not confirmed."""
        resp = self.client.call("DELETE", f"/v1/certificates/{cert_id}/holds/{hold_id}")
        if isinstance(resp, str) or resp.status_code != 200:
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
