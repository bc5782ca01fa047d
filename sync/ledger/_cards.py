"""EAN-13 card numbers (spec/token.md §1)."""
from __future__ import annotations


def ean13_ok(card: str) -> bool:
    """True when ``card`` is 13 ASCII digits with a valid check digit."""
    if len(card) != 13 or not card.isascii() or not card.isdigit():
        return False
    digits = [int(c) for c in card]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == digits[12]


def mask(card: str) -> str:
    """A card number for logs and receipts: only the last 4 digits."""
    return "*" * max(0, len(card) - 4) + card[-4:]
