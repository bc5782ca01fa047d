"""The sale session state machine of one till: open, edit, journal, cancel.

Every change is applied, re-priced and journaled, or not made at all; the
journal (``agent_session``) brings open and committed-but-unprinted sales
back after a crash. A till serves one customer at a time.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any, Callable

import fastcore
from fastcore import qty_milli, qty_text

from ._catalog import normalize_qty
from ._errors import CodeRefused, SessionError
from ._hints import hint_view
from ._part import TillPart
from ._session import Session, SessionState

if TYPE_CHECKING:
    from ._till import Till

log = logging.getLogger(__name__)


class SessionBook(TillPart):
    """The till's sales in progress (``sessions``), each a ``Session``."""

    def __init__(self, ctx: Till) -> None:
        super().__init__(ctx)
        self.sessions: dict[str, Session] = {}

    def restore(self) -> None:
        """Reload open and committed-but-unprinted sessions after a crash."""
        with self.ctx.db.lock:
            rows = self.ctx.db.conn.execute(
                "SELECT body FROM agent_session WHERE state IN ('open', 'committed') ORDER BY opened_at"
            ).fetchall()
        for (body,) in rows:
            s = Session.from_json(json.loads(body))
            self.sessions[s.id] = s
            if s.state is SessionState.OPEN and s.result is None and s.lines:
                try:
                    self.reprice(s)
                except SessionError as exc:  # e.g. a new bundle dropped an item
                    log.warning("session %s restored but not priced: %s", s.id, exc)
            log.info("session %s restored in state %s with %d lines", s.id, s.state.value, len(s.lines))
        for s in list(self.sessions.values()):
            if s.state is SessionState.COMMITTED:
                self.ctx.commits.finish(s)

    def journal(self, s: Session) -> None:
        """Rewrite the open sale's journal row.

        Written with ``synchronous=NORMAL`` (WAL): it survives a crash of the
        process at once and a power cut from the next FULL commit on; a
        fsync per scan would cost the cashier ~3 ms a scan on a till's disk.
        The sale itself commits with FULL (``Outbox.append``).
        """
        with self.ctx.db.lock:
            self.ctx.db.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self._journal_write(s)
            finally:
                self.ctx.db.conn.execute("PRAGMA synchronous = FULL")

    def _journal_write(self, s: Session) -> None:
        with self.ctx.db.transaction() as conn:
            conn.execute(
                "INSERT INTO agent_session (id, txn_id, state, body, opened_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
                " body = excluded.body, updated_at = excluded.updated_at",
                (s.id, s.txn_id, s.state.value, json.dumps(s.journal_json()), self.ctx.clock(), self.ctx.clock()),
            )

    def publish(self, s: Session, what: str) -> None:
        self.ctx.events.publish("session", action=what, session=self.view(s))

    def view(self, s: Session) -> dict[str, Any]:
        """The session as the POS and the cashier screen see it: masked
        card, item names, coupons with what became of them, and the points
        the customer can spend now."""
        doc = s.public()
        doc["names"] = {ln["sku"]: self.ctx.catalog.name(ln["sku"]) for ln in s.lines}
        doc["units"] = {ln["sku"]: self.ctx.catalog.unit(ln["sku"]) for ln in s.lines}
        doc["coupons"] = self.coupon_states(s)
        doc["spendable_points"] = int((s.result or {}).get("redeem", {}).get("max_points", 0))
        doc["point_value"] = self.ctx.catalog.point_value
        doc["hints"] = list(s.hints)
        return doc

    def coupon_states(self, s: Session) -> list[dict[str, Any]]:
        """Each coupon of the sale: ``applied`` when the engine's result used
        it, else why not (``unknown_coupon``: no promotion of the bundle in
        force carries it; ``conditions_not_met``: its promotion gave nothing
        to this basket, customer or time)."""
        rejected = set((s.result or {}).get("rejected_coupons", s.coupons if s.result is None else []))
        out = []
        for code in s.coupons:
            if code not in self.ctx.catalog.coupons:
                out.append({"code": code, "applied": False, "reason": "unknown_coupon"})
            elif code in rejected:
                out.append({"code": code, "applied": False, "reason": "conditions_not_met"})
            else:
                out.append({"code": code, "applied": True, "reason": None})
        return out

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
        with self.ctx.lock:
            if self.current() is not None:
                raise SessionError("session_open", "a sale is already open at this till")
            s = Session(id=uuid.uuid4().hex[:12], txn_id=str(uuid.uuid4()),
                        opened_at=self.ctx.catalog.local_now(self.ctx.store, self.ctx.clock()))
            self.sessions[s.id] = s
            self.journal(s)
            self.publish(s, "opened")
            return s

    def edit(self, sid: str, action: str, change: Callable[[Session], None], publish: bool = True) -> Session:
        """Apply ``change``, re-price, journal; on any error nothing changes."""
        with self.ctx.lock:
            s = self.get(sid)
            s.require_open(action)
            before, hints = s.to_json(), s.hints
            try:
                change(s)
                self.reprice(s)
            except Exception:
                restored = Session.from_json(before)
                restored.hints = hints
                self.sessions[sid] = restored
                raise
            if publish:
                self.journal(s)
                self.publish(s, action)
            return s

    def reprice(self, s: Session) -> None:
        if not s.lines:
            s.result, s.hints = None, []
            return
        basket = s.basket(self.ctx.store)
        basket["at"] = self.ctx.catalog.local_now(self.ctx.store, self.ctx.clock())
        settings = self.ctx.hint_settings
        try:
            result, hints = self.ctx.catalog.quote(
                basket, near_bp=settings.near_bp if settings.enabled else None, limit=settings.max)
        except fastcore.BasketError as exc:
            raise SessionError("basket", str(exc)) from exc
        s.result = result
        s.hints = [hint_view(h, self.ctx.language) for h in hints]

    def _qty(self, sku: str, qty: Any) -> str:
        """A line quantity as basket text, within the program's ceiling (till.md §4)."""
        unit = self.ctx.catalog.unit(sku)
        try:
            text = normalize_qty(qty, unit)
        except ValueError as exc:
            raise SessionError("bad_qty", str(exc)) from exc
        self._ceiling(sku, qty_milli(text))
        return text

    def _ceiling(self, sku: str, milli: int) -> None:
        unit = self.ctx.catalog.unit(sku)
        top = self.ctx.catalog.max_qty_milli.get(unit, self.ctx.catalog.max_qty_milli["pcs"])
        if milli > top:
            raise SessionError("qty_too_large", f"at most {qty_text(top)} {unit} on one line; "
                               f"{qty_text(milli)} is more than the till takes (program.max_line_qty)")

    def add_line(self, sid: str, sku: str, qty: Any = 1) -> Session:
        if sku not in self.ctx.catalog.items:
            raise SessionError("unknown_sku", f"no item with barcode {sku}")
        text = self._qty(sku, qty)

        def change(s: Session) -> None:
            for ln in s.lines:
                if ln["sku"] == sku and self.ctx.catalog.unit(sku) == "pcs":
                    merged = qty_milli(ln["qty"]) + qty_milli(text)
                    self._ceiling(sku, merged)
                    ln["qty"] = qty_text(merged)
                    return
            s.lines.append({"sku": sku, "qty": text})

        return self.edit(sid, "line_added", change)

    def set_qty(self, sid: str, index: int, qty: Any) -> Session:
        def change(s: Session) -> None:
            line = self.line(s, index)
            line["qty"] = self._qty(line["sku"], qty)

        return self.edit(sid, "qty_changed", change)

    def add_coupon(self, sid: str, code: str) -> Session:
        """Add a coupon the bundle knows; a second time changes nothing."""
        code = code.strip() if isinstance(code, str) else code
        if not isinstance(code, str) or code not in self.ctx.catalog.coupons:
            raise CodeRefused("unknown_coupon", "no promotion takes this coupon", code=str(code))
        with self.ctx.lock:
            s = self.get(sid)
            s.require_open("add a coupon")
            if code in s.coupons:
                return s
            return self.edit(sid, "coupon_added", lambda s: s.coupons.append(code))

    def remove_coupon(self, sid: str, code: str) -> Session:
        with self.ctx.lock:
            s = self.get(sid)
            s.require_open("remove a coupon")
            if code not in s.coupons:
                raise SessionError("coupon_not_in_sale", f"coupon {code} is not on this sale")
            return self.edit(sid, "coupon_removed", lambda s: s.coupons.remove(code))

    def void_line(self, sid: str, index: int) -> Session:
        def change(s: Session) -> None:
            self.line(s, index)
            s.lines.pop(index)

        return self.edit(sid, "line_voided", change)

    @staticmethod
    def line(s: Session, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(s.lines):
            raise SessionError("unknown_line", f"no line {index} in this sale")
        return s.lines[index]

    def cancel(self, sid: str) -> Session:
        with self.ctx.lock:
            s = self.get(sid)
            s.transition(SessionState.CANCELLED, "cancelled by cashier")
            self.ctx.redemption.release(s)
            self.ctx.tenders.release(s)  # gift certificates' holds
            self.journal(s)
            del self.sessions[sid]
            self.publish(s, "cancelled")
            return s

