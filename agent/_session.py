"""The sale session: a small state machine with guarded, logged transitions.

::

    OPEN ──pay──► COMMITTED ──print ok / reprint queued──► CLOSED
      │
      └─cancel──► CANCELLED

While OPEN the cashier scans, voids, changes quantities, identifies the
customer (any time before payment) and decides the redemption. Every change
is journaled (``agent_session``) so a crash restores the open sale. ``pay``
writes the outbox row and moves the journal to COMMITTED in one SQLite
transaction; the session's ``txn_id`` is fixed at open and unique in the
outbox, so a sale can never be committed twice.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

from ._errors import SessionError

log = logging.getLogger(__name__)


class SessionState(str, enum.Enum):
    """Where a sale is in its life."""

    OPEN = "open"
    COMMITTED = "committed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


#: The only transitions allowed; anything else is a ``SessionError``.
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.OPEN: frozenset({SessionState.COMMITTED, SessionState.CANCELLED}),
    SessionState.COMMITTED: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
    SessionState.CANCELLED: frozenset(),
}


@dataclass
class Session:
    """One sale in progress; ``to_json``/``from_json`` are the journal form."""

    id: str
    txn_id: str
    opened_at: str
    state: SessionState = SessionState.OPEN
    lines: list[dict[str, Any]] = field(default_factory=list)
    customer: dict[str, Any] | None = None
    coupons: list[str] = field(default_factory=list)
    redeem: int | str = 0
    mode: str = "offline"
    hold: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    receipt_id: str | None = None
    seq: int | None = None
    payment: dict[str, Any] | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    #: the cashier's hints of ``result`` (``agent._hints.hint_view``); shown,
    #: never journaled nor sent: they are recomputed with the result
    hints: list[dict[str, Any]] = field(default_factory=list)
    #: gift certificates tendered (``agent._certificates``): id, amount, mode, hold, remaining
    tenders: list[dict[str, Any]] = field(default_factory=list)
    #: an app registration QR scanned for the card to enrol (docs/enrolment.md)
    registration: dict[str, Any] | None = None

    def transition(self, to: SessionState, why: str = "") -> None:
        """Move to ``to`` if the table allows it; log it either way."""
        if to not in TRANSITIONS[self.state]:
            log.warning("session %s: refused %s -> %s (%s)", self.id, self.state.value, to.value, why)
            raise SessionError("bad_state", f"the sale is {self.state.value}; cannot go to {to.value}")
        log.info("session %s: %s -> %s %s", self.id, self.state.value, to.value, why)
        self.state = to

    def require_open(self, action: str) -> None:
        """Guard for basket edits: only an open sale changes."""
        if self.state is not SessionState.OPEN:
            raise SessionError("not_open", f"cannot {action}: the sale is {self.state.value}")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "txn_id": self.txn_id, "opened_at": self.opened_at,
            "state": self.state.value, "lines": self.lines, "customer": self.customer,
            "coupons": self.coupons, "redeem": self.redeem, "mode": self.mode, "hold": self.hold,
            "result": self.result, "receipt_id": self.receipt_id, "seq": self.seq,
            "payment": self.payment, "tenders": self.tenders, "registration": self.registration,
        }

    def journal_json(self) -> dict[str, Any]:
        """The journal form of an open sale: without the priced result,
        which is recomputed on restore (it is most of the bytes)."""
        doc = self.to_json()
        if self.state is SessionState.OPEN:
            doc["result"] = None
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Session":
        return cls(
            id=doc["id"], txn_id=doc["txn_id"], opened_at=doc["opened_at"],
            state=SessionState(doc["state"]), lines=list(doc.get("lines") or []),
            customer=doc.get("customer"), coupons=list(doc.get("coupons") or []),
            redeem=doc.get("redeem", 0), mode=doc.get("mode", "offline"), hold=doc.get("hold"),
            result=doc.get("result"), receipt_id=doc.get("receipt_id"), seq=doc.get("seq"),
            payment=doc.get("payment"), tenders=list(doc.get("tenders") or []), registration=doc.get("registration"),
        )

    def basket(self, store: str) -> dict[str, Any]:
        """The engine's basket (spec/pricing.md §2) for the current state."""
        customer = None
        if self.customer is not None:
            customer = {k: self.customer.get(k) for k in (
                "card", "account", "tier", "segments", "offers", "birthday",
                "birthday_bonus_available", "favorite_category", "favorite_until",
                "first_purchase", "available_points")}
        return {
            "store": store, "at": self.opened_at, "customer": customer,
            "coupons": list(self.coupons),
            "lines": [{"sku": ln["sku"], "qty": ln["qty"]} for ln in self.lines],
            "redeem": self.redeem if customer is not None else 0,
        }

    def public(self) -> dict[str, Any]:
        """What the POS and the cashier screen see (card numbers masked)."""
        from fastcore import mask_card

        doc = self.to_json()
        if self.customer is not None:
            cust = {k: v for k, v in self.customer.items() if k not in ("claims", "card")}
            cust["card"] = mask_card(str(self.customer.get("card", "")))
            doc["customer"] = cust
        doc["hold"] = None if self.hold is None else {"points": self.hold.get("points")}
        doc["registration"] = None if self.registration is None else {"id": self.registration.get("id")}
        return doc
