"""The ledger's branch of the sync exception tree, for the ledger's own modules.

Defined once in ``sync._errors`` (the tree is drawn there) and taken here
through the ``sync`` door, so ``from ._errors import RequestError`` keeps
working inside ``sync.ledger``.
"""
from __future__ import annotations

from sync import (
    BalanceOutOfBounds,
    BundleImportError,
    Conflict,
    LedgerError,
    MemberImportError,
    RequestError,
    ReturnRefused,
    ScopeError,
    StorageError,
    TxnInvalid,
    TxnRefused,
)

__all__ = [
    "BalanceOutOfBounds",
    "BundleImportError",
    "Conflict",
    "LedgerError",
    "MemberImportError",
    "RequestError",
    "ReturnRefused",
    "ScopeError",
    "StorageError",
    "TxnInvalid",
    "TxnRefused",
]
