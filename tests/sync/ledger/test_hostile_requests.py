"""The attack list: one test per hostile request, named after the ledger's answer.

Every test runs on SQLite and on the real PostgreSQL (the ``client``
fixture is parametrized by backend). The rule under test is the house
rule: a hostile request gets a specific 4xx and changes nothing; a 5xx
would tell the till "transient, retry" and is never the answer to input.

Sections: credentials (which key may do what), sizes and compression,
nesting, control characters in identifiers, numbers out of range and wrong
types, another till's ids.
"""
from __future__ import annotations

import functools
import gzip
import json
import uuid
from typing import Any

import pytest

from fastcore import b64url_encode
from sync.ledger import Ledger
from sync.ledger import _app, _limits
from sync.ledger._holds import make_hold_id

from .credentials import app_headers, office_headers
from .helpers import CARD_A, ASGIClient, TillSim
from .test_api import snapshot

TXN_ID = "6f0e8a62-3b1f-4c5e-9d36-0d9b1f1c2a10"


def refused(resp: Any, status: int, error: str, field: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body


def upload(client: ASGIClient, till: TillSim, body: Any) -> Any:
    return client.post("/v1/transactions", json=body, headers=till.headers)


# -- credentials: which key may do what ------------------------------------------------

def test_a_till_key_asking_for_a_token_is_403(client: ASGIClient, till: TillSim,
                                              shop: Ledger) -> None:
    refused(client.post("/v1/tokens", json={"card": CARD_A}, headers=till.headers),
            403, "forbidden")


def test_an_office_key_asking_for_a_token_is_403(client: ASGIClient, shop: Ledger) -> None:
    refused(client.post("/v1/tokens", json={"card": CARD_A}, headers=office_headers(shop)),
            403, "forbidden")


def test_no_key_asking_for_a_token_is_401(client: ASGIClient, shop: Ledger) -> None:
    refused(client.post("/v1/tokens", json={"card": CARD_A}), 401, "unauthorized")


def test_a_revoked_app_key_is_401(client: ASGIClient, shop: Ledger) -> None:
    from sync.ledger._apikeys import revoke

    headers = app_headers(shop, "phone-backend")
    assert client.post("/v1/tokens", json={"card": CARD_A}, headers=headers).status_code == 200
    with shop.storage.transaction() as tx:
        assert revoke(tx, "app", "phone-backend", shop.now_text())
    refused(client.post("/v1/tokens", json={"card": CARD_A}, headers=headers),
            401, "unauthorized")


def test_a_key_with_a_nul_or_of_10_kib_is_401_without_a_lookup(client: ASGIClient,
                                                               shop: Ledger) -> None:
    for key in ("kpa_\x00abc", "kpk_" + "x" * 10240):
        refused(client.post("/v1/tokens", json={"card": CARD_A},
                            headers={"Authorization": f"Bearer {key}"}), 401, "unauthorized")


TILL_ONLY = [
    ("POST", "/v1/transactions", {"till": "KY-001-01", "store": "KY-001", "transactions": [{}]}),
    ("POST", "/v1/heartbeat", {"till": "KY-001-01", "store": "KY-001", "queue_depth": 0}),
    ("POST", "/v1/holds", {"till": "KY-001-01", "account": "A-77", "points": 1,
                           "txn_id": TXN_ID}),
    ("DELETE", "/v1/holds/" + make_hold_id("A-77"), None),
]


@pytest.mark.parametrize("method,path,body", TILL_ONLY, ids=[p for _, p, _ in TILL_ONLY])
@pytest.mark.parametrize("kind", ["app", "office"])
def test_an_app_or_office_key_on_a_till_endpoint_is_403_and_changes_nothing(
        client: ASGIClient, shop: Ledger, till: TillSim, method: str, path: str, body: Any,
        kind: str) -> None:
    headers = app_headers(shop) if kind == "app" else office_headers(shop)
    before = snapshot(shop)
    refused(client.request(method, path, json=body, headers=headers), 403, "forbidden")
    assert snapshot(shop) == before


READS = ["/v1/ledger/tills/KY-001-01/transactions", f"/v1/ledger/transactions/{TXN_ID}",
         "/v1/ledger/receipts/KY-001-01/1", "/v1/ledger/accounts/A-77",
         "/v1/ledger/accounts/A-77/statement", f"/v1/ledger/cards/{CARD_A}",
         f"/v1/ledger/cards/{CARD_A}/statement", f"/v1/customers/{CARD_A}", "/v1/bundle"]


@pytest.mark.parametrize("path", READS)
def test_an_app_key_reading_the_ledger_is_403(client: ASGIClient, shop: Ledger, path: str) -> None:
    refused(client.get(path, headers=app_headers(shop)), 403, "forbidden")


@pytest.mark.parametrize("path", READS)
def test_no_key_reading_the_ledger_is_401(client: ASGIClient, shop: Ledger, path: str) -> None:
    refused(client.get(path), 401, "unauthorized")


@pytest.mark.parametrize("path", [p for p in READS if "/accounts/" in p or "/cards/" in p])
def test_a_till_key_reading_an_account_is_403(client: ASGIClient, till: TillSim, path: str) -> None:
    refused(client.get(path, headers=till.headers), 403, "forbidden")


def test_a_till_key_reading_another_tills_range_is_403(
        client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    upload(client, other_till, other_till.body([other_till.sale("A-77")]))
    refused(client.get("/v1/ledger/tills/KY-002-01/transactions", headers=till.headers),
            403, "forbidden", "till")


def test_a_till_key_reading_another_tills_receipt_is_403(
        client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    upload(client, other_till, other_till.body([other_till.sale("A-77")]))
    refused(client.get("/v1/ledger/receipts/KY-002-01/1", headers=till.headers),
            403, "forbidden", "receipt")


def test_a_till_key_reading_another_tills_txn_id_is_404_like_an_unknown_one(
        client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    sale = other_till.sale("A-77")
    upload(client, other_till, other_till.body([sale]))
    refused(client.get(f"/v1/ledger/transactions/{sale['txn_id']}", headers=till.headers),
            404, "unknown_txn")
    refused(client.get(f"/v1/ledger/transactions/{uuid.uuid4()}", headers=till.headers),
            404, "unknown_txn")


def test_a_till_releasing_another_tills_hold_is_403(
        client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    hold = client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "A-77", "points": 5, "txn_id": TXN_ID}).json()
    refused(client.delete(f"/v1/holds/{hold['hold_id']}", headers=other_till.headers),
            403, "forbidden")


# -- sizes and compression -----------------------------------------------------------

@functools.lru_cache(maxsize=1)
def bomb(n: int) -> bytes:
    """A gzip body of ``n`` empty TXNs (3 bytes each once inflated)."""
    return gzip.compress(b'{"till":"KY-001-01","store":"KY-001","transactions":['
                         + b",".join([b"{}"] * n) + b"]}", 9)


def test_a_gzip_bomb_is_413_too_large_while_inflating(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    body = bomb(20_000_000)  # 60 MB of {} in ~59 KiB
    assert len(body) < 100_000
    before = snapshot(shop)
    resp = client.post("/v1/transactions", content=body,
                       headers={**till.headers, "Content-Encoding": "gzip"})
    refused(resp, 413, "too_large")
    assert snapshot(shop) == before


def test_a_declared_content_length_above_the_limit_is_413_before_reading(
        client: ASGIClient, till: TillSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_app, "MAX_BODY", 100)
    resp = client.post("/v1/heartbeat", content=b" " * 101,
                       headers={**till.headers, "Content-Type": "application/json"})
    refused(resp, 413, "too_large")


def test_a_content_length_of_5000_digits_is_413_not_a_crash(client: ASGIClient,
                                                             till: TillSim) -> None:
    resp = client.post("/v1/heartbeat", content=b"{}",
                       headers={**till.headers, "Content-Length": "9" * 5000})
    refused(resp, 413, "too_large")


def test_a_chunked_body_without_content_length_is_413_once_it_passes_the_limit(
        client: ASGIClient, till: TillSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_app, "MAX_BODY", 100)

    async def chunks() -> Any:  # no Content-Length: the ledger counts as it reads
        for _ in range(1000):
            yield b" " * 60

    resp = client.post("/v1/heartbeat", content=chunks(), headers=till.headers)
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    refused(resp, 413, "too_large")


def test_a_body_of_too_many_values_is_413_before_parsing(
        client: ASGIClient, till: TillSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limits, "MAX_VALUES", 1000)
    body = b'{"till":"KY-001-01","store":"KY-001","queue_depth":[' + b"1," * 1000 + b"1]}"
    refused(client.post("/v1/heartbeat", content=body, headers=till.headers),
            413, "too_many_values")


def test_more_txns_than_a_batch_holds_is_413_batch_too_large_before_they_are_built(
        client: ASGIClient, till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    monkeypatch.setattr(_app, "_parse", lambda raw: built.append(1))  # must not be reached
    body = b'{"till":"KY-001-01","store":"KY-001","transactions":[' + b",".join(
        [b'{"txn_id":"x"}'] * 5001) + b"]}"
    refused(client.post("/v1/transactions", content=body, headers=till.headers),
            413, "batch_too_large", "transactions")
    assert built == []


def test_an_unknown_content_encoding_is_415(client: ASGIClient, till: TillSim) -> None:
    refused(client.post("/v1/heartbeat", content=b"{}",
                        headers={**till.headers, "Content-Encoding": "deflate"}),
            415, "unsupported_encoding")


def test_gzip_that_is_not_gzip_is_400_bad_encoding(client: ASGIClient, till: TillSim) -> None:
    refused(client.post("/v1/heartbeat", content=b"\x1f\x8bnot really",
                        headers={**till.headers, "Content-Encoding": "gzip"}),
            400, "bad_encoding")


# -- nesting ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/transactions", "/v1/heartbeat", "/v1/holds"])
def test_nesting_100000_deep_is_400_invalid(client: ASGIClient, till: TillSim,
                                            path: str) -> None:
    refused(client.post(path, content=b"[" * 100_000 + b"]" * 100_000, headers=till.headers),
            400, "invalid")


def test_nesting_65_deep_is_400_and_64_deep_is_parsed(client: ASGIClient, till: TillSim) -> None:
    deep = b'{"till":"KY-001-01","store":"KY-001","queue_depth":0,"hardware":{"a":'
    refused(client.post("/v1/heartbeat", content=deep + b"[" * 63 + b"]" * 63 + b"}}",
                        headers=till.headers), 400, "invalid")
    # 64 levels: parsed, then refused for what it is (hardware is not a map of strings)
    resp = client.post("/v1/heartbeat", content=deep + b"[" * 62 + b"]" * 62 + b"}}",
                       headers=till.headers)
    refused(resp, 400, "invalid", "hardware")


def test_unclosed_nesting_is_400_invalid(client: ASGIClient, till: TillSim) -> None:
    refused(client.post("/v1/heartbeat", content=b"[" * 100_000, headers=till.headers),
            400, "invalid")


def test_unclosed_nesting_that_is_not_json_is_400_bad_json(client: ASGIClient,
                                                           till: TillSim) -> None:
    refused(client.post("/v1/heartbeat", content=b"[{" * 50_000, headers=till.headers),
            400, "bad_json")


def test_nesting_disguised_by_brackets_in_strings_is_still_400_invalid(
        client: ASGIClient, till: TillSim) -> None:
    body = b'["]",' * 100_000 + b"1" + b"]" * 100_000
    refused(client.post("/v1/heartbeat", content=body, headers=till.headers), 400, "invalid")


def test_brackets_inside_strings_are_text_not_nesting(client: ASGIClient, till: TillSim,
                                                      shop: Ledger) -> None:
    resp = client.post("/v1/heartbeat", headers=till.headers, json={
        "till": till.till, "store": till.store, "queue_depth": 0,
        "agent_version": "[" * 100 + "{" * 100})
    assert resp.status_code == 200, resp.text


# -- control characters in identifiers ------------------------------------------------

CONTROLS = ["\x00", "\x01", "\x1f", "\x7f", "\n"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("path", [("customer", "account"), ("customer", "card"),
                                  ("customer", "jti"), ("hold_id",), ("original_txn_id",)],
                         ids=".".join)
def test_a_control_character_in_a_txn_identifier_is_400_with_its_path(
        client: ASGIClient, till: TillSim, shop: Ledger, char: str, path: tuple[str, ...]
) -> None:
    sale = till.sale("A-77")
    node = sale
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = "X" + char + "Y"
    before = snapshot(shop)
    refused(upload(client, till, till.body([sale])), 400, "invalid",
            "transactions[0]." + ".".join(path))
    assert snapshot(shop) == before


def test_a_nul_in_the_envelopes_till_is_400(client: ASGIClient, till: TillSim) -> None:
    body = dict(till.body([till.sale("A-77")]), till="KY-001-01\x00")
    refused(upload(client, till, body), 400, "invalid", "till")


def test_a_nul_in_a_txn_id_is_400(client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    sale["txn_id"] = sale["txn_id"][:-1] + "\x00"
    refused(upload(client, till, till.body([sale])), 400, "invalid", "transactions[0].txn_id")


def test_a_nul_in_a_hold_account_is_400(client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    refused(client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "A-77\x00", "points": 1, "txn_id": TXN_ID}),
        400, "invalid", "account")


def test_a_nul_in_a_heartbeats_agent_version_or_hardware_is_400(
        client: ASGIClient, till: TillSim) -> None:
    base = {"till": till.till, "store": till.store, "queue_depth": 0}
    refused(client.post("/v1/heartbeat", headers=till.headers,
                        json={**base, "agent_version": "1.0\x00"}), 400, "invalid",
            "agent_version")
    resp = client.post("/v1/heartbeat", headers=till.headers,
                       json={**base, "hardware": {"printer": "ok\x00"}})
    refused(resp, 400, "invalid")


def test_a_hold_id_carrying_an_account_with_a_nul_is_404(client: ASGIClient,
                                                         till: TillSim) -> None:
    hold_id = uuid.uuid4().hex + "." + b64url_encode(b"A-77\x00")
    refused(client.delete(f"/v1/holds/{hold_id}", headers=till.headers), 404, "unknown_hold")


def test_a_percent_encoded_nul_in_a_hold_id_path_is_400(client: ASGIClient,
                                                        till: TillSim) -> None:
    refused(client.delete("/v1/holds/abc%00def", headers=till.headers), 400, "invalid",
            "hold_id")


@pytest.mark.parametrize("path", ["/v1/customers/290000012345%00", "/v1/ledger/cards/%00",
                                  "/v1/ledger/accounts/A-77%00",
                                  "/v1/ledger/tills/KY%00/transactions",
                                  "/v1/ledger/transactions/%00", "/v1/ledger/receipts/KY%00/1"])
def test_a_nul_in_a_read_path_is_400(client: ASGIClient, shop: Ledger, path: str) -> None:
    refused(client.get(path, headers=office_headers(shop)), 400, "invalid")


def test_a_nul_in_a_token_card_is_400(client: ASGIClient, shop: Ledger) -> None:
    refused(client.post("/v1/tokens", json={"card": CARD_A[:-1] + "\x00"},
                        headers=app_headers(shop)), 400, "invalid", "card")


# -- numbers out of range and wrong types ---------------------------------------------

@pytest.mark.parametrize("points", [2**63, 2**53, 1e308, -1, 0, "5", True, None, [5]],
                         ids=repr)
def test_hold_points_outside_1_to_2_53_or_not_an_integer_are_400(
        client: ASGIClient, till: TillSim, shop: Ledger, points: Any) -> None:
    before = snapshot(shop)
    refused(client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "A-77", "points": points, "txn_id": TXN_ID}),
        400, "invalid", "points")
    assert snapshot(shop) == before


@pytest.mark.parametrize("member,value", [("queue_depth", 2**63), ("queue_depth", -1),
                                          ("queue_depth", 1e308), ("oldest_unsynced_age_s", 1e308),
                                          ("oldest_unsynced_age_s", 2**63),
                                          ("bundle_version", 2**63), ("agent_version", 5)],
                         ids=repr)
def test_heartbeat_numbers_beyond_2_53_or_of_the_wrong_type_are_400(
        client: ASGIClient, till: TillSim, member: str, value: Any) -> None:
    body = {"till": till.till, "store": till.store, "queue_depth": 0, member: value}
    refused(client.post("/v1/heartbeat", headers=till.headers, json=body), 400, "invalid",
            member)


@pytest.mark.parametrize("since", ["99999999999999999999", "-1", "1e3", "%00"])
def test_a_bundle_since_that_is_not_a_small_integer_is_400(client: ASGIClient, till: TillSim,
                                                          since: str) -> None:
    refused(client.get(f"/v1/bundle?since={since}", headers=till.headers), 400, "invalid",
            "since")


@pytest.mark.parametrize("card", [2900000123458, None, ["2900000123458"], "2900000123459", ""],
                         ids=repr)
def test_a_token_card_of_the_wrong_type_or_check_digit_is_400(client: ASGIClient, shop: Ledger,
                                                              card: Any) -> None:
    refused(client.post("/v1/tokens", json={"card": card}, headers=app_headers(shop)),
            400, "invalid", "card")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_constants_are_400_bad_json(client: ASGIClient, till: TillSim,
                                         constant: bytes) -> None:
    body = b'{"till":"KY-001-01","store":"KY-001","queue_depth":' + constant + b"}"
    refused(client.post("/v1/heartbeat", content=body, headers=till.headers), 400, "bad_json")


@pytest.mark.parametrize("query", ["limit=501", "limit=0", "from=5&to=4", "from=-1",
                                   "to=99999999999999999", "from=1e3"])
def test_a_read_range_out_of_bounds_is_400(client: ASGIClient, till: TillSim,
                                           query: str) -> None:
    resp = client.get(f"/v1/ledger/tills/KY-001-01/transactions?{query}", headers=till.headers)
    refused(resp, 400, "invalid")


@pytest.mark.parametrize("receipt", ["KY-001-01/x", "KY-001-01/99999999999999999"])
def test_a_receipt_id_that_is_not_till_slash_seq_is_400(client: ASGIClient, shop: Ledger,
                                                         receipt: str) -> None:
    refused(client.get(f"/v1/ledger/receipts/{receipt}", headers=office_headers(shop)),
            400, "invalid", "receipt")


@pytest.mark.parametrize("field,value", [("seq", 2**63), ("seq", 1e308), ("seq", -1),
                                         ("txn_id", {"a": 1}), ("txn_id", 2**63),
                                         ("bundle_version", 2**63)], ids=repr)
def test_a_txn_with_a_huge_or_mistyped_member_is_never_a_5xx(
        client: ASGIClient, till: TillSim, shop: Ledger, field: str, value: Any) -> None:
    sale = till.sale("A-77")
    sale[field] = value
    resp = upload(client, till, till.body([sale]))
    assert resp.status_code < 500, resp.text
    if resp.status_code == 200:
        assert resp.json()["results"][0]["status"] == "rejected"


def test_a_body_that_is_a_json_string_is_400(client: ASGIClient, till: TillSim) -> None:
    refused(client.post("/v1/heartbeat", content=json.dumps("x").encode(), headers=till.headers),
            400, "invalid")
