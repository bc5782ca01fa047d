"""Enrolment of new cards at tills: confirm, converge, merge (docs/enrolment.md).

Every test runs on SQLite and PostgreSQL (the ``db_url`` fixture).
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import fastcore
import pytest

from sync import provisional_account
from sync.ledger import Ledger

from .helpers import BUNDLE, BUNDLE_TEXT, CARD_C, ENGINE, ASGIClient, TillSim
from .rules import forged, post, snapshot

NEW_CARD = "2900000999997"
OTHER_NEW = "2900000888885"
WELCOME = BUNDLE["program"]["welcome_points"]


def _valid(card: str) -> str:
    """``card`` with its check digit made right (12 digits given)."""
    body = card[:12]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


NEW_CARD, OTHER_NEW = _valid(NEW_CARD), _valid(OTHER_NEW)


def enrol_txn(till: TillSim, card: str, registration: str | None = None) -> dict[str, Any]:
    """The ``enrol`` TXN a till writes before the card's first sale."""
    till.seq += 1
    txn: dict[str, Any] = {
        "txn_id": str(uuid.uuid4()), "till": till.till, "store": till.store, "seq": till.seq,
        "kind": "enrol", "at": "2026-11-22T14:04:00+07:00",
        "customer": {"card": card, "account": provisional_account(card), "jti": None,
                     "claims": None},
        "mode": "offline", "hold_id": None, "basket": {}, "result": {"lines": []},
        "bundle_version": 1, "engine_version": fastcore.ENGINE_VERSION,
        "original_txn_id": None, "returned": None}
    if registration is not None:
        txn["registration"] = registration
    return till._chain(txn)


def first_sale(till: TillSim, card: str, account: str | None = None) -> dict[str, Any]:
    """The enrolled card's first sale, priced with the welcome bonus (first purchase)."""
    till.seq += 1
    account = account or provisional_account(card)
    basket = {"store": "KY-001", "at": "2026-11-22T14:05:00+07:00",
              "customer": {"card": card, "account": account, "first_purchase": True,
                           "available_points": 0},
              "lines": [{"sku": "4601234567893", "qty": 2}], "redeem": 0}
    result = ENGINE.price(fastcore.loads(json.dumps(basket))).to_json()
    assert result["bonus"]["welcome"] == WELCOME
    txn = {"txn_id": str(uuid.uuid4()), "till": till.till, "store": till.store,
           "seq": till.seq, "kind": "sale", "at": basket["at"],
           "customer": {"card": card, "account": account, "jti": None, "claims": None},
           "mode": "offline", "hold_id": None, "basket": basket, "result": result,
           "bundle_version": 1, "engine_version": fastcore.ENGINE_VERSION,
           "original_txn_id": None, "returned": None}
    return till._chain(txn)


def card_account(ledger: Ledger, card: str) -> str:
    with ledger.storage.transaction() as tx:
        row = tx.one("SELECT account FROM cards WHERE card = ?", (card,))
    assert row is not None
    return str(row[0])


def journal_of(ledger: Ledger, account: str) -> list[tuple[str, int]]:
    with ledger.storage.transaction() as tx:
        return [(str(r[0]), int(r[1])) for r in tx.all(
            "SELECT kind, points FROM journal WHERE account = ? ORDER BY entry_id", (account,))]


def sales_of(ledger: Ledger, account: str) -> int:
    with ledger.storage.transaction() as tx:
        row = tx.one("SELECT COUNT(*) FROM sales WHERE account = ?", (account,))
    return int(row[0])


def test_an_offline_enrolment_and_its_sale_confirm_the_provisional_account(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    enrol, sale = enrol_txn(till, NEW_CARD), first_sale(till, NEW_CARD)
    answers = post(client, till, [enrol, sale])
    prov = provisional_account(NEW_CARD)
    assert [a["status"] for a in answers] == ["accepted", "accepted"]
    assert answers[0]["account"] == prov and answers[0]["enrolment"] == "created"
    assert answers[1]["account"] == prov
    points = sale["result"]["totals"]["points"]
    assert shop.balance(prov) == points and points > WELCOME
    assert card_account(shop, NEW_CARD) == prov
    assert shop.check() == []
    # the card is a member now: its profile answers online
    assert shop.customer(NEW_CARD)["account"] == prov  # type: ignore[index]
    # and the enrolling store's tills receive it in their customer cache
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT account FROM store_customers WHERE store = ? AND card = ?",
                      ("KY-001", NEW_CARD)) == (prov,)


def test_the_same_card_enrolled_offline_at_two_tills_ends_as_one_account_with_one_welcome(
        shop: Ledger, client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    a = [enrol_txn(till, NEW_CARD), first_sale(till, NEW_CARD)]
    b = [enrol_txn(other_till, NEW_CARD), first_sale(other_till, NEW_CARD)]
    first = post(client, till, a)
    second = post(client, other_till, b)
    prov = provisional_account(NEW_CARD)
    assert [r["enrolment"] for r in (first[0], second[0])] == ["created", "confirmed"]
    assert {r["account"] for r in first + second} == {prov}
    assert sales_of(shop, prov) == 2
    earned = a[1]["result"]["totals"]["points"] + b[1]["result"]["totals"]["points"]
    # the second first purchase's welcome is taken back: one welcome per card
    assert shop.balance(prov) == earned - WELCOME
    assert ("audit_correction", -WELCOME) in journal_of(shop, prov)
    assert shop.check() == []


def test_a_card_head_office_already_knows_is_merged_into_its_account(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    before = shop.balance("B-01")
    assert before is not None
    enrol, sale = enrol_txn(till, CARD_C), first_sale(till, CARD_C)
    answers = post(client, till, [enrol, sale])
    assert answers[0]["enrolment"] == "merged" and answers[0]["account"] == "B-01"
    assert answers[0]["provisional"] == provisional_account(CARD_C)
    assert answers[1]["account"] == "B-01"
    points = sale["result"]["totals"]["points"]
    assert shop.balance("B-01") == before + points  # B-01 had no sale: its welcome stands
    assert ("merge", 0) in journal_of(shop, "B-01")  # the journal says so
    assert sales_of(shop, provisional_account(CARD_C)) == 0
    assert card_account(shop, CARD_C) == "B-01"
    assert shop.check() == []


def test_a_confirmed_provisional_account_moves_into_the_account_head_office_gives_the_card(
        shop: Ledger, client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    post(client, till, [enrol_txn(till, NEW_CARD), first_sale(till, NEW_CARD)])
    prov = provisional_account(NEW_CARD)
    held = shop.balance(prov)
    assert held
    shop.import_members(f"card,account\n{NEW_CARD},H-9\n")  # head office links the card
    assert shop.balance(prov) == 0 and shop.balance("H-9") == held  # moved by the import
    kinds = journal_of(shop, "H-9")
    assert ("merge", held) in kinds and ("merge", 0) in kinds
    assert ("merge", -held) in journal_of(shop, prov)
    # a till that enrols the card offline later (stale cache) lands on H-9 too
    answers = post(client, other_till, [enrol_txn(other_till, NEW_CARD),
                                        first_sale(other_till, NEW_CARD)])
    assert answers[0]["enrolment"] == "merged" and answers[0]["account"] == "H-9"
    assert answers[1]["account"] == "H-9" and answers[1]["corrected"] == {"welcome": WELCOME}
    assert shop.balance(prov) == 0
    shop.import_members(f"card,account\n{NEW_CARD},H-9\n")  # importing again moves nothing
    assert shop.check() == []


def test_a_sale_naming_a_provisional_account_without_its_enrolment_enrols_the_card(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    till.seq += 1  # the enrol TXN was refused or lost: the sale alone still lands
    sale = first_sale(till, NEW_CARD)
    assert post(client, till, [sale])[0]["account"] == provisional_account(NEW_CARD)
    assert card_account(shop, NEW_CARD) == provisional_account(NEW_CARD)
    assert shop.check() == []


def test_the_same_enrol_txn_twice_is_one_enrolment(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    enrol = enrol_txn(till, NEW_CARD)
    assert post(client, till, [enrol])[0]["status"] == "accepted"
    again = post(client, till, [enrol])[0]
    assert again["status"] == "duplicate" and again["original"]["enrolment"] == "created"
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM enrolments WHERE card = ?", (NEW_CARD,)) == (1,)


@pytest.mark.parametrize(("path", "value", "field"), [
    ("customer.account", "P-00000000000000000000", "customer.account"),
    ("customer.account", "B-01", "customer.account"),
    ("customer.card", "2900000999990", "customer.card"),
    ("customer.card", "29000009999\x0090", "customer.card"),
    ("customer", None, "customer.card"),
    ("seq", 2**63, "seq"),
    ("seq", -1, "seq"),
    ("seq", 0, "seq"),
    ("seq", 1e308, "seq"),
    ("registration", "\x00", "registration"),
    ("registration", 2**63, "registration"),
    ("result.lines", [{"qty": "1"}], "result.lines"),
    # nested past 64 levels: the whole request is refused before any TXN is read
    ("basket", {"deep": json.loads("[" * 70 + "]" * 70)}, ""),
])
def test_a_hostile_enrol_txn_is_rejected_with_its_field_and_changes_nothing(
        shop: Ledger, client: ASGIClient, till: TillSim, path: str, value: Any,
        field: str) -> None:
    bad = forged(enrol_txn(till, NEW_CARD), path, value)
    before = snapshot(shop)
    answer = post(client, till, [bad])[0]
    assert answer["status"] == "rejected" and answer["reason"] == "invalid"
    assert answer["field"].startswith(field.split(".")[0]), answer
    assert bool(answer["field"]) == bool(field)
    assert snapshot(shop) == before
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM cards WHERE card = ?", (NEW_CARD,)) == (0,)


def test_an_enrol_txn_for_a_card_outside_the_programmes_prefixes_is_rejected(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    foreign = _valid("471234567890")
    before = snapshot(shop)
    answer = post(client, till, [enrol_txn(till, foreign)])[0]
    assert (answer["status"], answer["reason"], answer["field"]) == (
        "rejected", "invalid", "customer.card")
    assert snapshot(shop) == before


def test_a_sale_whose_provisional_account_is_not_its_cards_is_rejected(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    sale = forged(first_sale(till, NEW_CARD), "customer.account",
                  provisional_account(OTHER_NEW))
    answer = post(client, till, [sale])[0]
    assert (answer["status"], answer["field"]) == ("rejected", "customer.account")


def test_another_tills_enrol_txn_is_refused(
        shop: Ledger, client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    enrol = enrol_txn(other_till, NEW_CARD)  # KY-002's TXN sent with KY-001's key
    resp = client.post("/v1/transactions", json=other_till.body([enrol]), headers=till.headers)
    assert resp.status_code == 403
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM cards WHERE card = ?", (NEW_CARD,)) == (0,)


@pytest.mark.timeout(240)
def test_the_same_enrol_txn_sent_twice_at_once_to_two_workers_is_one_account(
        db_url: str, tmp_path: Path) -> None:
    from .test_races import race, results, upload
    from .test_server import Server

    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
        a = TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))
        b = TillSim("KY-002-01", "KY-002", led.add_till("KY-002", "KY-002-01"))
    server = Server(db_url, tmp_path / "ledger.log", "--workers", "2")
    servers = [server, server]  # the kernel deals each new connection to either worker
    try:
        cards = [_valid(f"2900001{i:05d}0") for i in range(8)]
        for card in cards:
            mine = [enrol_txn(a, card), first_sale(a, card)]
            answers = race([upload(servers[0], a, mine), upload(servers[1], a, mine),
                            upload(servers[1], b, [enrol_txn(b, card)])])
            statuses = sorted(r["status"] for resp in answers[:2] for r in results(resp))
            assert statuses == ["accepted", "accepted", "duplicate", "duplicate"]
            assert results(answers[2])[0]["status"] == "accepted"
    finally:
        server.kill()
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            for card in cards:
                assert tx.one("SELECT account FROM cards WHERE card = ?", (card,)) == (
                    provisional_account(card),)
                assert tx.one("SELECT COUNT(*) FROM sales WHERE account = ?",
                              (provisional_account(card),)) == (1,)
        assert led.check() == []


# -- online: POST /v1/enrolments and POST /v1/registrations --------------------

def _enrol(client: ASGIClient, till: TillSim, body: Any) -> Any:
    return client.post("/v1/enrolments", json=body, headers=till.headers)


def test_an_online_enrolment_answers_the_new_members_profile(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    resp = _enrol(client, till, {"till": till.till, "card": NEW_CARD})
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert (doc["account"], doc["enrolment"]) == (provisional_account(NEW_CARD), "created")
    assert doc["balance"] == 0 and doc["first_purchase"] is True
    again = _enrol(client, till, {"till": till.till, "card": NEW_CARD}).json()
    assert again["enrolment"] == "confirmed"  # enrolling twice is harmless
    known = _enrol(client, till, {"till": till.till, "card": CARD_C}).json()
    assert (known["account"], known["enrolment"]) == ("B-01", "merged")
    assert shop.check() == []


@pytest.mark.parametrize(("body", "status", "error", "field"), [
    ({"card": "2900000999990"}, 400, "invalid", "card"),               # check digit
    ({"card": "4601234567893"}, 400, "wrong_card_prefix", "card"),     # not a programme card
    ({"card": 2**63}, 400, "invalid", "card"),
    ({"card": 1e308}, 400, "invalid", "card"),
    ({"card": -1}, 400, "invalid", "card"),
    ({"card": 0}, 400, "invalid", "card"),
    ({"card": "29000009999\x0097"}, 400, "invalid", "card"),
    ({"card": json.loads("[" * 70 + "]" * 70)}, 400, "invalid", ""),
    ({"card": NEW_CARD, "registration": "\x00" * 10}, 400, "invalid", "registration"),
    ({"card": NEW_CARD, "registration": "nosuchregistration"}, 404, "unknown_registration",
     "registration"),
    ({"card": NEW_CARD, "extra": 1}, 400, "invalid", ""),  # the detail names it
    ({"card": NEW_CARD, "till": "KY-002-01"}, 403, "forbidden", "till"),
    ({"card": NEW_CARD, "store": "KY-002"}, 403, "forbidden", "store"),
    ({"card": NEW_CARD, "registration": "r" * 65}, 400, "invalid", "registration"),
    ({"card": "2" * 3_000_000}, 400, "invalid", "card"),  # a huge body
])
def test_a_hostile_online_enrolment_is_refused_and_changes_nothing(
        shop: Ledger, client: ASGIClient, till: TillSim, body: dict[str, Any], status: int,
        error: str, field: str) -> None:
    before = snapshot(shop)
    resp = _enrol(client, till, {"till": till.till, **body})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error
    assert resp.json().get("field", "").startswith(field)
    assert snapshot(shop) == before


def test_another_tills_key_or_an_app_key_cannot_enrol(
        shop: Ledger, client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    from .credentials import app_headers

    resp = client.post("/v1/enrolments", json={"till": till.till, "card": NEW_CARD},
                       headers=other_till.headers)
    assert resp.status_code == 403
    resp = client.post("/v1/enrolments", json={"till": till.till, "card": NEW_CARD},
                       headers=app_headers(shop))
    assert resp.status_code == 403
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM cards WHERE card = ?", (NEW_CARD,)) == (0,)


def test_a_registration_code_is_signed_carries_no_card_and_links_the_enrolled_card(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    from fastcore import b64url_decode

    from .credentials import app_headers

    phone = "ab" * 32
    resp = client.post("/v1/registrations", json={"phone_hash": phone}, headers=app_headers(shop))
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    header, claims, _ = (b64url_decode(p) for p in doc["code"].split("."))
    assert json.loads(header or b"")["typ"] == "kopilka-reg+jwt"
    payload = json.loads(claims or b"")
    assert payload["reg"] == doc["registration"] and payload["ph"] == phone
    assert "sub" not in payload and "acc" not in payload
    linked = _enrol(client, till, {"till": till.till, "card": NEW_CARD,
                                   "registration": doc["registration"]})
    assert linked.status_code == 200, linked.text
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT card, account FROM registrations WHERE registration = ?",
                      (doc["registration"],)) == (NEW_CARD, provisional_account(NEW_CARD))
    # the registration is the other card's now: a second card is refused
    other = _enrol(client, till, {"till": till.till, "card": OTHER_NEW,
                                  "registration": doc["registration"]})
    assert (other.status_code, other.json()["error"]) == (409, "registration_used")


@pytest.mark.parametrize("body", [{"phone_hash": "AB" * 32}, {"phone_hash": "\x00"},
                                  {"phone_hash": 2**63}, {"phone_hash": 1e308},
                                  {"phone_hash": -1}, {"phone_hash": 0},
                                  {"phone_hash": json.loads("[" * 70 + "]" * 70)},
                                  {"card": NEW_CARD}, [1]])
def test_a_hostile_registration_request_is_refused(
        shop: Ledger, client: ASGIClient, till: TillSim, body: Any) -> None:
    from .credentials import app_headers

    resp = client.post("/v1/registrations", json=body, headers=app_headers(shop))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid"
    # a till's key never opens a registration
    resp = client.post("/v1/registrations", json={}, headers=till.headers)
    assert resp.status_code == 403
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM registrations") == (0,)


def test_the_registration_command_prints_a_signed_code_and_refuses_a_bad_phone_hash(
        db_url: str) -> None:
    from click.testing import CliRunner

    from sync.ledger.cli import ledger as ledger_cli

    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
    runner = CliRunner()
    ok = runner.invoke(ledger_cli, ["registration", "--db", db_url, "--phone-hash", "cd" * 32])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count(".") == 2
    for bad in ("CD" * 32, "x", "cd" * 32 + "\x00"):
        refused = runner.invoke(ledger_cli, ["registration", "--db", db_url, "--phone-hash", bad])
        assert refused.exit_code != 0 and "Traceback" not in refused.output
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM registrations") == (1,)


def test_a_card_merged_into_an_account_that_already_bought_gets_no_second_welcome(
        shop: Ledger, client: ASGIClient, till: TillSim) -> None:
    assert post(client, till, [till.sale("B-01")])[0]["status"] == "accepted"
    before = shop.balance("B-01")
    assert before is not None
    enrol, sale = enrol_txn(till, CARD_C), first_sale(till, CARD_C)
    answers = post(client, till, [enrol, sale])
    assert answers[1]["corrected"] == {"welcome": WELCOME}
    assert shop.balance("B-01") == before + sale["result"]["totals"]["points"] - WELCOME
    assert shop.check() == []


@pytest.mark.parametrize(("path", "value", "field"), [
    ("customer.card", None, "customer.card"),
    ("customer.card", "2900000999990", "customer.card"),
    ("customer.account", "P-" + "0" * 20, "customer.account"),
])
def test_a_sale_naming_a_provisional_account_without_its_own_card_is_rejected(
        shop: Ledger, client: ASGIClient, till: TillSim, path: str, value: Any,
        field: str) -> None:
    sale = forged(first_sale(till, NEW_CARD), path, value)
    before = snapshot(shop)
    answer = post(client, till, [sale])[0]
    assert (answer["status"], answer["field"]) == ("rejected", field)
    assert snapshot(shop) == before
