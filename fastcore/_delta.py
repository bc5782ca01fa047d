"""Applying a bundle delta (spec/sync.md, "Bundle delta") to a bundle held as a dict.

A delta upserts and deletes the entries of the keyed sections (catalog
items by ``sku``, promotions by ``id``, store customers by ``card``) and
replaces the other sections whole when it carries them (not ``null``).
One rule for the till, which applies what the ledger sends, and for the
ledger, which checks the deltas it computes.

A delta that does not fit the bundle it claims to extend (deleting an id
that is not there, an upsert without its key) is refused with a
``DeltaError`` naming the field: it was built against another base. The
result is not validated here; the caller runs ``load_bundle`` on it.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._errors import DeltaError

#: Keyed sections of a bundle and the key of their entries.
KEYED_SECTIONS: Mapping[str, str] = {"catalog": "sku", "promotions": "id", "customers": "card"}
#: Sections replaced whole when the delta carries them (not null).
WHOLE_SECTIONS: tuple[str, ...] = ("program", "tiers", "stores", "keys")


def _section(bundle: dict[str, Any], name: str, key: str, change: Any) -> None:
    if not isinstance(change, Mapping):
        raise DeltaError("bad_delta", "must be an object with upsert/delete", f"changes.{name}")
    unknown = set(change) - {"upsert", "delete"}
    if unknown:
        raise DeltaError("bad_delta", f"unknown keys {sorted(unknown)}", f"changes.{name}")
    current = bundle.get(name) or []
    if not isinstance(current, list):
        raise DeltaError("bad_delta", "held bundle section is not a list", name)
    items: dict[str, Any] = {}
    for entry in current:
        items[str(entry.get(key))] = entry
    deletes = change.get("delete")
    deletes = [] if deletes is None else deletes
    if not isinstance(deletes, list):
        raise DeltaError("bad_delta", "delete must be a list", f"changes.{name}.delete")
    for i, ident in enumerate(deletes):
        if not isinstance(ident, str) or ident not in items:
            raise DeltaError("bad_delta", f"deletes {ident!r}, which the held bundle does not have", f"changes.{name}.delete[{i}]")
        del items[ident]
    upserts = change.get("upsert")
    upserts = [] if upserts is None else upserts
    if not isinstance(upserts, list):
        raise DeltaError("bad_delta", "upsert must be a list", f"changes.{name}.upsert")
    for i, entry in enumerate(upserts):
        if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
            raise DeltaError("bad_delta", f"entry without a string {key!r}", f"changes.{name}.upsert[{i}]")
        items[entry[key]] = dict(entry)
    bundle[name] = list(items.values())


def apply_delta(held: Mapping[str, Any], changes: Any, version: int) -> dict[str, Any]:
    """A new bundle: ``held`` with ``changes`` applied, stamped ``version``.

    ``held`` is never modified. Untouched entries are shared with it (a
    100,000-sku deep copy would cost most of a till's update budget); the
    sections the delta replaces are deep copies of the delta's.
    """
    if not isinstance(changes, Mapping):
        raise DeltaError("bad_delta", "changes must be an object", "changes")
    unknown = set(changes) - set(KEYED_SECTIONS) - set(WHOLE_SECTIONS)
    if unknown:
        raise DeltaError("bad_delta", f"unknown sections {sorted(unknown)}", "changes")
    new = dict(held)
    for name, key in KEYED_SECTIONS.items():
        change = changes.get(name)
        if change is not None:
            _section(new, name, key, change)
    for name in WHOLE_SECTIONS:
        if changes.get(name) is not None:
            new[name] = copy.deepcopy(changes[name])
    new["version"] = version
    return new
