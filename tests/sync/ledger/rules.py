"""Shared helpers of the tests of the ledger's authority over points (spec/sync.md)."""
from __future__ import annotations

import copy
import json
from typing import Any

import fastcore

from sync._hashchain import txn_hash
from sync.ledger import Ledger

from .helpers import ENGINE, ASGIClient, TillSim

MAX_INT = 2**53 - 1


def rehash(txn: dict[str, Any]) -> dict[str, Any]:
    """The TXN with its hash recomputed (a till that signs whatever it sends)."""
    txn["hash"] = txn_hash({k: v for k, v in txn.items() if k != "hash"})
    return txn


def forged(txn: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``txn`` with the value at ``a.b[0].c`` replaced, rehashed."""
    out = copy.deepcopy(txn)
    keys: list[Any] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        keys.append(int(part) if part.isdigit() else part)
    node = out
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return rehash(out)


def repriced(txn: dict[str, Any], **customer: Any) -> dict[str, Any]:
    """The sale with its basket customer changed and priced again by the engine, rehashed."""
    txn["basket"]["customer"].update(customer)
    txn["result"] = ENGINE.price(fastcore.loads(json.dumps(txn["basket"]))).to_json()
    return rehash(txn)


def results_of(resp: Any, txns: list[Any]) -> list[dict[str, Any]]:
    """The per-TXN answers; a batch refused whole at the request level counts as a refusal.

    The request checks (``_limits``, ``_validate.txn_identifiers``) refuse a body
    with a control character in an identifier, or nested deeper than 64 levels,
    with ``400`` naming ``transactions[i].<path>``: the till's uploader then splits
    the batch and quarantines that TXN alone (docs/ledger.md). For a one-TXN batch
    that is the same answer as ``rejected``/``invalid`` with the TXN's path.
    """
    if resp.status_code == 400 and len(txns) == 1:
        doc = resp.json()
        if doc.get("error") == "invalid":
            field = str(doc.get("field") or "")
            prefix = "transactions[0]."
            return [{"status": "rejected", "reason": "invalid", "detail": doc.get("detail", ""),
                     "field": field[len(prefix):] if field.startswith(prefix) else field,
                     "http": 400}]
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    return results


def post(client: ASGIClient, till: TillSim, txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = client.post("/v1/transactions", json=till.body(txns), headers=till.headers)
    return results_of(resp, txns)


def snapshot(ledger: Ledger) -> dict[str, Any]:
    """Everything a rejected TXN must leave unchanged (points, journal, sales, holds)."""
    with ledger.storage.transaction() as tx:
        return {
            "accounts": tx.all("SELECT account, points, sales, birthday_bonus_year FROM accounts "
                               "ORDER BY account"),
            "journal": tx.all("SELECT account, entry_id, points FROM journal "
                              "ORDER BY account, entry_id"),
            "sales": tx.all("SELECT account, txn_id FROM sales ORDER BY account, txn_id"),
            "holds": tx.all("SELECT hold_id, state FROM holds ORDER BY hold_id"),
            "return_lines": tx.all("SELECT account, original_txn_id, line, qty_milli "
                                   "FROM return_lines ORDER BY 1, 2, 3"),
        }


def journal_sum(ledger: Ledger, account: str) -> int:
    with ledger.storage.transaction() as tx:
        row = tx.one("SELECT COALESCE(SUM(points), 0) FROM journal WHERE account = ?", (account,))
    assert row is not None
    return int(row[0])


def assert_sound(ledger: Ledger) -> None:
    """Balance = journal sum, every balance an integer within ±(2^53 − 1)."""
    assert ledger.check() == []
    with ledger.storage.transaction() as tx:
        rows = tx.all("SELECT account, points FROM accounts")
        if ledger.storage.kind == "sqlite":
            kinds = {r[0] for r in tx.all("SELECT DISTINCT typeof(points) FROM accounts")}
            assert kinds <= {"integer"}, kinds
    for account, points in rows:
        assert type(points) is int and -MAX_INT <= points <= MAX_INT, (account, points)


def entries(ledger: Ledger, account: str, kind: str) -> list[tuple[str, int, str | None]]:
    with ledger.storage.transaction() as tx:
        return [(str(r[0]), int(r[1]), r[2]) for r in tx.all(
            "SELECT entry_id, points, note FROM journal WHERE account = ? AND kind = ? "
            "ORDER BY entry_id", (account, kind))]
