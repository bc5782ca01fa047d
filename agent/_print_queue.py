"""The till's print queue (``agent_print``): every receipt waits here until
the printer takes it; a failure keeps it queued for the next retry."""
from __future__ import annotations

import json
import logging
from typing import Any

from ._errors import PrinterFailed, SessionError
from ._part import TillPart
from ._ports import NoPrinter
from ._receipt import copy_job

log = logging.getLogger(__name__)


class PrintQueue(TillPart):
    """Queue, print and reprint receipts of one till."""

    def print_pending(self) -> int:
        """Print every queued receipt; a failure keeps it queued. Returns printed."""
        t = self.ctx
        if isinstance(t.printer, NoPrinter):
            return 0  # no printer configured: receipts stay queued, quietly
        with t.db.lock:
            jobs = t.db.conn.execute(
                "SELECT id, txn_id, job FROM agent_print WHERE status = 'pending' ORDER BY id"
            ).fetchall()
        printed = 0
        for job_id, txn_id, job in jobs:
            try:
                t.printer.print_receipt(json.loads(job))
            except PrinterFailed as exc:
                with t.db.transaction() as conn:
                    conn.execute("UPDATE agent_print SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                 (exc.message, job_id))
                log.warning("receipt for %s not printed (%s); queued for reprint", txn_id, exc.reason)
                t.events.publish("printer", ok=False, reason=exc.reason, message=exc.message)
                break
            with t.db.transaction() as conn:
                conn.execute("UPDATE agent_print SET status = 'printed', attempts = attempts + 1 WHERE id = ?",
                             (job_id,))
            printed += 1
            t.events.publish("printer", ok=True, txn_id=txn_id)
        return printed

    def add_once(self, txn_id: str, job: dict[str, Any]) -> None:
        """Queue a sale's receipt unless it is already queued (a commit finished twice)."""
        with self.ctx.db.transaction() as conn:
            have = conn.execute("SELECT 1 FROM agent_print WHERE txn_id = ?", (txn_id,)).fetchone()
            if not have:
                conn.execute("INSERT INTO agent_print (txn_id, job, created_at) VALUES (?, ?, ?)",
                             (txn_id, json.dumps(job), self.ctx.clock()))

    def add(self, txn_id: str, job: dict[str, Any]) -> None:
        """Queue a print job (a return's receipt, a copy)."""
        with self.ctx.db.transaction() as conn:
            conn.execute("INSERT INTO agent_print (txn_id, job, created_at) VALUES (?, ?, ?)",
                         (txn_id, json.dumps(job), self.ctx.clock()))

    def print_copy(self, key: str) -> dict[str, Any]:
        """Queue and print a copy of a committed sale's or return's receipt."""
        t = self.ctx
        found = t.sale(key)
        if found is None:
            raise SessionError("unknown_receipt", f"no sale or return {key} at this till")
        with t.db.lock:
            row = t.db.conn.execute("SELECT job FROM agent_print WHERE txn_id = ? ORDER BY id LIMIT 1",
                                    (found["txn_id"],)).fetchone()
        if row is None:
            raise SessionError("unknown_receipt", f"no receipt kept for {key}")
        job = copy_job(json.loads(row[0]))
        self.add(found["txn_id"], job)
        self.print_pending()
        return job

    def depth(self) -> int:
        """Receipts waiting for the printer."""
        t = self.ctx
        with t.db.lock:
            return int(t.db.conn.execute("SELECT COUNT(*) FROM agent_print WHERE status='pending'").fetchone()[0])
