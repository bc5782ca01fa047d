"""The audit worker: re-prices uploaded sales after they were acknowledged.

Re-pricing a basket with the compiled engine costs 50-150 µs, a fifth of
the ledger's ingest; the spec asks that every sale be re-priced and a
difference flagged, not that the till wait for it. So the upload writes
one ``audit_queue`` row per sale in the same transaction as the sale, and
this worker drains the queue in batches (``Engine.price_many``): it writes
the ``audits`` row, counts a mismatch on the till, and deletes the queue
row in one transaction. A crash leaves queue rows behind; the next worker
(or ``kopilka ledger audit``) picks them up, so no sale goes unaudited.

The worker shares the ledger process (and its GIL) with the uploads, so it
yields to them: it audits a batch only after ``quiet`` seconds without an
upload, or once ``max_defer`` seconds have passed without such a pause (so
a ledger that is never idle still audits, at least ``BATCH`` sales every
``max_defer`` seconds).
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from . import _audit, _engine, _journal
from ._clock import utc_text
from sync import BackgroundLoop

from ._errors import BalanceOutOfBounds, Conflict
from ._fastjson import fast_loads
from ._storage import Storage

log = logging.getLogger(__name__)

BATCH = 500


class Activity:
    """Counts uploads in progress; the worker waits for a pause between them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0
        self._last = 0.0  # monotonic time the last upload ended

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark one upload as running for the block."""
        with self._cond:
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._last = time.monotonic()
                self._cond.notify_all()

    def wait_idle(self, timeout: float, quiet: float = 0.0) -> bool:
        """Wait until no upload ran for ``quiet`` seconds (True), at most ``timeout`` (False).

        A till draining a backlog leaves only short gaps between its batches
        (it is reading the next one); ``quiet`` keeps the worker out of them.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                if self._running == 0 and now - self._last >= quiet:
                    return True
                if now >= deadline:
                    return False
                wake = deadline if self._running else min(deadline, self._last + quiet)
                self._cond.wait(wake - now)


def _body(text: str) -> Any:
    try:
        return fast_loads(text)
    except ValueError:
        return json.loads(text)


class _Raced(Exception):
    """Another worker audited some of these rows first (redo them one by one)."""


class Auditor(BackgroundLoop):
    """Drains ``audit_queue``: in the caller's thread (``drain``) or its own (``start``)."""

    def __init__(self, storage: Storage, clock: Callable[[], datetime], *,
                 activity: Activity | None = None, batch: int = BATCH,
                 quiet: float = 0.25, max_defer: float = 2.0, poll: float = 1.0) -> None:
        self.storage = storage
        self.clock = clock
        self.activity = activity or Activity()
        self.batch = batch
        self.quiet = quiet
        self.max_defer = max_defer
        self.poll = poll
        BackgroundLoop.__init__(self, "ledger-auditor")
        self._idle = threading.Event()
        self._wakes = 0  # bumped by every wake: "idle" only counts after the newest one
        self._wakes_lock = threading.Lock()

    # -- one batch ------------------------------------------------------------
    def run_once(self) -> int:
        """Audit up to ``batch`` queued sales; return how many were audited."""
        with self.storage.transaction() as tx:
            rows = tx.all(
                "SELECT q.account, q.txn_id, q.till, q.store, q.bundle_version, s.body, "
                "s.outcome FROM audit_queue q JOIN sales s ON s.account = q.account "
                "AND s.txn_id = q.txn_id ORDER BY q.account, q.txn_id LIMIT ?", (self.batch,))
            digests = {v: tx.one("SELECT digest FROM bundles WHERE version = ?", (v,))
                       for v in {int(r[4]) for r in rows}}
        if not rows:
            return 0
        found: list[tuple[Any, ...]] = []
        by_version: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_version.setdefault(int(row[4]), []).append(row)
        for version, group in by_version.items():
            digest = digests[version]
            items: list[tuple[Any, Any]]
            outcomes: list[tuple[str, str | None, dict[str, Any] | None]]
            if digest is None:
                outcomes = [("no_bundle", f"bundle version {version} is unknown to the ledger",
                             None)] * len(group)
                items = [({}, {})] * len(group)
            else:
                items = []
                for row in group:
                    body = _body(row[5])
                    items.append((body["basket"], body["result"]))
                outcomes = _audit.reprice_many_full(self._engine(str(digest[0]), version), items)
            for row, (_, claimed), (outcome, detail, expected) in zip(group, items, outcomes, strict=False):
                fix = None
                if outcome == "mismatch" and expected is not None and not str(
                        row[0]).startswith("anon:"):
                    corrected = (_body(row[6]) or {}).get("corrected")
                    points, note = _audit.correction(expected, claimed, corrected)
                    if points:
                        fix = (points, note)
                        detail = f"{detail}; audit_correction {points} ({note})"
                found.append((*row[:5], outcome, detail, fix))
        now = utc_text(self.clock())
        try:
            self._record(found, now, bulk=True)
        except (_Raced, Conflict):
            self._record(found, now, bulk=False)
        return len(found)

    def _engine(self, digest: str, version: int) -> Any:
        def body() -> str:
            with self.storage.transaction() as tx:
                row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
            assert row is not None
            return str(row[0])

        try:
            return _engine.engine_for(f"{digest}:{version}", body)
        except ImportError:
            return None

    def _record(self, found: list[tuple[Any, ...]], now: str, *, bulk: bool) -> None:
        with self.storage.transaction() as tx:
            if bulk:  # the usual case: one DELETE per chunk, all rows still queued
                for i in range(0, len(found), 300):
                    part = found[i:i + 300]
                    deleted = tx.execute(
                        "DELETE FROM audit_queue WHERE (account, txn_id) IN (VALUES "
                        + ", ".join(["(?, ?)"] * len(part)) + ")",
                        [x for f in part for x in f[:2]])
                    if deleted != len(part):
                        raise _Raced()
                mine = found
                # every row was still queued, so none has an audit yet (COPY on PostgreSQL)
                tx.insert_many("audits", ("account", "txn_id", "till", "store",
                                          "bundle_version", "outcome", "detail", "at"),
                               [(*f[:5], f[5], f[6], now) for f in mine])
            else:
                mine = [f for f in found if tx.execute(
                    "DELETE FROM audit_queue WHERE account = ? AND txn_id = ?", f[:2]) == 1]
                tx.executemany(
                    "INSERT INTO audits (account, txn_id, till, store, bundle_version, outcome, "
                    "detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(*f[:5], f[5], f[6], now) for f in mine])
            for f in mine:
                if f[7] is not None:
                    self._correct(tx, f, now)
            mismatches = Counter(f[2] for f in mine if f[5] == "mismatch")
            tx.executemany("UPDATE till_state SET audit_mismatches = audit_mismatches + ? "
                           "WHERE till = ?", [(n, t) for t, n in sorted(mismatches.items())])
        for f in mine:
            if f[5] == "mismatch":
                log.warning("audit mismatch on %s (till %s): %s", f[1], f[2], f[6])

    @staticmethod
    def _correct(tx: Any, f: tuple[Any, ...], now: str) -> None:
        """Journal the correction of one re-priced sale (once: the entry id is the sale's)."""
        points, note = f[7]
        try:
            with tx.savepoint():
                _journal.post(tx, str(f[0]), f"{f[1]}:audit_correction", "audit_correction",
                              points, now, str(f[1]), note)
        except BalanceOutOfBounds:
            log.error("audit correction of %s on %s would leave the balance bounds; not applied",
                      f[1], f[0])

    def drain(self) -> int:
        """Audit every queued sale now, in this thread; return how many."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def pending(self) -> int:
        """Sales uploaded and not yet audited."""
        with self.storage.transaction() as tx:
            row = tx.one("SELECT COUNT(*) FROM audit_queue")
        return int(row[0]) if row else 0

    # -- the background thread ------------------------------------------------
    def wake(self) -> None:
        """New sales are queued: audit them soon."""
        with self._wakes_lock:
            self._wakes += 1
            self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the worker found the queue empty after the last ``wake``."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._wakes_lock:
                seen = self._wakes
            self.activity.wait_idle(self.max_defer, self.quiet)
            try:
                done = self.run_once()
            except Exception:  # noqa: BLE001 - a database outage: retry after the poll
                log.exception("audit worker failed; retrying")
                self._stop.wait(self.poll)
                continue
            if done == 0:
                with self._wakes_lock:
                    if seen == self._wakes:
                        self._idle.set()
                self._wake.wait(self.poll)
        self._idle.set()

