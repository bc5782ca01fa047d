"""Small exact-arithmetic helpers of spec/pricing.md §1–2.

Shared by the bundle and basket readers and by the reference engine; the
Cython engine has its own copies of ``rhu`` and ``allocate`` in C.
"""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from datetime import date
from typing import Any, Iterator, Sequence, TypeGuard

INF = -1  # a cap of -1 means "no cap" in allocate()

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})\Z")


def rhu(n: int, d: int) -> int:
    """Round half up of n/d for n >= 0, d > 0."""
    return (2 * n + d) // (2 * d)


def allocate(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """Split ``total`` over lines by largest remainder, respecting caps.

    A cap of ``INF`` (-1) means unlimited. The result sums to
    ``min(total, sum(caps of lines with weight > 0))``.
    """
    n = len(weights)
    out = [0] * n
    active = [i for i in range(n) if weights[i] > 0 and caps[i] != 0]
    remaining = total
    while active and remaining > 0:
        w_sum = sum(weights[i] for i in active)
        shares = {}
        rems = []
        given = 0
        for i in active:
            q, r = divmod(remaining * weights[i], w_sum)
            shares[i] = q
            given += q
            rems.append((-r, i))
        rems.sort()
        for _, i in rems[: remaining - given]:
            shares[i] += 1
        over = [i for i in active if caps[i] != INF and shares[i] > caps[i]]
        if not over:
            for i in active:
                out[i] = shares[i]
            return out
        for i in over:
            out[i] = caps[i]
            remaining -= caps[i]
        active = [i for i in active if i not in over]
    return out


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer: an int that is not a bool (``True`` is an int to Python, not to JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_date(value: Any) -> date | None:
    """A ``YYYY-MM-DD`` calendar date, or ``None`` when malformed."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_hhmm(value: Any, *, allow_24: bool) -> int | None:
    """Minutes since midnight of ``HH:MM``; ``24:00`` only when allowed."""
    if not isinstance(value, str):
        return None
    m = _HHMM.match(value)
    if not m:
        return None
    hh, mm = int(m.group(1)), int(m.group(2))
    if hh == 24 and mm == 0 and allow_24:
        return 1440
    if hh > 23 or mm > 59:
        return None
    return hh * 60 + mm


def category_matches(category: str | None, target: str) -> bool:
    """A category target ``a/b`` matches ``a/b`` and ``a/b/...`` (whole segments)."""
    if category is None:
        return False
    return category == target or category.startswith(target + "/")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for a batch that creates no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
