"""Validation of one uploaded TXN (docs/sync-protocol.md, "TXN").

A TXN that fails here is answered ``rejected`` / ``invalid`` with a
``detail`` naming the field; it is never half-applied. The ``hash`` is
recomputed with the till's own chain function, so a body altered in
transit (or by a buggy till) is refused rather than stored under a hash
that does not describe it.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import hashlib

from sync._hashchain import canonical_json

from ._fastjson import canonical_if_hashes

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z")
_QTY = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")


class TxnInvalid(Exception):
    """The TXN is refused as ``invalid``; ``field`` names the offending key."""

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


@dataclass(frozen=True)
class Txn:
    """A validated TXN and the facts the ledger keys on."""

    raw: dict[str, Any]
    txn_id: str
    till: str
    store: str
    seq: int
    kind: str
    at: str
    account: str | None
    card: str | None
    hold_id: str | None
    bundle_version: int
    hash: str
    original_txn_id: str | None
    returned: tuple[tuple[int, int], ...]  # (line, qty_milli)
    canonical: str  # canonical JSON of the TXN without "hash" (what the hash covers)


def is_int(value: Any) -> bool:
    """A JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def qty_milli(value: Any) -> int | None:
    """Exact thousandths of a decimal string / JSON integer, or None if not exact."""
    if is_int(value):
        return int(value) * 1000 if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _QTY.match(value)
    if not m:
        return None
    frac = (m.group(2) or "").rstrip("0")
    if len(frac) > 3:
        return None
    return int(m.group(1)) * 1000 + int(frac.ljust(3, "0") or "0")


def _str(txn: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = txn.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise TxnInvalid(key, "a non-empty string is required")
    return value


def _points_total(result: dict[str, Any], key: str) -> None:
    totals = result.get("totals")
    if not isinstance(totals, dict):
        raise TxnInvalid("result.totals", "an object is required")
    value = totals.get(key, 0)
    if not is_int(value) or value < 0:
        raise TxnInvalid(f"result.totals.{key}", "an integer >= 0 is required")


def validate(txn: Any) -> Txn:
    """Check one TXN's shape, types and hash; raise ``TxnInvalid``."""
    if not isinstance(txn, dict):
        raise TxnInvalid("", "a TXN is a JSON object")
    txn_id = _str(txn, "txn_id")
    assert txn_id is not None
    try:
        uuid.UUID(txn_id)
    except ValueError as exc:
        raise TxnInvalid("txn_id", "a UUID string is required") from exc
    till, store = _str(txn, "till"), _str(txn, "store")
    seq = txn.get("seq")
    if not is_int(seq) or seq < 1:
        raise TxnInvalid("seq", "an integer >= 1 is required")
    kind = txn.get("kind")
    if kind not in ("sale", "return"):
        raise TxnInvalid("kind", "must be 'sale' or 'return'")
    at = txn.get("at")
    if not isinstance(at, str) or not _INSTANT.match(at):
        raise TxnInvalid("at", "an ISO-8601 instant with offset is required")
    customer = txn.get("customer")
    account = card = None
    if customer is not None:
        if not isinstance(customer, dict):
            raise TxnInvalid("customer", "an object or null is required")
        account = customer.get("account")
        card = customer.get("card")
        if account is None and isinstance(card, str) and card:
            account = None  # identified by card only: the ledger resolves the account
        elif not isinstance(account, str) or not account:
            raise TxnInvalid("customer.account", "a non-empty string is required")
        elif account.startswith(("anon:", "card:")):
            raise TxnInvalid("customer.account", "'anon:' and 'card:' accounts are reserved")
    if txn.get("mode") not in ("online", "offline"):
        raise TxnInvalid("mode", "must be 'online' or 'offline'")
    hold_id = _str(txn, "hold_id", optional=True)
    for key in ("basket", "result"):
        if not isinstance(txn.get(key), dict):
            raise TxnInvalid(key, "an object is required")
    result = txn["result"]
    version = txn.get("bundle_version")
    if not is_int(version) or version < 0:
        raise TxnInvalid("bundle_version", "an integer >= 0 is required")
    _str(txn, "engine_version")
    original = None
    returned: list[tuple[int, int]] = []
    if not isinstance(result.get("lines"), list):
        raise TxnInvalid("result.lines", "a list is required")
    if kind == "sale":
        _points_total(result, "points")
        _points_total(result, "redeemed_points")
    else:
        original = _str(txn, "original_txn_id")
        items = txn.get("returned")
        if not isinstance(items, list) or not items:
            raise TxnInvalid("returned", "a non-empty list is required")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not is_int(item.get("line")) or item["line"] < 0:
                raise TxnInvalid(f"returned[{i}].line", "an integer >= 0 is required")
            q = qty_milli(item.get("qty"))
            if q is None or q <= 0:
                raise TxnInvalid(f"returned[{i}].qty", "a decimal string > 0 is required")
            returned.append((int(item["line"]), q))
    for key in ("prev_hash", "hash"):
        value = txn.get(key)
        if not isinstance(value, str) or not _HEX64.match(value):
            raise TxnInvalid(key, "64 lowercase hex digits are required")
    body = {k: v for k, v in txn.items() if k != "hash"}
    canonical = canonical_if_hashes(body, str(txn["prev_hash"]), str(txn["hash"]))
    if canonical is None:  # the till's own chain function (sync._hashchain.txn_hash)
        try:
            canonical = canonical_json(body)
        except (TypeError, ValueError) as exc:
            raise TxnInvalid("hash", f"cannot hash the body: {exc}") from exc
        expected = hashlib.sha256((str(txn["prev_hash"]) + canonical).encode("utf-8")).hexdigest()
        if expected != txn["hash"]:
            raise TxnInvalid("hash", "does not match the body")
    assert till is not None and store is not None
    return Txn(txn, txn_id, till, store, int(seq), str(kind), at, account,
               card if isinstance(card, str) else None, hold_id,
               int(version), str(txn["hash"]), original, tuple(returned), canonical)
