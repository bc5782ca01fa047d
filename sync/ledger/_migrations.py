"""Numbered, recorded schema migrations (the same SQL on both backends).

``migrate(storage)`` applies, in order and each in its own transaction,
every migration whose number is not yet in ``schema_migrations``. A
database newer than this code is refused rather than guessed at.

Every table that a sale touches is keyed first by ``account`` (the Citus
distribution key, see docs/ledger-distribution.md), so every uniqueness
constraint of those tables includes it; the per-till tables are keyed first
by ``till``. Portable types only: TEXT, BIGINT, INTEGER; JSON as TEXT;
instants as ISO-8601 UTC text (``2026-11-22T07:05:00.000000Z``) that sorts
as it compares.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Any

from sync import MigrationRecord as Record
from sync import run_migrations

from ._errors import StorageError
from ._flagrollup import SCHEMA as _FLAG_ROLLUP_SCHEMA
from ._rollup import SCHEMA as _ROLLUP_SCHEMA
from ._storage import Storage, Tx

log = logging.getLogger(__name__)

_JOURNAL_KINDS = "'accrual', 'redemption', 'return_reversal', 'adjustment', 'expiry'"
#: migration 5: the ledger's own corrections of a till's claims (spec/sync.md, Audit)
_JOURNAL_KINDS_5 = _JOURNAL_KINDS + ", 'audit_correction'"
#: migration 13: a provisional account of a till enrolment moved into the card's account
_JOURNAL_KINDS_13 = _JOURNAL_KINDS_5 + ", 'merge'"
#: spec/sync.md: points lie in 0 … 2^53 − 1; a balance (which may be negative after
#: returns and offline overdrafts) stays within ±(2^53 − 1), so it never overflows
_MAX_POINTS = 2**53 - 1
_SQLITE_BOUND = (f"WHEN typeof(NEW.points) <> 'integer' OR NEW.points < -{_MAX_POINTS} "
                 f"OR NEW.points > {_MAX_POINTS} BEGIN SELECT RAISE(ABORT, "
                 "'accounts.points out of bounds'); END")



def _journal_kinds(kinds: str, number: int) -> list[tuple[str, str]]:
    """The statements that make ``kinds`` the journal's allowed kinds: PostgreSQL
    swaps the CHECK constraint; SQLite (no ALTER of a constraint) rebuilds the
    table with the same rows (its indexes go with the old table)."""
    new = f"journal_{number}"
    return [
        ("postgresql", "ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check"),
        ("postgresql", "ALTER TABLE journal ADD CONSTRAINT journal_kind_check "
                       f"CHECK (kind IN ({kinds}))"),
        ("sqlite", f"""CREATE TABLE {new} (
            account TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            points BIGINT NOT NULL,
            txn_id TEXT,
            note TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (account, entry_id))"""),
        ("sqlite", f"INSERT INTO {new} (account, entry_id, kind, points, txn_id, note, at) "
                   "SELECT account, entry_id, kind, points, txn_id, note, at FROM journal"),
        ("sqlite", "DROP TABLE journal"),
        ("sqlite", f"ALTER TABLE {new} RENAME TO journal"),
    ]


#: A statement is portable SQL, or ``(backend kind, SQL)`` run on that backend only.
MIGRATIONS: list[tuple[int, str, list[str | tuple[str, str]]]] = [
    (1, "core ledger schema", [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # --- distributed by account (co-located) -------------------------
        """CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            points BIGINT NOT NULL DEFAULT 0,
            offline_cap BIGINT,
            sales BIGINT NOT NULL DEFAULT 0,
            birthday_bonus_year INTEGER,
            created_at TEXT NOT NULL)""",
        f"""CREATE TABLE journal (
            account TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({_JOURNAL_KINDS})),
            points BIGINT NOT NULL,
            txn_id TEXT,
            note TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (account, entry_id))""",
        """CREATE TABLE sales (
            account TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            till TEXT NOT NULL,
            store TEXT NOT NULL,
            seq BIGINT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('sale', 'return')),
            at TEXT NOT NULL,
            mode TEXT,
            hold_id TEXT,
            bundle_version BIGINT,
            original_txn_id TEXT,
            hash TEXT NOT NULL,
            body TEXT NOT NULL,
            outcome TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (account, txn_id))""",
        "CREATE INDEX sales_by_txn ON sales (txn_id)",
        """CREATE TABLE return_lines (
            account TEXT NOT NULL,
            original_txn_id TEXT NOT NULL,
            line INTEGER NOT NULL,
            qty_milli BIGINT NOT NULL,
            points_reversed BIGINT NOT NULL,
            points_refunded BIGINT NOT NULL,
            refund BIGINT NOT NULL,
            redeemed_refund BIGINT NOT NULL,
            PRIMARY KEY (account, original_txn_id, line))""",
        """CREATE TABLE holds (
            account TEXT NOT NULL,
            hold_id TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            points BIGINT NOT NULL CHECK (points > 0),
            till TEXT NOT NULL,
            store TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('active', 'consumed', 'released', 'expired')),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            closed_at TEXT,
            PRIMARY KEY (account, hold_id),
            UNIQUE (account, txn_id))""",
        """CREATE TABLE audits (
            account TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            till TEXT NOT NULL,
            store TEXT NOT NULL,
            bundle_version BIGINT,
            outcome TEXT NOT NULL,
            detail TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (account, txn_id))""",
        # --- distributed by card ------------------------------------------
        """CREATE TABLE cards (
            card TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            tier TEXT,
            segments TEXT NOT NULL,
            offers TEXT NOT NULL,
            birthday TEXT,
            favorite_category TEXT,
            favorite_until TEXT,
            updated_at TEXT NOT NULL)""",
        # --- distributed by till (co-located) ----------------------------
        """CREATE TABLE till_seqs (
            till TEXT NOT NULL,
            seq BIGINT NOT NULL,
            txn_id TEXT NOT NULL,
            hash TEXT NOT NULL,
            account TEXT,
            state TEXT NOT NULL CHECK (state IN ('claimed', 'applied')),
            outcome TEXT,
            received_at TEXT NOT NULL,
            PRIMARY KEY (till, seq),
            UNIQUE (till, txn_id))""",
        """CREATE TABLE till_state (
            till TEXT PRIMARY KEY,
            store TEXT NOT NULL,
            high_water BIGINT NOT NULL DEFAULT 0,
            max_seq BIGINT NOT NULL DEFAULT 0,
            last_contact TEXT,
            accepted BIGINT NOT NULL DEFAULT 0,
            duplicates BIGINT NOT NULL DEFAULT 0,
            rejected BIGINT NOT NULL DEFAULT 0,
            audit_mismatches BIGINT NOT NULL DEFAULT 0)""",
        """CREATE TABLE rejects (
            till TEXT NOT NULL,
            reject_id TEXT NOT NULL,
            txn_id TEXT,
            seq BIGINT,
            reason TEXT NOT NULL,
            detail TEXT,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            times BIGINT NOT NULL DEFAULT 1,
            PRIMARY KEY (till, reject_id))""",
        """CREATE TABLE heartbeats (
            till TEXT PRIMARY KEY,
            store TEXT NOT NULL,
            at TEXT,
            received_at TEXT NOT NULL,
            queue_depth BIGINT NOT NULL,
            oldest_unsynced_age_s BIGINT NOT NULL,
            bundle_version BIGINT,
            agent_version TEXT,
            hardware TEXT NOT NULL)""",
        # --- reference tables (small, read everywhere) --------------------
        """CREATE TABLE tills (
            till TEXT PRIMARY KEY,
            store TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE bundles (
            version BIGINT PRIMARY KEY,
            body TEXT NOT NULL,
            digest TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            private_key TEXT NOT NULL,
            public_jwk TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('active', 'previous', 'retired')),
            created_at TEXT NOT NULL)""",
    ]),
    (2, "stored delta from the previous bundle version", [
        # reference table like bundles: written once per import, read by every till
        """CREATE TABLE bundle_deltas (
            version BIGINT PRIMARY KEY,
            from_version BIGINT NOT NULL,
            changes TEXT NOT NULL)""",
    ]),
    (3, "audit queue: sales re-priced after the acknowledgement", [
        # distributed by account, co-located with sales (written with the sale)
        """CREATE TABLE audit_queue (
            account TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            till TEXT NOT NULL,
            store TEXT NOT NULL,
            bundle_version BIGINT NOT NULL,
            queued_at TEXT NOT NULL,
            PRIMARY KEY (account, txn_id))""",
        # sales uploaded before this migration were audited at upload: nothing to queue
    ]),
    (4, "lz4 compression of sale bodies (PostgreSQL)", [
        # pglz compressing ~2.7 KB of TXN per sale was a third of the COPY of a
        # batch's sales; lz4 compresses several times faster (PostgreSQL >= 14
        # built with lz4, as Debian's is; skipped elsewhere, see _has_lz4).
        ("postgresql", "ALTER TABLE sales ALTER COLUMN body SET COMPRESSION lz4"),
    ]),
    (5, "the ledger's authority over points: audit_correction, bounded balances, holds by txn", [
        # journal kind audit_correction: PostgreSQL swaps the CHECK constraint,
        # SQLite (no ALTER of a constraint) rebuilds the table with the same rows
        *_journal_kinds(_JOURNAL_KINDS_5, 5),
        # the last line of defence behind the ledger's own checks: a balance
        # outside ±(2^53 − 1) (or, on SQLite, turned into a REAL by an int64
        # overflow) is refused by the database itself
        ("postgresql", "ALTER TABLE accounts ADD CONSTRAINT accounts_points_bounded CHECK "
                       f"(points BETWEEN -{_MAX_POINTS} AND {_MAX_POINTS}) NOT VALID"),
        ("sqlite", f"CREATE TRIGGER accounts_points_bounded_insert BEFORE INSERT ON accounts "
                   f"{_SQLITE_BOUND}"),
        ("sqlite", f"CREATE TRIGGER accounts_points_bounded_update BEFORE UPDATE OF points "
                   f"ON accounts {_SQLITE_BOUND}"),
        # a sale closes any active hold carrying its txn_id: one bulk look-up per batch
        "CREATE INDEX holds_by_txn ON holds (txn_id)",
    ]),
    (6, "app and head-office credentials", [
        # reference table like tills: app keys issue tokens, office keys read the ledger
        """CREATE TABLE api_keys (
            kind TEXT NOT NULL CHECK (kind IN ('app', 'office')),
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            PRIMARY KEY (kind, name))""",
    ]),
    (7, "store customer caches, home_store, till re-enrolments", [
        # Members: a card's home store (till.md §2a); cards of one account
        # are found by account when its balance changes.
        "ALTER TABLE cards ADD COLUMN home_store TEXT",
        "CREATE INDEX cards_by_account ON cards (account)",
        # What each store's tills hold (docs/ledger.md, "Store customer
        # caches"); store '*' is the chain-wide cache (customer_cache = "all").
        # Distributed by store: a till's answer reads one store's rows.
        # body NULL = deleted at rev (a tombstone tills at an older rev need).
        """CREATE TABLE store_customers (
            store TEXT NOT NULL,
            card TEXT NOT NULL,
            account TEXT NOT NULL,
            rev BIGINT NOT NULL,
            home INTEGER NOT NULL DEFAULT 0,
            last_bought TEXT,
            body TEXT,
            PRIMARY KEY (store, card))""",
        "CREATE INDEX store_customers_by_rev ON store_customers (store, rev)",
        "CREATE INDEX store_customers_by_card ON store_customers (card)",
        "CREATE INDEX store_customers_by_bought ON store_customers (last_bought)",
        # one row: the change counter every cache write bumps (and so
        # serialises on), and how far sales and journal were read
        """CREATE TABLE customer_cache (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            rev BIGINT NOT NULL,
            built INTEGER NOT NULL,
            refreshed_at TEXT NOT NULL)""",
        "INSERT INTO customer_cache (id, rev, built, refreshed_at) VALUES (1, 0, 0, '')",
        # Balance changes and recent buyers are read by time. BRIN on
        # PostgreSQL: rows arrive in time order and a BRIN entry costs an
        # upload almost nothing; SQLite has only B-trees.
        ("sqlite", "CREATE INDEX journal_by_at ON journal (at)"),
        ("postgresql", "CREATE INDEX journal_by_at ON journal USING brin (at)"),
        ("sqlite", "CREATE INDEX sales_by_received ON sales (received_at)"),
        ("postgresql", "CREATE INDEX sales_by_received ON sales USING brin (received_at)"),
        # per till (distributed by till): every re-enrolment of a wiped till
        """CREATE TABLE till_enrolments (
            till TEXT NOT NULL,
            at TEXT NOT NULL,
            store TEXT NOT NULL,
            high_water BIGINT NOT NULL,
            max_seq BIGINT NOT NULL,
            PRIMARY KEY (till, at))""",
    ]),
    (8, "daily report rollups (kopilka ledger rollup)", list(_ROLLUP_SCHEMA)),
    (9, "favourite categories chosen in the app", [
        # distributed by account: who changed an account's favourite, when,
        # from what (not the journal: no points move)
        """CREATE TABLE favourite_changes (
            account TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            category TEXT NOT NULL,
            previous TEXT,
            by_kind TEXT NOT NULL,
            by_name TEXT NOT NULL,
            PRIMARY KEY (account, changed_at))""",
    ]),
    (10, "flag rollups: token uses, flagged sales, overdrawn accounts; mismatch index",
     list(_FLAG_ROLLUP_SCHEMA)),
    (11, "points lots (pending, expiry), rolling spend and computed tiers", [
        # all distributed by account (docs/programme-life.md)
        """CREATE TABLE point_lots (
            account TEXT NOT NULL,
            lot_id TEXT NOT NULL,
            earned_at TEXT NOT NULL,
            points BIGINT NOT NULL,
            remaining BIGINT NOT NULL,
            pending INTEGER NOT NULL,
            txn_id TEXT,
            PRIMARY KEY (account, lot_id))""",
        # the expiry job and the customer caches read the lots with points left by
        # age across accounts; spent lots (most of them, in time) stay out of it
        "CREATE INDEX point_lots_open ON point_lots (earned_at) WHERE remaining > 0",
        # balances from before lots existed: one available lot (or a debt) each,
        # earned at the migration so that they get the full expiry period
        ("sqlite", "INSERT INTO point_lots (account, lot_id, earned_at, points, remaining, "
                   "pending, txn_id) SELECT account, CASE WHEN points < 0 THEN 'debt' ELSE "
                   "'opening:11' END, strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'), points, "
                   "points, 0, NULL FROM accounts WHERE points <> 0"),
        ("postgresql", "INSERT INTO point_lots (account, lot_id, earned_at, points, remaining, "
                       "pending, txn_id) SELECT account, CASE WHEN points < 0 THEN 'debt' ELSE "
                       "'opening:11' END, to_char(now() AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), points, points, 0, NULL "
                       "FROM accounts WHERE points <> 0"),
        # net sales (kopecks) of each member's sale (+paid) and return (-refund)
        """CREATE TABLE spend (
            account TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            at TEXT NOT NULL,
            amount BIGINT NOT NULL,
            PRIMARY KEY (account, txn_id))""",
        "CREATE INDEX spend_by_account_at ON spend (account, at)",
        # the computed tier (NULL: never computed; the cards' tier stands)
        "ALTER TABLE accounts ADD COLUMN tier TEXT",
        "ALTER TABLE accounts ADD COLUMN tier_since TEXT",
        """CREATE TABLE tier_changes (
            account TEXT NOT NULL,
            change_id TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            tier TEXT NOT NULL,
            previous TEXT,
            reason TEXT NOT NULL CHECK (reason IN ('upgrade', 'review')),
            spend BIGINT NOT NULL,
            PRIMARY KEY (account, change_id))""",
        # the store caches' refresh reads the changes by time
        "CREATE INDEX tier_changes_by_at ON tier_changes (changed_at)",
    ]),
    (12, "gift certificates: balances, their journal and holds", [
        # all three distributed by cert_id (docs/certificates.md): one certificate's
        # balance, entries and holds are one shard
        """CREATE TABLE certificates (
            cert_id TEXT PRIMARY KEY,
            sku TEXT,
            face BIGINT NOT NULL CHECK (face > 0),
            balance BIGINT NOT NULL CHECK (balance >= 0),
            ocap BIGINT,
            state TEXT NOT NULL,
            till TEXT,
            store TEXT,
            txn_id TEXT,
            issued_at TEXT NOT NULL,
            expires_at TEXT NOT NULL)""",
        """CREATE TABLE certificate_entries (
            cert_id TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            amount BIGINT NOT NULL,
            claimed BIGINT NOT NULL,
            shortfall BIGINT NOT NULL,
            mode TEXT,
            till TEXT,
            store TEXT,
            txn_id TEXT,
            note TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (cert_id, entry_id))""",
        """CREATE TABLE certificate_holds (
            cert_id TEXT NOT NULL,
            hold_id TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            amount BIGINT NOT NULL,
            till TEXT NOT NULL,
            store TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            closed_at TEXT,
            PRIMARY KEY (cert_id, hold_id))""",
    ]),
    (13, "enrolment at the till: enrolments, registrations, journal kind merge", [
        # journal kind merge (docs/enrolment.md): the same swap as migration 5;
        # the SQLite rebuild drops migration 7's index, made again
        *_journal_kinds(_JOURNAL_KINDS_13, 13),
        ("sqlite", "CREATE INDEX journal_by_at ON journal (at)"),
        # distributed by card: every enrolment of a card (a till's enrol TXN
        # or an online enrolment), what the provisional account became
        """CREATE TABLE enrolments (
            card TEXT NOT NULL,
            till TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            provisional TEXT NOT NULL,
            account TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('created', 'confirmed', 'merged')),
            store TEXT NOT NULL,
            registration TEXT,
            at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (card, till, txn_id))""",
        "CREATE INDEX enrolments_by_provisional ON enrolments (provisional)",
        # distributed by registration: the app's pending sign-ups (registration
        # QR codes) and the card each one was linked to at a till
        """CREATE TABLE registrations (
            registration TEXT PRIMARY KEY,
            phone_hash TEXT,
            issued_at TEXT NOT NULL,
            card TEXT,
            account TEXT,
            linked_at TEXT)""",
    ]),
]


def _has_lz4(tx: Any) -> bool:
    row = tx.one("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                 "AND 'lz4' = ANY(enumvals)")
    return row is not None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def migrate(storage: Storage) -> list[int]:
    """Apply the missing migrations (``sync``'s one runner); return the numbers applied now."""

    def apply(tx: Tx, number: int, statements: list[str | tuple[str, str]]) -> None:
        for sql in statements:
            if isinstance(sql, tuple):
                kind, sql = sql
                if kind != storage.kind or (kind == "postgresql" and "lz4" in sql
                                            and not _has_lz4(tx)):
                    continue
            tx.execute(sql)
        if number == 1:
            tx.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?)", (new_epoch(),))

    def too_new(recorded: int, newest: int) -> StorageError:
        return StorageError("schema_too_new",
                            f"database schema {recorded} is newer than this code ({newest})")

    book: Record[Tx] = Record("schema_migrations", "version", "TEXT", _now,
                              lambda tx, sql, args: tx.execute(sql, args),
                              lambda tx, sql: tx.all(sql))
    return run_migrations(MIGRATIONS, storage.transaction, book, apply, too_new=too_new)


def new_epoch() -> str:
    """A fresh restore epoch: the UTC time it was made plus random bits."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4)
