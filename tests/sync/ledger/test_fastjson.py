"""The fast JSON paths accept and store exactly what the standard library did."""
from __future__ import annotations

import json
from typing import Any

from sync._hashchain import canonical_json, txn_hash
from sync.ledger import Ledger
from sync.ledger._fastjson import canonical_if_hashes, fast_loads

from .helpers import ASGIClient, TillSim


def stored_body(ledger: Ledger, txn_id: str) -> str:
    with ledger.storage.transaction() as tx:
        row = tx.one("SELECT body FROM sales WHERE txn_id = ?", (txn_id,))
    assert row is not None
    return str(row[0])


def rehash(txn: dict[str, Any]) -> dict[str, Any]:
    txn["hash"] = txn_hash(txn)
    return txn


def test_the_fast_canonical_text_of_a_usual_sale_is_the_tills_canonical_text(
        till: TillSim) -> None:
    sale = till.sale("A-77")
    body = {k: v for k, v in sale.items() if k != "hash"}
    assert canonical_if_hashes(body, sale["prev_hash"], sale["hash"]) == canonical_json(body)


def test_the_fast_canonical_text_is_refused_when_it_cannot_be_the_tills(till: TillSim) -> None:
    sale = till.sale("A-77")
    body = {k: v for k, v in sale.items() if k != "hash"}
    assert canonical_if_hashes(body, sale["prev_hash"], "0" * 64) is None  # wrong hash
    body["customer"] = {"card": None, "account": "Иван", "jti": None, "claims": {}}
    assert canonical_if_hashes(body, sale["prev_hash"], txn_hash(body)) is None  # non-ASCII


def test_sales_with_non_ascii_text_and_floats_are_accepted_and_stored_canonically(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    cyrillic = till.sale("A-77")
    cyrillic["customer"]["claims"] = {"name": "Ольга"}
    floaty = till.sale("A-77")
    floaty["basket"] = dict(floaty["basket"], note_weight=1e-05, big=1e22)
    for txn in (cyrillic, floaty):
        rehash(txn)
    resp = client.post("/v1/transactions", json=till.body([cyrillic, floaty]),
                       headers=till.headers)
    assert [r["status"] for r in resp.json()["results"]] == ["accepted", "accepted"]
    for txn in (cyrillic, floaty):
        assert stored_body(shop, txn["txn_id"]) == canonical_json(
            {k: v for k, v in txn.items() if k != "hash"})


def test_a_body_the_fast_parser_refuses_is_decided_by_the_standard_parser(
        client: ASGIClient, till: TillSim) -> None:
    sale = till.sale("A-77")
    text = json.dumps(till.body([sale])).encode("utf-8")
    resp = client.post("/v1/transactions", content=b"\xef\xbb\xbf" + text, headers=till.headers)
    assert resp.status_code == 200  # a BOM: msgspec refuses, json accepts (as before)
    assert resp.json()["results"][0]["status"] == "accepted"
    resp = client.post("/v1/transactions", content=b'{"till": NaN}', headers=till.headers)
    assert (resp.status_code, resp.json()["error"]) == (400, "bad_json")


def test_fast_loads_refuses_what_is_not_strict_json() -> None:
    assert fast_loads(b'{"a": [1, "x"]}') == {"a": [1, "x"]}
    for bad in (b'{"a": NaN}', b"[1, 2", b"\xff"):
        try:
            fast_loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
