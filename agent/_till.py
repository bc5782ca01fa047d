"""The till: one sale at a time, from first scan to printed receipt.

Data flows one way: event → session → engine → outbox → printer. Nothing
on this path waits for the network longer than the hold budget; the ledger
is asked only for online identification and holds, and any failure there
falls back to the offline rules of spec/token.md.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import fastcore
from sync import Outbox, TillDb, cached_customer

from . import _store
from ._catalog import Catalog, milli_to_text, normalize_qty, qty_milli
from ._errors import CodeRefused, SessionError, TokenError
from ._events import EventBus
from ._errors import InsufficientBalance, LedgerUnavailable, PrinterFailed
from ._ports import LedgerPort, NoPrinter, OfflineLedger, PrinterPort
from ._receipt import copy_job, sale_job, sold_facts
from ._session import Session, SessionState
from ._token import (NOT_BEFORE_SKEW_S, Card, Token, _strip_line_ending, ean13_check_ok, mask_card, message_for,
                     offline_redeemable, verify)

log = logging.getLogger(__name__)


#: The QR at the bottom of a receipt: ``<till>/<seq>`` (till.md §1, first).
RECEIPT_ID = re.compile(r"[A-Za-z0-9_.-]+/[0-9]+")


@dataclass(frozen=True)
class Routed:
    """What a scanned code turned out to be (till.md §1), before anything changes.

    ``kind``: ``receipt`` (returns desk), ``item`` (a line of ``qty``),
    ``coupon``, ``customer`` (a card or a token, to identify).
    """

    kind: str
    code: str
    sku: str | None = None
    qty: str | None = None


def _birthday(bd: Any) -> str | None:
    # A token carries MM-DD; the engine wants a date. 2000 is a leap year,
    # so a 29 February birthday survives.
    return f"2000-{bd}" if isinstance(bd, str) and len(bd) == 5 else None


class Till:
    """The sale path of one till; thread-safe (one lock, short sections)."""

    def __init__(
        self,
        db: TillDb,
        catalog: Catalog,
        *,
        till: str,
        store: str,
        program: str,
        ledger: LedgerPort | None = None,
        printer: PrinterPort | None = None,
        events: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        hold_budget_s: float = 0.3,
        receipt_header: str = "",
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.till, self.store, self.program = till, store, program
        self.ledger: LedgerPort = ledger or OfflineLedger()
        self.printer: PrinterPort = printer or NoPrinter()
        self.events = events or EventBus()
        self.clock = clock
        self.hold_budget_s = hold_budget_s
        self.receipt_header = receipt_header
        self.lock = threading.RLock()
        _store.migrate(db, clock())
        self.outbox = Outbox(db, till=till, store=store, clock=clock)
        self.sessions: dict[str, Session] = {}
        self._restore()

    # ------------------------------------------------------------ journal

    def _restore(self) -> None:
        """Reload open and committed-but-unprinted sessions after a crash."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT body FROM agent_session WHERE state IN ('open', 'committed') ORDER BY opened_at"
            ).fetchall()
        for (body,) in rows:
            s = Session.from_json(json.loads(body))
            self.sessions[s.id] = s
            if s.state is SessionState.OPEN and s.result is None and s.lines:
                try:
                    self._reprice(s)
                except SessionError as exc:  # e.g. a new bundle dropped an item
                    log.warning("session %s restored but not priced: %s", s.id, exc)
            log.info("session %s restored in state %s with %d lines", s.id, s.state.value, len(s.lines))
        for s in list(self.sessions.values()):
            if s.state is SessionState.COMMITTED:
                self._finish_commit(s)

    def _journal(self, s: Session) -> None:
        """Rewrite the open sale's journal row.

        Written with ``synchronous=NORMAL`` (WAL): it survives a crash of the
        process at once and a power cut from the next FULL commit on; a
        fsync per scan would cost the cashier ~3 ms a scan on a till's disk.
        The sale itself commits with FULL (``Outbox.append``).
        """
        with self.db.lock:
            self.db.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self._journal_write(s)
            finally:
                self.db.conn.execute("PRAGMA synchronous = FULL")

    def _journal_write(self, s: Session) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO agent_session (id, txn_id, state, body, opened_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
                " body = excluded.body, updated_at = excluded.updated_at",
                (s.id, s.txn_id, s.state.value, json.dumps(s.journal_json()), self.clock(), self.clock()),
            )

    def _publish(self, s: Session, what: str) -> None:
        self.events.publish("session", action=what, session=self.view(s))

    def view(self, s: Session) -> dict[str, Any]:
        """The session as the POS and the cashier screen see it: masked
        card, item names, coupons with what became of them, and the points
        the customer can spend now."""
        doc = s.public()
        doc["names"] = {ln["sku"]: self.catalog.name(ln["sku"]) for ln in s.lines}
        doc["units"] = {ln["sku"]: self.catalog.unit(ln["sku"]) for ln in s.lines}
        doc["coupons"] = self.coupon_states(s)
        doc["spendable_points"] = int((s.result or {}).get("redeem", {}).get("max_points", 0))
        doc["point_value"] = self.catalog.point_value
        return doc

    def coupon_states(self, s: Session) -> list[dict[str, Any]]:
        """Each coupon of the sale: ``applied`` when the engine's result used
        it, else why not (``unknown_coupon``: no promotion of the bundle in
        force carries it; ``conditions_not_met``: its promotion gave nothing
        to this basket, customer or time)."""
        rejected = set((s.result or {}).get("rejected_coupons", s.coupons if s.result is None else []))
        out = []
        for code in s.coupons:
            if code not in self.catalog.coupons:
                out.append({"code": code, "applied": False, "reason": "unknown_coupon"})
            elif code in rejected:
                out.append({"code": code, "applied": False, "reason": "conditions_not_met"})
            else:
                out.append({"code": code, "applied": True, "reason": None})
        return out

    # ------------------------------------------------------------ sessions

    def get(self, sid: str) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise SessionError("unknown_session", f"no sale {sid}")
        return s

    def current(self) -> Session | None:
        """The open sale, if any (a till serves one customer at a time)."""
        for s in self.sessions.values():
            if s.state is SessionState.OPEN:
                return s
        return None

    def open_session(self) -> Session:
        with self.lock:
            if self.current() is not None:
                raise SessionError("session_open", "a sale is already open at this till")
            s = Session(id=uuid.uuid4().hex[:12], txn_id=str(uuid.uuid4()),
                        opened_at=self.catalog.local_now(self.store, self.clock()))
            self.sessions[s.id] = s
            self._journal(s)
            self._publish(s, "opened")
            return s

    def _edit(self, sid: str, action: str, change: Callable[[Session], None], publish: bool = True) -> Session:
        """Apply ``change``, re-price, journal; on any error nothing changes."""
        with self.lock:
            s = self.get(sid)
            s.require_open(action)
            before = s.to_json()
            try:
                change(s)
                self._reprice(s)
            except Exception:
                restored = Session.from_json(before)
                self.sessions[sid] = restored
                raise
            if publish:
                self._journal(s)
                self._publish(s, action)
            return s

    def _reprice(self, s: Session) -> None:
        if not s.lines:
            s.result = None
            return
        basket = s.basket(self.store)
        basket["at"] = self.catalog.local_now(self.store, self.clock())
        try:
            s.result = self.catalog.price(basket)
        except fastcore.BasketError as exc:
            raise SessionError("basket", str(exc)) from exc

    def _qty(self, sku: str, qty: Any) -> str:
        """A line quantity as basket text, within the program's ceiling (till.md §4)."""
        unit = self.catalog.unit(sku)
        try:
            text = normalize_qty(qty, unit)
        except ValueError as exc:
            raise SessionError("bad_qty", str(exc)) from exc
        self._ceiling(sku, qty_milli(text))
        return text

    def _ceiling(self, sku: str, milli: int) -> None:
        unit = self.catalog.unit(sku)
        top = self.catalog.max_qty_milli.get(unit, self.catalog.max_qty_milli["pcs"])
        if milli > top:
            raise SessionError("qty_too_large", f"at most {milli_to_text(top)} {unit} on one line; "
                               f"{milli_to_text(milli)} is more than the till takes (program.max_line_qty)")

    def add_line(self, sid: str, sku: str, qty: Any = 1) -> Session:
        if sku not in self.catalog.items:
            raise SessionError("unknown_sku", f"no item with barcode {sku}")
        text = self._qty(sku, qty)

        def change(s: Session) -> None:
            for ln in s.lines:
                if ln["sku"] == sku and self.catalog.unit(sku) == "pcs":
                    merged = qty_milli(ln["qty"]) + qty_milli(text)
                    self._ceiling(sku, merged)
                    ln["qty"] = milli_to_text(merged)
                    return
            s.lines.append({"sku": sku, "qty": text})

        return self._edit(sid, "line_added", change)

    def set_qty(self, sid: str, index: int, qty: Any) -> Session:
        def change(s: Session) -> None:
            line = self._line(s, index)
            line["qty"] = self._qty(line["sku"], qty)

        return self._edit(sid, "qty_changed", change)

    # ------------------------------------------------------------ scanned codes

    def route(self, code: str) -> Routed:
        """What a scanned code is, in till.md §1's order; nothing changes here.

        Raises ``CodeRefused`` (``bad_check_digit``, ``needs_weight``,
        ``unknown_item``, ``bad_weight``, ``unknown_code``). A card or a
        token is only *recognised* here; token.md's checks run on identify.
        """
        if not isinstance(code, str):
            raise CodeRefused("unknown_code", "not a code", code=str(code))
        code = _strip_line_ending(code)
        cat = self.catalog
        if RECEIPT_ID.fullmatch(code):
            return Routed("receipt", code)
        thirteen = len(code) == 13 and code.isascii() and code.isdigit()
        if thirteen and not ean13_check_ok(code):
            raise CodeRefused("bad_check_digit", "the check digit is wrong: scan again", code=code)
        if code in cat.items:
            if cat.unit(code) == "kg":
                # A weighed item's own code carries no weight: a cashier
                # expects the till to ask for it, not to sell 1 or 0.005 kg.
                raise CodeRefused("needs_weight", f"{cat.name(code)} is sold by weight: weigh it on the "
                                  "scale and scan the label, or type the weight", code=code)
            return Routed("item", code, sku=code, qty="1")
        if thirteen and code[:2] in cat.weight_prefixes:
            sku = cat.plu.get(code[2:7])
            if sku is None:
                raise CodeRefused("unknown_item", f"no weighed item with scale code {code[2:7]}", code=code)
            grams = int(code[7:12])
            if grams == 0:
                raise CodeRefused("bad_weight", "the label shows no weight: weigh the item again", code=code)
            return Routed("item", code, sku=sku, qty=milli_to_text(grams))
        if code in cat.coupons:
            return Routed("coupon", code)
        if (thirteen and code[:2] in cat.card_prefixes) or code.count(".") == 2:
            return Routed("customer", code)
        raise CodeRefused("unknown_code", "Not an item or a coupon, and not a loyalty card or app code: "
                          "scan it again or type it.", code=code)

    def scan(self, sid: str | None, code: str) -> tuple[Routed, Session | None]:
        """Route one scanned code and act on it (till.md §1).

        ``sid`` None: the till's open sale, opened on demand (the scanner
        and the camera); a receipt id never opens one. Returns what the code
        was and the sale it changed (None for a receipt).
        """
        try:
            routed = self.route(code)
        except CodeRefused as exc:
            log.info("scan refused: %s", exc.reason)
            self.events.publish("scan_refused", reason=exc.reason, message=exc.message, code=self._shown(exc.code))
            raise
        if routed.kind == "receipt":
            found = self.sale(routed.code)
            self.events.publish("receipt_scanned", receipt_id=routed.code, found=found is not None,
                                kind=None if found is None else found["kind"])
            return routed, None
        with self.lock:
            if sid is None:
                s = self.current() or self.open_session()
                sid = s.id
            if routed.kind == "item":
                assert routed.sku is not None
                return routed, self.add_line(sid, routed.sku, routed.qty)
            if routed.kind == "coupon":
                return routed, self.add_coupon(sid, routed.code)
            try:
                return routed, self.identify(sid, routed.code)
            except TokenError as exc:
                raise CodeRefused(exc.reason, message_for(exc.reason), code=routed.code) from exc
            except SessionError as exc:
                if exc.reason != "unknown_card":
                    raise
                raise CodeRefused(exc.reason, exc.message, code=routed.code) from exc

    def _shown(self, code: str) -> str:
        """A refused code as the screen and the event stream may show it: a
        card-shaped number masked, a token-shaped code never."""
        if code.count(".") == 2:
            return "<token>"
        if len(code) == 13 and code[:2] in self.catalog.card_prefixes:
            return mask_card(code)
        return code

    # ------------------------------------------------------------ coupons

    def add_coupon(self, sid: str, code: str) -> Session:
        """Add a coupon the bundle knows; a second time changes nothing."""
        code = code.strip() if isinstance(code, str) else code
        if not isinstance(code, str) or code not in self.catalog.coupons:
            raise CodeRefused("unknown_coupon", "no promotion takes this coupon", code=str(code))
        with self.lock:
            s = self.get(sid)
            s.require_open("add a coupon")
            if code in s.coupons:
                return s
            return self._edit(sid, "coupon_added", lambda s: s.coupons.append(code))

    def remove_coupon(self, sid: str, code: str) -> Session:
        with self.lock:
            s = self.get(sid)
            s.require_open("remove a coupon")
            if code not in s.coupons:
                raise SessionError("coupon_not_in_sale", f"coupon {code} is not on this sale")
            return self._edit(sid, "coupon_removed", lambda s: s.coupons.remove(code))

    def void_line(self, sid: str, index: int) -> Session:
        def change(s: Session) -> None:
            self._line(s, index)
            s.lines.pop(index)

        return self._edit(sid, "line_voided", change)

    @staticmethod
    def _line(s: Session, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(s.lines):
            raise SessionError("unknown_line", f"no line {index} in this sale")
        return s.lines[index]

    # ------------------------------------------------------------ identification

    def used_jti(self, jti: str) -> bool:
        with self.db.lock:
            return self.db.conn.execute("SELECT 1 FROM agent_jti WHERE jti = ?", (jti,)).fetchone() is not None

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
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT COALESCE(SUM(a.redeemed_points), 0) FROM agent_sale a"
                " JOIN outbox o ON o.txn_id = a.txn_id"
                " WHERE a.account = ? AND a.kind = 'sale' AND a.redeemed_points > 0"
                " AND (o.status <> 'acked' OR o.acked_at IS NULL OR o.acked_at >= ?)",
                (account, before),
            ).fetchone()
        return int(row[0])

    def sold_to(self, account: str) -> bool:
        """Whether this till has committed a sale to ``account`` (any mode)."""
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT 1 FROM agent_sale WHERE account = ? AND kind = 'sale' LIMIT 1", (account,)
            ).fetchone()
        return row is not None

    def verify_code(self, code: str) -> Card | Token:
        """spec/token.md against this till's keys, program, clock and jti log."""
        return verify(code, self.catalog.keys, now=self.clock(), program=self.program, used_jti=self.used_jti)

    def _online_customer(self, card: str) -> dict[str, Any] | None:
        try:
            return self.ledger.customer(card, self.hold_budget_s)
        except LedgerUnavailable as exc:
            log.info("customer %s: ledger unavailable (%s), offline rules", mask_card(card), exc.reason)
            return None

    def identify(self, sid: str, code: str) -> Session:
        """Identify the customer of an open sale by a scanned card or app code."""
        with self.lock:
            self.get(sid).require_open("identify")
            try:
                ident = self.verify_code(code)
            except TokenError as exc:
                log.warning("identify refused: %s", exc.reason)
                self.events.publish("identify_refused", session_id=sid, reason=exc.reason,
                                    message=message_for(exc.reason))
                raise
            try:
                customer = self._customer_for(ident)
            except SessionError as exc:
                self.events.publish("identify_refused", session_id=sid, reason=exc.reason, message=exc.message)
                raise
            return self._edit(sid, "identified", lambda s: self._set_customer(s, customer))

    def _customer_for(self, ident: Card | Token) -> dict[str, Any]:
        online = self._online_customer(ident.card)
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
            cached = online or cached_customer(self.db, ident.card) or self.catalog.customers.get(ident.card)
            if cached is None:
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
            offline = min(max(0, customer["balance"]), self.catalog.offline_card_redeem_cap)
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

    def _set_customer(self, s: Session, customer: dict[str, Any]) -> None:
        if s.hold is not None:
            self._release(s)
        s.customer = customer
        s.mode = customer["mode"]

    # ------------------------------------------------------------ redemption

    def redeem(self, sid: str, points: int | str) -> Session:
        """The cashier's redeem decision: 0, a number of points, or "max"."""
        if not (points == "max" or (isinstance(points, int) and not isinstance(points, bool) and points >= 0)):
            raise SessionError("bad_redeem", 'redeem is "max" or a whole number of points >= 0')
        with self.lock:
            s = self.get(sid)
            s.require_open("redeem")
            if s.customer is None and points != 0:
                raise SessionError("no_customer", "identify the customer before spending points")
            self._edit(sid, "redeem", lambda s: setattr(s, "redeem", points), publish=False)
            s = self.get(sid)
            self._secure_points(s)
            self._journal(s)
            self._publish(s, "redeem")
            return s

    def _points(self, s: Session) -> int:
        return int((s.result or {}).get("redeem", {}).get("points", 0))

    def _secure_points(self, s: Session) -> None:
        """Online: hold the points on the ledger; else fall back offline."""
        need = self._points(s)
        if s.customer is None or s.mode != "online":
            return
        if need == 0 or (s.hold is not None and s.hold["points"] >= need):
            return
        if s.hold is not None:
            self._release(s)
        try:
            s.hold = dict(self.ledger.hold(s.customer["account"], need, s.txn_id, self.hold_budget_s))
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
        self._reprice(s)
        if s.mode == "online" and self._points(s):
            self._secure_points(s)

    def _release(self, s: Session) -> None:
        hold, s.hold = s.hold, None
        if hold and hold.get("hold_id"):
            try:
                self.ledger.release(hold["hold_id"], self.hold_budget_s)
            except LedgerUnavailable:
                log.info("hold %s not released now; it expires on the ledger", hold["hold_id"])

    def cancel(self, sid: str) -> Session:
        with self.lock:
            s = self.get(sid)
            s.transition(SessionState.CANCELLED, "cancelled by cashier")
            self._release(s)
            self._journal(s)
            del self.sessions[sid]
            self._publish(s, "cancelled")
            return s

    # ------------------------------------------------------------ payment

    def pay(self, sid: str, method: str = "cash") -> Session:
        """Commit the sale (final once this returns), then print it."""
        with self.lock:
            s = self.get(sid)
            s.require_open("pay")
            if not s.lines:
                raise SessionError("empty", "scan at least one item before payment")
            before = s.to_json()
            try:
                self._reprice(s)
                self._secure_points(s)
            except Exception:
                self.sessions[sid] = Session.from_json(before)
                raise
            s.payment = {"method": method, "amount": s.result["totals"]["paid"] if s.result else 0}
            self._commit(s)
            self._finish_commit(s)
            return s

    def _txn(self, s: Session) -> dict[str, Any]:
        assert s.result is not None
        cust = None
        if s.customer is not None:
            cust = {"card": s.customer["card"], "account": s.customer["account"],
                    "jti": s.customer.get("jti"), "claims": s.customer.get("claims")}
        basket = s.basket(self.store)
        basket["at"] = self.catalog.local_now(self.store, self.clock())
        return {
            "txn_id": s.txn_id, "kind": "sale", "at": basket["at"], "customer": cust,
            "mode": s.mode if s.customer is not None else "offline",
            "hold_id": (s.hold or {}).get("hold_id"), "basket": basket, "result": s.result,
            "bundle_version": self.catalog.version, "engine_version": fastcore.ENGINE_VERSION,
            "original_txn_id": None, "returned": None,
        }

    def _commit(self, s: Session) -> None:
        txn = self._txn(s)
        s.transition(SessionState.COMMITTED, f"txn {s.txn_id}")
        now = self.clock()
        receipt_prefix = f"{self.till}/"
        account = (s.customer or {}).get("account")
        points = self._points(s)
        extra: list[tuple[str, Any]] = [
            ("UPDATE agent_session SET state = 'committed', updated_at = ?, body = ? WHERE id = ?",
             (now, json.dumps(s.to_json()), s.id)),
            # The sale keeps its bundle version's units, names and prices:
            # a return never guesses a unit, even after the bundle changed.
            ("INSERT INTO agent_sale (txn_id, receipt_id, kind, account, redeemed_points, at_epoch, body)"
             " VALUES (?, ? || (SELECT seq FROM outbox WHERE txn_id = ?), 'sale', ?, ?, ?, ?)",
             (s.txn_id, receipt_prefix, s.txn_id, account, points, now,
              json.dumps(dict(txn, sold=sold_facts(txn["result"], self.catalog))))),
        ]
        jti = (s.customer or {}).get("jti")
        if jti:
            extra.append(("INSERT INTO agent_jti (jti, txn_id, at_epoch) VALUES (?, ?, ?)", (jti, s.txn_id, now)))
        try:
            row = self.outbox.append(txn, extra=extra)
        except Exception:
            s.state = SessionState.OPEN
            raise
        s.seq = row.seq
        s.receipt_id = f"{receipt_prefix}{row.seq}"
        log.info("sale %s committed: seq %d, paid %d, points %d", s.receipt_id, row.seq,
                 s.result["totals"]["paid"] if s.result else 0, points)

    def _finish_commit(self, s: Session) -> None:
        """After the commit: queue and print the receipt, close the session."""
        row = self.sale(s.txn_id)
        if row is None:  # pragma: no cover - the commit wrote it in the same transaction
            raise SessionError("lost", f"committed sale {s.txn_id} not found")
        s.receipt_id, s.seq = row["receipt_id"], int(row["txn"]["seq"])
        txn = dict(row["txn"], receipt_id=row["receipt_id"], payment=s.payment)
        balance = None
        if txn.get("mode") == "online" and (s.customer or {}).get("balance") is not None:
            tot = txn["result"]["totals"]
            balance = int(s.customer["balance"]) - int(tot["redeemed_points"]) + int(tot["points"])  # type: ignore[index]
        job = sale_job(txn, row["sold"], store=self.receipt_header or self.store, till=self.till, balance=balance)
        with self.db.transaction() as conn:
            have = conn.execute("SELECT 1 FROM agent_print WHERE txn_id = ?", (s.txn_id,)).fetchone()
            if not have:
                conn.execute("INSERT INTO agent_print (txn_id, job, created_at) VALUES (?, ?, ?)",
                             (s.txn_id, json.dumps(job), self.clock()))
        s.transition(SessionState.CLOSED, "receipt queued")
        self._journal(s)
        self.sessions.pop(s.id, None)
        self._publish(s, "paid")
        self.print_pending()

    # ------------------------------------------------------------ printing

    def print_pending(self) -> int:
        """Print every queued receipt; a failure keeps it queued. Returns printed."""
        if isinstance(self.printer, NoPrinter):
            return 0  # no printer configured: receipts stay queued, quietly
        with self.db.lock:
            jobs = self.db.conn.execute(
                "SELECT id, txn_id, job FROM agent_print WHERE status = 'pending' ORDER BY id"
            ).fetchall()
        printed = 0
        for job_id, txn_id, job in jobs:
            try:
                self.printer.print_receipt(json.loads(job))
            except PrinterFailed as exc:
                with self.db.transaction() as conn:
                    conn.execute("UPDATE agent_print SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                 (exc.message, job_id))
                log.warning("receipt for %s not printed (%s); queued for reprint", txn_id, exc.reason)
                self.events.publish("printer", ok=False, reason=exc.reason, message=exc.message)
                break
            with self.db.transaction() as conn:
                conn.execute("UPDATE agent_print SET status = 'printed', attempts = attempts + 1 WHERE id = ?",
                             (job_id,))
            printed += 1
            self.events.publish("printer", ok=True, txn_id=txn_id)
        return printed

    def queue_print(self, txn_id: str, job: dict[str, Any]) -> None:
        """Queue a print job (a return's receipt, a copy)."""
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO agent_print (txn_id, job, created_at) VALUES (?, ?, ?)",
                         (txn_id, json.dumps(job), self.clock()))

    def print_copy(self, key: str) -> dict[str, Any]:
        """Queue and print a copy of a committed sale's or return's receipt."""
        found = self.sale(key)
        if found is None:
            raise SessionError("unknown_receipt", f"no sale or return {key} at this till")
        with self.db.lock:
            row = self.db.conn.execute("SELECT job FROM agent_print WHERE txn_id = ? ORDER BY id LIMIT 1",
                                       (found["txn_id"],)).fetchone()
        if row is None:
            raise SessionError("unknown_receipt", f"no receipt kept for {key}")
        job = copy_job(json.loads(row[0]))
        self.queue_print(found["txn_id"], job)
        self.print_pending()
        return job

    def print_queue(self) -> int:
        with self.db.lock:
            return int(self.db.conn.execute("SELECT COUNT(*) FROM agent_print WHERE status='pending'").fetchone()[0])

    # ------------------------------------------------------------ lookups

    def sale(self, key: str) -> dict[str, Any] | None:
        """A committed sale or return by txn_id or receipt id."""
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT a.txn_id, a.receipt_id, a.kind, o.body, a.body FROM agent_sale a"
                " JOIN outbox o ON o.txn_id = a.txn_id WHERE a.txn_id = ? OR a.receipt_id = ?",
                (key, key),
            ).fetchone()
        if row is None:
            return None
        txn = json.loads(row[3])
        sold = json.loads(row[4]).get("sold") or self._sold_fallback(txn)
        return {"txn_id": row[0], "receipt_id": row[1], "kind": row[2], "txn": txn, "sold": sold}

    def _sold_fallback(self, txn: dict[str, Any]) -> dict[str, Any]:
        """A sale committed before sales kept their units: the units of the
        bundle in force when the sale's version is the current one; else
        ``None`` per line (the returns desk then refuses, never guesses)."""
        result = txn.get("result") or {}
        facts = sold_facts(result, self.catalog) if txn.get("kind") == "sale" else {"units": []}
        if txn.get("bundle_version") != self.catalog.version:
            facts["units"] = [None] * len(facts["units"])
        return facts

    def status(self) -> dict[str, Any]:
        q = self.outbox.status()
        cur = self.current()
        return {
            "till": self.till, "store": self.store, "bundle_version": self.catalog.version,
            "engine_version": fastcore.ENGINE_VERSION,
            "queue_depth": q.queue_depth, "oldest_unsynced_age_s": round(q.oldest_unsynced_age_s, 1),
            "rejected": q.rejected, "last_seq": q.last_seq, "acked_through": q.acked_through,
            "print_queue": self.print_queue(), "open_session": cur.id if cur else None,
        }
