"""A till of the customer's year: every basket priced by both engine twins, agreeing.

``price`` runs the compiled engine (``fastcore.compiled``, Cython) and the
pure-Python twin (``fastcore.reference``) on the same bundle and basket and
returns the result only when the two are equal, so every figure the ledger
journals in the year test is one both engines computed.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import fastcore
from fastcore import compiled, reference

from sync import provisional_account

from .certkit import cert_bundle
from .helpers import TillSim

#: the programme of the year: the return window, expiry, tiers and favourites
PROGRAM = {"hold_days": 14, "expiry_days": 180, "favorite_categories": ["dairy", "bakery",
                                                                       "drinks/coffee"],
           "tier_rules": {"window_days": 90, "review_days": 60,
                          "thresholds": [{"tier": "silver", "spend": 100000},
                                         {"tier": "gold", "spend": 500000}]}}


def year_bundle() -> dict[str, Any]:
    """The example bundle with gift certificates and the year's programme."""
    doc = cert_bundle()
    doc["program"].update(PROGRAM)
    return doc


BUNDLE = year_bundle()
COMPILED, REFERENCE = compiled.Engine(BUNDLE), reference.Engine(BUNDLE)


def price(basket: dict[str, Any]) -> dict[str, Any]:
    """The §7 result of ``basket``, the same from both twins."""
    ours = COMPILED.price(fastcore.loads(json.dumps(basket))).to_json()
    twin = REFERENCE.price(fastcore.loads(json.dumps(basket))).to_json()
    assert ours == twin, (ours, twin)
    return ours


def local(now: datetime) -> str:
    """The till's wall-clock text of ``now`` (the store's zone, +07:00)."""
    return (now.astimezone(timezone(timedelta(hours=7))) - timedelta(minutes=5)).isoformat()


def basket(store: str, customer: dict[str, Any], lines: list[dict[str, Any]], at: str,
           redeem: int = 0) -> dict[str, Any]:
    return {"store": store, "at": at, "customer": customer, "lines": lines, "redeem": redeem}


class YearTill(TillSim):
    """``TillSim`` whose TXNs carry twin-priced results and the ledger's bundle version."""

    def __init__(self, till: str, store: str, key: str, version: int) -> None:
        super().__init__(till, store, key)
        self.version = version

    def _txn(self, kind: str, at: str, customer: dict[str, Any], **rest: Any) -> dict[str, Any]:
        self.seq += 1
        txn = {"txn_id": rest.pop("txn_id", None) or str(uuid.uuid4()), "till": self.till,
               "store": self.store, "seq": self.seq, "kind": kind, "at": at,
               "customer": {"card": customer["card"], "account": customer["account"],
                            "jti": None, "claims": None},
               "mode": "offline", "hold_id": None, "basket": {}, "result": {"lines": []},
               "bundle_version": self.version, "engine_version": fastcore.ENGINE_VERSION,
               "original_txn_id": None, "returned": None}
        txn.update(rest)
        return self._chain(txn)

    def enrol(self, card: str, at: str) -> dict[str, Any]:
        """The ``enrol`` TXN of a card enrolled offline (docs/enrolment.md)."""
        return self._txn("enrol", at, {"card": card, "account": provisional_account(card)})

    def sale_of(self, customer: dict[str, Any], lines: list[dict[str, Any]], at: str, *,
                redeem: int = 0, mode: str = "offline", hold_id: str | None = None,
                certificates: dict[str, Any] | None = None,
                txn_id: str | None = None) -> dict[str, Any]:
        """A sale of ``lines`` to ``customer`` (a basket's customer), priced by both twins."""
        sold = basket(self.store, customer, lines, at, redeem)
        extra: dict[str, Any] = {} if certificates is None else {"certificates": certificates}
        return self._txn("sale", at, customer, mode=mode, hold_id=hold_id, basket=sold,
                         result=price(sold), txn_id=txn_id, **extra)

    def return_of(self, sale: dict[str, Any], returned: list[tuple[int, str]],
                  at: str) -> dict[str, Any]:
        """``TillSim.ret`` made at ``at`` (the till's clock), re-chained."""
        prev = self.prev
        txn = self.ret(sale, returned)
        txn["at"], self.prev = at, prev
        return self._chain(txn)
