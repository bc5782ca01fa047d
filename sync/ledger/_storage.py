"""One small storage interface for the ledger, two backends.

The ledger's logic speaks portable SQL (``?`` placeholders, ``ON CONFLICT``,
``RETURNING``-free) through a ``Tx`` handle; a backend only opens
connections, runs transactions and savepoints, and translates driver errors
once. ``open_storage(url)`` picks the backend from the URL scheme:
``sqlite:///path/ledger.db`` (the default, nothing to install) or
``postgresql://user@host:port/db`` (psycopg 3).

Each ``Storage`` holds one connection guarded by a lock: the ASGI app runs
handlers in a thread pool and several uvicorn workers each open their own
``Storage``; the database's own locking keeps them correct. A process's
writes go through one ``Storage`` in shared transactions (``_group``);
a second, read-only one (``reader=True``) serves the key look-ups.
"""
from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._errors import StorageError

Row = tuple[Any, ...]


class Tx(abc.ABC):
    """A handle on one open transaction."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the affected row count."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every parameter row (batched by the driver)."""

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                    ) -> None:
        """Plain INSERT of many rows (PostgreSQL streams them with COPY)."""
        if rows:
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def update_rows(self, table: str, fixed: str, columns: Sequence[str], key: str,
                    scope: str, scope_params: Sequence[Any],
                    rows: Sequence[Sequence[Any]]) -> None:
        """``UPDATE table SET fixed, col = row value … WHERE scope AND key = row key``.

        Each row is its ``columns`` values (text) followed by its ``key``
        value: one ``UPDATE … FROM (VALUES …)`` per 300 rows on both backends
        (measured: a PostgreSQL ``unnest`` of arrays in one statement was
        slower, its join planned without the row count).
        """
        n = len(columns)
        sets = ", ".join([fixed] * bool(fixed) + [f"{c} = v.column{j + 1}"
                                                  for j, c in enumerate(columns)])
        mark = "(" + ", ".join("?" * (n + 1)) + ")"
        for i in range(0, len(rows), 300):
            part = rows[i:i + 300]
            self.execute(f"UPDATE {table} SET {sets} FROM (VALUES "
                         + ", ".join([mark] * len(part))
                         + f") AS v WHERE {scope} AND {table}.{key} = v.column{n + 1}",
                         [x for r in part for x in r] + list(scope_params))

    @abc.abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query and return every row."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a query and return its first row, or ``None``."""
        rows = self.all(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        """A nested block undone alone if it raises (per-transaction atomicity)."""


class Storage(abc.ABC):
    """A ledger database: ``with storage.transaction() as tx: ...`` commits durably."""

    kind: str = ""
    #: appended to a SELECT that must lock the account row until commit
    for_update: str = ""

    def __init__(self, url: str, *, reader: bool = False) -> None:
        self.url = url
        #: read-only: never takes the write lock, so it never waits for a commit
        self.reader = reader
        self._lock = threading.Lock()

    @abc.abstractmethod
    def transaction(self, *, durable: bool = True) -> contextlib.AbstractContextManager[Tx]:
        """Open a transaction; commit on normal exit, roll back on an exception.

        ``durable=False``: the commit does not wait for the disk (a crash may
        lose it, never half of it) — for writes a later one supersedes, such
        as heartbeats.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_storage(url: str, *, reader: bool = False) -> Storage:
    """Open the backend named by ``url``'s scheme (no schema work here).

    ``reader``: a read-only connection (a write through it fails).
    """
    if url.startswith("sqlite:///"):
        from ._sqlite import SqliteStorage

        return SqliteStorage(url, reader=reader)
    if url.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresStorage

        return PostgresStorage(url, reader=reader)
    raise StorageError("bad_url", f"unsupported database URL {url!r} (sqlite:///… or postgresql://…)")


@contextlib.contextmanager
def locked(lock: threading.Lock) -> Iterator[None]:
    """Hold ``lock`` for the block (a helper the backends share)."""
    with lock:
        yield
