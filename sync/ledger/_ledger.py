"""The ledger facade: one database, one clock, every operation.

The HTTP app and the CLI both go through ``Ledger`` so that a command and
an endpoint can never disagree about what an operation does.
"""
from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastcore import MAX_INT

from . import _bundles, _certificates, _customers, _holds, _jobs, _journal, _keys, _members, _tills, _tokens
from ._auditor import Activity, Auditor
from ._clock import Clock, system_clock, utc_text
from ._errors import LedgerError, RequestError
from ._ingest import BatchAnswer, Ingest, read_epoch
from ._migrations import migrate, new_epoch
from ._storage import Storage, Tx, open_storage

log = logging.getLogger(__name__)

#: read-only connections a ledger process opens at most for its requests' look-ups
READERS = 4
DEFAULT_PROGRAM = "kopilka"


class Ledger:
    """A ledger database opened (and migrated) from its URL."""

    def __init__(self, url: str, *, clock: Clock = system_clock,
                 hold_ttl: timedelta = _holds.DEFAULT_TTL, per_sale_commit: bool = False,
                 customer_refresh_s: float = 1.0) -> None:
        self.url = url
        self.clock = clock
        #: how often a till's bundle request folds sales and balance changes
        #: into the store customer caches (at most; 0 = every request)
        self.customer_refresh_s = customer_refresh_s
        self.hold_ttl = hold_ttl
        self.storage: Storage = open_storage(url)
        try:
            migrate(self.storage)
        except BaseException:
            self.storage.close()
            raise
        self.activity = Activity()
        self.ingest = Ingest(self.storage, clock, per_sale_commit=per_sale_commit,
                             activity=self.activity, on_queued=self._wake_auditor)
        self.auditor: Auditor | None = None
        #: gift certificates (docs/certificates.md)
        self.certificates = _certificates.CertificateDesk(self.storage, clock)
        self._readers: list[Storage] = []  # every read-only connection opened
        self._idle_readers: queue.SimpleQueue[Storage] = queue.SimpleQueue()
        self._reader_lock = threading.Lock()

    def close(self) -> None:
        """Stop the audit worker (if started) and close the database connections."""
        self.stop_auditor()
        with self._reader_lock:
            for st in self._readers:
                st.close()
            self._readers.clear()
        self.storage.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read transaction on one of this process's read-only connections.

        What every request does first — its key looked up — must not queue
        behind the group commits on ``storage``'s connection, nor behind the
        other requests' look-ups: one connection serialised them (a profile of
        1,000 tills posting at once showed a quarter of the server's samples
        waiting for it), so up to ``READERS`` are opened as needed and reused.
        """
        if self.url.endswith(":memory:"):  # one connection is the database
            with self.storage.transaction() as tx:
                yield tx
            return
        st = self._take_reader()
        try:
            with st.transaction() as tx:
                yield tx
        finally:
            self._idle_readers.put(st)

    def _take_reader(self) -> Storage:
        try:
            return self._idle_readers.get_nowait()
        except queue.Empty:
            pass
        with self._reader_lock:
            if len(self._readers) < READERS:
                st = open_storage(self.url, reader=True)
                self._readers.append(st)
                return st
        return self._idle_readers.get()  # all busy: wait for one

    # -- audit (after the acknowledgement) ------------------------------------
    def start_auditor(self, *, quiet: float = 0.25, max_defer: float = 2.0,
                      poll: float = 1.0) -> Auditor:
        """Start the background audit worker on its own connection (``serve`` does)."""
        if self.auditor is None:
            storage = open_storage(self.url)
            self.auditor = Auditor(storage, self.clock, activity=self.activity, quiet=quiet,
                                   max_defer=max_defer, poll=poll)
            self.auditor.start()
            self.auditor.wake()  # sales queued before a restart
        return self.auditor

    def stop_auditor(self) -> None:
        """Stop the audit worker; unaudited sales stay queued for the next one."""
        if self.auditor is not None:
            auditor, self.auditor = self.auditor, None
            auditor.stop()
            auditor.storage.close()

    def _wake_auditor(self) -> None:
        if self.auditor is not None:
            self.auditor.wake()

    def audit_pending(self) -> int:
        """Re-price every queued sale now, in this thread; return how many."""
        return Auditor(self.storage, self.clock).drain()

    def audits_queued(self) -> int:
        """Sales acknowledged and not yet re-priced."""
        return Auditor(self.storage, self.clock).pending()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now_text(self) -> str:
        """The ledger clock as stored text."""
        return utc_text(self.clock())

    # -- tills, epoch -----------------------------------------------------
    def add_till(self, store: str, till: str, *, replace: bool = False) -> str:
        """Register a till; return its key (shown once, stored as a hash)."""
        with self.storage.transaction() as tx:
            return _tills.add_till(tx, store, till, self.now_text(), replace=replace)

    def authenticate(self, key: str) -> _tills.TillRecord | None:
        """The till owning ``key``, or None."""
        with self.storage.transaction() as tx:
            return _tills.authenticate(tx, key)

    def epoch(self) -> str:
        """The restore epoch tills compare against their last acknowledgement."""
        with self.storage.transaction() as tx:
            row = tx.one("SELECT value FROM meta WHERE key = 'epoch'")
        return str(row[0]) if row else ""

    def bump_epoch(self) -> str:
        """Start a new restore epoch (run after restoring the database from a backup)."""
        epoch = new_epoch()
        with self.storage.transaction() as tx:
            tx.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))
        log.warning("restore epoch is now %s", epoch)
        return epoch

    # -- members ----------------------------------------------------------
    def import_members(self, text: str) -> _members.ImportStats:
        """Validate and load a members file (CSV or JSON lines), idempotently."""
        members = _members.parse_members(text)
        with self.storage.transaction() as tx:
            return _members.import_members(tx, members, self.now_text())

    def adjust(self, account: str, points: int, kind: str = "adjustment",
               note: str | None = None, entry_id: str | None = None) -> bool:
        """Journal a manual ``adjustment`` or an ``expiry``; False if ``entry_id`` was used."""
        if kind not in ("adjustment", "expiry"):
            raise LedgerError("invalid", "kind must be adjustment or expiry")
        if kind == "expiry" and points > 0:
            raise LedgerError("invalid", "an expiry removes points: use a negative amount")
        if not -MAX_INT <= points <= MAX_INT:
            raise LedgerError("invalid", "points must lie within ±(2^53 − 1)", "points")
        import uuid

        with self.storage.transaction() as tx:
            if tx.one("SELECT 1 FROM accounts WHERE account = ?", (account,)) is None:
                raise LedgerError("unknown_account", f"no account {account}")
            return _journal.post(tx, account, entry_id or f"{kind}:{uuid.uuid4().hex}", kind,
                                 points, self.now_text(), note=note)

    # -- the programme's scheduled jobs (docs/programme-life.md) -------------
    def expire_points(self, at: str | None = None) -> dict[str, Any]:
        """Expire the lots older than ``program.expiry_days`` as of ``at`` (YYYY-MM-DD)."""
        return _jobs.expire(self.storage, at, self.clock())

    def review_tiers(self, at: str | None = None) -> dict[str, Any]:
        """Lower the tiers whose rolling spend at ``at`` (YYYY-MM-DD) is below threshold."""
        return _jobs.review(self.storage, at, self.clock())

    def check(self) -> list[_journal.Mismatch]:
        """Accounts whose balance differs from their journal sum."""
        with self.storage.transaction() as tx:
            out = _journal.check(tx)
            # a certificate's balance equals its entries too (docs/certificates.md)
            out.extend(_journal.Mismatch(f"certificate:{c}", b, s)
                       for c, b, s in _certificates.check(tx))
            return out

    def balance(self, account: str) -> int | None:
        """The materialised balance of ``account``."""
        with self.storage.transaction() as tx:
            row = tx.one("SELECT points FROM accounts WHERE account = ?", (account,))
        return None if row is None else int(row[0])

    def customer(self, card: str) -> dict[str, Any] | None:
        """GET /v1/customers/{card}: the profile with the available balance."""
        with self.storage.transaction() as tx:
            prof = _members.profile(tx, card)
            if prof is None:
                return None
            avail = _holds.available(tx, prof.account, self.now_text())
        # The bonus flags come from the ledger's own record (sales applied, the
        # year a birthday bonus was last given), so a till that identifies the
        # member online prices the welcome and birthday bonus at most once.
        return {"card": prof.card, "account": prof.account, "tier": prof.tier,
                "segments": prof.segments, "offers": prof.offers, "birthday": prof.birthday,
                "favorite_category": prof.favorite_category,
                "favorite_until": prof.favorite_until, "balance": avail,
                "first_purchase": prof.sales == 0,
                "birthday_bonus_available": (prof.birthday is not None
                                             and prof.birthday_bonus_year != self.clock().year)}

    # -- tokens and keys --------------------------------------------------
    def rotate_keys(self) -> tuple[str, int | None]:
        """New signing key; republish the newest bundle with the new JWKS."""
        with self.storage.transaction() as tx:
            kid = _keys.rotate(tx, self.now_text())
            version = _bundles.republish(tx, self.now_text())
        return kid, version

    def jwks(self) -> dict[str, Any]:
        """The published token keys."""
        with self.storage.transaction() as tx:
            return _keys.jwks(tx)

    def issue_token(self, card: str) -> str:
        """A signed token for ``card`` (404-style ``RequestError`` when unknown)."""
        now = self.clock()
        with self.storage.transaction() as tx:
            prof = _members.profile(tx, card)
            if prof is None:
                raise RequestError("unknown_card", "no such card", "card")
            avail = _holds.available(tx, prof.account, utc_text(now))
            program, cap = DEFAULT_PROGRAM, None
            newest = _bundles.latest_version(tx)
            if newest:
                bundle = _bundles.load(tx, newest) or {}
                prog = bundle.get("program") or {}
                program = str(prog.get("id") or DEFAULT_PROGRAM)
                raw_cap = prog.get("offline_token_cap")
                cap = raw_cap if isinstance(raw_cap, int) and raw_cap >= 0 else None
            return _tokens.issue(tx, prof, avail, now, utc_text(now), program, cap)

    # -- bundles ------------------------------------------------------------
    def import_bundle(self, text: str) -> tuple[int, bool]:
        """Validate and store a bundle as the next version; (version, created)."""
        body = _bundles.parse(text)
        with self.storage.transaction() as tx:
            return _bundles.store_version(tx, body, self.now_text())

    def bundle_answer(self, since: int | None) -> dict[str, Any] | None:
        """GET /v1/bundle?since=V, as a dict."""
        with self.storage.transaction() as tx:
            return _bundles.answer(tx, since)

    def bundle_answer_text(self, since: int | None, till: _tills.TillRecord | None = None,
                           customers: str | None = None) -> str | None:
        """GET /v1/bundle?since=V[&customers=CURSOR], as the JSON text sent.

        The bundle part is cached per version pair; with ``customers`` (the
        till's cache cursor, ``""`` for none) the answer also carries the
        changes of the till's store customer cache (spec/till.md §2a).
        """
        if till is not None and customers is not None:
            self.refresh_customers()
        with self.storage.transaction() as tx:
            text = _bundles.answer_text(tx, since)
            if text is None or till is None or customers is None:
                return text
            epoch = tx.one("SELECT value FROM meta WHERE key = 'epoch'")
            newest = _bundles.latest_version(tx)
            part = _customers.answer_text(tx, till.store, _customers.scope_of(tx, newest),
                                          str(epoch[0]) if epoch else "", customers)
        return text[:-1] + ',"customers":' + part + "}"

    def refresh_customers(self, *, force: bool = False) -> bool:
        """Fold new sales and balance changes into the store customer caches (if due)."""
        with self.storage.transaction() as tx:
            return _customers.refresh(tx, self.now_text(), 0.0 if force else
                                      self.customer_refresh_s, self.storage.kind)

    def build_customer_caches(self) -> None:
        """Fill the store customer caches if they never were (``kopilka ledger migrate``).

        Otherwise the first till request after migration 7 would do it, and
        on a large ledger that takes minutes.
        """
        with self.storage.transaction() as tx:
            _customers.ensure_built(tx, self.now_text())

    def remove_members(self, cards: list[str]) -> int:
        """Delete member cards (their account, journal and sales stay); tills drop them.

        Every card must be known: an unknown one refuses the whole list.
        """
        with self.storage.transaction() as tx:
            for card in cards:
                if tx.one("SELECT 1 FROM cards WHERE card = ?", (card,)) is None:
                    raise LedgerError("unknown_card", f"no member with card ...{card[-4:]}")
            _customers.ensure_built(tx, self.now_text())
            _customers.remove(tx, cards, self.now_text())
        return len(cards)

    def till_info(self, till: _tills.TillRecord) -> dict[str, Any]:
        """GET /v1/tills/me: the till's seqs as the ledger holds them."""
        with self.storage.transaction() as tx:
            epoch = tx.one("SELECT value FROM meta WHERE key = 'epoch'")
            return _tills.info(tx, till, str(epoch[0]) if epoch else "")

    def re_enrol(self, till: _tills.TillRecord) -> dict[str, Any]:
        """POST /v1/tills/me/re-enrol: record it and answer like ``till_info``."""
        with self.storage.transaction() as tx:
            epoch = tx.one("SELECT value FROM meta WHERE key = 'epoch'")
            found = _tills.info(tx, till, str(epoch[0]) if epoch else "")
            _tills.record_enrolment(tx, till, self.now_text(), found)
        log.warning("till %s re-enrolled: next seq %s", till.till, found["next_seq"])
        return found

    # -- holds, uploads, heartbeats ------------------------------------------
    def place_hold(self, till: _tills.TillRecord, account: str, points: int,
                   txn_id: str) -> dict[str, Any]:
        """POST /v1/holds."""
        return _holds.place(self.storage, till.till, till.store, account, points, txn_id,
                            self.clock(), self.hold_ttl)

    def release_hold(self, till: _tills.TillRecord, hold_id: str) -> None:
        """DELETE /v1/holds/{hold_id}."""
        _holds.release(self.storage, till.till, hold_id, self.clock())

    def available(self, account: str) -> int:
        """Balance minus active holds."""
        with self.storage.transaction() as tx:
            return _holds.available(tx, account, self.now_text())

    def upload(self, till: _tills.TillRecord, body: Any) -> BatchAnswer:
        """POST /v1/transactions."""
        return self.ingest.upload(till, body)

    def heartbeat(self, till: _tills.TillRecord, hb: dict[str, Any]) -> str:
        """Store the latest heartbeat of ``till`` (validated by the caller); the epoch.

        It shares the group commit of the process's uploads, and a group of
        heartbeats only commits without waiting for the disk: a heartbeat is
        superseded a minute later, so a crash losing the last second of them
        costs nothing, while an fsync each would cost 250 a second at 15,000
        tills. Once answered it is visible to every reader (the sync report).
        """
        now = self.now_text()
        row = (till.till, till.store, hb.get("at"), now, hb["queue_depth"],
               hb["oldest_unsynced_age_s"], hb.get("bundle_version"), hb.get("agent_version"),
               json.dumps(hb.get("hardware") or {}, ensure_ascii=False))

        def job(tx: Tx) -> str:
            tx.execute(
                "INSERT INTO heartbeats (till, store, at, received_at, queue_depth, "
                "oldest_unsynced_age_s, bundle_version, agent_version, hardware) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (till) DO UPDATE SET "
                "at = excluded.at, received_at = excluded.received_at, "
                "queue_depth = excluded.queue_depth, "
                "oldest_unsynced_age_s = excluded.oldest_unsynced_age_s, "
                "bundle_version = excluded.bundle_version, "
                "agent_version = excluded.agent_version, hardware = excluded.hardware", row)
            tx.execute("UPDATE till_state SET last_contact = ? WHERE till = ?", (now, till.till))
            return read_epoch(tx)

        return self.ingest.group.run(job, durable=False)
