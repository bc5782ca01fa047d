"""EAN-13 check digits (GS1 mod 10), the rule card numbers and shelf codes share.

The arithmetic is biip's (``biip.checksums``), which the scanner driver
already uses for GTINs; this module only pins it to what kopilka reads: a
body of exactly 12 ASCII digits, a code of exactly 13. (biip accepts any
Unicode decimal digit; a till never should.) biip is imported on first use:
it takes most of a second to import, and ``import fastcore`` (the engine
alone, ``kopilka price``) should not pay for it.
"""
from __future__ import annotations


def _gs1_check_digit(digits: str) -> int:
    from biip.checksums import gs1_standard_check_digit

    return gs1_standard_check_digit(digits)


def _ascii_digits(text: object, length: int) -> bool:
    return isinstance(text, str) and len(text) == length and text.isascii() and text.isdigit()


def ean13_check_digit(first12: str) -> int:
    """The check digit of an EAN-13 from its first 12 digits; ``ValueError`` otherwise."""
    if not _ascii_digits(first12, 12):
        raise ValueError(f"need 12 digits, got {first12!r}")
    return _gs1_check_digit(first12)


def ean13_valid(code: str) -> bool:
    """True when ``code`` is 13 ASCII digits whose last is the check digit of the rest."""
    return _ascii_digits(code, 13) and _gs1_check_digit(code[:12]) == int(code[12])
