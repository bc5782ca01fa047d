"""Bundle versions and the deltas between them.

``import_bundle`` validates a bundle with ``fastcore.load_bundle``, stamps
it with the next version number and the current token JWKS (``keys``), and
stores it whole: every version is kept, so a till at any version can be
brought forward. Importing content identical to the newest version makes no
new version.

A delta (docs/sync-protocol.md, "Bundle delta") lists upserts and deletes of
catalog items (by ``sku``), promotions (by ``id``) and store customers (by
``card``), and replaces ``program``, ``tiers``, ``stores`` and ``keys``
whole when they changed (``null`` when not). Any other top-level difference
cannot be expressed as a delta, and the answer is the full bundle.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from . import _engine, _keys
from ._errors import BundleImportError
from ._storage import Tx

KEYED = {"catalog": "sku", "promotions": "id", "customers": "card"}
WHOLE = ("program", "tiers", "stores", "keys")


def _digest(body: dict[str, Any]) -> str:
    rest = {k: v for k, v in body.items() if k != "version"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def latest_version(tx: Tx) -> int:
    """The newest stored version (0 when none)."""
    row = tx.one("SELECT MAX(version) FROM bundles")
    return int(row[0]) if row and row[0] is not None else 0


def load(tx: Tx, version: int) -> dict[str, Any] | None:
    """The stored bundle of ``version``, or None."""
    row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
    return None if row is None else json.loads(row[0])


def body_text(tx: Tx, version: int) -> str | None:
    """The stored JSON text of ``version`` (for the engine cache), or None."""
    row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
    return None if row is None else str(row[0])


def parse(text: str) -> dict[str, Any]:
    """Parse bundle JSON text; refuse anything but an object."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BundleImportError("invalid", f"not valid JSON: {exc}", "bundle") from exc
    if not isinstance(body, dict):
        raise BundleImportError("invalid", "a bundle is a JSON object", "bundle")
    return body


def store_version(tx: Tx, body: dict[str, Any], at: str) -> tuple[int, bool]:
    """Validate and store ``body`` as the next version with the current keys.

    Returns ``(version, created)``; ``created`` is False when the content
    equals the newest version's.
    """
    body = dict(body)
    body["keys"] = _keys.jwks(tx)
    if not body["keys"]["keys"]:
        _keys.rotate(tx, at)
        body["keys"] = _keys.jwks(tx)
    newest = latest_version(tx)
    digest = _digest(body)
    if newest:
        row = tx.one("SELECT digest FROM bundles WHERE version = ?", (newest,))
        if row and row[0] == digest:
            return newest, False
    body["version"] = newest + 1
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        _engine.validate_bundle(text)
    except _engine.bundle_error_type() as exc:
        field = getattr(exc, "field", "") or "bundle"
        raise BundleImportError("invalid", str(getattr(exc, "message", exc)), field) from exc
    tx.execute("INSERT INTO bundles (version, body, digest, created_at) VALUES (?, ?, ?, ?)",
               (newest + 1, text, digest, at))
    return newest + 1, True


def republish(tx: Tx, at: str) -> int | None:
    """A new version of the newest bundle carrying the current keys (after rotation)."""
    newest = latest_version(tx)
    if not newest:
        return None
    body = load(tx, newest)
    assert body is not None
    return store_version(tx, body, at)[0]


def compute_delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The changes that turn ``old`` into ``new``, or None if not expressible."""
    known = set(KEYED) | set(WHOLE) | {"version"}
    for key in set(old) | set(new):
        if key not in known and old.get(key) != new.get(key):
            return None
    changes: dict[str, Any] = {}
    for section, key in KEYED.items():
        if section not in old and section not in new:
            changes[section] = None if section == "customers" else {"upsert": [], "delete": []}
            continue
        before = {item[key]: item for item in old.get(section) or []}
        after = {item[key]: item for item in new.get(section) or []}
        upsert = [item for k, item in after.items() if before.get(k) != item]
        delete = [k for k in before if k not in after]
        if section == "customers" and not upsert and not delete:
            changes[section] = None
        else:
            changes[section] = {"upsert": upsert, "delete": delete}
    for section in WHOLE:
        changes[section] = new.get(section) if old.get(section) != new.get(section) else None
    return changes


def apply_delta(bundle: dict[str, Any], changes: dict[str, Any], version: int) -> dict[str, Any]:
    """Apply ``changes`` to a copy of ``bundle`` (what a till does), stamped ``version``."""
    out = copy.copy(bundle)
    for section, key in KEYED.items():
        delta = changes.get(section)
        if delta is None:
            continue
        items = {item[key]: item for item in bundle.get(section) or []}
        for gone in delta.get("delete") or []:
            items.pop(gone, None)
        for item in delta.get("upsert") or []:
            items[item[key]] = item
        out[section] = list(items.values())
    for section in WHOLE:
        if changes.get(section) is not None:
            out[section] = changes[section]
    out["version"] = version
    return out


@functools.lru_cache(maxsize=64)
def _cached_delta(old_text: str, new_text: str) -> str | None:
    delta = compute_delta(json.loads(old_text), json.loads(new_text))
    return None if delta is None else json.dumps(delta, ensure_ascii=False)


def answer(tx: Tx, since: int | None) -> dict[str, Any] | None:
    """The GET /v1/bundle answer for a till at ``since`` (None: no bundle yet)."""
    newest = latest_version(tx)
    if not newest:
        return None
    if since == newest:
        return {"kind": "none", "version": newest}
    new_text = body_text(tx, newest)
    assert new_text is not None
    if since is not None and 0 < since < newest:
        old_text = body_text(tx, since)
        if old_text is not None:
            delta = _cached_delta(old_text, new_text)
            if delta is not None:
                return {"kind": "delta", "from": since, "version": newest,
                        "changes": json.loads(delta)}
    return {"kind": "full", "version": newest, "bundle": json.loads(new_text)}
