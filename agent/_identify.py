"""Who the customer is, and what they may spend (spec/token.md, till.md §2).

Identification: a card or an app token verified against the till's keys,
then the ledger asked within the hold budget, else the offline rules (the
token's claims, the store's customer cache). Redemption: the cashier's
decision, secured online by a ledger hold, else within the offline cap.
"""
from __future__ import annotations

import logging
from typing import Any

from sync import cached_customer

from ._errors import InsufficientBalance, LedgerUnavailable, SessionError, TokenError
from ._part import TillPart
from ._session import Session
from fastcore import mask_card

from ._token import NOT_BEFORE_SKEW_S, Card, Token, message_for, offline_redeemable, verify


log = logging.getLogger(__name__)


def _birthday(bd: Any) -> str | None:
    # A token carries MM-DD; the engine wants a date. 2000 is a leap year,
    # so a 29 February birthday survives.
    return f"2000-{bd}" if isinstance(bd, str) and len(bd) == 5 else None


class Redemption(TillPart):
    """Identification and redemption for the sales of one till."""

    def used_jti(self, jti: str) -> bool:
        with self.ctx.db.lock:
            return self.ctx.db.conn.execute("SELECT 1 FROM agent_jti WHERE jti = ?", (jti,)).fetchone() is not None

    def redeemed_unacknowledged(self, account: str, iat: int) -> int:
        """``R`` of token.md's offline rule: every point this till redeemed for
        ``account`` in sales the ledger had not acknowledged before
        ``iat - 120 s`` -- still queued (or rejected, or offered again after a
        ledger restore), or acknowledged at or after that instant. A sale the
        ledger acknowledged earlier is already in the token's ``bal``.

        The acknowledgement time is the outbox's ``acked_at`` (till clock,
        written when the ledger's answer is recorded); the 120 s margin is
        token.md's clock skew allowance.
        """
        before = iat - NOT_BEFORE_SKEW_S
        with self.ctx.db.lock:
            row = self.ctx.db.conn.execute(
                "SELECT COALESCE(SUM(a.redeemed_points), 0) FROM agent_sale a"
                " JOIN outbox o ON o.txn_id = a.txn_id"
                " WHERE a.account = ? AND a.kind = 'sale' AND a.redeemed_points > 0"
                " AND (o.status <> 'acked' OR o.acked_at IS NULL OR o.acked_at >= ?)",
                (account, before),
            ).fetchone()
        return int(row[0])

    def sold_to(self, account: str) -> bool:
        """Whether this till has committed a sale to ``account`` (any mode)."""
        with self.ctx.db.lock:
            row = self.ctx.db.conn.execute(
                "SELECT 1 FROM agent_sale WHERE account = ? AND kind = 'sale' LIMIT 1", (account,)
            ).fetchone()
        return row is not None

    def verify_code(self, code: str) -> Card | Token:
        """spec/token.md against this till's keys, program, clock and jti log."""
        return verify(code, self.ctx.catalog.keys, now=self.ctx.clock(), program=self.ctx.program, used_jti=self.used_jti)

    def online_customer(self, card: str) -> dict[str, Any] | None:
        try:
            return self.ctx.ledger.customer(card, self.ctx.hold_budget_s)
        except LedgerUnavailable as exc:
            log.info("customer %s: ledger unavailable (%s), offline rules", mask_card(card), exc.reason)
            return None

    def identify(self, sid: str, code: str) -> Session:
        """Identify the customer of an open sale by a scanned card or app code."""
        with self.ctx.lock:
            self.ctx.book.get(sid).require_open("identify")
            try:
                ident = self.verify_code(code)
            except TokenError as exc:
                log.warning("identify refused: %s", exc.reason)
                self.ctx.events.publish("identify_refused", session_id=sid, reason=exc.reason,
                                    message=message_for(exc.reason))
                raise
            try:
                customer = self.customer_for(ident)
            except SessionError as exc:
                self.ctx.events.publish("identify_refused", session_id=sid, reason=exc.reason, message=exc.message)
                raise
            return self.ctx.book.edit(sid, "identified", lambda s: self.set_customer(s, customer))

    def customer_for(self, ident: Card | Token) -> dict[str, Any]:
        online = self.online_customer(ident.card)
        if isinstance(ident, Token):
            c = ident.claims
            fav = c.get("fav") or {}
            customer = {
                "card": c["sub"], "account": c["acc"], "tier": c["tier"], "segments": c["seg"],
                "offers": c["ofr"][:8], "birthday": _birthday(c.get("bd")),
                "birthday_bonus_available": c.get("bdok") if c.get("bdok") is not None else True,
                "favorite_category": fav.get("cat"), "favorite_until": fav.get("until"),
                "first_purchase": c["new"], "source": "token", "jti": c["jti"], "claims": c,
                "balance": c["bal"], "iat": c["iat"],
            }
            offline = offline_redeemable(ident, self.redeemed_unacknowledged(c["acc"], c["iat"]))
        else:
            cached = (online or cached_customer(self.ctx.db, ident.card)
                      or self.ctx.catalog.customers.get(ident.card) or self.ctx.enrolments.enrolled(ident.card))
            if cached is None:
                if self.ctx.enrolments.may_enrol(ident.card):  # docs/enrolment.md
                    raise SessionError("unknown_card", "this card is not known yet: enrol it, or sell "
                                       "without the card", enrol=True)
                raise SessionError("unknown_card", "this card is not known at this store; sell without the card")
            customer = {
                "card": ident.card, "account": cached["account"], "tier": cached.get("tier"),
                "segments": cached.get("segments") or [], "offers": cached.get("offers") or [],
                "birthday": cached.get("birthday"),
                "birthday_bonus_available": cached.get("birthday_bonus_available") is not False,
                "favorite_category": cached.get("favorite_category"),
                "favorite_until": cached.get("favorite_until"),
                "first_purchase": bool(cached.get("first_purchase")), "source": "card", "jti": None,
                "claims": None, "balance": int(cached.get("balance") or 0), "iat": None,
            }
            # token.md: a balance below zero identifies; it spends nothing.
            offline = min(max(0, customer["balance"]), self.ctx.catalog.offline_card_redeem_cap)
        customer["offline_points"] = offline
        if customer["first_purchase"] and self.sold_to(customer["account"]):
            # The token's ``new`` (or the cache's flag) predates the sales this
            # till has not uploaded yet: the welcome bonus is given once.
            customer["first_purchase"] = False
        if online is not None:
            customer["balance"] = int(online.get("balance", customer["balance"]))
            customer["available_points"] = max(0, customer["balance"])
            customer["mode"] = "online"
        else:
            customer["available_points"] = offline
            customer["mode"] = "offline"
        return customer

    def set_customer(self, s: Session, customer: dict[str, Any]) -> None:
        if s.hold is not None:
            self.release(s)
        s.customer = customer
        s.mode = customer["mode"]

    def redeem(self, sid: str, points: int | str) -> Session:
        """The cashier's redeem decision: 0, a number of points, or "max"."""
        if not (points == "max" or (isinstance(points, int) and not isinstance(points, bool) and points >= 0)):
            raise SessionError("bad_redeem", 'redeem is "max" or a whole number of points >= 0')
        with self.ctx.lock:
            s = self.ctx.book.get(sid)
            s.require_open("redeem")
            if s.customer is None and points != 0:
                raise SessionError("no_customer", "identify the customer before spending points")
            self.ctx.book.edit(sid, "redeem", lambda s: setattr(s, "redeem", points), publish=False)
            s = self.ctx.book.get(sid)
            self.secure_points(s)
            self.ctx.book.journal(s)
            self.ctx.book.publish(s, "redeem")
            return s

    def points(self, s: Session) -> int:
        return int((s.result or {}).get("redeem", {}).get("points", 0))

    def secure_points(self, s: Session) -> None:
        """Online: hold the points on the ledger; else fall back offline."""
        need = self.points(s)
        if s.customer is None or s.mode != "online":
            return
        if need == 0 or (s.hold is not None and s.hold["points"] >= need):
            return
        if s.hold is not None:
            self.release(s)
        try:
            s.hold = dict(self.ctx.ledger.hold(s.customer["account"], need, s.txn_id, self.ctx.hold_budget_s))
            s.hold.setdefault("points", need)
            log.info("session %s: hold %s for %d points", s.id, s.hold.get("hold_id"), need)
            return
        except InsufficientBalance as exc:
            s.customer["balance"] = exc.available
            s.customer["available_points"] = max(0, exc.available)
            log.info("session %s: ledger has only %d points", s.id, exc.available)
        except LedgerUnavailable as exc:
            log.info("session %s: hold failed (%s), offline redemption", s.id, exc.reason)
            s.mode = s.customer["mode"] = "offline"
            s.customer["available_points"] = s.customer["offline_points"]
        self.ctx.book.reprice(s)
        if s.mode == "online" and self.points(s):
            self.secure_points(s)

    def release(self, s: Session) -> None:
        hold, s.hold = s.hold, None
        if hold and hold.get("hold_id"):
            try:
                self.ctx.ledger.release(hold["hold_id"], self.ctx.hold_budget_s)
            except LedgerUnavailable:
                log.info("hold %s not released now; it expires on the ledger", hold["hold_id"])

