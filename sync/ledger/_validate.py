"""Request-body checks of the ledger API: a specific 4xx, nothing changed."""
from __future__ import annotations

import uuid
from typing import Any

from ._cards import ean13_ok
from ._errors import RequestError
from ._tills import Till
from ._txn import is_int


def obj(body: Any) -> dict[str, Any]:
    """The body must be a JSON object."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid", "the body must be a JSON object")
    return body


def own(body: dict[str, Any], till: Till, *, store: bool) -> None:
    """``till`` (and ``store``) in the body must be the authenticated till's."""
    keys = [("till", till.till)] + ([("store", till.store)] if store else [])
    for key, mine in keys:
        value = body.get(key)
        if not isinstance(value, str):
            raise RequestError(400, "invalid", f"{key} must be a string", key)
        if value != mine:
            raise RequestError(403, "forbidden", f"this key belongs to {key} {mine}", key)


def text(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    """A non-empty string member."""
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise RequestError(400, "invalid", f"{key} must be a non-empty string", key)
    return value


def count(body: dict[str, Any], key: str, *, minimum: int = 0, optional: bool = False
          ) -> int | None:
    """An integer member (booleans refused) ``>= minimum``."""
    value = body.get(key)
    if value is None and optional:
        return None
    if not is_int(value) or value < minimum:
        raise RequestError(400, "invalid", f"{key} must be an integer >= {minimum}", key)
    return int(value)


def txn_id(body: dict[str, Any]) -> str:
    """A UUID string member ``txn_id``."""
    value = text(body, "txn_id")
    assert value is not None
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise RequestError(400, "invalid", "txn_id must be a UUID", "txn_id") from exc
    return value


def card(value: Any, field: str = "card") -> str:
    """An EAN-13 card number with a valid check digit."""
    if not isinstance(value, str) or not ean13_ok(value):
        raise RequestError(400, "invalid", "card must be a 13-digit EAN-13 number", field)
    return value


def heartbeat(body: dict[str, Any]) -> dict[str, Any]:
    """The heartbeat members, normalised."""
    out: dict[str, Any] = {"queue_depth": count(body, "queue_depth")}
    age = body.get("oldest_unsynced_age_s")
    if age is None:
        age = 0
    if isinstance(age, bool) or not isinstance(age, (int, float)) or age < 0 or age != age:
        raise RequestError(400, "invalid", "oldest_unsynced_age_s must be a number >= 0",
                           "oldest_unsynced_age_s")
    out["oldest_unsynced_age_s"] = int(age)
    out["bundle_version"] = count(body, "bundle_version", optional=True)
    out["agent_version"] = text(body, "agent_version", optional=True)
    out["at"] = text(body, "at", optional=True)
    hardware = body.get("hardware")
    if hardware is None:
        hardware = {}
    if not isinstance(hardware, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hardware.items()):
        raise RequestError(400, "invalid", "hardware must map names to status strings",
                           "hardware")
    out["hardware"] = hardware
    return out
