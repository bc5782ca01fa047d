"""The ledger clock and its text form.

Every instant the ledger stores is UTC text of one fixed width, so that
string comparison in SQL is time comparison on both backends. Hold expiry,
token ``iat``/``exp`` and report ages are computed against this clock, never
against a till's.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The server's UTC time (the default clock)."""
    return datetime.now(timezone.utc)


def utc_text(moment: datetime) -> str:
    """``2026-11-22T07:05:00.000000Z``: fixed width, sorts as it compares."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc_text(text: str) -> datetime:
    """The inverse of ``utc_text``."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    """An RFC 3339 instant for the wire (``2026-11-22T07:05:00Z``)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
