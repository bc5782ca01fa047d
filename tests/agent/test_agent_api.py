"""The local API on 127.0.0.1: real uvicorn, real HTTP, specific 4xx."""
from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import httpx
import pytest
from agent_kit import NOW
from agent_kit import served_api


MILK, CHEESE = "4607000000014", "4607000000038"


@pytest.fixture
def api(make_till) -> Iterator[tuple[httpx.Client, Any]]:  # type: ignore[no-untyped-def]
    till = make_till()
    with served_api(till) as client:
        yield client, till


def test_a_whole_sale_over_http(api, signer) -> None:
    client, till = api
    s = client.post("/v1/sessions").json()
    r = client.post(f"/v1/sessions/{s['id']}/scan", json={"code": MILK})
    assert r.status_code == 200 and r.json()["names"][MILK].startswith("Молоко")
    client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": CHEESE, "qty": 2})
    r = client.post(f"/v1/sessions/{s['id']}/scan", json={"code": signer.token()})
    body = r.json()
    assert body["customer"]["card"].endswith(body["customer"]["card"][-4:]) and "*" in body["customer"]["card"]
    assert "claims" not in body["customer"] and body["spendable_points"] > 0
    r = client.post(f"/v1/sessions/{s['id']}/redeem", json={"points": "max"})
    assert r.json()["result"]["totals"]["redeemed_points"] == body["spendable_points"]
    r = client.patch(f"/v1/sessions/{s['id']}/lines/1", json={"qty": "1"})
    assert r.json()["lines"][1]["qty"] == "1"
    r = client.post(f"/v1/sessions/{s['id']}/pay", json={"method": "card"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    receipt = r.json()["receipt_id"]
    sale = client.get("/v1/sales", params={"receipt": receipt}).json()
    assert sale["kind"] == "sale" and len(sale["lines"]) == 2
    r = client.post("/v1/returns", json={"receipt": receipt, "items": [{"line": 0, "qty": 1}]})
    assert r.status_code == 201 and r.json()["totals"]["refund"] > 0
    st = client.get("/v1/status").json()
    assert st["queue_depth"] == 2 and st["last_seq"] == 2


@pytest.mark.parametrize("method,path,body,status,error", [
    ("POST", "/v1/sessions/{sid}/lines", b"{not json", 400, "bad_json"),
    ("POST", "/v1/sessions/{sid}/lines", [1], 400, "bad_request"),
    ("POST", "/v1/sessions/{sid}/lines", {}, 400, "bad_request"),
    ("POST", "/v1/sessions/{sid}/lines", {"sku": 4607000000014}, 400, "bad_request"),
    ("POST", "/v1/sessions/{sid}/lines", {"sku": MILK, "qty": True}, 400, "bad_request"),
    ("POST", "/v1/sessions/{sid}/lines", {"sku": "nope"}, 404, "unknown_sku"),
    ("POST", "/v1/sessions/{sid}/lines", {"sku": MILK, "qty": "0.5"}, 422, "bad_qty"),
    ("PATCH", "/v1/sessions/{sid}/lines/7", {"qty": 1}, 404, "unknown_line"),
    ("DELETE", "/v1/sessions/{sid}/lines/7", None, 404, "unknown_line"),
    ("POST", "/v1/sessions/nosuch/lines", {"sku": MILK}, 404, "unknown_session"),
    ("POST", "/v1/sessions/{sid}/identify", {"code": "abc"}, 422, "malformed"),
    ("POST", "/v1/sessions/{sid}/identify", {"code": "2900000123450"}, 422, "bad_check_digit"),
    ("POST", "/v1/sessions/{sid}/redeem", {"points": "10"}, 400, "bad_request"),
    ("POST", "/v1/sessions/{sid}/redeem", {"points": 5}, 422, "no_customer"),
    ("POST", "/v1/sessions/{sid}/pay", {"method": "iou"}, 400, "bad_request"),
    ("POST", "/v1/sessions", None, 409, "session_open"),
    ("POST", "/v1/returns", {"receipt": "X/1", "items": [{"line": 0}]}, 404, "unknown_receipt"),
    ("POST", "/v1/returns", {"receipt": "X/1"}, 400, "bad_request"),
    ("GET", "/v1/sales?receipt=nope", None, 404, "unknown_receipt"),
    ("POST", "/v1/sync/now", None, 422, "no_ledger"),
])
def test_bad_requests_get_a_specific_4xx_and_change_nothing(api, method, path, body, status, error) -> None:
    client, till = api
    sid = client.post("/v1/sessions").json()["id"]
    client.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK})
    before = till.get(sid).to_json()
    content = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    headers = {} if content is None else {"Content-Type": "application/json"}
    r = client.request(method, path.format(sid=sid), content=content, headers=headers)
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["error"] == error and doc["message"]
    assert till.get(sid).to_json() == before and till.outbox.rows() == []


def test_token_refusals_carry_plain_words(api, signer) -> None:
    client, till = api
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/identify", json={"code": signer.token(exp=NOW - 100)})
    assert r.status_code == 422 and r.json()["error"] == "expired"
    assert "refresh" in r.json()["message"]


def test_openapi_document_lists_every_route(api) -> None:
    client, _ = api
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/sessions", "/v1/sessions/{sid}/lines", "/v1/sessions/{sid}/identify",
                 "/v1/sessions/{sid}/redeem", "/v1/sessions/{sid}/pay", "/v1/returns", "/v1/status", "/v1/events"):
        assert path in doc["paths"], path


def test_the_cashier_page_and_its_assets_are_served(api) -> None:
    client, _ = api
    page = client.get("/cashier")
    assert "cashier.js" in page.text and page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/cashier.js").status_code == 200
    assert client.get("/static/cashier.css").status_code == 200


def test_the_event_stream_carries_session_events(api) -> None:
    client, till = api
    seen: list[dict[str, Any]] = []
    got = threading.Event()
    with client.stream("GET", "/v1/events") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        for line in lines:
            if line.startswith("data:"):
                doc = json.loads(line[5:])
                seen.append(doc)
                if doc["type"] == "hello":
                    s = till.open_session()
                    till.add_line(s.id, MILK)
                if doc["type"] == "session" and doc["action"] == "line_added":
                    got.set()
                    break
    assert got.is_set() and [d["type"] for d in seen][:2] == ["hello", "session"]


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/v1/sessions/{sid}/lines/0", {"PATCH", "DELETE"}),
    ("PUT", "/v1/sessions", {"POST"}),
    ("POST", "/v1/status", {"GET", "HEAD"}),
])
def test_a_wrong_method_is_405_and_names_the_allowed_ones(api, method, path, allow) -> None:
    client, _ = api
    sid = client.post("/v1/sessions").json()["id"]
    r = client.request(method, path.format(sid=sid))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allow


def test_an_endpoint_answers_alone_without_http(make_till) -> None:
    from agent._api import Call, LocalApi, add_line, open_session

    till = make_till()
    api = LocalApi(till, till.status)
    sid = open_session(api, Call())["id"]
    view = add_line(api, Call(path={"sid": sid}, body={"sku": MILK, "qty": 2}))
    assert view["lines"] == [{"sku": MILK, "qty": "2"}]
