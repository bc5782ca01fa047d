"""A bundle with gift certificates and sale TXNs that sell or tender them (ledger tests)."""
from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import fastcore

from sync.ledger import Ledger

from .helpers import BUNDLE, TillSim

GC = "2000000000001"       # a 1000 ₽ certificate whose code pays up to 500 ₽ offline
GC_ONLINE = "2000000000002"  # a 500 ₽ certificate, online only (no ocap)
CERT_FLAGS = ["no_discount", "no_accrual", "no_redeem"]


def cert_bundle() -> dict[str, Any]:
    """The example bundle plus two certificate items (a new version when imported)."""
    doc = copy.deepcopy(BUNDLE)
    doc["catalog"] += [
        {"sku": GC, "name": "Подарочный сертификат 1000", "price": 100000, "unit": "pcs",
         "flags": CERT_FLAGS, "kind": "certificate", "ocap": 50000, "valid_days": 30},
        {"sku": GC_ONLINE, "name": "Подарочный сертификат 500", "price": 50000, "unit": "pcs",
         "flags": CERT_FLAGS, "kind": "certificate"}]
    return doc


ENGINE = fastcore.Engine(fastcore.load_bundle(cert_bundle()))


def install(ledger: Ledger) -> int:
    """Import the certificate bundle; its version."""
    version, _ = ledger.import_bundle(json.dumps(cert_bundle()))
    return version


def sale(till: TillSim, version: int, *, lines: list[dict[str, Any]],
         certificates: dict[str, Any] | None = None, account: str | None = None,
         mode: str = "offline", txn_id: str | None = None) -> dict[str, Any]:
    """A priced sale TXN (next seq) carrying ``certificates``, hash-chained."""
    till.seq += 1
    basket = {"store": till.store, "at": "2026-11-22T14:05:00+07:00", "customer": None,
              "lines": copy.deepcopy(lines), "redeem": 0}
    result = ENGINE.price(fastcore.loads(json.dumps(basket))).to_json()
    txn: dict[str, Any] = {
        "txn_id": txn_id or str(uuid.uuid4()), "till": till.till, "store": till.store,
        "seq": till.seq, "kind": "sale", "at": basket["at"],
        "customer": None if account is None else {"account": account, "jti": None, "claims": {}},
        "mode": mode, "hold_id": None, "basket": basket, "result": result,
        "bundle_version": version, "engine_version": fastcore.ENGINE_VERSION,
        "original_txn_id": None, "returned": None}
    if certificates is not None:
        txn["certificates"] = certificates
    return till._chain(txn)


def sell(till: TillSim, version: int, cert_id: str, sku: str = GC, face: int = 100000
         ) -> dict[str, Any]:
    return sale(till, version, lines=[{"sku": sku, "qty": 1}],
                certificates={"sold": [{"cert_id": cert_id, "sku": sku, "face": face}]})


def spend(till: TillSim, version: int, cert_id: str, amount: int, mode: str = "online",
          hold_id: str | None = None, txn_id: str | None = None) -> dict[str, Any]:
    tender: dict[str, Any] = {"cert_id": cert_id, "amount": amount, "mode": mode}
    if hold_id:
        tender["hold_id"] = hold_id
    return sale(till, version, lines=[{"sku": "4601234567893", "qty": 3}],
                certificates={"tenders": [tender]}, mode=mode, txn_id=txn_id)
