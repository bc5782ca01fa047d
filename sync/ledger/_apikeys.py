"""Credentials other than a till's: the app's back end and head office.

- an **app key** (``kpa_…``) may only issue loyalty tokens
  (``POST /v1/tokens``): a till that could mint a token for any card could
  spend any member's points offline (spec/token.md), so a till key cannot;
- an **office key** (``kpo_…``) reads the whole ledger (``/v1/ledger/…``).

Like till keys they are 256 random bits shown once and kept only as a
SHA-256 hash (nothing to brute-force; one index probe per request). A key
has a unique name per kind; ``revoke`` keeps the row (who had access, and
until when) and the key answers 401 from then on.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import Conflict, LedgerError
from ._limits import has_control
from ._storage import Tx
from ._tills import TillRecord, key_hash

if TYPE_CHECKING:
    from ._ledger import Ledger

KINDS = {"app": "kpa_", "office": "kpo_"}
MAX_NAME = 64


@dataclass(frozen=True)
class Principal:
    """Who made a request: a till (with its ``TillRecord``), the app back end, or head office."""

    kind: str  # "till", "app" or "office"
    name: str
    till: TillRecord | None = None


@dataclass(frozen=True)
class KeyInfo:
    """One credential as listed (never the key itself)."""

    kind: str
    name: str
    created_at: str
    revoked_at: str | None


def check_name(name: str) -> str:
    """A key name: 1–64 printable characters."""
    if not name.strip() or len(name) > MAX_NAME or has_control(name):
        raise LedgerError("invalid", f"a key name is 1 to {MAX_NAME} printable characters")
    return name


def add(tx: Tx, kind: str, name: str, at: str) -> str:
    """Make a key of ``kind`` named ``name``; return it (the only time it is shown)."""
    prefix = KINDS[kind]
    check_name(name)
    key = prefix + secrets.token_urlsafe(32)
    row = tx.one("SELECT revoked_at FROM api_keys WHERE kind = ? AND name = ?", (kind, name))
    if row is not None and row[0] is None:
        raise LedgerError("key_exists", f"{kind} key {name!r} exists; revoke it first")
    try:
        if row is not None:  # a revoked name is reused: a new key, the old one stays dead
            tx.execute("UPDATE api_keys SET key_hash = ?, created_at = ?, revoked_at = NULL "
                       "WHERE kind = ? AND name = ?", (key_hash(key), at, kind, name))
        else:
            tx.execute("INSERT INTO api_keys (kind, name, key_hash, created_at) "
                       "VALUES (?, ?, ?, ?)", (kind, name, key_hash(key), at))
    except Conflict as exc:  # another process added the same name meanwhile
        raise LedgerError("key_exists", f"{kind} key {name!r} exists") from exc
    return key


def listing(tx: Tx, kind: str) -> list[KeyInfo]:
    """Every key of ``kind``, by name."""
    return [KeyInfo(kind, str(r[0]), str(r[1]), None if r[2] is None else str(r[2]))
            for r in tx.all("SELECT name, created_at, revoked_at FROM api_keys WHERE kind = ? "
                            "ORDER BY name", (kind,))]


def revoke(tx: Tx, kind: str, name: str, at: str) -> bool:
    """Revoke the key named ``name``; False if it was already revoked."""
    row = tx.one("SELECT revoked_at FROM api_keys WHERE kind = ? AND name = ?", (kind, name))
    if row is None:
        raise LedgerError("unknown_key", f"no {kind} key named {name!r}")
    return tx.execute("UPDATE api_keys SET revoked_at = ? WHERE kind = ? AND name = ? "
                      "AND revoked_at IS NULL", (at, kind, name)) == 1


def authenticate(tx: Tx, key: str) -> Principal | None:
    """The principal owning ``key`` (a till, app or office key), or None."""
    digest = key_hash(key)
    if key.startswith(tuple(KINDS.values())):
        row = tx.one("SELECT kind, name FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                     (digest,))
        return None if row is None else Principal(str(row[0]), str(row[1]))
    row = tx.one("SELECT till, store FROM tills WHERE key_hash = ?", (digest,))
    if row is None:
        return None
    till = TillRecord(str(row[0]), str(row[1]))
    return Principal("till", till.till, till)


def add_key(ledger: Ledger, kind: str, name: str) -> str:
    """Make an ``app`` or ``office`` key on ``ledger`` and return it (shown once)."""
    if kind not in KINDS:
        raise LedgerError("invalid", f"a key kind is one of {sorted(KINDS)}")
    with ledger.storage.transaction() as tx:
        return add(tx, kind, name, ledger.now_text())
