"""The till's own SQLite database: outbox, quarantine, promo cache, sync state.

Why so careful: a sale is final when its outbox row is committed here, so
this file is the till's book of record until the ledger acknowledges it.
It runs in WAL mode with ``synchronous=FULL`` (a committed sale survives a
power cut), is checked with ``PRAGMA quick_check`` on every start, changes
its schema only through the numbered migrations below (each recorded in
``_migrations``), and has its WAL checkpointed on a schedule so that the
``-wal`` file cannot grow without bound while the link is down for days.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


from ._errors import TillDbCorrupt
from ._migrate import Record, run_migrations

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


def _script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT the migration's transaction first; run
    # each statement inside it instead.
    for stmt in sql.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _m1_core(conn: sqlite3.Connection) -> None:
    _script(conn, 
        """
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            txn_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'acked', 'rejected')),
            acked_at REAL,
            ack_status TEXT
        );
        CREATE INDEX outbox_pending ON outbox(status, seq);
        CREATE TABLE quarantine (
            seq INTEGER PRIMARY KEY REFERENCES outbox(seq),
            txn_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT,
            at REAL NOT NULL
        );
        CREATE TABLE sync_state (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


def _m2_promo(conn: sqlite3.Connection) -> None:
    _script(conn, 
        """
        CREATE TABLE promo_bundle (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL,
            body TEXT NOT NULL,
            stored_at REAL NOT NULL
        );
        CREATE TABLE promo_refused (
            id INTEGER PRIMARY KEY,
            version INTEGER,
            reason TEXT NOT NULL,
            field TEXT,
            detail TEXT,
            at REAL NOT NULL
        );
        """
    )


def _m3_promo_rows(conn: sqlite3.Connection) -> None:
    # The keyed sections (catalog, promotions, customers) one row per entry,
    # so that a delta writes only what it changes; ``promo_bundle.body``
    # keeps the rest (program, tiers, stores, keys, version).
    _script(conn, """
        CREATE TABLE promo_entry (
            section TEXT NOT NULL,
            key TEXT NOT NULL,
            pos INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (section, key)
        )
    """)
    row = conn.execute("SELECT body FROM promo_bundle WHERE id = 1").fetchone()
    if row is None:
        return
    import json

    bundle = json.loads(row[0])
    for section, key in (("catalog", "sku"), ("promotions", "id"), ("customers", "card")):
        for pos, entry in enumerate(bundle.pop(section, None) or []):
            conn.execute("INSERT INTO promo_entry (section, key, pos, body) VALUES (?, ?, ?, ?)",
                         (section, str(entry[key]), pos, json.dumps(entry)))
    conn.execute("UPDATE promo_bundle SET body = ? WHERE id = 1", (json.dumps(bundle),))


def _m4_customers(conn: sqlite3.Connection) -> None:
    # The store customer cache (spec/till.md §2a, sync/_customercache.py):
    # one row per card, found by its primary key; no rowid to keep it small.
    conn.execute("CREATE TABLE promo_customer (card TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID")


#: Numbered migrations; append only, never edit a released one.
MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "outbox, quarantine and sync state", _m1_core),
    (2, "promo cache", _m2_promo),
    (3, "promo cache entries stored one row each", _m3_promo_rows),
    (4, "store customer cache", _m4_customers),
]


@dataclass(frozen=True)
class WalStatus:
    """Size of the WAL file and when it was last checkpointed (for status)."""

    wal_bytes: int
    last_checkpoint_at: float | None
    checkpoints: int


class TillDb:
    """One connection to the till database, shared by threads under a lock.

    Open it once per process part (the agent's sale path and its uploader may
    share one, or each open its own: WAL lets readers run beside the writer
    and ``busy_timeout`` orders writers).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_every_s: float = 300.0,
        checkpoint_above_bytes: int = 16 * 1024 * 1024,
        wal_warn_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        self.clock = clock
        self.checkpoint_every_s = checkpoint_every_s
        self.checkpoint_above_bytes = checkpoint_above_bytes
        self.wal_warn_bytes = wal_warn_bytes
        self.lock = threading.RLock()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._quick_check(conn)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - only on odd filesystems
                raise TillDbCorrupt("no_wal", f"journal_mode is {mode}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # SQLite's automatic checkpoint runs inside whichever commit
            # crosses the threshold (a sale!); start_checkpointer() turns it
            # off and checkpoints from its own connection instead.
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            # Each WAL reset (after a full checkpoint) shrinks the file back to
            # this size, so one burst (a long drain) does not leave it huge.
            conn.execute(f"PRAGMA journal_size_limit = {int(checkpoint_above_bytes)}")
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self._last_checkpoint: float | None = None
        self._checkpoints = 0
        self._ckpt_lock = threading.Lock()
        self._warned_at = -1e9
        self._read_lock = threading.Lock()
        self._read_conn: sqlite3.Connection | None = None
        self._ckpt_conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.migrate()

    # -- integrity and schema -------------------------------------------------

    @staticmethod
    def _quick_check(conn: sqlite3.Connection) -> None:
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise TillDbCorrupt("corrupt", str(exc)) from exc
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise TillDbCorrupt("corrupt", "; ".join(problems[:5]))

    def migrate(self, migrations: Any = None, *, table: str = "_migrations") -> list[int]:
        """Apply the migrations not yet recorded; return the numbers applied.

        Another package keeping its own tables in the till database (the
        agent) passes its own list and record table, so each owner numbers
        its migrations independently.
        """
        migrations = MIGRATIONS if migrations is None else migrations
        book: Record[sqlite3.Connection] = Record(
            table, "id", "REAL", self.clock, lambda c, sql, args: c.execute(sql, args),
            lambda c, sql: c.execute(sql))
        applied = run_migrations(migrations, self.transaction, book,
                                 lambda c, _n, fn: fn(c), together=True)
        if applied:
            log.info("till db %s: applied %s migrations %s", self.path, table, applied)
        return applied

    def migrations(self) -> list[int]:
        """Numbers of the recorded migrations, in order."""
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT id FROM _migrations ORDER BY id")]

    # -- transactions ---------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any exception).

        IMMEDIATE takes the write lock up front so that two connections
        never both read the last seq and then race to insert.
        ``durable=False`` commits without an fsync (``synchronous=NORMAL``
        for this one transaction; the next durable commit syncs it too):
        only for writes that may be lost in a power cut and redone, such as
        the ledger's acknowledgements. Sales are always durable.
        """
        with self.lock:
            if not durable:
                self.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
            finally:
                if not durable:
                    self.conn.execute("PRAGMA synchronous = FULL")

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A second connection for long reads (the uploader's batches).

        In WAL mode it sees every committed row and never holds up the
        sale path, which keeps the main connection and its lock.
        """
        with self._read_lock:
            if self._read_conn is None:
                self._read_conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._read_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            yield self._read_conn

    def get_state(self, key: str) -> str | None:
        """A value of the small key/value ``sync_state`` table."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def set_state(conn: sqlite3.Connection, key: str, value: str | None) -> None:
        """Set a ``sync_state`` value inside the caller's transaction."""
        conn.execute(
            "INSERT INTO sync_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- WAL ------------------------------------------------------------------

    def wal_bytes(self) -> int:
        """Current size of the ``-wal`` file (0 when absent)."""
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def checkpoint(self, mode: str = "TRUNCATE") -> tuple[int, int, int]:
        """Checkpoint the WAL from a connection of its own (sales never wait on it).

        ``PASSIVE`` copies what it can without blocking anyone; ``TRUNCATE``
        (default) also shrinks the file to zero when no reader holds it, and
        gives up at once (``busy``) rather than stall a sale. Returns
        SQLite's ``(busy, log_frames, checkpointed_frames)``.
        """
        if mode not in ("PASSIVE", "TRUNCATE"):
            raise ValueError(f"checkpoint mode {mode!r}")
        with self._ckpt_lock:
            if self._ckpt_conn is None:
                self._ckpt_conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._ckpt_conn.execute("PRAGMA busy_timeout = 0")
            busy, frames, done = self._ckpt_conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self._last_checkpoint = self.clock()
        self._checkpoints += 1
        size = self.wal_bytes()
        now = time.monotonic()
        if mode == "TRUNCATE" and size > self.wal_warn_bytes and now - self._warned_at > 60:
            self._warned_at = now
            log.warning("till db %s: WAL is %d bytes after checkpoint (busy=%s)", self.path, size, busy)
        return int(busy), int(frames), int(done)

    def wal_status(self) -> WalStatus:
        """What ``kopilka status`` shows about the WAL."""
        return WalStatus(self.wal_bytes(), self._last_checkpoint, self._checkpoints)

    def start_checkpointer(self, poll_s: float = 1.0) -> None:
        """Checkpoint in a daemon thread: every ``checkpoint_every_s`` or when
        the WAL grows past ``checkpoint_above_bytes`` (checked every ``poll_s``).
        """
        if self._thread is not None:
            return
        with self.lock:
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._stop.clear()
        self._thread = threading.Thread(target=self._checkpoint_loop, args=(min(poll_s, self.checkpoint_every_s),),
                                        name="tilldb-checkpoint", daemon=True)
        self._thread.start()

    def _checkpoint_loop(self, poll_s: float) -> None:
        due = time.monotonic() + self.checkpoint_every_s
        while not self._stop.wait(poll_s):
            if time.monotonic() < due and self.wal_bytes() <= self.checkpoint_above_bytes:
                continue
            due = time.monotonic() + self.checkpoint_every_s
            try:
                busy, frames, done = self.checkpoint("PASSIVE")
                if not busy and frames == done:
                    self.checkpoint("TRUNCATE")
            except sqlite3.Error:  # pragma: no cover - logged, retried next round
                log.exception("till db %s: checkpoint failed", self.path)

    def close(self) -> None:
        """Stop the checkpointer and close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._ckpt_lock:
            if self._ckpt_conn is not None:
                self._ckpt_conn.close()
                self._ckpt_conn = None
        with self._read_lock:
            if self._read_conn is not None:
                self._read_conn.close()
                self._read_conn = None
        with self.lock:
            self.conn.close()

    def __enter__(self) -> TillDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
