"""Instants: a moment with its UTC offset, read from text (spec/pricing.md §1, sync.md).

A bundle's ``when.from``/``until`` and a TXN's ``at`` are RFC 3339
(``strict``): ``YYYY-MM-DDTHH:MM:SS[.frac]`` with ``Z`` or ``±HH:MM``,
``T``/``Z`` in either case. A basket's ``at`` and a clock given on the
command line may be any ISO-8601 form that carries an offset. Either way
the date and time must exist: month 13, February 30, hour 24 and leap
second ``:60`` are refused (a ``datetime`` cannot hold them, so nothing
downstream could read them back).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_instant(value: Any, *, strict: bool = True) -> datetime | None:
    """An instant with a required offset, or ``None`` when malformed.

    ``strict`` asks for RFC 3339; otherwise any ISO-8601 form Python reads
    (``20260101T000000Z``, ``+0300``) is taken, as long as it has an offset.
    """
    if not isinstance(value, str):
        return None
    if strict and not _RFC3339.match(value):
        return None
    if value[-1:] == "z":
        value = value[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def epoch_seconds(instant: datetime | str) -> Fraction:
    """Exact seconds since the epoch (a token's ``iat`` boundary stays exact).

    ``instant`` is an aware ``datetime`` or text ``parse_instant`` reads
    without ``strict``; ``ValueError`` for anything else.
    """
    if isinstance(instant, str):
        parsed = parse_instant(instant, strict=False)
        if parsed is None:
            raise ValueError(f"not an ISO-8601 instant with Z or an offset: {instant!r}")
        instant = parsed
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant without an offset")
    delta = instant - _EPOCH
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 10**6)
