"""The store customer cache at the till (spec/till.md §2a).

Offline, a plastic card is identified from this cache: the store's members
and recent buyers (or every member, ``customer_cache = "all"``), as the
ledger delivered them with the bundle answers (docs/sync-protocol.md,
"Store customers"). One row per card in ``promo_customer`` (a JSON array
in ``FIELDS`` order), the ledger's cursor in ``sync_state``.

Why SQLite and not a dict: 50,000 members as Python dicts would cost tens
of MB of the till's 150 MB; a primary-key probe costs microseconds and the
page cache only what is read. The rows are written in the same SQLite
transaction as the bundle they came with (``PromoCache``), so the till
never holds a cache newer or older than its bundle answer.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import BundleRefused
from ._tilldb import TillDb

#: The order of an entry's values as stored (and as the ledger sends them).
FIELDS = ("card", "account", "tier", "segments", "offers", "birthday",
          "birthday_bonus_available", "favorite_category", "favorite_until",
          "first_purchase", "balance")
CURSOR_KEY = "customers_cursor"
_MAX_INT = 2 ** 53 - 1
_TEXT = ("tier", "birthday", "favorite_category", "favorite_until")
_FLAGS = ("birthday_bonus_available", "first_purchase")


@dataclass(frozen=True)
class CustomerChanges:
    """A validated ``customers`` member of a bundle answer."""

    cursor: str
    full: bool
    upsert: list[tuple[str, str]]  # (card, stored JSON text)
    delete: list[str]


def _bad(detail: str, field: str) -> BundleRefused:
    return BundleRefused("invalid", detail, field=f"customers.{field}" if field else "customers")


_LISTS = (FIELDS.index("segments"), FIELDS.index("offers"))
_TEXTS = tuple(FIELDS.index(n) for n in _TEXT)
_BOOLS = tuple(FIELDS.index(n) for n in _FLAGS)
_BALANCE = FIELDS.index("balance")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _entry(row: Any, index: list[int | None] | None, where: str) -> tuple[str, str]:
    """One entry checked and in ``FIELDS`` order (``index`` None: it already is)."""
    values = list(row) if index is None else [None if i is None else row[i] for i in index]
    card, account = values[0], values[1]
    if not isinstance(card, str) or len(card) != 13 or not card.isascii() or not card.isdigit():
        raise _bad("card must be 13 digits", f"{where}.card")
    if not isinstance(account, str) or not account:
        raise _bad("account must be a non-empty string", f"{where}.account")
    for i in _LISTS:
        v = values[i]
        if v is None:
            values[i] = []
        elif v.__class__ is not list or not all(x.__class__ is str for x in v):
            raise _bad("expected a list of strings", f"{where}.{FIELDS[i]}")
    for i in _TEXTS:
        if values[i] is not None and values[i].__class__ is not str:
            raise _bad("expected a string or null", f"{where}.{FIELDS[i]}")
    for i in _BOOLS:
        if values[i] is not None and values[i].__class__ is not bool:
            raise _bad("expected true, false or null", f"{where}.{FIELDS[i]}")
    bal = values[_BALANCE]
    if bal is None:
        values[_BALANCE] = 0
    elif bal.__class__ is not int or not -_MAX_INT <= bal <= _MAX_INT:
        raise _bad("balance must be an integer", f"{where}.balance")
    return card, _dumps(values)


def parse_changes(part: Any) -> CustomerChanges:
    """Check a ``customers`` answer member; raise ``BundleRefused`` naming the bad field."""
    if not isinstance(part, Mapping):
        raise _bad("must be an object", "")
    cursor, full, fields = part.get("cursor"), part.get("full"), part.get("fields")
    if not isinstance(cursor, str) or not cursor or len(cursor) > 300:
        raise _bad("cursor must be a non-empty string", "cursor")
    if not isinstance(full, bool):
        raise _bad("full must be true or false", "full")
    if (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
            or len(set(fields)) != len(fields) or "card" not in fields or "account" not in fields):
        raise _bad("fields must name each column once, card and account included", "fields")
    index: list[int | None] | None = [fields.index(f) if f in fields else None for f in FIELDS]
    if fields == list(FIELDS):
        index = None  # the usual case: no reordering
    rows, deletes = part.get("upsert"), part.get("delete")
    if not isinstance(rows, list):
        raise _bad("upsert must be a list", "upsert")
    if not isinstance(deletes, list) or not all(isinstance(d, str) for d in deletes):
        raise _bad("delete must be a list of cards", "delete")
    upsert = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(fields):
            raise _bad(f"each entry is a list of {len(fields)} values", f"upsert[{i}]")
        upsert.append(_entry(row, index, f"upsert[{i}]"))
    return CustomerChanges(cursor, full, upsert, list(deletes))


def store_changes(conn: sqlite3.Connection, changes: CustomerChanges) -> None:
    """Write validated changes inside the caller's transaction (the bundle swap's)."""
    if changes.full:
        conn.execute("DELETE FROM promo_customer")
    elif changes.delete:
        conn.executemany("DELETE FROM promo_customer WHERE card = ?", ((c,) for c in changes.delete))
    conn.executemany("INSERT INTO promo_customer (card, body) VALUES (?, ?)"
                     " ON CONFLICT(card) DO UPDATE SET body = excluded.body", changes.upsert)
    TillDb.set_state(conn, CURSOR_KEY, changes.cursor)


def cursor(db: TillDb) -> str:
    """The cursor of the cache held (``""`` before the first delivery)."""
    return db.get_state(CURSOR_KEY) or ""


def cached_customer(db: TillDb, card: str) -> dict[str, Any] | None:
    """The store customer cache's entry for ``card``, or None (one primary-key probe)."""
    with db.lock:
        row = db.conn.execute("SELECT body FROM promo_customer WHERE card = ?", (card,)).fetchone()
    if row is None:
        return None
    return dict(zip(FIELDS, json.loads(row[0]), strict=False))


def cache_size(db: TillDb) -> int:
    """How many cards the cache holds (status)."""
    with db.lock:
        return int(db.conn.execute("SELECT COUNT(*) FROM promo_customer").fetchone()[0])
