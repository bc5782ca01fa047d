"""Money as text: kopecks (an int, never a float) as roubles with two decimals."""
from __future__ import annotations


def money_text(kopecks: int) -> str:
    """``12345`` → ``"123.45"``, ``-5`` → ``"-0.05"``; integer arithmetic only."""
    sign = "-" if kopecks < 0 else ""
    rub, kop = divmod(abs(int(kopecks)), 100)
    return f"{sign}{rub}.{kop:02d}"
