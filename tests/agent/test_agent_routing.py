"""till.md §1–2 and §4: what a scanned code is, over the real local API and
through the real pty scanner: receipt, sku, scale label, coupon, card,
token, and every refusal with its reason and the code."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from agent_kit import CACHED_CARD, ean13
from agent_kit import served_api

from agent import Agent, parse_config

MILK, CHEESE, COFFEE, BREAD = "4607000000014", "4607000000038", "4607000000090", "4607000000045"
APPLES, BANANAS = "2000000000053", "2000000000060"
LABEL_455G = "2000000004556"  # prefix 20, plu 00000 (apples), 00455 g, check digit 6
COUPON = "SPRING300"


def bad_check(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


@pytest.fixture
def api(make_till) -> Iterator[tuple[httpx.Client, Any, str]]:  # type: ignore[no-untyped-def]
    till = make_till()
    with served_api(till) as client:
        yield client, till, client.post("/v1/sessions").json()["id"]


def scan(client: httpx.Client, sid: str, code: str) -> httpx.Response:
    return client.post(f"/v1/sessions/{sid}/scan", json={"code": code})


def test_a_scale_label_adds_the_weighed_item_with_the_exact_weight(api) -> None:
    client, till, sid = api
    r = scan(client, sid, LABEL_455G)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lines"] == [{"sku": APPLES, "qty": "0.455"}] and body["scanned"]["kind"] == "item"
    assert body["result"]["lines"][0]["amount"] == 7730  # 169.90 x 0.455 = 77.3045 -> 77.30
    # bananas, 1 kg 5 g, and a second label of apples: a new weighed line, not merged
    r = scan(client, sid, ean13("200000101005"))
    r = scan(client, sid, LABEL_455G)
    assert [(ln["sku"], ln["qty"]) for ln in r.json()["lines"]] == \
        [(APPLES, "0.455"), (BANANAS, "1.005"), (APPLES, "0.455")]


@pytest.mark.parametrize("code,reason", [
    (APPLES, "needs_weight"),  # a weighed item's own code: never 1 kg, never 0.005 kg
    (ean13("200009900455"), "unknown_item"),  # a label whose plu no item carries
    (ean13("200000000000"), "bad_weight"),  # a label without a weight
    (bad_check(LABEL_455G), "bad_check_digit"),
    (bad_check(MILK), "bad_check_digit"),  # even a catalog code: refused before any look-up
    (bad_check(CACHED_CARD), "bad_check_digit"),
    ("SPRING301", "unknown_code"),  # a coupon no promotion carries
    ("123", "unknown_code"),  # was "malformed": it never was a card or a token
    ("hello", "unknown_code"),
    (ean13("460700009999"), "unknown_code"),  # a good EAN-13 not in the catalog
    (ean13("300000000000"), "unknown_code"),  # 13 digits, neither a card nor a label prefix
    ("a.b.c", "malformed"),  # two dots: a token, and token.md's strict parsing says no
    (ean13("290000077777"), "unknown_card"),  # a card the store does not know
])
def test_a_refused_code_is_422_with_its_reason_and_the_code_and_changes_nothing(api, code, reason) -> None:
    client, till, sid = api
    scan(client, sid, MILK)
    r = scan(client, sid, code)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == reason and body["code"] == code and body["message"]
    s = client.get(f"/v1/sessions/{sid}").json()
    assert s["lines"] == [{"sku": MILK, "qty": "1"}] and s["customer"] is None and s["coupons"] == []


def test_a_catalog_sku_is_a_line_of_one_and_repeats_add_up(api) -> None:
    client, till, sid = api
    scan(client, sid, MILK)
    r = scan(client, sid, MILK + "\r\n")  # the scanner's line ending is not part of the code
    assert r.json()["lines"] == [{"sku": MILK, "qty": "2"}]


def test_cards_and_tokens_identify_and_a_receipt_goes_to_the_returns_desk(api, signer) -> None:
    client, till, sid = api
    scan(client, sid, MILK)
    r = scan(client, sid, CACHED_CARD)
    assert r.json()["scanned"]["kind"] == "customer" and r.json()["customer"]["card"] == "****" + CACHED_CARD[-4:]
    r = scan(client, sid, signer.token())
    assert r.json()["customer"]["account"] == "A-77"
    client.post(f"/v1/sessions/{sid}/pay", json={"method": "cash"})
    sid2 = client.post("/v1/sessions").json()["id"]
    r = scan(client, sid2, "KY-001-01/1")
    assert r.json()["scanned"] == {"kind": "receipt", "receipt_id": "KY-001-01/1", "found": True}
    assert r.json()["lines"] == []


def test_a_scanned_coupon_is_added_once_and_reports_whether_it_applied(api) -> None:
    client, till, sid = api
    r = scan(client, sid, COUPON)
    assert r.status_code == 200 and r.json()["scanned"]["kind"] == "coupon"
    assert r.json()["coupons"] == [{"code": COUPON, "applied": False, "reason": "conditions_not_met"}]
    scan(client, sid, MILK)  # 89.90 < the promotion's 500.00 minimum
    r = client.get(f"/v1/sessions/{sid}").json()
    assert r["coupons"] == [{"code": COUPON, "applied": False, "reason": "conditions_not_met"}]
    for code in (COFFEE, CHEESE):
        scan(client, sid, code)
    r = scan(client, sid, COUPON)  # the second scan changes nothing
    body = r.json()
    assert body["coupons"] == [{"code": COUPON, "applied": True, "reason": None}]
    assert any(a["promo"] == "BASKET-300" for a in body["result"]["applied"])
    assert till.get(sid).coupons == [COUPON]


def test_typed_coupons_post_and_delete(api) -> None:
    client, till, sid = api
    for code in (COFFEE, CHEESE, BREAD):
        scan(client, sid, code)
    before = client.get(f"/v1/sessions/{sid}").json()["result"]["totals"]["discount"]
    r = client.post(f"/v1/sessions/{sid}/coupons", json={"code": COUPON})
    assert r.status_code == 200 and r.json()["coupons"][0]["applied"] is True
    assert r.json()["result"]["totals"]["discount"] > before
    r = client.post(f"/v1/sessions/{sid}/coupons", json={"code": "NOPE"})
    assert r.status_code == 422 and r.json()["error"] == "unknown_coupon" and r.json()["code"] == "NOPE"
    r = client.delete(f"/v1/sessions/{sid}/coupons/{COUPON}")
    assert r.status_code == 200 and r.json()["coupons"] == []
    assert r.json()["result"]["totals"]["discount"] == before
    r = client.delete(f"/v1/sessions/{sid}/coupons/{COUPON}")
    assert r.status_code == 404 and r.json()["error"] == "coupon_not_in_sale"
    r = client.post(f"/v1/sessions/{sid}/coupons", json={"code": 300})
    assert r.status_code == 400 and r.json()["field"] == "code"


def test_the_coupon_reaches_the_committed_sale(api) -> None:
    client, till, sid = api
    for code in (COFFEE, CHEESE, COUPON):
        scan(client, sid, code)
    client.post(f"/v1/sessions/{sid}/pay", json={"method": "card"})
    [row] = till.outbox.rows()
    assert row.txn["basket"]["coupons"] == [COUPON] and row.txn["result"]["rejected_coupons"] == []


@pytest.mark.parametrize("sku,qty,merge", [
    (MILK, 1000, None), (MILK, 999, 1), (APPLES, "1000", None), (APPLES, "999.9991", None),
])
def test_a_quantity_above_the_programs_ceiling_is_refused(api, sku, qty, merge) -> None:
    client, till, sid = api
    if merge is not None:
        assert client.post(f"/v1/sessions/{sid}/lines", json={"sku": sku, "qty": qty}).status_code == 200
        qty = merge
    r = client.post(f"/v1/sessions/{sid}/lines", json={"sku": sku, "qty": qty})
    if qty == "999.9991":
        assert r.status_code == 422 and r.json()["error"] == "bad_qty"  # 4 decimals, before any ceiling
        return
    assert r.status_code == 422 and r.json()["error"] == "qty_too_large"
    assert "999" in r.json()["message"]
    s = client.get(f"/v1/sessions/{sid}").json()
    assert s["lines"] == ([] if merge is None else [{"sku": sku, "qty": "999"}])


def test_a_quantity_at_the_ceiling_is_taken(api) -> None:
    client, till, sid = api
    assert client.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK, "qty": 999}).status_code == 200
    r = client.post(f"/v1/sessions/{sid}/lines", json={"sku": APPLES, "qty": "999.999"})
    assert r.status_code == 200 and r.json()["lines"][1]["qty"] == "999.999"
    r = client.patch(f"/v1/sessions/{sid}/lines/1", json={"qty": "1000"})
    assert r.status_code == 422 and r.json()["error"] == "qty_too_large"


# ------------------------------------------------------------------ the pty scanner


@pytest.fixture
def scanner_agent(tmp_path: Path, bundle_doc: dict[str, Any]) -> Iterator[tuple[Agent, Any]]:
    from hardware_sim import ScannerTwin

    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    scanner = ScannerTwin().open()
    cfg = parse_config({
        "till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
        "paths": {"data_dir": "till", "bundle": "bundle.json"},
        "api": {"port": 0}, "scanner": {"device": scanner.path},
    }, tmp_path)
    agent = Agent(cfg).start()
    try:
        yield agent, scanner
    finally:
        agent.stop()
        scanner.close()


def pump(agent: Agent, cond: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        agent.tick(time.time())
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_the_pty_scanner_sells_a_weighed_label_refuses_the_bare_code_and_takes_a_coupon(scanner_agent) -> None:
    agent, scanner = scanner_agent
    till = agent.till
    events = agent.events.subscribe()
    scanner.scan(LABEL_455G)
    pump(agent, lambda: till.current() is not None and till.current().lines, "the label")
    assert till.current().lines == [{"sku": APPLES, "qty": "0.455"}]
    scanner.scan(APPLES)  # the weighed item's own barcode: refused, not 0.005 kg
    scanner.scan(COUPON)
    pump(agent, lambda: till.current().coupons == [COUPON], "the coupon")
    assert till.current().lines == [{"sku": APPLES, "qty": "0.455"}]
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    refused = [e for e in seen if e["type"] == "error"]
    assert [e["reason"] for e in refused] == ["needs_weight"]
    assert [(e["reason"], e["code"]) for e in seen if e["type"] == "scan_refused"] == [("needs_weight", APPLES)]
    agent.events.unsubscribe(events)


def test_a_bad_check_digit_read_by_the_pty_scanner_is_refused_to_the_cashier(scanner_agent) -> None:
    """till.md §1: refused as bad_check_digit before any look-up, and *shown*, not dropped."""
    agent, scanner = scanner_agent
    till = agent.till
    events = agent.events.subscribe()
    scanner.scan(bad_check(LABEL_455G))
    scanner.scan(LABEL_455G)
    pump(agent, lambda: till.current() is not None and till.current().lines, "the good label")
    assert till.current().lines == [{"sku": APPLES, "qty": "0.455"}]  # the bad one added nothing
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    agent.events.unsubscribe(events)
    assert [(e["reason"], e["code"]) for e in seen if e["type"] == "scan_refused"] == \
        [("bad_check_digit", bad_check(LABEL_455G))]
