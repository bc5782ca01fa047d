"""The SQLite backend: a file in WAL mode with ``synchronous=FULL``.

``BEGIN IMMEDIATE`` takes the write lock at the start, so a transaction
never fails half-way on a lock upgrade; ``COMMIT`` returns only after the
WAL is on disk, which is what lets the ledger acknowledge after commit.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._errors import Conflict, StorageError
from ._storage import Row, Storage, Tx

log = logging.getLogger(__name__)

#: the ledger file holds the token signing keys: owner read/write only
FILE_MODE = 0o600


def private_file(path: str) -> None:
    """Create ``path`` with mode 0600 (whatever the umask), or tighten an existing one.

    An existing file is only ever ``chmod``-ed by name, never opened: closing
    any descriptor of a file drops every POSIX lock this process holds on
    it, including those of another SQLite connection to the same ledger.
    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode,
    and ``_private_companions`` re-checks them after opening.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:  # another process made it meanwhile
            mode = stat.S_IMODE(os.stat(path).st_mode)
        else:
            try:
                os.fchmod(fd, FILE_MODE)  # the umask may have taken bits off
            finally:
                os.close(fd)
            return
    if mode != FILE_MODE:
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); now 0600", path, mode)
        os.chmod(path, FILE_MODE)


def _private_companions(path: str) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        try:
            if stat.S_IMODE(os.stat(path + suffix).st_mode) != FILE_MODE:
                os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._names = itertools.count(1)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(sql, tuple(params)).rowcount
        except sqlite3.IntegrityError as exc:
            raise Conflict("conflict", str(exc)) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            raise Conflict("conflict", str(exc)) from exc

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        name = f"sp{next(self._names)}"
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            raise
        self._conn.execute(f"RELEASE {name}")


class SqliteStorage(Storage):
    """A ledger in one SQLite file (``sqlite:///path``)."""

    kind = "sqlite"

    def __init__(self, url: str, *, reader: bool = False) -> None:
        super().__init__(url, reader=reader)
        path = url[len("sqlite:///"):]
        if not path:
            raise StorageError("bad_url", "sqlite URL needs a path: sqlite:///ledger.db")
        if path != ":memory:":
            parent = Path(path).expanduser().parent
            if not parent.is_dir():
                raise StorageError("bad_url", f"directory {parent} does not exist")
            try:
                private_file(path)
            except OSError as exc:
                raise StorageError("unusable", f"cannot create {path}: {exc}") from exc
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            if reader:
                self._conn.execute("PRAGMA query_only=ON")
            if path != ":memory:":
                self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # WAL made
                _private_companions(path)
        except sqlite3.Error as exc:
            raise StorageError("unusable", f"cannot open {path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        with self._lock:
            if not durable:  # WAL with synchronous=NORMAL: no fsync at this commit
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                try:
                    # a writer takes the write lock at once; a reader a WAL snapshot
                    self._conn.execute("BEGIN" if self.reader else "BEGIN IMMEDIATE")
                except sqlite3.Error as exc:  # closed, locked past the timeout, disk gone
                    raise StorageError("unavailable",
                                       f"cannot start a transaction: {exc}") from exc
                try:
                    yield _SqliteTx(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
