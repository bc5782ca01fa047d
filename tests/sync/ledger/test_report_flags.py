"""``kopilka report sync`` flags: a jti used at two tills, offline overdrafts; safe CSV."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import report as report_group
from sync.ledger._flags import collect_flags
from sync.ledger._report import collect, csv_cell, render

from .helpers import BUNDLE, CARD_A, ASGIClient, TillSim


def with_token(till: TillSim, account: str, jti: str | None, cap: int | None,
               **kw: Any) -> dict[str, Any]:
    """A sale whose customer came from a token (jti and claims recorded), re-chained."""
    txn = till.sale(account, **kw)
    txn["customer"] = {"card": CARD_A, "account": account, "jti": jti,
                       "claims": None if cap is None else {"jti": jti, "cap": cap}}
    till.prev = txn["prev_hash"]
    return till._chain(txn)


def send(client: ASGIClient, till: TillSim, txns: list[dict[str, Any]]) -> None:
    resp = client.post("/v1/transactions", content=json.dumps(till.body(txns)).encode(),
                       headers=till.headers)  # ASCII escapes: a lone surrogate travels too
    assert resp.status_code == 200, resp.text
    assert {r["status"] for r in resp.json()["results"]} == {"accepted"}, resp.text


def overdraft_day(client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> tuple:
    """A-77 brought to 20 points; one token (jti J-1, cap 100) redeems 100 at each of two tills."""
    shop.adjust("A-77", -480, note="spent elsewhere")
    shop.clock.advance(minutes=1)  # type: ignore[attr-defined]
    a = with_token(till, "A-77", "J-1", 100, redeem=100, available=100)
    b = with_token(other_till, "A-77", "J-1", 100, redeem=100, available=100)
    b["store"] = other_till.store
    other_till.prev = b["prev_hash"]
    b = other_till._chain(b)
    send(client, till, [a])
    send(client, other_till, [b])
    return a, b


def test_a_jti_used_at_two_tills_is_flagged_with_store_till_account_and_txn(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    a, b = overdraft_day(client, till, other_till, shop)
    same_till = [with_token(till, "A-77", "J-2", 100), with_token(till, "A-77", "J-2", 100)]
    send(client, till, same_till)  # twice at one till: that till's own replay guard's job
    flags = collect_flags(shop.storage)
    (flag,) = flags.replayed_jti
    assert flag.jti == "J-1" and flag.tills == 2
    assert {(u.store, u.till, u.account, u.txn_id) for u in flag.uses} == {
        ("KY-001", "KY-001-01", "A-77", a["txn_id"]), ("KY-002", "KY-002-01", "A-77", b["txn_id"])}
    assert {u.receipt for u in flag.uses} == {"KY-001-01/1", "KY-002-01/1"}


def test_an_account_driven_below_zero_offline_is_flagged_with_the_amount_and_the_bound(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    a, b = overdraft_day(client, till, other_till, shop)
    (flag,) = collect_flags(shop.storage).offline_overdraft
    lowest = 20 - 100 + a["result"]["totals"]["points"] - 100  # the journal walked in order
    assert flag.account == "A-77" and flag.below_zero == -lowest
    assert (flag.cap, flag.tills, flag.bound, flag.exceeds) == (100, 2, 200, False)
    assert flag.balance == shop.balance("A-77") < 0
    assert sorted((u.till, u.redeemed, u.cap) for u in flag.uses) == [
        ("KY-001-01", 100, 100), ("KY-002-01", 100, 100)]


def test_a_card_only_offline_redemption_beyond_the_card_cap_is_refused_and_never_flagged(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.adjust("A-77", -490)
    sale = with_token(till, "A-77", None, None, redeem=100, available=100)
    resp = client.post("/v1/transactions", content=json.dumps(till.body([sale])).encode(),
                       headers=till.headers)
    (res,) = resp.json()["results"]
    card_cap = BUNDLE["program"].get("offline_card_redeem_cap") or 0
    assert card_cap < 100 and (res["status"], res["reason"]) == ("rejected", "overdraft")
    assert collect_flags(shop.storage).offline_overdraft == []


def test_an_account_below_zero_by_an_adjustment_alone_is_not_an_offline_overdraft(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.adjust("B-01", -100)
    send(client, till, [with_token(till, "A-77", "J-9", 100, redeem=10, available=100)])
    flags = collect_flags(shop.storage)
    assert flags.offline_overdraft == [] and flags.replayed_jti == []


def test_the_flags_appear_in_json_csv_and_table(
        db_url: str, client: ASGIClient, till: TillSim, other_till: TillSim,
        shop: Ledger) -> None:
    overdraft_day(client, till, other_till, shop)
    rows, flags = collect(shop.storage), collect_flags(shop.storage)
    data = json.loads(render(rows, "json", flags))
    assert data["flags"]["replayed_jti"][0]["jti"] == "J-1"
    assert data["flags"]["offline_overdraft"][0]["bound"] == 200
    tills_csv, flags_csv = render(rows, "csv", flags).split("\n\n")
    assert list(csv.DictReader(io.StringIO(tills_csv)))[0]["till"] == "KY-001-01"
    parsed = list(csv.DictReader(io.StringIO(flags_csv)))
    assert [r["flag"] for r in parsed] == ["replayed_jti"] * 2 + ["offline_overdraft"] * 2
    assert parsed[2]["bound"] == "200" and parsed[2]["exceeds"] == "no"
    table = render(rows, "table", flags)
    assert "replayed_jti" in table and "offline_overdraft" in table
    out = CliRunner().invoke(report_group, ["sync", "--db", db_url, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["flags"]["replayed_jti"][0]["tills"] == 2


def test_without_flags_the_table_says_so(client: ASGIClient, till: TillSim,
                                         shop: Ledger) -> None:
    table = render(collect(shop.storage), "table", collect_flags(shop.storage))
    assert table.rstrip().endswith("(no flags)")


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x"])
def test_a_csv_text_cell_starting_like_a_formula_gets_a_leading_quote(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-5, 0, 12, "KY-001", "a=b", "", None])
def test_numbers_and_plain_text_are_written_as_they_are(value: Any) -> None:
    assert csv_cell(value) == value


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(1)"])
def test_a_hostile_till_name_and_hardware_string_are_quoted_in_the_csv(
        client: ASGIClient, shop: Ledger, name: str) -> None:
    key = shop.add_till("KY-009", name)
    resp = client.post("/v1/heartbeat", headers={"Authorization": f"Bearer {key}"}, json={
        "till": name, "store": "KY-009", "queue_depth": 0, "hardware": {name: "broken"}})
    assert resp.status_code == 200, resp.text
    (row,) = list(csv.DictReader(io.StringIO(render(collect(shop.storage), "csv"))))
    assert row["till"] == "'" + name and row["hardware"] == f"'{name}=broken"
    assert row["high_water"] == "0" and row["queue_depth"] == "0"


# A NUL or a lone surrogate no longer reaches storage (refused at upload: test_hostile.py);
# the text of an escape still does, and PostgreSQL's jsonb must not choke on it.
@pytest.mark.parametrize("text", ["\\u0000"], ids=["text"])
def test_a_sale_body_with_an_escape_postgresql_cannot_read_still_shows_its_jti(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        text: str) -> None:
    odd = till.sale("A-77")
    odd["basket"]["lines"][0]["name"] = text  # stored as \u0000 / \ud800 in the body
    odd["customer"] = {"card": CARD_A, "account": "A-77", "jti": "J-7", "claims": None}
    till.prev = odd["prev_hash"]
    send(client, till, [till._chain(odd)])
    send(client, other_till, [with_token(other_till, "A-77", "J-7", 100)])
    (flag,) = collect_flags(shop.storage).replayed_jti
    assert flag.jti == "J-7" and {u.txn_id for u in flag.uses} >= {odd["txn_id"]}
