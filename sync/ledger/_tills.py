"""Per-till keys: made once, stored only as a SHA-256 hash.

The key is random (256 bits), so a plain SHA-256 is the right hash: there is
nothing to brute-force, and a look-up by hash is one index probe per
request. The key names its till, and the till its store; a request
naming any other till or store is refused by the HTTP layer.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ._errors import LedgerError
from ._storage import Tx

KEY_PREFIX = "kpk_"


@dataclass(frozen=True)
class TillRecord:
    """A till registered with the ledger, as its key authenticates it (not ``agent.Till``)."""

    till: str
    store: str


def key_hash(key: str) -> str:
    """SHA-256 hex of a till key (the only form the ledger keeps)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_till(tx: Tx, store: str, till: str, at: str, *, replace: bool = False) -> str:
    """Register ``till`` in ``store`` and return its new key (shown once).

    An existing till is refused unless ``replace`` (key rotation), which
    invalidates the old key at once. A till never moves to another store.
    """
    if not store.strip() or not till.strip():
        raise LedgerError("invalid", "store and till must not be empty")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = tx.one("SELECT store FROM tills WHERE till = ?", (till,))
    if row is not None:
        if not replace:
            raise LedgerError("till_exists", f"till {till} exists; use --replace to issue a new key")
        if row[0] != store:
            raise LedgerError("bad_store", f"till {till} belongs to store {row[0]}")
        tx.execute("UPDATE tills SET key_hash = ? WHERE till = ?", (key_hash(key), till))
    else:
        tx.execute("INSERT INTO tills (till, store, key_hash, created_at) VALUES (?, ?, ?, ?)",
                   (till, store, key_hash(key), at))
    tx.execute("INSERT INTO till_state (till, store) VALUES (?, ?) ON CONFLICT DO NOTHING",
               (till, store))
    return key


def authenticate(tx: Tx, key: str) -> TillRecord | None:
    """The till owning ``key``, or None."""
    row = tx.one("SELECT till, store FROM tills WHERE key_hash = ?", (key_hash(key),))
    return None if row is None else TillRecord(str(row[0]), str(row[1]))


def info(tx: Tx, till: TillRecord, epoch: str) -> dict[str, object]:
    """What a till needs to continue its seqs after its data was wiped (``GET /v1/tills/me``).

    ``max_seq`` is the highest seq the ledger holds for the till (applied or
    being applied), ``next_seq`` the one the till must use next, and
    ``last_hash`` that row's hash, so the till's new chain links to it.
    """
    row = tx.one("SELECT high_water, max_seq FROM till_state WHERE till = ?", (till.till,))
    high, top = (int(row[0]), int(row[1])) if row else (0, 0)
    claimed = tx.one("SELECT MAX(seq) FROM till_seqs WHERE till = ?", (till.till,))
    if claimed and claimed[0] is not None:
        top = max(top, int(claimed[0]))
    last = tx.one("SELECT hash FROM till_seqs WHERE till = ? AND seq = ?", (till.till, top))
    return {"till": till.till, "store": till.store, "high_water": high, "max_seq": top,
            "next_seq": top + 1, "last_hash": str(last[0]) if last else "0" * 64,
            "epoch": epoch}


def record_enrolment(tx: Tx, till: TillRecord, at: str, found: dict[str, object]) -> None:
    """Keep a trace of a re-enrolment (``POST /v1/tills/me/re-enrol``) for head office."""
    tx.execute("INSERT INTO till_enrolments (till, at, store, high_water, max_seq) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (till.till, at, till.store, found["high_water"], found["max_seq"]))
