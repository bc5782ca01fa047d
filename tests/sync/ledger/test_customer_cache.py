"""Store customer caches at the ledger (spec/till.md §2a), both backends, through the HTTP app."""
from __future__ import annotations

import json
from typing import Any

import pytest

from sync.ledger import Ledger
from sync.ledger._errors import LedgerError, MemberImportError

from .conftest import FakeClock
from .helpers import BUNDLE, CARD_A, CARD_B, CARD_C, ASGIClient, TillSim

CARD_D = "2900000123489"
CARD_E = "2900000123496"


def _pull(client: ASGIClient, till: TillSim, cursor: str = "", since: int = 1) -> dict[str, Any]:
    resp = client.get(f"/v1/bundle?since={since}&customers={cursor}", headers=till.headers)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def _entries(part: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row[0]: dict(zip(part["fields"], row, strict=False)) for row in part["upsert"]}


@pytest.fixture
def led(ledger: Ledger) -> Ledger:
    ledger.customer_refresh_s = 0
    ledger.import_bundle(json.dumps(BUNDLE))
    return ledger


@pytest.fixture
def ky1(led: Ledger) -> TillSim:
    return TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))


@pytest.fixture
def ky2(led: Ledger) -> TillSim:
    return TillSim("KY-002-01", "KY-002", led.add_till("KY-002", "KY-002-01"))


def _members(*rows: dict[str, Any]) -> str:
    return "\n".join(json.dumps(r) for r in rows)


def test_a_member_of_a_home_store_reaches_only_that_stores_tills(
        led: Ledger, client: ASGIClient, ky1: TillSim, ky2: TillSim) -> None:
    first = _pull(client, ky1)["customers"]
    assert first["full"] is True and first["upsert"] == []
    led.import_members(_members(
        {"card": CARD_A, "account": "A-77", "tier": "silver", "segments": ["students"],
         "birthday": "1990-11-22", "favorite_category": "dairy", "favorite_until": "2026-12-10",
         "opening_balance": 500, "home_store": "KY-001"},
        {"card": CARD_C, "account": "B-01", "home_store": "KY-002"}))
    delta = _pull(client, ky1, first["cursor"])["customers"]
    assert delta["full"] is False
    entry = _entries(delta)[CARD_A]
    assert entry == {"card": CARD_A, "account": "A-77", "tier": "silver", "segments": ["students"],
                     "offers": [], "birthday": "1990-11-22", "birthday_bonus_available": True,
                     "favorite_category": "dairy", "favorite_until": "2026-12-10",
                     "first_purchase": True, "balance": 500}
    assert CARD_C not in _entries(delta)
    again = _pull(client, ky1, delta["cursor"])["customers"]
    assert again["upsert"] == [] and again["delete"] == [] and again["cursor"] == delta["cursor"]
    assert set(_entries(_pull(client, ky2)["customers"])) == {CARD_C}


def test_a_sale_makes_the_card_a_recent_buyer_of_that_store_and_the_balance_travels(
        led: Ledger, client: ASGIClient, ky1: TillSim, ky2: TillSim, clock: FakeClock) -> None:
    led.import_members(_members({"card": CARD_A, "account": "A-77", "opening_balance": 500,
                                 "home_store": "KY-002"},
                                {"card": CARD_B, "account": "A-77"}))
    cur1 = _pull(client, ky1)["customers"]
    assert cur1["upsert"] == []
    cur2 = _pull(client, ky2)["customers"]
    assert _entries(cur2)[CARD_A]["balance"] == 500
    resp = client.post("/v1/transactions", json=ky1.body([ky1.sale("A-77")]), headers=ky1.headers)
    assert resp.json()["results"][0]["status"] == "accepted"
    earned = led.balance("A-77")
    assert earned is not None and earned > 500
    clock.advance(seconds=5)
    d1 = _pull(client, ky1, cur1["cursor"])["customers"]
    # the family's cards are both recent buyers of KY-001 now
    assert {c: e["balance"] for c, e in _entries(d1).items()} == {CARD_A: earned, CARD_B: earned}
    assert _entries(d1)[CARD_A]["first_purchase"] is False
    d2 = _pull(client, ky2, cur2["cursor"])["customers"]
    assert {c: e["balance"] for c, e in _entries(d2).items()} == {CARD_A: earned}
    led.adjust("A-77", -10, note="goodwill taken back")
    clock.advance(seconds=5)
    d2b = _pull(client, ky2, d2["cursor"])["customers"]
    assert _entries(d2b)[CARD_A]["balance"] == earned - 10
    # 90 days later the buyer rows lapse; the home store keeps its member
    clock.advance(days=91)
    d1b = _pull(client, ky1, d1["cursor"])["customers"]
    assert sorted(d1b["delete"]) == [CARD_A, CARD_B] and d1b["upsert"] == []
    assert _pull(client, ky2, d2b["cursor"])["customers"]["delete"] == []


def test_customer_cache_all_delivers_every_member_to_every_store(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": "KY-009"},
                                {"card": CARD_C, "account": "B-01"}))
    store = _pull(client, ky1)["customers"]
    assert store["upsert"] == []
    bundle = json.loads(json.dumps(BUNDLE))
    bundle["program"]["customer_cache"] = "all"
    version, _ = led.import_bundle(json.dumps(bundle))
    answer = _pull(client, ky1, store["cursor"])
    part = answer["customers"]
    assert part["full"] is True and set(_entries(part)) == {CARD_A, CARD_C}
    assert part["cursor"].endswith(":*")
    led.import_members(_members({"card": CARD_D, "account": "D-1"}))
    assert set(_entries(_pull(client, ky1, part["cursor"], version)["customers"])) == {CARD_D}


def test_removing_a_member_deletes_it_from_its_stores_caches(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": "KY-001"},
                                {"card": CARD_B, "account": "A-77", "home_store": "KY-001"}))
    full = _pull(client, ky1)["customers"]
    assert set(_entries(full)) == {CARD_A, CARD_B}
    assert led.remove_members([CARD_B]) == 1
    delta = _pull(client, ky1, full["cursor"])["customers"]
    assert delta["delete"] == [CARD_B] and delta["upsert"] == []
    assert led.customer(CARD_B) is None
    assert led.balance("A-77") == 0  # the account stays
    with pytest.raises(LedgerError) as err:
        led.remove_members([CARD_A, CARD_E])
    assert err.value.reason == "unknown_card"
    assert led.customer(CARD_A) is not None  # nothing removed


def test_moving_a_member_to_another_home_store_moves_its_cache_entry(
        led: Ledger, client: ASGIClient, ky1: TillSim, ky2: TillSim) -> None:
    led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": "KY-001"}))
    c1 = _pull(client, ky1)["customers"]
    c2 = _pull(client, ky2)["customers"]
    led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": "KY-002"}))
    assert _pull(client, ky1, c1["cursor"])["customers"]["delete"] == [CARD_A]
    assert set(_entries(_pull(client, ky2, c2["cursor"])["customers"])) == {CARD_A}
    # a file without the home_store column keeps the stored one
    led.import_members(f"card,account,tier\n{CARD_A},A-77,gold\n")
    assert _entries(_pull(client, ky2)["customers"])[CARD_A]["tier"] == "gold"


@pytest.mark.parametrize("value, field", [
    (7, "line 1.home_store"),
    (" KY-001", "line 1.home_store"),
    ("KY\n001", "line 1.home_store"),
    ("x" * 65, "line 1.home_store"),
])
def test_bad_home_store_values_are_refused_with_their_field(led: Ledger, value: Any,
                                                            field: str) -> None:
    with pytest.raises(MemberImportError) as err:
        led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": value}))
    assert err.value.field == field
    assert led.customer(CARD_A) is None


def test_a_stale_or_foreign_cursor_gets_the_full_cache(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    led.import_members(_members({"card": CARD_A, "account": "A-77", "home_store": "KY-001"}))
    for cursor in ("garbage", "99:x:KY-001", "1:wrong-epoch:KY-001", "1:" + led.epoch() + ":KY-002",
                   "999999:" + led.epoch() + ":KY-001"):
        part = _pull(client, ky1, cursor)["customers"]
        assert part["full"] is True and set(_entries(part)) == {CARD_A}, cursor


def test_a_till_without_the_customers_parameter_gets_the_old_answer(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    resp = client.get("/v1/bundle?since=0", headers=ky1.headers)
    assert "customers" not in resp.json()
    bad = client.get("/v1/bundle?since=0&customers=" + "x" * 301, headers=ky1.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "customers"


def test_till_me_tells_the_next_seq_and_re_enrol_is_recorded(
        led: Ledger, client: ASGIClient, ky1: TillSim, ky2: TillSim) -> None:
    me = client.get("/v1/tills/me", headers=ky1.headers).json()
    assert me["next_seq"] == 1 and me["max_seq"] == 0 and me["last_hash"] == "0" * 64
    txns = [ky1.sale(None), ky1.sale(None)]
    client.post("/v1/transactions", json=ky1.body(txns), headers=ky1.headers)
    me = client.get("/v1/tills/me", headers=ky1.headers).json()
    assert (me["till"], me["store"], me["high_water"], me["max_seq"], me["next_seq"]) == (
        "KY-001-01", "KY-001", 2, 2, 3)
    assert me["last_hash"] == txns[1]["hash"] and me["epoch"] == led.epoch()
    resp = client.post("/v1/tills/me/re-enrol", json={"till": "KY-001-01", "store": "KY-001"},
                       headers=ky1.headers)
    assert resp.status_code == 200 and resp.json()["next_seq"] == 3
    forged = client.post("/v1/tills/me/re-enrol", json={"till": "KY-001-01", "store": "KY-001"},
                         headers=ky2.headers)
    assert forged.status_code == 403
    assert client.get("/v1/tills/me").status_code == 401
    with led.storage.transaction() as tx:
        assert tx.all("SELECT till, max_seq FROM till_enrolments") == [("KY-001-01", 2)]


def test_members_remove_and_migrate_from_the_command_line(db_url: str, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from sync.ledger.cli import ledger as ledger_group

    runner = CliRunner()
    members = tmp_path / "m.csv"
    members.write_text(f"card,account,home_store\n{CARD_A},A-77,KY-001\n{CARD_B},A-77,\n")
    db = ["--db", db_url]
    assert runner.invoke(ledger_group, ["members", "import", *db, str(members)]).exit_code == 0
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        tx.execute("UPDATE customer_cache SET built = 0")  # as a ledger upgraded to migration 7
        tx.execute("DELETE FROM store_customers")
    out = runner.invoke(ledger_group, ["migrate", *db])
    assert out.exit_code == 0 and "7\t" in out.output
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        assert sorted(tx.all("SELECT store, card FROM store_customers WHERE body IS NOT NULL")) == [
            ("*", CARD_A), ("*", CARD_B), ("KY-001", CARD_A)]
    gone = runner.invoke(ledger_group, ["members", "remove", *db, CARD_B])
    assert gone.exit_code == 0 and "cards removed: 1" in gone.output
    unknown = runner.invoke(ledger_group, ["members", "remove", *db, CARD_A, CARD_E])
    assert unknown.exit_code == 1 and "unknown_card" in unknown.output and "Traceback" not in unknown.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"card,account,home_store\n{CARD_A},A-77,\" KY\"\n")
    refused = runner.invoke(ledger_group, ["members", "import", *db, str(bad)])
    assert refused.exit_code == 1 and "line 2.home_store" in refused.output


def test_balance_changes_are_folded_in_at_most_every_refresh_interval(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    led.customer_refresh_s = 60
    led.import_members(_members({"card": CARD_A, "account": "A-77", "opening_balance": 10,
                                 "home_store": "KY-001"}))
    full = _pull(client, ky1)["customers"]
    led.adjust("A-77", 5)
    clock.advance(seconds=30)
    early = _pull(client, ky1, full["cursor"])["customers"]
    assert early["upsert"] == []  # not due yet: the till keeps what it has
    clock.advance(seconds=31)
    late = _pull(client, ky1, early["cursor"])["customers"]
    assert _entries(late)[CARD_A]["balance"] == 15
