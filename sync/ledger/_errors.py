"""Errors of the central ledger.

::

    KopilkaError                  (fastcore)
     └── LedgerError              anything the ledger refuses (reason)
          ├── StorageError        the database URL or schema is unusable
          ├── Conflict            a uniqueness constraint refused a write
          ├── MemberImportError   a members file line is invalid (field)
          ├── BundleImportError   a bundle failed validation (field)
          └── RequestError        an API request is invalid (status, reason, field)

Every class carries a stable ``reason`` code; the HTTP layer turns a
``RequestError`` into its JSON error body.
"""
from __future__ import annotations

from typing import Any

from fastcore._errors import KopilkaError


class LedgerError(KopilkaError):
    """Root of the ledger's errors; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str = "", field: str = "") -> None:
        self.reason = reason
        self.message = message
        self.field = field
        text = f"{reason}: {message}" if message else reason
        super().__init__(f"{field}: {text}" if field else text)


class StorageError(LedgerError):
    """The database cannot be opened or its schema is newer than this code."""


class Conflict(LedgerError):
    """A unique constraint refused the write (translated from the driver)."""


class MemberImportError(LedgerError):
    """A line of a members file is invalid; ``field`` names line and column."""


class BundleImportError(LedgerError):
    """A bundle failed ``fastcore.load_bundle``; ``field`` names the part."""


class RequestError(LedgerError):
    """An API request is refused with a 4xx ``status``; nothing was changed."""

    def __init__(
        self, status: int, reason: str, message: str = "", field: str = "", **extra: Any
    ) -> None:
        self.status = status
        self.extra = extra
        super().__init__(reason, message, field)

    def body(self) -> dict[str, Any]:
        """The JSON error body of docs/sync-protocol.md."""
        out: dict[str, Any] = {"error": self.reason, "detail": self.message or self.reason}
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out
