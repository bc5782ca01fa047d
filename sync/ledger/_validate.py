"""Request-body checks of the ledger API: a specific 4xx, nothing changed.

Identifiers (till, store, account, card, txn_id, jti, hold ids, names)
never hold control characters (U+0000–U+001F, U+007F): PostgreSQL refuses
NUL in TEXT, and a refusal from the database must never become a 5xx.
Integers stay within ``0 … 2^53 − 1`` (a BIGINT never overflows).
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ._errors import RequestError
from fastcore import MAX_INT, ean13_valid, is_int

from ._limits import has_control
from ._schemas import HeartbeatBody, check
from ._tills import TillRecord

MAX_IDENT = 256
#: identifier members of a TXN checked at the request level (path, keys)
_TXN_IDENTS = (((), ("txn_id", "till", "store", "hold_id", "original_txn_id")),
               (("customer",), ("card", "account", "jti")))


def obj(body: Any) -> dict[str, Any]:
    """The body must be a JSON object."""
    if not isinstance(body, dict):
        raise RequestError("invalid", "the body must be a JSON object")
    return body


def ident(value: Any, field: str) -> str:
    """A non-empty identifier without control characters, at most 256 characters."""
    if not isinstance(value, str) or not value:
        raise RequestError("invalid", f"{field} must be a non-empty string", field)
    if has_control(value):
        raise RequestError("invalid", f"{field} must not hold control characters", field)
    if len(value) > MAX_IDENT:
        raise RequestError("invalid", f"{field} is longer than {MAX_IDENT} characters",
                           field)
    return value


def txn_identifiers(body: Any) -> None:
    """Refuse an upload whose TXNs carry an identifier with a control character.

    Checked on the request before anything is stored: such a TXN could
    never be stored on PostgreSQL (NUL) and is a hostile till's, so the
    whole request is ``400 invalid`` with the field's path (the uploader
    splits the batch and quarantines the one TXN). So is a ``seq`` beyond
    a 64-bit integer, which could not even be recorded as a reject; the
    range ``2^53 … 2^63 − 1`` is the TXN rules' business (``rejected``).
    """
    if not isinstance(body, Mapping):
        return
    for key in ("till", "store"):
        if isinstance(body.get(key), str) and has_control(body[key]):
            ident(body[key], key)
    txns = body.get("transactions")
    if not isinstance(txns, list):
        return
    for i, txn in enumerate(txns):
        if not isinstance(txn, Mapping):
            continue
        seq = txn.get("seq")
        if is_int(seq) and not -2**63 <= seq < 2**63:
            # not storable at all (even in the rejects table): refused as a request
            raise RequestError("invalid", "seq is beyond a 64-bit integer",
                               f"transactions[{i}].seq")
        for path, keys in _TXN_IDENTS:
            node: Any = txn
            for step in path:
                node = node.get(step) if isinstance(node, Mapping) else None
            if not isinstance(node, Mapping):
                continue
            for key in keys:
                value = node.get(key)
                if isinstance(value, str) and has_control(value):
                    field = ".".join((f"transactions[{i}]", *path, key))
                    raise RequestError("invalid", f"{field} must not hold control "
                                       "characters", field)


def own(body: dict[str, Any], till: TillRecord, *, store: bool) -> None:
    """``till`` (and ``store``) in the body must be the authenticated till's."""
    keys = [("till", till.till)] + ([("store", till.store)] if store else [])
    for key, mine in keys:
        value = body.get(key)
        if not isinstance(value, str):
            raise RequestError("invalid", f"{key} must be a string", key)
        if value != mine:
            raise RequestError("forbidden", f"this key belongs to {key} {mine}", key)


def text(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    """A non-empty string member."""
    value = body.get(key)
    if value is None and optional:
        return None
    return ident(value, key)


def txn_id(body: dict[str, Any]) -> str:
    """A UUID string member ``txn_id``."""
    value = text(body, "txn_id")
    assert value is not None
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise RequestError("invalid", "txn_id must be a UUID", "txn_id") from exc
    return value


def card(value: Any, field: str = "card") -> str:
    """An EAN-13 card number with a valid check digit."""
    if not isinstance(value, str) or not ean13_valid(value):
        raise RequestError("invalid", "card must be a 13-digit EAN-13 number", field)
    return value


def heartbeat(body: dict[str, Any]) -> dict[str, Any]:
    """The heartbeat members (``_schemas.HeartbeatBody``), normalised."""
    hb = check(body, HeartbeatBody)
    return {"queue_depth": hb.queue_depth,
            "oldest_unsynced_age_s": int(hb.oldest_unsynced_age_s or 0),
            "bundle_version": hb.bundle_version, "agent_version": hb.agent_version,
            "at": hb.at, "hardware": hb.hardware or {}}


def query_int(params: Mapping[str, str], key: str, default: int, *, minimum: int = 0,
              maximum: int = MAX_INT) -> int:
    """An integer query parameter (ASCII digits) within ``minimum … maximum``."""
    raw = params.get(key)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or not (
            minimum <= int(raw) <= maximum):
        raise RequestError("invalid", f"{key} must be an integer from {minimum} to "
                           f"{maximum}", key)
    return int(raw)
