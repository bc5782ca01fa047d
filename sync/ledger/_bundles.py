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

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from fastcore import KEYED_SECTIONS, WHOLE_SECTIONS

from . import _engine, _keys
from ._errors import BundleImportError
from ._storage import Tx

KEYED = KEYED_SECTIONS  # the delta's sections: one definition, with fastcore.apply_delta
WHOLE = WHOLE_SECTIONS


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
    if newest:
        # The step every till takes next is diffed once, here, not per request.
        previous = load(tx, newest)
        assert previous is not None
        changes = diff(VersionIndex(previous), VersionIndex(body))
        if changes is not None:
            tx.execute("INSERT INTO bundle_deltas (version, from_version, changes) "
                       "VALUES (?, ?, ?)", (newest + 1, newest,
                                            json.dumps(changes, ensure_ascii=False,
                                                       separators=(",", ":"))))
    return newest + 1, True


def republish(tx: Tx, at: str) -> int | None:
    """A new version of the newest bundle carrying the current keys (after rotation)."""
    newest = latest_version(tx)
    if not newest:
        return None
    body = load(tx, newest)
    assert body is not None
    return store_version(tx, body, at)[0]


class VersionIndex:
    """One bundle version's keyed sections as canonical text per entry.

    Built once per version (the ledger keeps a few in memory); diffing two
    indexes compares short strings, not nested dicts, so a delta over a
    100,000-sku catalog costs a dictionary walk.
    """

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.sections: dict[str, dict[Any, str] | None] = {}
        for section, key in KEYED.items():
            items = body.get(section)
            self.sections[section] = None if items is None else {
                item[key]: json.dumps(item, sort_keys=True, separators=(",", ":"))
                for item in items}
        self.items = {section: {item[key]: item for item in body.get(section) or []}
                      for section, key in KEYED.items()}


def diff(old: VersionIndex, new: VersionIndex) -> dict[str, Any] | None:
    """The changes that turn ``old`` into ``new``, or None if not expressible."""
    known = set(KEYED) | set(WHOLE) | {"version"}
    for key in set(old.body) | set(new.body):
        if key not in known and old.body.get(key) != new.body.get(key):
            return None
    changes: dict[str, Any] = {}
    for section in KEYED:
        before, after = old.sections[section], new.sections[section]
        if before is None and after is None:
            changes[section] = None if section == "customers" else {"upsert": [], "delete": []}
            continue
        before, after = before or {}, after or {}
        items = new.items[section]
        upsert = [items[k] for k, text in after.items() if before.get(k) != text]
        delete = [k for k in before if k not in after]
        if section == "customers" and not upsert and not delete:
            changes[section] = None
        else:
            changes[section] = {"upsert": upsert, "delete": delete}
    for section in WHOLE:
        changes[section] = (new.body.get(section)
                            if old.body.get(section) != new.body.get(section) else None)
    return changes


def compute_delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The changes that turn bundle ``old`` into ``new``, or None if not expressible."""
    return diff(VersionIndex(old), VersionIndex(new))


_cache_lock = threading.Lock()
_indexes: OrderedDict[str, VersionIndex] = OrderedDict()
_answers: OrderedDict[tuple[str, str], str] = OrderedDict()
_MAX_INDEXES = 2  # a 100,000-sku version index is ~100 MB of Python objects
_MAX_ANSWERS = 256


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    with _cache_lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)


def _index(tx: Tx, version: int, digest: str) -> VersionIndex:
    with _cache_lock:
        found = _indexes.get(digest)
    if found is None:
        text = body_text(tx, version)
        assert text is not None
        found = VersionIndex(json.loads(text))
        _remember(_indexes, digest, found, _MAX_INDEXES)
    return found


def clear_caches() -> None:
    """Forget cached indexes and answers (benchmarks measure the cold path)."""
    with _cache_lock:
        _indexes.clear()
        _answers.clear()


def answer_text(tx: Tx, since: int | None) -> str | None:
    """The GET /v1/bundle?since=V answer as JSON text (None: no bundle yet).

    The step from the previous version was diffed at import and is read as
    stored text. Other answers are cached by the digests of the two
    versions, so a fleet of tills asking for the same step costs one diff;
    only the digests are read from the database per request.
    """
    newest = latest_version(tx)
    if not newest:
        return None
    if since == newest:
        return json.dumps({"kind": "none", "version": newest})
    if since is not None and since == newest - 1:
        stored = tx.one("SELECT changes FROM bundle_deltas WHERE version = ? AND "
                        "from_version = ?", (newest, since))
        if stored is not None:
            return (f'{{"kind":"delta","from":{since},"version":{newest},'
                    f'"changes":{stored[0]}}}')
    found = tx.one("SELECT digest FROM bundles WHERE version = ?", (newest,))
    assert found is not None  # ``newest`` was read from this table
    new_digest = str(found[0])
    old = None
    if since is not None and 0 < since < newest:
        old = tx.one("SELECT digest FROM bundles WHERE version = ?", (since,))
    key = (f"{since}:{old[0]}" if old else "full", f"{newest}:{new_digest}")
    with _cache_lock:
        cached = _answers.get(key)
    if cached is not None:
        return cached
    text = None
    if old is not None:
        assert since is not None
        changes = diff(_index(tx, since, str(old[0])), _index(tx, newest, new_digest))
        if changes is not None:
            text = json.dumps({"kind": "delta", "from": since, "version": newest,
                               "changes": changes}, ensure_ascii=False, separators=(",", ":"))
    if text is None:
        body = body_text(tx, newest)
        assert body is not None
        text = f'{{"kind":"full","version":{newest},"bundle":{body}}}'
    _remember(_answers, key, text, _MAX_ANSWERS)
    return text


def answer(tx: Tx, since: int | None) -> dict[str, Any] | None:
    """The GET /v1/bundle answer as a dict (None: no bundle yet)."""
    text = answer_text(tx, since)
    return None if text is None else json.loads(text)
