"""The till: one sale at a time, from first scan to printed receipt.

Data flows one way: event → session → engine → outbox → printer. Nothing
on this path waits for the network longer than the hold budget; the ledger
is asked only for online identification and holds, and any failure there
falls back to the offline rules of spec/token.md.

``Till`` is the façade the daemon, the local API and the returns desk use;
each job lives in its own module: the session state machine
(``_sessions.py``), what a scanned code is (``_routing.py``), identification
and redemption (``_identify.py``), the commit (``_commit.py``) and the print
queue (``_print_queue.py``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import fastcore
from sync import Outbox, TillDb

from . import _store
from ._catalog import Catalog
from ._certificates import Tenders
from ._commit import Commits
from ._enrol import Enrolments
from ._config import HintSettings
from ._errors import CodeRefused, SessionError, TokenError
from ._events import EventBus
from ._i18n import DEFAULT_LANGUAGE
from ._identify import Redemption
from ._ports import LedgerPort, NoPrinter, OfflineLedger, PrinterPort
from ._print_queue import PrintQueue
from ._regcode import is_registration_code
from ._routing import Routed, route_code, shown_code
from ._session import Session
from ._sessions import SessionBook
from ._token import Card, Token, message_for

log = logging.getLogger(__name__)


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
        language: str = DEFAULT_LANGUAGE,
        hints: HintSettings | None = None,
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
        self.language = language
        self.hint_settings = hints or HintSettings()
        self.lock = threading.RLock()
        _store.migrate(db, clock())
        self.outbox = Outbox(db, till=till, store=store, clock=clock)
        self.book = SessionBook(self)
        self.redemption = Redemption(self)
        self.commits = Commits(self)
        self.tenders = Tenders(self)
        self.prints = PrintQueue(self)
        self.enrolments = Enrolments(self)
        self.book.restore()

    @property
    def sessions(self) -> dict[str, Session]:
        """The sales in progress by id (open, or committed and not yet printed)."""
        return self.book.sessions

    # ------------------------------------------------------------ sessions

    def view(self, s: Session) -> dict[str, Any]:
        return self.book.view(s)

    def coupon_states(self, s: Session) -> list[dict[str, Any]]:
        return self.book.coupon_states(s)

    def get(self, sid: str) -> Session:
        return self.book.get(sid)

    def current(self) -> Session | None:
        return self.book.current()

    def open_session(self) -> Session:
        return self.book.open_session()

    def add_line(self, sid: str, sku: str, qty: Any = 1) -> Session:
        return self.book.add_line(sid, sku, qty)

    def set_qty(self, sid: str, index: int, qty: Any) -> Session:
        return self.book.set_qty(sid, index, qty)

    def void_line(self, sid: str, index: int) -> Session:
        return self.book.void_line(sid, index)

    def add_coupon(self, sid: str, code: str) -> Session:
        return self.book.add_coupon(sid, code)

    def remove_coupon(self, sid: str, code: str) -> Session:
        return self.book.remove_coupon(sid, code)

    def cancel(self, sid: str) -> Session:
        return self.book.cancel(sid)

    # ------------------------------------------------------------ scanned codes

    def route(self, code: str) -> Routed:
        """What a scanned code is (till.md §1); nothing changes here."""
        return route_code(code, self.catalog)

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
            self.events.publish("scan_refused", reason=exc.reason, message=exc.message, code=shown_code(exc.code, self.catalog))
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
            if routed.kind == "certificate":
                return routed, self.tender(sid, routed.code)
            if is_registration_code(routed.code):  # the app's sign-up QR (docs/enrolment.md)
                try:
                    return routed, self.registration(sid, routed.code)
                except TokenError as exc:
                    raise CodeRefused(exc.reason, message_for(exc.reason), code=routed.code) from exc
            try:
                return routed, self.identify(sid, routed.code)
            except TokenError as exc:
                raise CodeRefused(exc.reason, message_for(exc.reason), code=routed.code) from exc
            except SessionError as exc:
                if exc.reason != "unknown_card":
                    raise
                refused = CodeRefused(exc.reason, exc.message, code=routed.code)
                refused.extra.update(exc.extra)  # ``enrol``: the cashier may enrol the card
                raise refused from exc

    # ------------------------------------------------------------ identification and redemption

    def used_jti(self, jti: str) -> bool:
        return self.redemption.used_jti(jti)

    def redeemed_unacknowledged(self, account: str, iat: int) -> int:
        return self.redemption.redeemed_unacknowledged(account, iat)

    def sold_to(self, account: str) -> bool:
        return self.redemption.sold_to(account)

    def verify_code(self, code: str) -> Card | Token:
        return self.redemption.verify_code(code)

    def identify(self, sid: str, code: str) -> Session:
        return self.redemption.identify(sid, code)

    def redeem(self, sid: str, points: int | str) -> Session:
        return self.redemption.redeem(sid, points)

    # ------------------------------------------------------------ enrolment (docs/enrolment.md)

    def enrol(self, sid: str, card: Any) -> Session:
        return self.enrolments.enrol(sid, card)

    def registration(self, sid: str, code: Any) -> Session:
        return self.enrolments.registration(sid, code)

    # ------------------------------------------------------------ payment and committed sales

    def pay(self, sid: str, method: str = "cash") -> Session:
        return self.commits.pay(sid, method)

    def sale(self, key: str) -> dict[str, Any] | None:
        return self.commits.sale(key)

    def tender(self, sid: str, code: str) -> Session:
        """Pay with a gift certificate (docs/certificates.md)."""
        return self.tenders.tender(sid, code)

    # ------------------------------------------------------------ printing

    def print_pending(self) -> int:
        return self.prints.print_pending()

    def queue_print(self, txn_id: str, job: dict[str, Any]) -> None:
        self.prints.add(txn_id, job)

    def print_copy(self, key: str) -> dict[str, Any]:
        return self.prints.print_copy(key)

    def print_queue(self) -> int:
        return self.prints.depth()

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
