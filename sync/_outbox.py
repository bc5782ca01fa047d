"""The till's outbox: where a sale becomes final.

A sale is final when its row is committed here, in the same SQLite
transaction that gives it the next per-till ``seq`` (gap-free from 1) and
links it into the hash chain. The uploader later marks rows acknowledged,
and only on the ledger's answer; rows the ledger rejects are set aside in
``quarantine`` so they never block the rows behind them.

Restore epoch: every ledger answer carries an ``epoch``. When it differs
from the one recorded with our last acknowledgement, the ledger was
restored from a backup and may have forgotten what it acknowledged, so
every row above the ledger's reported contiguous high-water mark (its last
verified acknowledgement of us) is offered again; duplicates are harmless.

Re-enrolment (``re_enrol``, ``kopilka till re-enrol``): a till whose data
was wiped starts again at seq 1, and the ledger answers ``seq_conflict``
to every seq it already holds. Given the ledger's highest seq and its hash
(``GET``/``POST /v1/tills/me``), the rows it refused that way (and any
later row) are moved, in one transaction, to fresh seqs after it, chained
from that hash, and offered again; a *floor* recorded in ``sync_state``
(``seq_floor`` = ``seq:hash``) makes the next sale continue from there.
Only rows the ledger has answered may move: a ``seq_conflict`` is proof it
never applied them. A row still ``pending`` might have been applied with
its answer lost, so re-enrolment is refused while any is pending.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastcore import is_int

from ._errors import OutboxError
from ._hashchain import GENESIS, canonical_json, txn_hash, verify_chain
from ._tilldb import TillDb

log = logging.getLogger(__name__)

#: Extra statements run in the append's transaction: ``(sql, params)``.
Statement = tuple[str, "Sequence[Any] | Mapping[str, Any]"]

_DEFAULTS: dict[str, Any] = {
    "kind": "sale",
    "customer": None,
    "mode": "offline",
    "hold_id": None,
    "original_txn_id": None,
    "returned": None,
}


@dataclass(frozen=True)
class OutboxRow:
    """One committed outbox row; ``body`` is the exact JSON sent upstream."""

    seq: int
    txn_id: str
    prev_hash: str
    hash: str
    body: str
    created_at: float
    status: str = "pending"

    @property
    def txn(self) -> dict[str, Any]:
        """The TXN as a dict (parsed from ``body``)."""
        return dict(json.loads(self.body))


@dataclass(frozen=True)
class OutboxStatus:
    """What the status screen and the heartbeat report about the queue."""

    queue_depth: int
    oldest_unsynced_age_s: float
    rejected: int
    last_seq: int
    acked_through: int
    epoch: str | None
    ledger_high_water: int | None
    #: rows the ledger refused as ``seq_conflict`` (see ``SEQ_CONFLICT_HINT``)
    seq_conflicts: int = 0


@dataclass(frozen=True)
class ReEnrolment:
    """What ``re_enrol`` did: the ledger's last seq, the rows moved, the next seq."""

    base_seq: int
    moved: int
    requeued: int
    next_seq: int


SEQ_CONFLICT_HINT = ("the ledger already holds these seqs of this till from other sales (its data "
                     "was wiped or restored from an old copy): run `kopilka till re-enrol --config "
                     "till.toml` (docs/till-sync.md)")


@dataclass(frozen=True)
class AckCounts:
    """How one ledger answer was recorded."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    reoffered: int = 0


#: Acknowledgements written per transaction (see ``record_results``).
ACK_CHUNK = 128

_ROW_COLS = "seq, txn_id, prev_hash, hash, body, created_at, status"


def _row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], float(r[5]), r[6])


class Outbox:
    """Append sales, hand batches to the uploader, record the ledger's answers."""

    def __init__(
        self,
        db: TillDb,
        *,
        till: str,
        store: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.till = till
        self.store = store
        self.clock = clock
        self._listeners: list[Callable[[OutboxRow], None]] = []
        self._answer_listeners: list[Callable[[Mapping[str, Any]], None]] = []

    # -- the sale path ----------------------------------------------------------

    def add_listener(self, callback: Callable[[OutboxRow], None]) -> None:
        """Call ``callback(row)`` after each committed append (e.g. wake the uploader)."""
        self._listeners.append(callback)

    def _prepare(self, txn: Mapping[str, Any], seq: int, prev: str) -> tuple[str, str, dict[str, Any]]:
        body = {**_DEFAULTS, **txn}
        body.pop("hash", None)
        body.setdefault("txn_id", str(uuid.uuid4()))
        if not isinstance(body["txn_id"], str) or not body["txn_id"]:
            raise OutboxError("invalid", "txn_id must be a non-empty string")
        if body["kind"] not in ("sale", "return", "enrol"):  # enrol: docs/enrolment.md
            raise OutboxError("invalid", f"kind must be sale, return or enrol, not {body['kind']!r}")
        body.update(till=self.till, store=self.store, seq=seq, prev_hash=prev)
        digest = txn_hash(body)
        body["hash"] = digest
        return digest, canonical_json(body), body

    def _head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        row = conn.execute("SELECT seq, hash FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()
        floor = self._floor(conn)
        if floor is not None and (row is None or int(row[0]) < floor[0]):
            return floor
        return (0, GENESIS) if row is None else (int(row[0]), row[1])

    @staticmethod
    def _floor(conn: sqlite3.Connection) -> tuple[int, str] | None:
        """(seq, hash) the outbox continues from after a re-enrolment, or None."""
        row = conn.execute("SELECT value FROM sync_state WHERE key = 'seq_floor'").fetchone()
        if row is None or not row[0]:
            return None
        seq, _, digest = str(row[0]).partition(":")
        return int(seq), digest

    def append(self, txn: Mapping[str, Any], *, extra: Iterable[Statement] = ()) -> OutboxRow:
        """Commit one sale or return; it is final when this returns.

        ``extra`` statements run in the same transaction (the agent journals
        the session closing there), so the sale and that state change are
        committed together or not at all.
        """
        try:
            with self.db.transaction() as conn:
                last, prev = self._head(conn)
                digest, text, body = self._prepare(txn, last + 1, prev)
                now = self.clock()
                conn.execute(
                    "INSERT INTO outbox (seq, txn_id, body, prev_hash, hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (last + 1, body["txn_id"], text, prev, digest, now),
                )
                for sql, params in extra:
                    conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if "txn_id" in str(exc):
                raise OutboxError("duplicate_txn_id", f"txn_id {txn.get('txn_id')} already in the outbox") from exc
            raise OutboxError("integrity", str(exc)) from exc
        except sqlite3.Error as exc:
            raise OutboxError("database", str(exc)) from exc
        row = OutboxRow(last + 1, body["txn_id"], prev, digest, text, now)
        for cb in self._listeners:
            try:
                cb(row)
            except Exception:  # a listener must never undo or block a sale
                log.exception("outbox listener failed")
        return row

    def append_many(self, txns: Iterable[Mapping[str, Any]]) -> int:
        """Commit many rows in one transaction (imports, tests, benchmarks)."""
        n = 0
        with self.db.transaction() as conn:
            last, prev = self._head(conn)
            now = self.clock()
            params = []
            for txn in txns:
                last += 1
                digest, text, body = self._prepare(txn, last, prev)
                params.append((last, body["txn_id"], text, prev, digest, now))
                prev = digest
                n += 1
            conn.executemany(
                "INSERT INTO outbox (seq, txn_id, body, prev_hash, hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
        return n

    # -- the uploader side ------------------------------------------------------

    def add_answer_listener(self, callback: Callable[[Mapping[str, Any]], None]) -> None:
        """Call ``callback(outcome)`` with the ledger's outcome of each acknowledged row
        (an ``accepted`` answer, or a ``duplicate``'s ``original``), after it is
        recorded: the agent learns an enrolled card's account (docs/enrolment.md)."""
        self._answer_listeners.append(callback)

    def _tell(self, results: Sequence[Mapping[str, Any]]) -> None:
        for res in results:
            status = res.get("status")
            doc = res if status == "accepted" else res.get("original") if status == "duplicate" else None
            if not isinstance(doc, Mapping):
                continue
            outcome = {**doc, "txn_id": res.get("txn_id")}
            for cb in self._answer_listeners:
                try:
                    cb(outcome)
                except Exception:  # a listener must never undo an acknowledgement
                    log.exception("outbox answer listener failed")

    def pending(self, limit: int = 500, after_seq: int = 0) -> list[OutboxRow]:
        """The oldest unsent rows, oldest first (read on the side connection)."""
        with self.db.reader() as conn:
            rows = conn.execute(
                f"SELECT {_ROW_COLS} FROM outbox WHERE status = 'pending' AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def record_results(
        self,
        results: Sequence[Mapping[str, Any]],
        *,
        epoch: str | None,
        high_water: int | None,
        sent: Sequence[OutboxRow] = (),
    ) -> AckCounts:
        """Record one ledger answer in one transaction; the cursor moves only here.

        ``sent`` (the rows of the batch) lets rows be found by ``seq`` (the
        rowid) instead of through the ``txn_id`` index.
        """
        accepted = duplicate = rejected = reoffered = 0
        now = self.clock()
        seq_of = {r.txn_id: r.seq for r in sent}
        acks: list[tuple[float, str, str, int]] = []
        rejects: list[Mapping[str, Any]] = []
        for res in results:
            status = res.get("status")
            if status in ("accepted", "duplicate"):
                tid = str(res.get("txn_id"))
                acks.append((now, str(status), tid, seq_of.get(tid, -1)))
            elif status == "rejected":
                rejects.append(res)
            else:
                log.warning("ledger answered unknown status %r for %s", status, res.get("txn_id"))
        # Acknowledgements are written in short transactions so that a sale
        # waiting for the connection never waits behind a whole batch; each
        # row's acknowledgement is independent (a crash between two chunks
        # only means resending rows the ledger answers as duplicates).
        chunks = [acks[i:i + ACK_CHUNK] for i in range(0, len(acks), ACK_CHUNK)] or [[]]
        # Not fsynced: a power cut may lose acknowledgements (never sales);
        # those rows are then offered again and answered ``duplicate``.
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            with self.db.transaction(durable=False) as conn:
                a, d = self._ack(conn, chunk, now)
                accepted += a
                duplicate += d
                if last:
                    for res in rejects:
                        txn_id = res.get("txn_id")
                        row = conn.execute("SELECT seq FROM outbox WHERE txn_id = ?", (txn_id,)).fetchone()
                        if row is None:
                            log.warning("ledger answered for unknown txn_id %s", txn_id)
                            continue
                        reason = str(res.get("reason") or "rejected")
                        self._quarantine(conn, int(row[0]), str(txn_id), reason, res.get("detail"), now)
                        if reason == "seq_conflict":
                            log.error("outbox seq %d: seq_conflict: %s", int(row[0]), SEQ_CONFLICT_HINT)
                        rejected += 1
                    if epoch is not None:
                        reoffered = self._epoch(conn, epoch, high_water)
            if not last:
                time.sleep(0)  # yield: let a waiting sale take the connection
        if self._answer_listeners:
            self._tell(results)
        return AckCounts(accepted, duplicate, rejected, reoffered)

    def _ack(self, conn: sqlite3.Connection, acks: list[tuple[float, str, str, int]],
             now: float) -> tuple[int, int]:
        if not acks:
            return 0, 0
        by_seq = [a for a in acks if a[3] > 0]
        by_id = [a[:3] for a in acks if a[3] <= 0]
        changed = 0
        if by_seq:
            changed += conn.executemany(
                "UPDATE outbox SET status = 'acked', acked_at = ?, ack_status = ?"
                " WHERE seq = ? AND txn_id = ? AND status = 'pending'",
                [(a[0], a[1], a[3], a[2]) for a in by_seq],
            ).rowcount
        if by_id:
            changed += conn.executemany(
                "UPDATE outbox SET status = 'acked', acked_at = ?, ack_status = ?"
                " WHERE txn_id = ? AND status = 'pending'",
                by_id,
            ).rowcount
        if changed == len(acks):
            accepted = sum(1 for a in acks if a[1] == "accepted")
            return accepted, len(acks) - accepted
        # Answers for rows we do not have, or already settled: count what changed.
        log.warning("ledger acknowledged %d rows, %d were pending here", len(acks), changed)
        return self._recount(conn, acks, now)

    @staticmethod
    def _recount(conn: sqlite3.Connection, acks: list[tuple[float, str, str, int]],
                 now: float) -> tuple[int, int]:
        accepted = duplicate = 0
        for _, status, txn_id, _seq in acks:
            hit = conn.execute(
                "SELECT 1 FROM outbox WHERE txn_id = ? AND status = 'acked' AND acked_at = ?", (txn_id, now)
            ).fetchone()
            if hit is not None:
                accepted += status == "accepted"
                duplicate += status == "duplicate"
        return accepted, duplicate

    def _quarantine(self, conn: sqlite3.Connection, seq: int, txn_id: str, reason: str,
                    detail: Any, now: float) -> None:
        conn.execute("UPDATE outbox SET status = 'rejected', ack_status = ? WHERE seq = ?", (reason, seq))
        conn.execute(
            "INSERT OR REPLACE INTO quarantine (seq, txn_id, reason, detail, at) VALUES (?, ?, ?, ?, ?)",
            (seq, txn_id, reason, None if detail is None else str(detail), now),
        )
        log.warning("outbox seq %d (%s) rejected by the ledger: %s", seq, txn_id, reason)

    def quarantine(self, seq: int, reason: str, detail: str | None = None) -> None:
        """Set one row aside (the uploader does this for a row the ledger refuses with a 4xx)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT txn_id FROM outbox WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise OutboxError("unknown_seq", f"no outbox row {seq}")
            self._quarantine(conn, seq, row[0], reason, detail, self.clock())

    def quarantined(self) -> list[dict[str, Any]]:
        """Rows set aside, oldest first, for status screens and reports."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT seq, txn_id, reason, detail, at FROM quarantine ORDER BY seq"
            ).fetchall()
        return [dict(zip(("seq", "txn_id", "reason", "detail", "at"), r, strict=False)) for r in rows]

    def requeue(self, seq: int) -> None:
        """Offer a quarantined row again (after head office fixed the cause)."""
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM quarantine WHERE seq = ?", (seq,))
            if cur.rowcount == 0:
                raise OutboxError("not_quarantined", f"seq {seq} is not in quarantine")
            conn.execute("UPDATE outbox SET status = 'pending', ack_status = NULL WHERE seq = ?", (seq,))

    # -- restore epoch ------------------------------------------------------------

    def _epoch(self, conn: sqlite3.Connection, epoch: str, high_water: int | None) -> int:
        known = conn.execute("SELECT value FROM sync_state WHERE key = 'epoch'").fetchone()
        reoffered = 0
        if known is not None and known[0] is not None and known[0] != epoch:
            if high_water is None:
                # No watermark in this answer (a heartbeat): re-offer our newest
                # acknowledged row as a probe; its answer carries the new epoch's
                # high-water mark, and the rest is re-offered then.
                last = conn.execute(
                    "SELECT MAX(seq) FROM outbox WHERE status = 'acked'"
                ).fetchone()[0]
                if last is not None:
                    conn.execute("UPDATE outbox SET status = 'pending' WHERE seq = ?", (last,))
                    log.warning("ledger restore epoch changed to %s: probing with seq %d", epoch, last)
                    return 1
            else:
                cur = conn.execute(
                    "UPDATE outbox SET status = 'pending', acked_at = NULL"
                    " WHERE status = 'acked' AND seq > ?",
                    (high_water,),
                )
                reoffered = cur.rowcount
                log.warning(
                    "ledger restore epoch changed %s -> %s: re-offering %d rows above seq %d",
                    known[0], epoch, reoffered, high_water,
                )
        TillDb.set_state(conn, "epoch", epoch)
        if high_water is not None:
            TillDb.set_state(conn, "ledger_high_water", str(high_water))
        return reoffered

    def observe_epoch(self, epoch: str, high_water: int | None = None) -> int:
        """Record an epoch seen outside an upload (heartbeat); returns rows re-offered."""
        with self.db.transaction() as conn:
            return self._epoch(conn, epoch, high_water)

    # -- status and audit ---------------------------------------------------------

    def status(self) -> OutboxStatus:
        """Queue depth, oldest unsynced age, rejects and cursors."""
        with self.db.lock:
            c = self.db.conn
            depth, oldest = c.execute(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()
            rejected = c.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
            last = c.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
            first_pending = c.execute(
                "SELECT MIN(seq) FROM outbox WHERE status = 'pending'"
            ).fetchone()[0]
        hw = self.db.get_state("ledger_high_water")
        age = 0.0 if oldest is None else max(0.0, self.clock() - float(oldest))
        return OutboxStatus(
            queue_depth=int(depth),
            oldest_unsynced_age_s=age,
            rejected=int(rejected),
            last_seq=int(last),
            acked_through=int(last) if first_pending is None else int(first_pending) - 1,
            epoch=self.db.get_state("epoch"),
            ledger_high_water=None if hw is None else int(hw),
            seq_conflicts=self.seq_conflicts(),
        )

    def seq_conflicts(self) -> int:
        """Rows set aside because the ledger holds their seq from another sale."""
        with self.db.lock:
            return int(self.db.conn.execute(
                "SELECT COUNT(*) FROM quarantine WHERE reason = 'seq_conflict'").fetchone()[0])

    # -- re-enrolment (module doc) -----------------------------------------------

    def re_enrol(self, ledger_max_seq: int, ledger_last_hash: str) -> ReEnrolment:
        """Continue this outbox after the ledger's highest seq of this till.

        Raises ``OutboxError("unsynced")`` (changing nothing) while any row
        is pending: the ledger must have answered every row first.
        """
        if not is_int(ledger_max_seq) or ledger_max_seq < 0:
            raise OutboxError("invalid", "the ledger's max_seq must be an integer >= 0")
        if not isinstance(ledger_last_hash, str) or len(ledger_last_hash) != 64:
            raise OutboxError("invalid", "the ledger's last_hash must be 64 hex characters")
        with self.db.transaction() as conn:
            pending = conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
            if pending:
                raise OutboxError(
                    "unsynced", f"{pending} sales are not yet answered by the ledger; they must reach "
                    "it first (start the agent or run `kopilka sync now`, then re-enrol)")
            acked = conn.execute("SELECT MAX(seq) FROM outbox WHERE status = 'acked'").fetchone()[0]
            base, base_hash = ledger_max_seq, ledger_last_hash
            if acked is not None and int(acked) > base:
                base = int(acked)  # the ledger forgot it (restored): never reuse an acked seq
                base_hash = conn.execute("SELECT hash FROM outbox WHERE seq = ?", (base,)).fetchone()[0]
            rows = conn.execute(
                "SELECT o.seq, o.txn_id, o.prev_hash, o.hash, o.body, o.created_at, o.status,"
                " q.reason, q.detail, q.at FROM outbox o LEFT JOIN quarantine q"
                " ON q.seq = o.seq WHERE o.status = 'rejected' AND (o.seq > ? OR q.reason = 'seq_conflict')"
                " ORDER BY o.seq", (base,)).fetchall()
            old = [int(r[0]) for r in rows]
            conn.executemany("DELETE FROM quarantine WHERE seq = ?", ((q,) for q in old))
            conn.executemany("DELETE FROM outbox WHERE seq = ?", ((q,) for q in old))
            prev, seq, requeued = base_hash, base, 0
            for r in rows:
                seq += 1
                body = json.loads(r[4])
                body.pop("hash", None)
                body.update(seq=seq, prev_hash=prev)
                digest = txn_hash(body)
                body["hash"] = digest
                again = r[7] == "seq_conflict"
                conn.execute(
                    "INSERT INTO outbox (seq, txn_id, body, prev_hash, hash, created_at, status, ack_status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, r[1], canonical_json(body), prev, digest, r[5],
                     "pending" if again else "rejected", None if again else r[7]))
                if again:
                    requeued += 1
                else:
                    conn.execute("INSERT INTO quarantine (seq, txn_id, reason, detail, at) VALUES (?, ?, ?, ?, ?)",
                                 (seq, r[1], r[7], r[8], r[9]))
                prev = digest
            TillDb.set_state(conn, "seq_floor", f"{base}:{base_hash}")
        log.warning("outbox re-enrolled after the ledger's seq %d: %d rows moved (%d offered again)",
                    base, len(rows), requeued)
        return ReEnrolment(base, len(rows), requeued, seq + 1)

    def rows(self) -> list[OutboxRow]:
        """Every row, by seq (audits and tests)."""
        with self.db.lock:
            rows = self.db.conn.execute(f"SELECT {_ROW_COLS} FROM outbox ORDER BY seq").fetchall()
        return [_row(r) for r in rows]

    def verify(self) -> int:
        """Verify seqs and the hash chain of the whole outbox; return the row count.

        After a re-enrolment the chain is verified from its floor (rows above
        it contiguous and linked from the ledger's hash); rows below it, from
        before, are each checked against their own hash.
        Raises ``OutboxError("broken_chain")`` naming the first bad row.
        """
        with self.db.lock:
            floor = self._floor(self.db.conn)
        rows = self.rows()
        try:
            if floor is None:
                return verify_chain(r.txn for r in rows)
            below = [r.txn for r in rows if r.seq <= floor[0]]
            for txn in below:
                if txn_hash(txn) != txn.get("hash"):
                    raise ValueError(f"seq {txn.get('seq')}: hash does not match its body")
            return len(below) + verify_chain((r.txn for r in rows if r.seq > floor[0]),
                                             first_seq=floor[0] + 1, prev=floor[1])
        except ValueError as exc:
            raise OutboxError("broken_chain", str(exc)) from exc
