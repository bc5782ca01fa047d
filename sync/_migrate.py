"""The one schema-migration runner: the till's SQLite file and the ledger's database.

A schema changes only through numbered migrations ``(number, name, step)``,
each recorded in a table once applied, so a database says which code shaped
it. The till applies its missing migrations in one transaction (its file has
one writer); the ledger applies each in its own, re-reading the record
first, because several server processes may start at once, and refuses a
database recorded by newer code rather than guess at it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C")  # the connection/transaction a step runs on
S = TypeVar("S")  # a migration's step (a function, a list of statements…)


@dataclass(frozen=True)
class Record(Generic[C]):
    """The table that records applied migrations, and how to talk to it."""

    table: str
    #: the column holding the migration's number (``id`` on the till, ``version`` on the ledger)
    key: str
    #: the SQL type of ``applied_at`` and the clock filling it
    stamp_type: str
    now: Callable[[], object]
    execute: Callable[[C, str, Sequence[Any]], object]
    rows: Callable[[C, str], Iterable[Sequence[Any]]]

    def create(self, conn: C) -> None:
        self.execute(conn, f"CREATE TABLE IF NOT EXISTS {self.table} ({self.key} INTEGER "
                     f"PRIMARY KEY, name TEXT NOT NULL, applied_at {self.stamp_type} NOT NULL)",
                     ())

    def numbers(self, conn: C) -> set[int]:
        return {int(r[0]) for r in self.rows(conn, f"SELECT {self.key} FROM {self.table}")}

    def add(self, conn: C, number: int, name: str) -> None:
        self.execute(conn, f"INSERT INTO {self.table} ({self.key}, name, applied_at) "
                     "VALUES (?, ?, ?)", (number, name, self.now()))


def run_migrations(
    migrations: Sequence[tuple[int, str, S]],
    begin: Callable[[], AbstractContextManager[C]],
    record: Record[C],
    apply: Callable[[C, int, S], None],
    *,
    together: bool = False,
    too_new: Callable[[int, int], Exception] | None = None,
) -> list[int]:
    """Apply the migrations not yet recorded, in order; return the numbers applied now.

    ``begin`` opens one transaction; ``apply(conn, number, step)`` runs one
    step in it. ``together``: every missing migration in one transaction
    (else one each, skipping one another process recorded meanwhile).
    ``too_new(recorded, newest)``: the error raised, before anything is
    applied, when the database records a migration newer than this code.
    """
    applied: list[int] = []

    def check(done: set[int]) -> None:
        newest = max((n for n, _, _ in migrations), default=0)
        if too_new is not None and done and max(done) > newest:
            raise too_new(max(done), newest)

    if together:
        with begin() as conn:
            record.create(conn)
            done = record.numbers(conn)
            check(done)
            for number, name, step in migrations:
                if number not in done:
                    apply(conn, number, step)
                    record.add(conn, number, name)
                    applied.append(number)
        return applied
    with begin() as conn:
        record.create(conn)
        done = record.numbers(conn)
    check(done)
    for number, name, step in migrations:
        if number in done:
            continue
        with begin() as conn:
            if number in record.numbers(conn):
                continue  # another process got there first
            apply(conn, number, step)
            record.add(conn, number, name)
        log.info("applied migration %d: %s", number, name)
        applied.append(number)
    return applied
