"""Applying a bundle delta (docs/sync-protocol.md, "Bundle delta") to a held bundle.

Pure function on dicts (the held bundle is not modified): the caller validates the result with
``fastcore.load_bundle`` before storing it. A delta that does not fit the
bundle it claims to extend (deleting an id that is not there, an upsert
without its key) is refused: it was built against another base.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._errors import BundleRefused

#: Keyed sections of a bundle and the key of their entries.
KEYED = {"catalog": "sku", "promotions": "id", "customers": "card"}
#: Sections replaced whole when the delta carries them (not null).
REPLACED = ("program", "tiers", "stores", "keys")


def _section(bundle: dict[str, Any], name: str, key: str, change: Any) -> None:
    if not isinstance(change, Mapping):
        raise BundleRefused("bad_delta", "must be an object with upsert/delete", field=f"changes.{name}")
    unknown = set(change) - {"upsert", "delete"}
    if unknown:
        raise BundleRefused("bad_delta", f"unknown keys {sorted(unknown)}", field=f"changes.{name}")
    current = bundle.get(name) or []
    if not isinstance(current, list):
        raise BundleRefused("bad_delta", "held bundle section is not a list", field=name)
    items: dict[str, Any] = {}
    for entry in current:
        items[str(entry.get(key))] = entry
    deletes = change.get("delete")
    deletes = [] if deletes is None else deletes
    if not isinstance(deletes, list):
        raise BundleRefused("bad_delta", "delete must be a list", field=f"changes.{name}.delete")
    for i, ident in enumerate(deletes):
        if not isinstance(ident, str) or ident not in items:
            raise BundleRefused(
                "bad_delta", f"deletes {ident!r}, which the held bundle does not have",
                field=f"changes.{name}.delete[{i}]",
            )
        del items[ident]
    upserts = change.get("upsert")
    upserts = [] if upserts is None else upserts
    if not isinstance(upserts, list):
        raise BundleRefused("bad_delta", "upsert must be a list", field=f"changes.{name}.upsert")
    for i, entry in enumerate(upserts):
        if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
            raise BundleRefused("bad_delta", f"entry without a string {key!r}",
                                field=f"changes.{name}.upsert[{i}]")
        items[entry[key]] = dict(entry)
    bundle[name] = list(items.values())


def apply_delta(held: Mapping[str, Any], changes: Any, version: int) -> dict[str, Any]:
    """Return a new bundle: ``held`` with ``changes`` applied, at ``version``."""
    if not isinstance(changes, Mapping):
        raise BundleRefused("bad_delta", "changes must be an object", field="changes")
    unknown = set(changes) - set(KEYED) - set(REPLACED)
    if unknown:
        raise BundleRefused("bad_delta", f"unknown sections {sorted(unknown)}", field="changes")
    # Shallow: untouched entries are shared with the held bundle, which is
    # never mutated (a 100,000-sku deep copy would cost most of the budget).
    new = dict(held)
    for name, key in KEYED.items():
        change = changes.get(name)
        if change is not None:
            _section(new, name, key, change)
    for name in REPLACED:
        if changes.get(name) is not None:
            new[name] = copy.deepcopy(changes[name])
    new["version"] = version
    return new
