"""Who may drive the till (spec/till.md §3), against the real local API
server on 127.0.0.1: the list of attacks tried, each refused with its own
status and reason and changing nothing."""
from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from click.testing import CliRunner

from agent._api import CSP, create_app
from agent.cli import agent_group
from agent._runtime import ApiServer
from agent._security import load_or_create_token

MILK = "4607000000014"


class Api:
    def __init__(self, server: ApiServer, token: str, till: Any) -> None:
        self.server, self.token, self.till = server, token, till
        self.port = server.port
        self.client = httpx.Client(base_url=server.url, timeout=5)

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def state(self) -> tuple[Any, ...]:
        """Everything a forged request could change: sessions, journal, outbox."""
        with self.till.db.lock:
            journal = self.till.db.conn.execute("SELECT id, state, body FROM agent_session ORDER BY id").fetchall()
        return (sorted(self.till.sessions), journal, [r.txn_id for r in self.till.outbox.rows()])


@pytest.fixture
def api(make_till, tmp_path: Path) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    till = make_till()
    closing = threading.Event()
    token = load_or_create_token(tmp_path / "data")
    server = ApiServer(create_app(till, closing=closing, token=token), "127.0.0.1", 0).start()
    a = Api(server, token, till)
    try:
        yield a
    finally:
        closing.set()
        a.client.close()
        server.stop()


def _sold(api: Api) -> dict[str, Any]:
    s = api.client.post("/v1/sessions", headers=api.auth()).json()
    api.client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": MILK}, headers=api.auth())
    return api.client.post(f"/v1/sessions/{s['id']}/pay", json={"method": "cash"}, headers=api.auth()).json()


# ------------------------------------------------------------------ token


@pytest.mark.parametrize("headers,reason", [
    ({}, "no_token"),
    ({"Authorization": "Bearer wrong-token-wrong-token-wrong-token-0000"}, "bad_token"),
    ({"Authorization": "Bearer"}, "bad_token"),
    ({"Authorization": "Basic a29waWxrYTprb3BpbGth"}, "bad_token"),
])
def test_a_state_change_without_the_right_token_is_401_and_changes_nothing(api: Api, headers, reason) -> None:
    receipt = _sold(api)["receipt_id"]
    before = api.state()
    for method, path, body in [("POST", "/v1/sessions", None),
                               ("POST", "/v1/returns", {"receipt": receipt, "items": [{"line": 0}]}),
                               ("POST", "/v1/sync/now", None), ("POST", "/v1/print/retry", None)]:
        r = api.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == reason and r.json()["field"] == "Authorization"
    assert api.state() == before


def test_a_void_without_the_token_is_refused(api: Api) -> None:
    sid = api.client.post("/v1/sessions", headers=api.auth()).json()["id"]
    api.client.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK}, headers=api.auth())
    before = api.state()
    assert api.client.delete(f"/v1/sessions/{sid}/lines/0").status_code == 401
    assert api.client.patch(f"/v1/sessions/{sid}/lines/0", json={"qty": 3}).status_code == 401
    assert api.state() == before


def test_reads_need_no_token_but_the_right_host(api: Api) -> None:
    assert api.client.get("/v1/status").status_code == 200
    assert api.client.get("/cashier").status_code == 200


# ------------------------------------------------------------------ Host (DNS rebinding)


@pytest.mark.parametrize("host", ["evil.example:{port}", "rebind.attacker.test:{port}", "127.0.0.1",
                                  "127.0.0.1:{other}", "localhost.evil.example:{port}", "127.0.0.2:{port}", ""])
@pytest.mark.parametrize("method,path", [("GET", "/cashier"), ("GET", "/v1/status"), ("GET", "/v1/events"),
                                         ("POST", "/v1/sessions"), ("GET", "/static/cashier.js")])
def test_a_foreign_host_header_is_403_even_for_reads(api: Api, host: str, method: str, path: str) -> None:
    before = api.state()
    h = host.format(port=api.port, other=api.port + 1)
    r = api.client.request(method, path, headers=api.auth(Host=h))
    assert r.status_code == 403 and r.json()["error"] == "bad_host", r.text
    assert api.token not in r.text
    assert api.state() == before


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_the_tills_own_names_are_accepted(api: Api, host: str) -> None:
    r = api.client.post("/v1/sessions", headers=api.auth(Host=host.format(port=api.port)))
    assert r.status_code == 201


# ------------------------------------------------------------------ Origin


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{other}", "http://localhost:{other}", "https://evil.example",
                                    "null", "http://127.0.0.1", "https://127.0.0.1:{port}"])
def test_a_foreign_origin_is_403_even_with_the_token(api: Api, origin: str) -> None:
    receipt = _sold(api)["receipt_id"]
    before = api.state()
    o = origin.format(port=api.port, other=api.port + 1)
    r = api.client.post("/v1/returns", json={"receipt": receipt, "items": [{"line": 0}]}, headers=api.auth(Origin=o))
    assert r.status_code == 403 and r.json()["error"] == "bad_origin"
    r = api.client.get("/v1/sessions/current", headers={"Origin": o})
    assert r.status_code == 403
    assert api.state() == before


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_the_tills_own_origin_is_accepted(api: Api, origin: str) -> None:
    r = api.client.post("/v1/sessions", headers=api.auth(Origin=origin.format(port=api.port)))
    assert r.status_code == 201


def test_no_cors_headers_are_ever_granted(api: Api) -> None:
    r = api.client.options("/v1/sessions", headers={"Origin": f"http://127.0.0.1:{api.port}",
                                                    "Access-Control-Request-Method": "POST"})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)


# ------------------------------------------------------------------ media type


@pytest.mark.parametrize("content_type,body", [
    ("text/plain", b'{"sku": "4607000000014"}'),
    ("text/plain;charset=UTF-8", b'{"sku": "4607000000014"}'),
    ("application/x-www-form-urlencoded", b"sku=4607000000014"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="sku"\r\n\r\n4607000000014\r\n--x--\r\n'),
    ("application/jsonp", b'{"sku": "4607000000014"}'),
    (None, b'{"sku": "4607000000014"}'),
])
def test_a_body_that_is_not_application_json_is_415(api: Api, content_type, body) -> None:
    sid = api.client.post("/v1/sessions", headers=api.auth()).json()["id"]
    before = api.state()
    headers = api.auth() if content_type is None else api.auth(**{"Content-Type": content_type})
    r = api.client.post(f"/v1/sessions/{sid}/lines", content=body, headers=headers)
    assert r.status_code == 415 and r.json()["error"] == "bad_media_type", r.text
    assert api.state() == before


def test_json_with_a_charset_is_accepted(api: Api) -> None:
    sid = api.client.post("/v1/sessions", headers=api.auth()).json()["id"]
    r = api.client.post(f"/v1/sessions/{sid}/lines", content=b'{"sku": "4607000000014"}',
                        headers=api.auth(**{"Content-Type": "application/json; charset=utf-8"}))
    assert r.status_code == 200


def test_an_unknown_route_answers_json(api: Api) -> None:
    r = api.client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.client.post("/v1/sessions/x/no-such-action", json={"code": "X"}, headers=api.auth())
    assert r.status_code in (404, 405) and r.json()["error"] in ("not_found", "method_not_allowed", "unknown_session")


# ------------------------------------------------------------------ the page


def test_the_page_carries_the_token_in_a_meta_tag_under_a_strict_csp(api: Api) -> None:
    r = api.client.get("/cashier")
    assert f'<meta name="kopilka-token" content="{api.token}">' in r.text
    assert r.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP and "frame-ancestors 'self'" in CSP
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and "<script src=\"/static/cashier.js\"></script>" in r.text
    assert '<html lang="ru">' in r.text and "Корзина" in r.text  # the Russian texts are embedded
    js = api.client.get("/static/cashier.js")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert "innerHTML" not in js.text and "insertAdjacentHTML" not in js.text and "outerHTML" not in js.text


# ------------------------------------------------------------------ token file


def test_the_token_file_is_0600_whatever_the_umask_and_stable(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        token = load_or_create_token(tmp_path / "d")
    finally:
        os.umask(old)
    path = tmp_path / "d" / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32 and path.read_text().strip() == token
    assert load_or_create_token(tmp_path / "d") == token


def test_a_token_file_readable_by_others_is_put_back_to_0600(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    os.chmod(tmp_path / "api-token", 0o644)
    assert load_or_create_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600


def test_a_damaged_token_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("short\n")
    token = load_or_create_token(tmp_path)
    assert token != "short" and len(token) >= 32
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600


def test_agent_token_prints_the_token_the_agent_uses(tmp_path: Path) -> None:
    cfg = tmp_path / "till.toml"
    cfg.write_text('[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n[paths]\ndata_dir = "data"\n',
                   encoding="utf-8")
    res = CliRunner().invoke(agent_group, ["token", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    token = res.output.strip()
    assert token == (tmp_path / "data" / "api-token").read_text().strip()
    assert stat.S_IMODE((tmp_path / "data" / "api-token").stat().st_mode) == 0o600
    again = CliRunner().invoke(agent_group, ["token", "--config", str(cfg)])
    assert again.output.strip() == token


# ------------------------------------------------------------------ GET /v1/sales (till.md §4)


def _pay_and_drop_the_answer(api: Api, sid: str) -> None:
    """Send "pay" on a raw socket and close it without reading the answer."""
    events = api.till.events.subscribe()
    body = b'{"method": "card"}'
    request = (f"POST /v1/sessions/{sid}/pay HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n"
               f"Authorization: Bearer {api.token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(request)
    try:
        while True:  # the till's own event stream says when the sale closed
            ev = events.get(timeout=10)
            if ev["type"] == "session" and ev["action"] == "paid" and ev["session"]["id"] == sid:
                return
    finally:
        api.till.events.unsubscribe(events)


def test_a_pos_that_lost_the_answer_to_pay_finds_the_sale_by_session_and_txn_id(api: Api) -> None:
    s = api.client.post("/v1/sessions", headers=api.auth()).json()
    api.client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": MILK, "qty": 2}, headers=api.auth())
    _pay_and_drop_the_answer(api, s["id"])
    by_session = api.client.get("/v1/sales", params={"session": s["id"]})
    assert by_session.status_code == 200, by_session.text
    doc = by_session.json()
    assert doc["txn_id"] == s["txn_id"] and doc["receipt_id"] == "KY-001-01/1" and doc["seq"] == 1
    assert doc["state"] == "committed" and doc["sync"] == "pending" and doc["totals"]["paid"] > 0
    by_txn = api.client.get("/v1/sales", params={"txn_id": s["txn_id"]})
    assert by_txn.status_code == 200 and by_txn.json() == doc
    assert [r.txn_id for r in api.till.outbox.rows()] == [s["txn_id"]]  # committed once


def test_a_session_never_paid_is_404_so_the_pos_may_ring_it(api: Api) -> None:
    open_ = api.client.post("/v1/sessions", headers=api.auth()).json()
    r = api.client.get("/v1/sales", params={"session": open_["id"]})
    assert r.status_code == 404 and r.json()["error"] == "unknown_sale"
    r = api.client.get("/v1/sales", params={"txn_id": open_["txn_id"]})
    assert r.status_code == 404 and r.json()["error"] == "unknown_sale"
    api.client.post(f"/v1/sessions/{open_['id']}/cancel", headers=api.auth())
    assert api.client.get("/v1/sales", params={"session": open_["id"]}).status_code == 404
    assert api.client.get("/v1/sales", params={"session": "nosuch"}).status_code == 404


def test_a_txn_id_lookup_does_not_match_a_receipt_id(api: Api) -> None:
    receipt = _sold(api)["receipt_id"]
    assert api.client.get("/v1/sales", params={"receipt": receipt}).status_code == 200
    assert api.client.get("/v1/sales", params={"txn_id": receipt}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"session": ""}, {"session": "a", "txn_id": "b"}])
def test_a_sales_lookup_needs_exactly_one_key(api: Api, params) -> None:
    r = api.client.get("/v1/sales", params=params)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


# ------------------------------------------------------------------ points and refused codes


def test_points_above_the_max_are_refused_with_a_clear_reason(api: Api, signer) -> None:
    sid = api.client.post("/v1/sessions", headers=api.auth()).json()["id"]
    api.client.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK, "qty": 3}, headers=api.auth())
    view = api.client.post(f"/v1/sessions/{sid}/identify", json={"code": signer.token()}, headers=api.auth()).json()
    most = view["spendable_points"]
    assert most > 1
    before = api.state()
    r = api.client.post(f"/v1/sessions/{sid}/redeem", json={"points": most + 1}, headers=api.auth())
    assert r.status_code == 422 and r.json()["error"] == "points_above_max" and r.json()["field"] == "points"
    assert api.state() == before
    r = api.client.post(f"/v1/sessions/{sid}/redeem", json={"points": -1}, headers=api.auth())
    assert r.status_code == 400
    r = api.client.post(f"/v1/sessions/{sid}/redeem", json={"points": most - 1}, headers=api.auth())
    assert r.status_code == 200 and r.json()["result"]["totals"]["redeemed_points"] == most - 1


def test_a_refused_code_is_answered_with_its_reason_and_the_code(api: Api) -> None:
    sid = api.client.post("/v1/sessions", headers=api.auth()).json()["id"]
    r = api.client.post(f"/v1/sessions/{sid}/scan", json={"code": "2900000123450"}, headers=api.auth())
    assert r.status_code == 422
    assert r.json()["error"] == "bad_check_digit" and r.json()["code"] == "2900000123450"
    assert r.json()["code_shown"] == "****3450"  # what a screen may show


def test_the_openapi_document_states_the_guard(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    pay = doc["paths"]["/v1/sessions/{sid}/pay"]["post"]
    assert {"401", "403", "415"} <= set(pay["responses"]) and pay["security"] == [{"apiToken": []}]
    sales = doc["paths"]["/v1/sales"]["get"]
    assert {p["name"] for p in sales["parameters"]} == {"receipt", "txn_id", "session"}
    assert "security" not in sales and "403" in sales["responses"]
