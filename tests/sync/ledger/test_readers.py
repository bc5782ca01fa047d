"""Reading the ledger without SQL: by till and seq range, txn_id, receipt; statements.

HTTP with an office key (everything) and a till key (its own sales), and
the ``kopilka ledger txn|statement`` commands, on both backends.
"""
from __future__ import annotations

import json

import click
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import ledger as ledger_group

from .credentials import office_headers
from .helpers import CARD_A, CARD_C, ASGIClient, TillSim


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(ledger_group, list(args))
    assert result.exit_code == code, result.output
    return result.output


def day(client: ASGIClient, till: TillSim, other_till: TillSim) -> list[dict]:
    """Three sales at till 1 (one redeeming), one at till 2, a return at till 1."""
    sales = [till.sale("A-77"), till.sale("A-77", redeem=50, available=500), till.sale(None)]
    assert client.post("/v1/transactions", json=till.body(sales),
                       headers=till.headers).status_code == 200
    theirs = other_till.sale("B-01")
    assert client.post("/v1/transactions", json=other_till.body([theirs]),
                       headers=other_till.headers).status_code == 200
    back = till.ret(sales[0], [(0, "1")])
    assert client.post("/v1/transactions", json=till.body([back]),
                       headers=till.headers).json()["results"][0]["status"] == "accepted"
    return sales + [theirs, back]


def test_an_office_key_pages_through_a_tills_range_in_seq_order(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    txns = day(client, till, other_till)
    office = office_headers(shop)
    page = client.get("/v1/ledger/tills/KY-001-01/transactions?limit=2", headers=office).json()
    assert [t["seq"] for t in page["transactions"]] == [1, 2]
    assert page["next_from"] == 3 and page["high_water"] == 4 and page["store"] == "KY-001"
    assert page["transactions"][0]["receipt"] == "KY-001-01/1"
    assert page["transactions"][0]["txn_id"] == txns[0]["txn_id"]
    assert page["transactions"][1]["outcome"]["journal"]["redemption"] == -50
    assert "txn" not in page["transactions"][0]  # a range lists, a look-up shows the body
    rest = client.get("/v1/ledger/tills/KY-001-01/transactions?from=3&limit=2",
                      headers=office).json()
    assert [t["seq"] for t in rest["transactions"]] == [3, 4] and rest["next_from"] is None
    assert rest["transactions"][1]["kind"] == "return"
    only = client.get("/v1/ledger/tills/KY-001-01/transactions?from=2&to=2",
                      headers=office).json()
    assert [t["seq"] for t in only["transactions"]] == [2]


def test_a_till_reads_its_own_range_receipt_and_txn_id(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    txns = day(client, till, other_till)
    page = client.get("/v1/ledger/tills/KY-001-01/transactions", headers=till.headers).json()
    assert len(page["transactions"]) == 4
    found = client.get("/v1/ledger/receipts/KY-001-01/2", headers=till.headers).json()
    assert found["txn_id"] == txns[1]["txn_id"] and found["txn"]["hash"] == txns[1]["hash"]
    by_id = client.get(f"/v1/ledger/transactions/{txns[0]['txn_id']}",
                       headers=till.headers).json()
    assert [t["receipt"] for t in by_id["transactions"]] == ["KY-001-01/1"]


def test_an_unknown_receipt_or_txn_id_is_404(client: ASGIClient, till: TillSim,
                                             shop: Ledger) -> None:
    office = office_headers(shop)
    resp = client.get("/v1/ledger/receipts/KY-001-01/9", headers=office)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_receipt"
    resp = client.get("/v1/ledger/transactions/6f0e8a62-3b1f-4c5e-9d36-0d9b1f1c2a10",
                      headers=office)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_txn"
    resp = client.get("/v1/ledger/tills/KY-404/transactions", headers=office)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_till"
    resp = client.get("/v1/ledger/accounts/nobody", headers=office)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_account"
    resp = client.get("/v1/ledger/cards/2900000999992/statement", headers=office)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_card"


def test_a_statement_lists_every_entry_oldest_first_with_receipt_and_running_balance(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    day(client, till, other_till)
    office = office_headers(shop)
    data = client.get(f"/v1/ledger/cards/{CARD_A}/statement", headers=office).json()
    entries = data["entries"]
    assert entries[0]["kind"] == "adjustment" and entries[0]["receipt"] is None
    running = 0
    for e in entries:
        running += e["points"]
        assert e["balance"] == running
    assert running == data["balance"] == shop.balance("A-77")
    assert {e["receipt"] for e in entries[1:]} == {"KY-001-01/1", "KY-001-01/2",
                                                    "KY-001-01/4"}
    # a sale's redemption before its accrual: its points were not there to spend in it
    assert [e["kind"] for e in entries if e["receipt"] == "KY-001-01/2"] == [
        "redemption", "accrual"]
    assert data["total_entries"] == len(entries) and data["next_offset"] is None
    # a page further on starts from the running balance of the entries before it
    page = client.get("/v1/ledger/accounts/A-77/statement?offset=2&limit=2",
                      headers=office).json()
    assert [e["balance"] for e in page["entries"]] == [e["balance"] for e in entries[2:4]]
    assert page["next_offset"] == (4 if len(entries) > 4 else None)


def test_balance_and_available_differ_by_the_active_holds(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    office = office_headers(shop)
    hold = client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "B-01", "points": 15,
        "txn_id": "6f0e8a62-3b1f-4c5e-9d36-0d9b1f1c2a10"}).json()
    data = client.get(f"/v1/ledger/cards/{CARD_C}", headers=office).json()
    assert (data["balance"], data["held"], data["available"]) == (40, 15, 25)
    assert [h["hold_id"] for h in data["holds"]] == [hold["hold_id"]]
    shop.clock.advance(minutes=16)  # type: ignore[attr-defined]
    data = client.get("/v1/ledger/accounts/B-01", headers=office).json()
    assert (data["balance"], data["held"], data["available"], data["holds"]) == (40, 0, 40, [])


def test_an_available_balance_below_zero_is_shown_as_it_is(
        client: ASGIClient, shop: Ledger) -> None:
    shop.adjust("B-01", -60, note="offline overdraft")
    data = client.get("/v1/ledger/accounts/B-01", headers=office_headers(shop)).json()
    assert (data["balance"], data["available"]) == (-20, -20)


def test_the_txn_command_finds_a_sale_by_receipt_txn_id_and_range(
        db_url: str, client: ASGIClient, till: TillSim, other_till: TillSim,
        shop: Ledger) -> None:
    txns = day(client, till, other_till)
    db = ("--db", db_url)
    out = run("txn", *db, "--receipt", "KY-001-01/2")
    assert txns[1]["txn_id"] in out and "redemption=-50" in out
    assert out.splitlines()[0].split()[:3] == ["receipt", "txn_id", "kind"]
    data = json.loads(run("txn", *db, "--txn-id", txns[3]["txn_id"], "--json"))
    assert [t["receipt"] for t in data["transactions"]] == ["KY-002-01/1"]
    out = run("txn", *db, "--till", "KY-001-01", "--from", "2", "--limit", "2")
    assert "KY-001-01/2" in out and "KY-001-01/3" in out and "KY-001-01/4" not in out
    assert "more: --from 4" in out
    run("txn", *db, "--receipt", "KY-001-01/77", code=1)
    assert "no till KY-404" in run("txn", *db, "--till", "KY-404", code=1)
    assert "exactly one" in run("txn", *db, code=2)
    assert "receipt id" in run("txn", *db, "--receipt", "nonsense", code=1)


def test_the_statement_command_by_card_or_account_as_table_and_json(
        db_url: str, client: ASGIClient, till: TillSim, other_till: TillSim,
        shop: Ledger) -> None:
    day(client, till, other_till)
    db = ("--db", db_url)
    out = run("statement", *db, CARD_A)
    assert "account A-77" in out and CARD_A not in out and "****3458" in out
    assert f"balance {shop.balance('A-77')}" in out and "KY-001-01/2" in out
    data = json.loads(run("statement", *db, "A-77", "--json"))
    assert data["entries"][-1]["balance"] == shop.balance("A-77")
    assert "no card or account" in run("statement", *db, "nobody", code=1)


def test_every_new_command_shows_an_example_in_its_help() -> None:
    for path in (["txn"], ["statement"], ["app-key", "add"], ["office-key", "revoke"]):
        cmd: click.Command = ledger_group
        for name in path:
            assert isinstance(cmd, click.Group)
            cmd = cmd.commands[name]
        assert (cmd.help or "").strip().splitlines()[-1].strip().startswith("Example: kopilka ledger")
