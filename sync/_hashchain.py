"""The outbox hash chain of docs/sync-protocol.md.

``hash = sha256(prev_hash + canonical_json(txn without "hash"))``; the first
row's ``prev_hash`` is 64 zeros. A chain that verifies proves no row was
lost, reordered or edited in the till database after it was committed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64


def _default(obj: object) -> object:
    if isinstance(obj, Decimal):
        # Exact decimals (quantities) travel as decimal strings, never floats.
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """Keys sorted, separators ``,`` and ``:``, ASCII only (json defaults)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def txn_hash(txn: Mapping[str, Any]) -> str:
    """The ``hash`` of one TXN (its ``hash`` key, if any, is ignored)."""
    body = {k: v for k, v in txn.items() if k != "hash"}
    prev = str(body.get("prev_hash", ""))
    return hashlib.sha256((prev + canonical_json(body)).encode("utf-8")).hexdigest()


def verify_chain(txns: Iterable[Mapping[str, Any]], *, first_seq: int = 1, prev: str = GENESIS) -> int:
    """Check seqs contiguous from ``first_seq`` (1) and every link from ``prev``; return the row count.

    (A re-enrolled till's outbox continues the ledger's chain: see ``Outbox.re_enrol``.)
    Raises ``ValueError`` naming the first bad seq.
    """
    n = 0
    for n, txn in enumerate(txns, start=1):
        seq = first_seq + n - 1
        if txn.get("seq") != seq:
            raise ValueError(f"seq {txn.get('seq')} where {seq} was expected")
        if txn.get("prev_hash") != prev:
            raise ValueError(f"seq {seq}: prev_hash does not link")
        if txn_hash(txn) != txn.get("hash"):
            raise ValueError(f"seq {seq}: hash does not match its body")
        prev = str(txn["hash"])
    return n
