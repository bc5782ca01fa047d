from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from sync import Backoff, parse_retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_stay_within_full_jitter_bounds_and_the_cap() -> None:
    b = Backoff(base=0.5, cap=8.0, rng=random.Random(1), clock=Clock())
    for attempt in range(40):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delay = b.failure()
        assert 0.0 <= delay <= ceiling
    assert b.ceiling(1000) == 8.0


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    b = Backoff(base=1.0, cap=1.0, rng=random.Random(7))
    delays = [b.failure() for _ in range(2000)]
    assert min(delays) < 0.05 and max(delays) > 0.95


def test_retry_after_is_a_floor_but_itself_capped() -> None:
    b = Backoff(base=0.1, cap=0.2, max_retry_after=30.0, rng=random.Random(3), clock=Clock())
    assert b.failure(retry_after=5.0) == 5.0
    assert b.failure(retry_after=10_000.0) == 30.0
    assert b.failure(retry_after=-4.0) <= 0.2


def test_next_try_time_follows_the_injected_clock() -> None:
    clock = Clock()
    b = Backoff(base=2.0, cap=2.0, rng=random.Random(5), clock=clock)
    delay = b.failure()
    assert b.remaining() == pytest.approx(delay)
    clock.now += delay
    assert b.remaining() == 0.0


def test_success_resets_the_attempt_counter() -> None:
    b = Backoff(base=1.0, cap=100.0, rng=random.Random(2), clock=Clock())
    for _ in range(5):
        b.failure()
    assert b.attempt == 5
    b.success()
    assert b.attempt == 0 and b.remaining() == 0.0
    assert b.failure() <= 1.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_retry_after_header_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    value = parse_retry_after(later)
    assert value is not None and 50 <= value <= 61
