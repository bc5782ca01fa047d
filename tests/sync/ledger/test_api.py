"""The HTTP surface: authentication, every 4xx path (nothing changed), small endpoints."""
from __future__ import annotations

import gzip
import json

import pytest

from sync.ledger import Ledger, make_app

from .helpers import CARD_A, ASGIClient, TillSim


def snapshot(ledger: Ledger) -> tuple:
    with ledger.storage.transaction() as tx:
        return tuple(tx.one(f"SELECT COUNT(*) FROM {t}")[0] for t in
                     ("sales", "journal", "till_seqs", "rejects", "heartbeats", "holds")) + tuple(
            tx.all("SELECT * FROM till_state ORDER BY till"))


def test_a_missing_or_unknown_key_is_401(client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    body = till.body([till.sale("A-77")])
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer "}):
        resp = client.post("/v1/transactions", json=body, headers=headers)
        assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"
    assert snapshot(shop)[:3] == (0, 2, 0)


def test_a_till_posting_with_another_tills_key_or_for_another_store_is_403(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    before = snapshot(shop)
    sale = till.sale("A-77")
    # till 1's transactions sent with till 2's key
    resp = client.post("/v1/transactions", json=till.body([sale]), headers=other_till.headers)
    assert resp.status_code == 403 and resp.json()["field"] == "till"
    # the right till, but naming another store
    body = dict(till.body([sale]), store="KY-002")
    resp = client.post("/v1/transactions", json=body, headers=till.headers)
    assert resp.status_code == 403 and resp.json()["field"] == "store"
    # an envelope of its own wrapping another till's transaction
    resp = client.post("/v1/transactions", json=other_till.body([sale]), headers=other_till.headers)
    assert resp.status_code == 403 and resp.json()["field"] == "transactions[0].till"
    assert snapshot(shop) == before


BAD_UPLOADS = [
    (b"{not json", {}, 400, "bad_json"),
    (b"[1, 2]", {}, 400, "invalid"),
    (b'{"till": "KY-001-01", "store": "KY-001"}', {}, 400, "invalid"),
    (b'{"till": "KY-001-01", "store": "KY-001", "transactions": []}', {}, 400, "invalid"),
    (b'{"till": "KY-001-01", "store": "KY-001", "transactions": {}}', {}, 400, "invalid"),
    (b'{"till": 5, "store": "KY-001", "transactions": [{}]}', {}, 400, "invalid"),
    (b'{"till": "KY-001-01", "store": "KY-001", "transactions": [NaN]}', {}, 400, "bad_json"),
    (b"\xff\xfe", {}, 400, "bad_json"),
    (b"not gzip", {"Content-Encoding": "gzip"}, 400, "bad_encoding"),
    (gzip.compress(b'{"a": 1}')[:-6], {"Content-Encoding": "gzip"}, 400, "bad_encoding"),
    (b"{}", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
]


@pytest.mark.parametrize("data,extra,status,error", BAD_UPLOADS)
def test_a_malformed_upload_gets_a_specific_4xx_and_changes_nothing(
        client: ASGIClient, till: TillSim, shop: Ledger, data: bytes, extra: dict,
        status: int, error: str) -> None:
    before = snapshot(shop)
    resp = client.post("/v1/transactions", content=data, headers={**till.headers, **extra})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error and resp.json()["detail"]
    assert snapshot(shop) == before


def test_a_batch_above_the_limit_is_413(client: ASGIClient, till: TillSim, shop: Ledger,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.ledger import _ingest

    monkeypatch.setattr(_ingest, "MAX_BATCH", 2)
    body = till.body([till.sale(None) for _ in range(3)])
    resp = client.post("/v1/transactions", json=body, headers=till.headers)
    assert resp.status_code == 413 and resp.json()["error"] == "batch_too_large"


def test_a_heartbeat_is_stored_and_answered_with_time_and_epoch(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    hb = {"till": till.till, "store": till.store, "queue_depth": 12,
          "oldest_unsynced_age_s": 340.5, "bundle_version": 1, "agent_version": "0.1.0",
          "hardware": {"scanner": "ok", "printer": "paper_out"}, "at": "2026-11-22T14:05:00+07:00"}
    resp = client.post("/v1/heartbeat", json=hb, headers=till.headers)
    assert resp.status_code == 200
    assert resp.json() == {"server_time": "2026-11-22T07:00:00Z", "epoch": shop.epoch()}
    with shop.storage.transaction() as tx:
        row = tx.one("SELECT queue_depth, oldest_unsynced_age_s, hardware FROM heartbeats")
    assert row[:2] == (12, 340) and json.loads(row[2])["printer"] == "paper_out"


@pytest.mark.parametrize("change,status,field", [
    ({"queue_depth": -1}, 400, "queue_depth"),
    ({"queue_depth": "3"}, 400, "queue_depth"),
    ({"oldest_unsynced_age_s": "old"}, 400, "oldest_unsynced_age_s"),
    ({"bundle_version": 1.5}, 400, "bundle_version"),
    ({"hardware": {"scanner": 1}}, 400, "hardware"),
    ({"agent_version": 3}, 400, "agent_version"),
    ({"till": "KY-002-01"}, 403, "till"),
    ({"store": "KY-002"}, 403, "store"),
])
def test_a_wrong_heartbeat_gets_a_specific_4xx_and_changes_nothing(
        client: ASGIClient, till: TillSim, shop: Ledger, change: dict, status: int,
        field: str) -> None:
    hb = {"till": till.till, "store": till.store, "queue_depth": 0, **change}
    resp = client.post("/v1/heartbeat", json=hb, headers=till.headers)
    assert resp.status_code == status and resp.json()["field"] == field
    assert snapshot(shop)[4] == 0


def test_the_customer_endpoint_shows_the_family_balance(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    resp = client.get(f"/v1/customers/{CARD_A}", headers=till.headers)
    assert resp.json() == {"card": CARD_A, "account": "A-77", "tier": "silver",
                           "segments": ["students"], "offers": [], "birthday": "1990-11-22",
                           "favorite_category": "dairy", "favorite_until": "2026-12-10",
                           "balance": 500, "first_purchase": True,
                           "birthday_bonus_available": True}
    assert client.get("/v1/customers/2900000999992", headers=till.headers).status_code == 404
    assert client.get("/v1/customers/12345", headers=till.headers).status_code == 400


def test_unknown_paths_and_methods_answer_json_errors(client: ASGIClient, till: TillSim) -> None:
    resp = client.get("/v2/nothing")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    resp = client.get("/v1/transactions", headers=till.headers)
    assert resp.status_code == 405 and resp.json()["error"] == "method_not_allowed"


def test_time_keys_and_openapi_are_public_and_openapi_covers_every_route(
        client: ASGIClient, ledger: Ledger) -> None:
    assert client.get("/v1/time").json() == {"server_time": "2026-11-22T07:00:00Z"}
    assert client.get("/v1/keys").json() == {"keys": []}
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    app = make_app(ledger)
    routes = {(r.path, m.lower()) for r in app.routes for m in (r.methods or ()) if m != "HEAD"}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routes == documented


def test_a_database_failure_answers_503_with_retry_after(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.storage.close()  # the database connection is gone
    resp = client.post("/v1/transactions", json=till.body([till.sale(None)]),
                       headers=till.headers)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert resp.json()["error"] == "unavailable"


def test_a_body_above_the_size_limit_is_413_even_when_gzip_hides_it(
        client: ASGIClient, till: TillSim, shop: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.ledger import _app

    monkeypatch.setattr(_app, "MAX_BODY", 1000)
    big = json.dumps(till.body([till.sale(None)])).encode()
    resp = client.post("/v1/transactions", content=big, headers=till.headers)
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"
    resp = client.post("/v1/transactions", content=gzip.compress(big),
                       headers={**till.headers, "Content-Encoding": "gzip"})
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"
    assert snapshot(shop)[0] == 0


def test_after_a_restore_epoch_bump_every_answer_carries_the_new_epoch(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    old = client.post("/v1/transactions", json=till.body([till.sale(None)]),
                      headers=till.headers).json()["epoch"]
    new = shop.bump_epoch()
    assert new != old
    answer = client.post("/v1/transactions", json=till.body([till.sale(None)]),
                         headers=till.headers).json()
    assert answer["epoch"] == new
    hb = client.post("/v1/heartbeat", headers=till.headers,
                     json={"till": till.till, "store": till.store, "queue_depth": 0})
    assert hb.json()["epoch"] == new
