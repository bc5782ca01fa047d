"""Retry timing for the uploader: exponential backoff, full jitter, a cap.

Why full jitter: 1,500 stores whose link comes back at the same moment must
not retry in lockstep. ``delay = uniform(0, min(cap, base * 2**attempt))``;
a server's ``Retry-After`` is a floor on top (we never come back sooner than
asked, and never later than ``max_retry_after``). The RNG and the clock are
injected so that tests are exact.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Counts consecutive failures and says when to try again."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 60.0,
        max_retry_after: float = 3600.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.max_retry_after = max_retry_after
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.attempt = 0
        self.next_at = 0.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay the ``attempt``-th consecutive failure may draw."""
        return float(min(self.cap, self.base * (2 ** min(attempt, 62))))

    def failure(self, retry_after: float | None = None) -> float:
        """Record a failure; return the delay before the next try."""
        delay = self.rng.uniform(0.0, self.ceiling(self.attempt))
        self.attempt += 1
        if retry_after is not None:
            delay = max(delay, min(max(0.0, retry_after), self.max_retry_after))
        self.next_at = self.clock() + delay
        return delay

    def success(self) -> None:
        """Reset after a success: the next failure starts small again."""
        self.attempt = 0
        self.next_at = 0.0

    def remaining(self) -> float:
        """Seconds until the next try is allowed (0 when it is now)."""
        return max(0.0, self.next_at - self.clock())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
