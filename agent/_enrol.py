"""Enrolling a new card at the till (docs/enrolment.md).

A card of the programme's ranges that neither the ledger nor the store's
customer cache knows is refused ``unknown_card`` with ``enrol: true``: the
cashier may enrol it. Enrolment, with the sale open:

- online (the ledger answers within the hold budget): ``POST
  /v1/enrolments`` makes the card a member at once and the sale uses the
  ledger's account;
- offline (``program.enrolment = "offline"``, the default): the till names
  the card's account itself (``sync.provisional_account``: derived from the
  card, so two tills name the same one), and commits an ``enrol`` TXN to
  the outbox in the same SQLite transaction as its ``agent_enrolment`` row.
  The TXN takes the next seq, so it precedes the card's first sale; the
  ledger confirms the account or merges it into the card's existing one.

Either way the new member's first purchase earns the programme's
``welcome_points`` (the engine's first-purchase bonus), once per card: the
ledger takes back a second one. An app registration QR (``kopilka-reg+jwt``,
``_regcode``) scanned before the card links the enrolment to the app's
pending sign-up.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import fastcore
from fastcore import ean13_valid, mask_card
from sync import provisional_account

from ._errors import CodeRefused, LedgerUnavailable, RequestRefused, SessionError
from ._part import TillPart
from ._regcode import Registration, verify_registration
from ._session import Session
from ._token import Card, _strip_line_ending

log = logging.getLogger(__name__)


def enrollable_card(code: Any, prefixes: tuple[str, ...]) -> str:
    """``code`` as a card number this programme may enrol, or ``CodeRefused``.

    ``bad_check_digit`` before anything else (till.md §1); a number outside
    ``program.card_prefixes`` is ``wrong_card_prefix`` (it may be a
    partner's card or an item: never enrolled).
    """
    if not isinstance(code, str):
        raise RequestRefused("bad_request", "card must be text", field="card")
    code = _strip_line_ending(code)
    if not (len(code) == 13 and code.isascii() and code.isdigit()):
        raise CodeRefused("not_a_card", "a loyalty card number has exactly 13 digits", "card",
                          code=code[:64])
    if not ean13_valid(code):
        raise CodeRefused("bad_check_digit", "the check digit is wrong: scan the card again",
                          "card", code=code)
    if code[:2] not in prefixes:
        raise CodeRefused("wrong_card_prefix", f"not one of this programme's cards (they start "
                          f"with {', '.join(prefixes)})", "card", code=code)
    return str(code)


class Enrolments(TillPart):
    """The cards this till enrols, online or offline."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        ctx.outbox.add_answer_listener(self.learn)

    def learn(self, outcome: Mapping[str, Any]) -> None:
        """The ledger's answer to an enrol TXN names the card's account (confirmed, or the
        one it was merged into): later sales of this till use it (docs/enrolment.md)."""
        account, txn_id = outcome.get("account"), outcome.get("txn_id")
        if outcome.get("enrolment") is None or not isinstance(account, str) or not isinstance(txn_id, str):
            return
        with self.ctx.db.transaction(durable=False) as conn:
            changed = conn.execute("UPDATE agent_enrolment SET account = ? WHERE txn_id = ? AND account <> ?",
                                   (account, txn_id, account)).rowcount
        if changed:
            log.info("enrolment %s: the ledger merged the card into account %s", txn_id, account)

    def enrolled(self, card: str) -> dict[str, Any] | None:
        """The enrolment of ``card`` at this till, as a customer cache entry would be."""
        with self.ctx.db.lock:
            row = self.ctx.db.conn.execute(
                "SELECT account FROM agent_enrolment WHERE card = ?", (card,)).fetchone()
        if row is None:
            return None
        # A new member: no tier, nothing known yet; the first sale earns the welcome
        # bonus, unless this till sold to the card already (under the account the
        # ledger has named since, or the provisional one).
        first = not self.ctx.redemption.sold_to(provisional_account(card))
        return {"account": str(row[0]), "first_purchase": first, "balance": 0}

    def may_enrol(self, card: str) -> bool:
        """Whether the cashier may be offered to enrol this (unknown) card."""
        cat = self.ctx.catalog
        return cat.enrolment != "off" and card[:2] in cat.card_prefixes

    def registration(self, sid: str, code: Any) -> Session:
        """An app registration QR scanned into the open sale: the next card enrolled
        in this sale is linked to it. Forged, expired, replayed codes are refused."""
        if not isinstance(code, str):
            raise RequestRefused("bad_request", "code must be text", field="code")
        reg = verify_registration(code, self.ctx.catalog.keys, now=self.ctx.clock(),
                                  program=self.ctx.program, used_jti=self.ctx.redemption.used_jti)
        with self.ctx.lock:
            self.ctx.book.get(sid).require_open("registration")
            self.ctx.events.publish("registration_scanned", session_id=sid)
            return self.ctx.book.edit(sid, "registration",
                                      lambda s: setattr(s, "registration", reg.to_json()))

    def enrol(self, sid: str, card: Any) -> Session:
        """Enrol ``card`` for the open sale and identify its customer with it."""
        with self.ctx.lock:
            s = self.ctx.book.get(sid)
            s.require_open("enrol")
            card = enrollable_card(card, self.ctx.catalog.card_prefixes)
            mode = self.ctx.catalog.enrolment
            if mode == "off":
                raise SessionError("enrolment_off", "this programme does not enrol cards at the till")
            reg = Registration.from_json(s.registration) if s.registration else None
            try:  # a member already (or enrolled here before): identify, enrol nothing
                customer = self.ctx.redemption.customer_for(Card(card))
            except SessionError as exc:
                if exc.reason != "unknown_card":
                    raise
            else:
                return self.ctx.book.edit(sid, "identified",
                                          lambda s: self.ctx.redemption.set_customer(s, customer))
            if not self._online(card, reg):
                if mode != "offline":
                    raise SessionError("ledger_unavailable", "the ledger does not answer and this "
                                       "programme enrols cards online only: sell without the card")
                self._offline(card, reg)
            customer = self.ctx.redemption.customer_for(Card(card))
            customer["enrolled"] = True
            self.ctx.events.publish("enrolled", session_id=sid, card=mask_card(card),
                                    mode=customer["mode"])

            def apply(s: Session) -> None:
                self.ctx.redemption.set_customer(s, customer)
                s.registration = None

            return self.ctx.book.edit(sid, "enrolled", apply)

    def _online(self, card: str, reg: Registration | None) -> bool:
        """Enrol on the ledger now; False when it does not answer (enrol offline)."""
        enrol = getattr(self.ctx.ledger, "enrol", None)
        if enrol is None:
            return False
        try:
            answer = enrol(card, reg.id if reg else None, self.ctx.hold_budget_s)
        except LedgerUnavailable as exc:
            log.info("enrolment of %s: ledger unavailable (%s), offline", mask_card(card), exc.reason)
            return False
        extra = [] if reg is None else [("INSERT INTO agent_jti (jti, txn_id, at_epoch) VALUES (?, ?, ?)",
                                         (reg.jti, f"enrol:{card}", self.ctx.clock()))]
        self._record(card, str(answer["account"]), "online", reg, None, extra=extra)
        log.info("card %s enrolled online: account %s", mask_card(card), answer["account"])
        return True

    def _offline(self, card: str, reg: Registration | None) -> None:
        """The provisional account and its ``enrol`` TXN, committed together."""
        account = provisional_account(card)
        txn: dict[str, Any] = {
            "txn_id": str(uuid.uuid4()), "kind": "enrol",
            "at": self.ctx.catalog.local_now(self.ctx.store, self.ctx.clock()),
            "customer": {"card": card, "account": account, "jti": None, "claims": None},
            "mode": "offline", "hold_id": None, "basket": {}, "result": {"lines": []},
            "bundle_version": self.ctx.catalog.version, "engine_version": fastcore.ENGINE_VERSION,
            "original_txn_id": None, "returned": None,
        }
        if reg is not None:
            txn["registration"] = reg.id
        extra: list[tuple[str, Any]] = []
        if reg is not None:  # the registration code is used up with this enrolment
            extra.append(("INSERT INTO agent_jti (jti, txn_id, at_epoch) VALUES (?, ?, ?)",
                          (reg.jti, txn["txn_id"], self.ctx.clock())))
        self._record(card, account, "offline", reg, txn, extra=extra)
        log.info("card %s enrolled offline: provisional account %s", mask_card(card), account)

    def _record(self, card: str, account: str, mode: str, reg: Registration | None,
                txn: dict[str, Any] | None, extra: Any) -> None:
        row = ("INSERT OR REPLACE INTO agent_enrolment (card, account, mode, registration, txn_id, "
               "at_epoch) VALUES (?, ?, ?, ?, ?, ?)",
               (card, account, mode, reg.id if reg else None, txn["txn_id"] if txn else None,
                self.ctx.clock()))
        if txn is not None:
            self.ctx.outbox.append(txn, extra=[row, *extra])
            return
        with self.ctx.db.transaction() as conn:
            conn.execute(*row)
            for sql, params in extra:
                conn.execute(sql, params)

    def rows(self) -> list[dict[str, Any]]:
        """Every card this till enrolled (status screens, tests)."""
        with self.ctx.db.lock:
            rows = self.ctx.db.conn.execute(
                "SELECT card, account, mode, registration, txn_id FROM agent_enrolment ORDER BY at_epoch"
            ).fetchall()
        return [{"card": mask_card(r[0]), "account": r[1], "mode": r[2], "registration": r[3],
                 "txn_id": r[4]} for r in rows]
