"""Bearer headers of the app back end's and head office's keys, made on a ledger."""
from __future__ import annotations

from sync.ledger import Ledger, add_key


def app_headers(ledger: Ledger, name: str = "app") -> dict[str, str]:
    """A fresh app key (issues tokens) as an Authorization header."""
    return {"Authorization": f"Bearer {add_key(ledger, 'app', name)}"}


def office_headers(ledger: Ledger, name: str = "hq") -> dict[str, str]:
    """A fresh head-office key (reads the ledger) as an Authorization header."""
    return {"Authorization": f"Bearer {add_key(ledger, 'office', name)}"}
