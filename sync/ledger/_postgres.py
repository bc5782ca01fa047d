"""The PostgreSQL backend (psycopg 3), written to run unchanged on Citus.

One connection in autocommit mode; ``transaction()`` opens an explicit
transaction and nested ``savepoint()`` blocks become SQL savepoints.
Statements use ``?`` placeholders in the ledger's code and are rewritten to
psycopg's ``%s`` once per statement text.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ._errors import Conflict, StorageError
from ._storage import Row, Storage, Tx


#: the fewest rows ``insert_many`` streams with COPY (fewer: one pipelined INSERT each)
COPY_FROM = 50


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx(Tx):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(_pg(sql), tuple(params)).rowcount
        except pg_errors.UniqueViolation as exc:
            raise Conflict("conflict", str(exc)) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        params = [tuple(r) for r in rows]
        if not params:
            return
        try:
            with self._conn.cursor() as cur:
                cur.executemany(_pg(sql), params)
        except pg_errors.UniqueViolation as exc:
            raise Conflict("conflict", str(exc)) from exc

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                    ) -> None:
        if len(rows) < COPY_FROM:  # COPY's extra round trips only pay off for many rows
            super().insert_many(table, columns, rows)
            return
        try:
            with self._conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        except pg_errors.UniqueViolation as exc:
            raise Conflict("conflict", str(exc)) from exc

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._conn.cursor() as cur:
            cur.execute(_pg(sql), tuple(params))
            return list(cur.fetchall())

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        with self._conn.transaction():
            yield


class PostgresStorage(Storage):
    """A ledger in PostgreSQL (``postgresql://user@host:port/db``)."""

    kind = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, reader: bool = False) -> None:
        super().__init__(url, reader=reader)
        try:
            self._conn = self._connect()
        except psycopg.Error as exc:
            raise StorageError("unusable", f"cannot connect to PostgreSQL: {exc}") from exc

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True)
        # Plans made when a table was small (a generic plan for the bulk
        # ``IN (…)`` look-ups) must not outlive its growth: plan each call.
        conn.execute("SET plan_cache_mode = force_custom_plan")
        if self.reader:
            conn.execute("SET default_transaction_read_only = on")
        return conn

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        with self._lock:
            if self._conn.broken:  # the server restarted: reconnect once
                try:
                    self._conn = self._connect()
                except psycopg.Error as exc:
                    raise StorageError("unavailable", f"cannot reconnect: {exc}") from exc
            if self._conn.closed:
                raise StorageError("unavailable", "the PostgreSQL connection is closed")
            try:
                with self._conn.transaction():
                    if not durable:
                        self._conn.execute("SET LOCAL synchronous_commit = off")
                    yield _PgTx(self._conn)
            except psycopg.OperationalError as exc:
                raise StorageError("unavailable", f"PostgreSQL failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
