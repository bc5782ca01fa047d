"""The central ledger: storage, members, journal, ingest, bundles, tokens, API.

See docs/ledger.md (operators) and docs/sync-protocol.md (the wire contract).
The errors are the ledger's branch of the tree in ``sync._errors``.
"""
from __future__ import annotations

from ._answers import HTTP_STATUS, http_answer
from ._apikeys import add_key
from ._app import ROUTES, make_app
from ._bundles import compute_delta
from ._errors import (BalanceOutOfBounds, BundleImportError, Conflict, LedgerError,
                      MemberImportError, RequestError, ReturnRefused, StorageError, TxnInvalid,
                      TxnRefused)
from ._ledger import Ledger
from ._migrations import MIGRATIONS, migrate
from ._openapi import openapi
from ._report import collect as collect_sync_report
from ._report import render as render_sync_report
from ._reports import Ask as ReportAsk
from ._reports import report_text
from ._storage import Storage, Tx, open_storage
from ._tills import TillRecord

__all__ = [
    "BalanceOutOfBounds",
    "BundleImportError",
    "Conflict",
    "HTTP_STATUS",
    "Ledger",
    "LedgerError",
    "MIGRATIONS",
    "MemberImportError",
    "ROUTES",
    "ReportAsk",
    "RequestError",
    "ReturnRefused",
    "Storage",
    "StorageError",
    "TillRecord",
    "Tx",
    "TxnInvalid",
    "TxnRefused",
    "add_key",
    "collect_sync_report",
    "compute_delta",
    "http_answer",
    "make_app",
    "migrate",
    "open_storage",
    "openapi",
    "render_sync_report",
    "report_text",
]
