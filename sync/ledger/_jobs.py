"""The programme's scheduled jobs: ``kopilka ledger expire`` and ``tiers review``.

Both take the date they run *as of* (``--at YYYY-MM-DD``, midnight UTC
starting that day; the ledger's clock by default) so that a missed run can
be caught up. A date after the ledger's clock is refused: expiring points
or reviewing tiers early would take from customers what they still have.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from . import _expiry, _tiers
from ._clock import utc_text
from ._errors import LedgerError
from ._storage import Storage


def parse_day(text: str | None, now: datetime) -> datetime:
    """``YYYY-MM-DD`` (or None: ``now``) as the instant the job runs as of."""
    if text is None:
        return now
    if (len(text) != 10 or not text.isascii() or text[4] != "-" or text[7] != "-"
            or not (text[:4] + text[5:7] + text[8:]).isdigit()):
        shown = text[:40].encode("unicode_escape").decode("ascii")
        raise LedgerError("invalid", f"--at must be a date YYYY-MM-DD, not {shown!r}", "at")
    try:
        day = datetime(int(text[:4]), int(text[5:7]), int(text[8:]), tzinfo=timezone.utc)
    except ValueError as exc:
        raise LedgerError("invalid", f"--at {text}: {exc}", "at") from exc
    if day > now:
        raise LedgerError("invalid", f"--at {text} is after the ledger's clock "
                          f"({now.date().isoformat()}): a job cannot run ahead of time", "at")
    return day


def expire(storage: Storage, at: str | None, now: datetime) -> dict[str, Any]:
    """Run the expiry job as of ``at``."""
    return _expiry.expire(storage, parse_day(at, now), utc_text(now))


def review(storage: Storage, at: str | None, now: datetime) -> dict[str, Any]:
    """Run the tier review as of ``at``."""
    return _tiers.review(storage, parse_day(at, now), utc_text(now))
