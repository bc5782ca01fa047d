"""The provisional account of a card enrolled at a till (docs/enrolment.md).

A till that enrols a new card offline names its account ``P-`` + the first
20 hex digits of SHA-256 over ``"kopilka-enrol:" + card``. It is derived
from the card alone, so two tills that enrol the same card while offline
name the same account, and the ledger adopts that name as the account id
when the card had none (``confirmed``), or maps it to the card's existing
account (``merged``). Both ends compute it here.
"""
from __future__ import annotations

import hashlib
import re

#: the prefix of a till-made account id; head office never imports accounts named like it
PROVISIONAL_PREFIX = "P-"
_SHAPE = re.compile(r"P-[0-9A-F]{20}\Z")


def provisional_account(card: str) -> str:
    """The account a till names for ``card`` when it enrols it (deterministic)."""
    digest = hashlib.sha256(("kopilka-enrol:" + card).encode("ascii")).hexdigest()
    return PROVISIONAL_PREFIX + digest[:20].upper()


def is_provisional(account: object) -> bool:
    """Whether ``account`` has the shape of a till-made provisional account id."""
    return isinstance(account, str) and _SHAPE.match(account) is not None
