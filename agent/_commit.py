"""A sale's commit: the outbox row, the sale's own facts, its receipt queued.

``pay`` commits in one FULL SQLite transaction (the outbox row, the sale
with its bundle version's units, names and prices, the token's jti, the
journal at COMMITTED): final once it returns. Then the receipt is queued
and printed, and the session closes; a crash between the two finishes the
job at the next start.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import fastcore

from ._errors import SessionError
from ._part import TillPart
from ._hints import next_time
from ._receipt import sale_job, sold_facts
from ._session import Session, SessionState


log = logging.getLogger(__name__)


class Commits(TillPart):
    """Payment, commit and the committed sales of one till."""

    def pay(self, sid: str, method: str = "cash") -> Session:
        """Commit the sale (final once this returns), then print it."""
        with self.ctx.lock:
            s = self.ctx.book.get(sid)
            s.require_open("pay")
            if not s.lines:
                raise SessionError("empty", "scan at least one item before payment")
            before = s.to_json()
            try:
                self.ctx.book.reprice(s)
                self.ctx.redemption.secure_points(s)
                self.ctx.tenders.fit(s)  # gift certificates pay at most what is due
            except Exception:
                self.ctx.book.sessions[sid] = Session.from_json(before)
                raise
            s.payment = {"method": method, "amount": self.ctx.tenders.due(s) if s.result else 0}
            self.commit(s)
            self.finish(s)
            return s

    def txn(self, s: Session) -> dict[str, Any]:
        assert s.result is not None
        cust = None
        if s.customer is not None:
            cust = {"card": s.customer["card"], "account": s.customer["account"],
                    "jti": s.customer.get("jti"), "claims": s.customer.get("claims")}
        basket = s.basket(self.ctx.store)
        basket["at"] = self.ctx.catalog.local_now(self.ctx.store, self.ctx.clock())
        out = {
            "txn_id": s.txn_id, "kind": "sale", "at": basket["at"], "customer": cust,
            "mode": s.mode if s.customer is not None else "offline",
            "hold_id": (s.hold or {}).get("hold_id"), "basket": basket, "result": s.result,
            "bundle_version": self.ctx.catalog.version, "engine_version": fastcore.ENGINE_VERSION,
            "original_txn_id": None, "returned": None,
        }
        certificates = self.ctx.tenders.txn_member(s)  # docs/certificates.md
        if certificates is not None:
            out["certificates"] = certificates
        return out

    def commit(self, s: Session) -> None:
        txn = self.txn(s)
        s.transition(SessionState.COMMITTED, f"txn {s.txn_id}")
        now = self.ctx.clock()
        receipt_prefix = f"{self.ctx.till}/"
        account = (s.customer or {}).get("account")
        points = self.ctx.redemption.points(s)
        extra: list[tuple[str, Any]] = [
            ("UPDATE agent_session SET state = 'committed', updated_at = ?, body = ? WHERE id = ?",
             (now, json.dumps(s.to_json()), s.id)),
            # The sale keeps its bundle version's units, names and prices:
            # a return never guesses a unit, even after the bundle changed.
            ("INSERT INTO agent_sale (txn_id, receipt_id, kind, account, redeemed_points, at_epoch, body)"
             " VALUES (?, ? || (SELECT seq FROM outbox WHERE txn_id = ?), 'sale', ?, ?, ?, ?)",
             (s.txn_id, receipt_prefix, s.txn_id, account, points, now,
              json.dumps(dict(txn, sold=self._sold(s, txn))))),
        ]
        extra += self.ctx.tenders.commit_rows(txn, now)
        jti = (s.customer or {}).get("jti")
        if jti:
            extra.append(("INSERT INTO agent_jti (jti, txn_id, at_epoch) VALUES (?, ?, ?)", (jti, s.txn_id, now)))
        try:
            row = self.ctx.outbox.append(txn, extra=extra)
        except Exception:
            s.state = SessionState.OPEN
            raise
        s.seq = row.seq
        s.receipt_id = f"{receipt_prefix}{row.seq}"
        log.info("sale %s committed: seq %d, paid %d, points %d", s.receipt_id, row.seq,
                 s.result["totals"]["paid"] if s.result else 0, points)

    def _sold(self, s: Session, txn: dict[str, Any]) -> dict[str, Any]:
        """The sale's facts, and the near misses its receipt prints when
        ``[hints] print`` is on (kept with the sale, so a reprint after a
        crash prints them too)."""
        sold = sold_facts(txn["result"], self.ctx.catalog)
        settings = self.ctx.hint_settings
        if settings.enabled and settings.print:
            sold["next_time"] = next_time(s.hints)
        return sold

    def finish(self, s: Session) -> None:
        """After the commit: queue and print the receipt, close the session."""
        row = self.sale(s.txn_id)
        if row is None:  # pragma: no cover - the commit wrote it in the same transaction
            raise SessionError("lost", f"committed sale {s.txn_id} not found")
        s.receipt_id, s.seq = row["receipt_id"], int(row["txn"]["seq"])
        txn = dict(row["txn"], receipt_id=row["receipt_id"], payment=s.payment)
        codes = self.ctx.tenders.codes(txn) if txn.get("certificates") else {}
        if codes:  # online: the certificates' signed codes print as their QR
            txn["certificates"] = dict(txn["certificates"], codes=codes)
        balance = None
        if txn.get("mode") == "online" and (s.customer or {}).get("balance") is not None:
            tot = txn["result"]["totals"]
            balance = int(s.customer["balance"]) - int(tot["redeemed_points"]) + int(tot["points"])  # type: ignore[index]
        job = sale_job(txn, row["sold"], store=self.ctx.receipt_header or self.ctx.store, till=self.ctx.till, balance=balance)
        self.ctx.prints.add_once(s.txn_id, job)
        s.transition(SessionState.CLOSED, "receipt queued")
        self.ctx.book.journal(s)
        self.ctx.book.sessions.pop(s.id, None)
        self.ctx.book.publish(s, "paid")
        self.ctx.prints.print_pending()

    def sale(self, key: str) -> dict[str, Any] | None:
        """A committed sale or return by txn_id or receipt id."""
        with self.ctx.db.lock:
            row = self.ctx.db.conn.execute(
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
        facts = sold_facts(result, self.ctx.catalog) if txn.get("kind") == "sale" else {"units": []}
        if txn.get("bundle_version") != self.ctx.catalog.version:
            facts["units"] = [None] * len(facts["units"])
        return facts

