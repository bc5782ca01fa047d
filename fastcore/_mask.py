"""How a card number is shown: receipts, the till's API and screen, every log."""
from __future__ import annotations


def mask_card(card: str | None) -> str:
    """A card number with only its last four digits, behind a fixed ``****``.

    The length is not shown either. A number of fewer than 8 digits is not a
    card number: nothing of it is shown, so a short string is never printed
    almost whole. Non-digits (spaces, a path's slashes) are dropped first.
    """
    digits = "".join(c for c in str(card or "") if c.isascii() and c.isdigit())
    return "****" + digits[-4:] if len(digits) >= 8 else "****"
