"""Errors of the till side of sync.

::

    KopilkaError                 (fastcore)
     └── SyncError               anything the till side of sync refuses
          ├── TillDbCorrupt      PRAGMA quick_check failed at start-up (reason)
          ├── OutboxError        an append was refused; nothing was committed (reason)
          ├── BundleRefused      a bundle/delta is invalid; the last good one stays (reason, field)
          └── UploaderBusy       another uploader already holds this till database

Every class carries a ``reason`` code so that status screens and logs can
show a stable word rather than a message.
"""
from __future__ import annotations

from fastcore._errors import KopilkaError


class SyncError(KopilkaError):
    """Root of the till-side sync errors; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}" if message else reason)


class TillDbCorrupt(SyncError):
    """The till database failed its integrity check; do not write to it."""


class OutboxError(SyncError):
    """An outbox append was refused and rolled back (e.g. ``duplicate_txn_id``)."""


class BundleRefused(SyncError):
    """A bundle or delta failed validation; ``field`` names the bad part if known."""

    def __init__(self, reason: str, message: str = "", field: str = "") -> None:
        self.field = field
        super().__init__(reason, message)


class UploaderBusy(SyncError):
    """Another uploader (thread or process) holds this till database's lock."""
