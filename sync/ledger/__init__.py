"""The central ledger: storage, members, journal, ingest, bundles, tokens, API.

See docs/ledger.md (operators) and docs/sync-protocol.md (the wire contract).
"""
from __future__ import annotations

from ._apikeys import add_key
from ._app import make_app
from ._bundles import compute_delta
from ._errors import (
    BundleImportError,
    Conflict,
    LedgerError,
    MemberImportError,
    RequestError,
    StorageError,
)
from ._ledger import Ledger
from ._migrations import MIGRATIONS, migrate
from ._storage import Storage, Tx, open_storage
from ._tills import Till

__all__ = [
    "BundleImportError",
    "Conflict",
    "Ledger",
    "LedgerError",
    "MIGRATIONS",
    "MemberImportError",
    "RequestError",
    "Storage",
    "StorageError",
    "Till",
    "Tx",
    "add_key",
    "compute_delta",
    "make_app",
    "migrate",
    "open_storage",
]
