"""The agent's tables in the till database (beside the sync outbox).

They live in the same SQLite file as the outbox so that closing a sale's
journaled session and writing its outbox row are one transaction. Schema
changes go through the numbered migrations below, recorded in
``_agent_migrations`` (the sync package keeps its own list).

- ``agent_session``: the open sale, rewritten on every change (crash restore).
- ``agent_sale``: every committed sale/return of this till, by receipt id
  (returns work offline against these).
- ``agent_jti``: token ids that closed a sale here (replay protection).
- ``agent_print``: receipts to print or reprint.
- ``agent_cert_tender`` (2): what each sale took from a gift certificate.
- ``agent_enrolment``: the cards this till enrolled (docs/enrolment.md).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sync import TillDb


def _m1(conn: sqlite3.Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE agent_session (
            id TEXT PRIMARY KEY,
            txn_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL,
            body TEXT NOT NULL,
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX agent_session_state ON agent_session(state);
        CREATE TABLE agent_sale (
            txn_id TEXT PRIMARY KEY,
            receipt_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            account TEXT,
            redeemed_points INTEGER NOT NULL DEFAULT 0,
            at_epoch REAL NOT NULL,
            original_txn_id TEXT,
            body TEXT NOT NULL
        );
        CREATE INDEX agent_sale_account ON agent_sale(account, at_epoch);
        CREATE INDEX agent_sale_original ON agent_sale(original_txn_id);
        CREATE TABLE agent_jti (
            jti TEXT PRIMARY KEY,
            txn_id TEXT NOT NULL,
            at_epoch REAL NOT NULL
        );
        CREATE TABLE agent_print (
            id INTEGER PRIMARY KEY,
            txn_id TEXT NOT NULL,
            job TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'printed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at REAL NOT NULL
        );
        """
    )


def _script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction first.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _m2(conn: sqlite3.Connection) -> None:
    # what this till took from each gift certificate (its offline allowance: docs/certificates.md)
    _script(conn, """
        CREATE TABLE agent_cert_tender (
            txn_id TEXT NOT NULL,
            cert_id TEXT NOT NULL,
            amount INTEGER NOT NULL,
            mode TEXT NOT NULL,
            at_epoch REAL NOT NULL,
            PRIMARY KEY (txn_id, cert_id)
        );
        CREATE INDEX agent_cert_tender_cert ON agent_cert_tender(cert_id)
        """)


def _m3(conn: sqlite3.Connection) -> None:
    # docs/enrolment.md: the cards this till enrolled and the account they got
    # (provisional offline, the ledger's online); the enrol TXN is in the outbox
    _script(
        conn,
        """
        CREATE TABLE agent_enrolment (
            card TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            mode TEXT NOT NULL CHECK (mode IN ('online', 'offline')),
            registration TEXT,
            txn_id TEXT,
            at_epoch REAL NOT NULL
        )
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "agent session journal, sales index, jti, print queue", _m1),
    (2, "gift certificates tendered at this till", _m2),
    (3, "cards enrolled at this till", _m3),
]


def migrate(db: TillDb, now: float) -> list[int]:
    """Apply the agent's migrations not yet recorded (in ``_agent_migrations``)."""
    del now  # the till database's own clock stamps them
    return db.migrate(MIGRATIONS, table="_agent_migrations")
