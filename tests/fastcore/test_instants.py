"""Instants: RFC 3339 for bundles and TXNs, any ISO-8601 with an offset for baskets and clocks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest

from fastcore import epoch_seconds, parse_instant

MSK = timezone(timedelta(hours=3))


@pytest.mark.parametrize("text,expected", [
    ("2026-11-22T07:05:00Z", datetime(2026, 11, 22, 7, 5, tzinfo=timezone.utc)),
    ("2026-11-22t07:05:00z", datetime(2026, 11, 22, 7, 5, tzinfo=timezone.utc)),
    ("2026-11-22 10:05:00+03:00", datetime(2026, 11, 22, 10, 5, tzinfo=MSK)),
    ("2026-11-22T07:05:00.123456-00:00", datetime(2026, 11, 22, 7, 5, 0, 123456, tzinfo=timezone.utc)),
    ("2024-02-29T00:00:00+14:00", datetime(2024, 2, 29, tzinfo=timezone(timedelta(hours=14)))),
])
def test_rfc3339_instants_are_read(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected
    assert parse_instant(text, strict=False) == expected


@pytest.mark.parametrize("text", [
    "2026-13-01T00:00:00Z",       # month 13
    "2026-02-30T00:00:00Z",       # February 30
    "2025-02-29T00:00:00Z",       # not a leap year
    "2026-00-10T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-01-01T24:00:00Z",       # hour 24
    "2026-01-01T12:60:00Z",
    "2016-12-31T23:59:60Z",       # a leap second: a datetime cannot hold it
    "2026-01-01T00:00:00+24:00",  # an offset out of range
])
def test_dates_and_times_that_do_not_exist_are_refused_in_either_mode(text: str) -> None:
    assert parse_instant(text) is None
    assert parse_instant(text, strict=False) is None


@pytest.mark.parametrize("text", [
    "2026-01-01T00:00:00",        # no offset
    "2026-01-01T00:00:00+0300",   # ISO-8601 basic offset
    "20260101T000000Z",           # ISO-8601 basic form
    "2026-01-01T00:00Z",          # no seconds
    "2026-01-01T00:00:00+03:00:30",
    "2026-1-01T00:00:00Z",
])
def test_strict_mode_wants_rfc3339(text: str) -> None:
    assert parse_instant(text) is None


@pytest.mark.parametrize("text,expected", [
    ("2026-01-01T03:00:00+0300", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ("20260101T000000Z", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ("2026-01-01T00:00Z", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ("2026-01-01T00:00:30+00:00:30", datetime(2026, 1, 1, tzinfo=timezone.utc)),
])
def test_lenient_mode_takes_any_iso8601_with_an_offset(text: str, expected: datetime) -> None:
    assert parse_instant(text, strict=False) == expected


@pytest.mark.parametrize("value", [None, 0, 1_700_000_000, b"2026-01-01T00:00:00Z", "", "now",
                                   "2026-01-01", "2026-01-01T00:00:00"])
def test_no_offset_or_not_text_is_not_an_instant(value: object) -> None:
    assert parse_instant(value) is None and parse_instant(value, strict=False) is None


def test_epoch_seconds_are_exact() -> None:
    assert epoch_seconds("1970-01-01T00:00:00Z") == 0
    assert epoch_seconds("2026-11-22T10:05:00.5+03:00") == Fraction(1_795_331_100) + Fraction(1, 2)
    assert epoch_seconds(datetime(2026, 11, 22, 7, 5, 0, 1, tzinfo=timezone.utc)) == Fraction(1_795_331_100_000_001,
                                                                                              10**6)
    assert epoch_seconds("1969-12-31T23:59:59.999999Z") == Fraction(-1, 10**6)


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "yesterday",
                                   datetime(2026, 1, 1)])
def test_epoch_seconds_refuses_what_is_not_an_instant(value: object) -> None:
    with pytest.raises(ValueError):
        epoch_seconds(value)  # type: ignore[arg-type]
