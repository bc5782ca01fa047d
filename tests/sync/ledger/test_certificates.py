"""Gift certificates on the ledger: activated by the sale that sold them, spent as a
tender against a hold (online) or within the code's ocap (offline), never below zero,
a balance always equal to its entries; on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from sync.ledger import Ledger

from .certkit import GC, GC_ONLINE, install, sale, sell, spend
from .conftest import FakeClock
from .credentials import office_headers
from .helpers import CARD_C, ASGIClient, TillSim
from .twins import year_bundle


def upload(client: ASGIClient, till: TillSim, *txns: dict[str, Any]) -> list[dict[str, Any]]:
    resp = client.post("/v1/transactions", json=till.body(list(txns)), headers=till.headers)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["results"])


def hold(client: ASGIClient, sim: TillSim, cert_id: str, amount: Any, txn_id: str | None = None,
         **over: Any) -> Any:
    body = {"till": sim.till, "txn_id": txn_id or str(uuid.uuid4()), "amount": amount, **over}
    return client.post(f"/v1/certificates/{cert_id}/holds", json=body, headers=sim.headers)


@pytest.fixture
def version(shop: Ledger) -> int:
    return install(shop)


def sold(client: ASGIClient, till: TillSim, version: int, sku: str = GC, face: int = 100000) -> str:
    cert_id = uuid.uuid4().hex
    assert upload(client, till, sell(till, version, cert_id, sku, face))[0]["status"] == "accepted"
    return cert_id


def test_a_sold_certificate_is_activated_by_its_sale_with_the_items_face_and_ocap(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    found = shop.certificates.show(cert_id)
    assert (found["face"], found["balance"], found["ocap"], found["state"]) == (100000, 100000, 50000, "active")
    assert found["till"] == till.till and found["expires_at"] == "2026-12-22T07:00:00Z"
    assert [e["kind"] for e in found["entries"]] == ["issue"]
    assert shop.check() == []


def test_the_till_that_sold_it_reads_its_signed_code_and_another_till_gets_404(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    mine = client.get(f"/v1/certificates/{cert_id}", headers=till.headers)
    assert mine.status_code == 200
    header = mine.json()["code"].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "==").decode())["typ"] == "kopilka-cert+jwt"
    theirs = client.get(f"/v1/certificates/{cert_id}", headers=other_till.headers)
    assert theirs.status_code == 404 and theirs.json()["error"] == "unknown_certificate"
    nobody = client.get(f"/v1/certificates/{uuid.uuid4().hex}", headers=till.headers)
    assert nobody.json() == theirs.json() | {"detail": nobody.json()["detail"]}


def test_redeemed_partly_online_then_the_rest_in_a_second_sale(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    first = spend(other_till, version, cert_id, 30000)
    placed = hold(client, other_till, cert_id, 30000, first["txn_id"])
    assert placed.status_code == 201 and placed.json()["amount"] == 30000
    assert placed.json()["remaining"] == 70000
    assert upload(client, other_till, first)[0]["status"] == "accepted"
    assert shop.certificates.show(cert_id)["balance"] == 70000
    # the second sale asks for more than is left: the hold gives what there is
    second_id = str(uuid.uuid4())
    placed = hold(client, till, cert_id, 250000, second_id)
    assert placed.status_code == 201 and placed.json()["amount"] == 70000
    assert placed.json()["remaining"] == 0
    second = spend(till, version, cert_id, 70000, hold_id=placed.json()["hold_id"], txn_id=second_id)
    assert upload(client, till, second)[0]["status"] == "accepted"
    found = shop.certificates.show(cert_id)
    assert found["balance"] == 0 and sorted(e["amount"] for e in found["entries"]) == [-70000, -30000, 100000]
    assert all(e["shortfall"] == 0 and e["note"] is None for e in found["entries"])
    spent = hold(client, till, cert_id, 1)
    assert spent.status_code == 409 and spent.json()["error"] == "certificate_spent"
    assert shop.check() == []


def test_a_hold_counts_against_other_holds_until_it_lapses(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int,
        clock: FakeClock) -> None:
    cert_id = sold(client, till, version)
    assert hold(client, till, cert_id, 100000).json()["amount"] == 100000
    assert hold(client, other_till, cert_id, 5).json()["error"] == "certificate_spent"
    clock.advance(minutes=15)
    assert hold(client, other_till, cert_id, 5).json()["amount"] == 5


def test_the_same_sale_resizes_its_hold_and_a_used_hold_is_closed(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    txn = spend(till, version, cert_id, 2000)
    a = hold(client, till, cert_id, 5000, txn["txn_id"]).json()
    b = hold(client, till, cert_id, 2000, txn["txn_id"]).json()
    assert a["hold_id"] == b["hold_id"] and b["amount"] == 2000 and b["remaining"] == 98000
    upload(client, till, txn)
    again = hold(client, till, cert_id, 10, txn["txn_id"])
    assert again.status_code == 409 and again.json()["error"] == "hold_closed"
    gone = client.delete(f"/v1/certificates/{cert_id}/holds/{a['hold_id']}", headers=till.headers)
    assert gone.status_code == 409 and gone.json()["error"] == "hold_consumed"


def test_a_released_hold_gives_the_balance_back_and_releasing_twice_is_fine(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    placed = hold(client, till, cert_id, 100000).json()
    url = f"/v1/certificates/{cert_id}/holds/{placed['hold_id']}"
    assert client.delete(url, headers=other_till.headers).status_code == 403
    assert client.delete(url, headers=till.headers).json() == {"released": True}
    assert client.delete(url, headers=till.headers).status_code == 200
    assert shop.certificates.show(cert_id)["available"] == 100000


def test_offline_at_two_tills_takes_only_what_is_left_flags_it_and_never_goes_below_zero(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version, GC)
    # the ledger had it at 100000; two offline tills each take the full ocap 50000, then more
    first = spend(till, version, cert_id, 50000, mode="offline")
    second = spend(other_till, version, cert_id, 50000, mode="offline")
    third = spend(other_till, version, cert_id, 50000, mode="offline")
    assert upload(client, till, first)[0]["status"] == "accepted"
    assert [r["status"] for r in upload(client, other_till, second, third)] == ["accepted"] * 2
    found = shop.certificates.show(cert_id)
    assert found["balance"] == 0
    last = next(e for e in found["entries"] if e["txn_id"] == third["txn_id"])
    assert (last["claimed"], last["amount"], last["shortfall"], last["note"]) == (50000, 0, 50000, "overspent")
    assert shop.check() == []
    flags = report_flags(client, shop)
    rows = [f for f in flags if f["txn_id"] in (first["txn_id"], second["txn_id"], third["txn_id"])]
    assert {f["till"] for f in rows} == {till.till, other_till.till}
    assert [f["value"] for f in rows if f["txn_id"] == third["txn_id"]] == [50000]


def test_an_offline_tender_beyond_the_ledgers_ocap_or_without_one_is_noted_and_flagged(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    with_cap = sold(client, till, version, GC)
    without = sold(client, till, version, GC_ONLINE, 50000)
    upload(client, till, spend(till, version, with_cap, 60000, mode="offline"),
           spend(till, version, without, 100, mode="offline"))
    notes = [shop.certificates.show(c)["entries"][-1]["note"] for c in (with_cap, without)]
    assert notes == ["beyond_ocap", "beyond_ocap"]
    assert shop.certificates.show(with_cap)["balance"] == 40000  # taken: the sale happened
    assert len(report_flags(client, shop)) == 2


def test_a_tender_of_an_unknown_certificate_is_accepted_as_a_sale_and_flagged(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    ghost = uuid.uuid4().hex
    assert upload(client, till, spend(till, version, ghost, 700, mode="offline"))[0]["status"] == "accepted"
    flags = report_flags(client, shop)
    assert [f["value"] for f in flags] == [700] and "unknown_certificate" in flags[0]["detail"]
    assert shop.check() == []


def test_the_loyalty_report_counts_certificates_sold_redeemed_and_outstanding(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    sold(client, till, version, GC_ONLINE, 50000)
    txn = spend(till, version, cert_id, 1000)
    hold(client, till, cert_id, 1000, txn["txn_id"])
    upload(client, till, txn)
    assert loyalty(client, shop) == {"sold": 150000, "redeemed": 1000, "outstanding": 149000,
                                     "certificates": 2}


def test_a_sale_and_its_resend_count_once(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = uuid.uuid4().hex
    sale = sell(till, version, cert_id)
    upload(client, till, sale)
    assert upload(client, till, sale)[0]["status"] == "duplicate"
    txn = spend(till, version, cert_id, 100, mode="offline")
    upload(client, till, txn)
    upload(client, till, txn)
    assert shop.certificates.show(cert_id)["balance"] == 99900
    assert shop.check() == []


def test_a_face_value_that_is_not_the_items_or_a_sku_not_sold_is_rejected_invalid(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    forged = sell(till, version, uuid.uuid4().hex, GC, 999999)
    got = upload(client, till, forged)[0]
    assert (got["status"], got["reason"], got["field"]) == ("rejected", "invalid",
                                                            "certificates.sold[0].face")
    goods = sell(till, version, uuid.uuid4().hex, "4601234567893", 8990)
    assert upload(client, till, goods)[0]["field"] == "certificates.sold[0].face"


def test_a_certificate_id_already_sold_by_another_sale_is_rejected(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    again = upload(client, other_till, sell(other_till, version, cert_id))[0]
    assert (again["status"], again["field"]) == ("rejected", "certificates.sold[0].cert_id")
    assert shop.certificates.show(cert_id)["till"] == till.till


@pytest.mark.parametrize("bad, field", [
    ({"sold": [{"cert_id": "x", "sku": GC, "face": 1}]}, "certificates.sold[0].cert_id"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 0, "mode": "online"}]}, "certificates.tenders[0].amount"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": -5, "mode": "online"}]}, "certificates.tenders[0].amount"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 2**63, "mode": "online"}]}, "certificates.tenders[0].amount"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 1e308, "mode": "online"}]}, "certificates.tenders[0].amount"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 5, "mode": "cash"}]}, "certificates.tenders[0].mode"),
    ({"tenders": [{"cert_id": "a\x00" * 8, "amount": 5, "mode": "online"}]}, "certificates.tenders[0].cert_id"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 5, "mode": "online", "x": {"y": {}}}]}, "certificates.tenders[0]"),
    ({"tenders": [{"cert_id": "a" * 32, "amount": 5, "mode": "online"}] * 2}, "certificates.tenders[1].cert_id"),
    ([1, 2], "certificates"),
])
def test_hostile_certificates_in_a_txn_are_rejected_alone_with_their_field(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int, bad: Any, field: str) -> None:
    txn = spend(till, version, "a" * 32, 1)
    txn["certificates"] = bad
    till.prev = txn["prev_hash"]
    txn.pop("hash")
    txn = till._chain(txn)
    fine = spend(till, version, "b" * 32, 1, mode="offline")
    got = upload(client, till, txn, fine)
    assert got[0]["status"] == "rejected" and got[0]["field"].startswith(field), got[0]
    assert got[1]["status"] == "accepted"
    assert shop.check() == []


@pytest.mark.parametrize("amount", [0, -1, 2**63, 1e308, "5", None, True])
def test_hostile_hold_amounts_are_400_and_hold_nothing(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int, amount: Any) -> None:
    cert_id = sold(client, till, version)
    resp = hold(client, till, cert_id, amount)
    assert resp.status_code == 400 and resp.json()["field"] == "amount"
    assert shop.certificates.show(cert_id)["held"] == 0


@pytest.mark.parametrize("path_id", ["x", "a" * 65, "%00" * 10, "..%2F..%2Fetc"])
def test_hostile_certificate_ids_in_the_path_are_404(
        client: ASGIClient, till: TillSim, version: int, path_id: str) -> None:
    assert hold(client, till, path_id, 1).status_code == 404
    assert client.get(f"/v1/certificates/{path_id}", headers=till.headers).status_code == 404


def test_holds_refuse_another_tills_name_nul_a_bad_txn_id_and_an_app_key(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    assert hold(client, till, cert_id, 1, till=other_till.till).status_code == 403
    assert hold(client, till, cert_id, 1, txn_id="not-a-uuid").status_code == 400
    assert hold(client, till, cert_id, 1, till="KY\x00").status_code in (400, 403)
    assert hold(client, till, cert_id, 1, extra="x" * 10_000).status_code == 400
    resp = client.post(f"/v1/certificates/{cert_id}/holds", content=b"[" * 100_000,
                       headers={**till.headers, "content-type": "application/json"})
    assert resp.status_code == 400
    assert client.post(f"/v1/certificates/{cert_id}/holds", json={}).status_code == 401
    txn_id = str(uuid.uuid4())
    assert hold(client, till, cert_id, 10, txn_id).status_code == 201
    other = hold(client, other_till, cert_id, 10, txn_id)  # another till's sale's hold
    assert other.status_code == 403 and other.json()["field"] == "txn_id"
    bogus = client.delete(f"/v1/certificates/{cert_id}/holds/{'0' * 32}.eA",
                          headers=till.headers)
    assert bogus.status_code == 404
    assert shop.certificates.show(cert_id)["held"] == 10


def test_an_expired_certificate_takes_no_hold(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int, clock: FakeClock) -> None:
    cert_id = sold(client, till, version)
    clock.advance(days=30)
    resp = hold(client, till, cert_id, 1)
    assert resp.status_code == 409 and resp.json()["error"] == "certificate_expired"


def test_head_office_issues_one_over_http_and_a_till_key_may_not(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    office = shop_office_key(shop)
    made = client.post("/v1/certificates", json={"face": 250000, "ocap": 1000},
                       headers={"Authorization": f"Bearer {office}"})
    assert made.status_code == 201 and made.json()["balance"] == 250000 and made.json()["code"]
    assert client.post("/v1/certificates", json={"face": 1}, headers=till.headers).status_code == 403
    for bad in ({"face": 0}, {"face": 2**63}, {"face": 1e308}, {"face": 5, "ocap": -1},
                {"face": "5"}, {"face": 5, "valid_days": 0}, {"face": 5, "nope": 1}):
        resp = client.post("/v1/certificates", json=bad, headers={"Authorization": f"Bearer {office}"})
        assert resp.status_code == 400, bad
    assert len(shop.certificates.all()) == 1


def test_check_finds_a_certificate_whose_balance_was_changed_behind_its_entries(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    with shop.storage.transaction() as tx:
        tx.execute("UPDATE certificates SET balance = 5 WHERE cert_id = ?", (cert_id,))
    bad = shop.check()
    assert [(m.account, m.balance, m.journal) for m in bad] == [(f"certificate:{cert_id}", 5, 100000)]


# -- helpers reading the reports -------------------------------------------------

def shop_office_key(shop: Ledger) -> str:
    return office_headers(shop, "hq-" + uuid.uuid4().hex[:6])["Authorization"].split()[1]


def test_a_certificate_bought_is_not_tier_spend_until_it_pays_for_goods(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    version, _ = shop.import_bundle(json.dumps(year_bundle()))  # silver from 1000.00 ₽
    cert_id = uuid.uuid4().hex
    bought = sale(till, version, account="B-01", lines=[{"sku": GC, "qty": 1},
                                                        {"sku": "4607000000045", "qty": 1}],
                  certificates={"sold": [{"cert_id": cert_id, "sku": GC, "face": 100000}]})
    assert bought["result"]["totals"]["paid"] == 100000 + 3990
    assert upload(client, till, bought)[0]["status"] == "accepted"
    assert spend_of(shop, "B-01") == [3990]  # the loaf only: the gift is money, not spend
    assert shop.customer(CARD_C)["tier"] == "base"  # type: ignore[index]
    # the certificate paying for goods: that sale counts in full, and crosses
    txn_id = str(uuid.uuid4())
    placed = hold(client, till, cert_id, 250000, txn_id)
    assert placed.json()["amount"] == 100000
    paying = sale(till, version, account="B-01", mode="online", txn_id=txn_id,
                  lines=[{"sku": "4607000000090", "qty": 3}], certificates={"tenders": [
                      {"cert_id": cert_id, "amount": 100000, "mode": "online",
                       "hold_id": placed.json()["hold_id"]}]})
    assert upload(client, till, paying)[0]["status"] == "accepted"
    assert spend_of(shop, "B-01") == sorted([3990, paying["result"]["totals"]["paid"]])
    assert shop.customer(CARD_C)["tier"] == "silver"  # type: ignore[index]
    assert shop.check() == []


def spend_of(shop: Ledger, account: str) -> list[int]:
    with shop.storage.transaction() as tx:
        return sorted(int(r[0]) for r in tx.all("SELECT amount FROM spend WHERE account = ?",
                                                (account,)))


def report_flags(client: ASGIClient, shop: Ledger) -> list[dict[str, Any]]:
    resp = client.get("/v1/reports/sync", headers=office_headers(shop, "hq-" + uuid.uuid4().hex[:6]))
    assert resp.status_code == 200, resp.text
    return list(resp.json()["flags"]["certificate_double_use"])


def loyalty(client: ASGIClient, shop: Ledger) -> dict[str, int]:
    resp = client.get("/v1/reports/loyalty", headers=office_headers(shop, "hq-" + uuid.uuid4().hex[:6]))
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["certificates"])


def test_an_offline_tender_leaves_what_another_tills_hold_promised(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = sold(client, till, version)
    online = spend(other_till, version, cert_id, 70000)
    assert hold(client, other_till, cert_id, 70000, online["txn_id"]).json()["amount"] == 70000
    offline = spend(till, version, cert_id, 50000, mode="offline")
    upload(client, till, offline)
    found = shop.certificates.show(cert_id)
    taken = next(e for e in found["entries"] if e["txn_id"] == offline["txn_id"])
    assert (taken["amount"], taken["shortfall"], taken["note"]) == (-30000, 20000, "overspent")
    upload(client, other_till, online)
    assert shop.certificates.show(cert_id)["balance"] == 0
    assert [e["shortfall"] for e in shop.certificates.show(cert_id)["entries"]
            if e["txn_id"] == online["txn_id"]] == [0]


def reserve(client: ASGIClient, sim: TillSim, cert_id: str, txn_id: str, version: int,
            face: Any = 100000, sku: str = GC, **over: Any) -> Any:
    body = {"till": sim.till, "txn_id": txn_id, "sku": sku, "face": face, "bundle_version": version,
            **over}
    return client.request("PUT", f"/v1/certificates/{cert_id}", json=body, headers=sim.headers)


def test_a_code_printed_before_the_upload_is_pending_until_the_sale_activates_it(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = uuid.uuid4().hex
    sale = sell(till, version, cert_id)
    got = reserve(client, till, cert_id, sale["txn_id"], version)
    assert got.status_code == 200 and got.json()["code"].count(".") == 2
    assert reserve(client, till, cert_id, sale["txn_id"], version).json()["cert_id"] == cert_id
    assert shop.certificates.show(cert_id)["state"] == "pending"
    early = hold(client, other_till, cert_id, 100)
    assert early.status_code == 409 and early.json()["error"] == "certificate_not_active"
    assert shop.check() == []
    assert upload(client, till, sale)[0]["status"] == "accepted"
    found = shop.certificates.show(cert_id)
    assert (found["state"], found["balance"], [e["kind"] for e in found["entries"]]) == ("active", 100000, ["issue"])
    assert upload(client, till, sale)[0]["status"] == "duplicate"
    assert shop.certificates.show(cert_id)["balance"] == 100000 and shop.check() == []
    assert hold(client, other_till, cert_id, 100).status_code == 201


def test_a_tender_of_a_pending_certificate_takes_nothing_and_is_flagged(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id = uuid.uuid4().hex
    sale = sell(till, version, cert_id)
    reserve(client, till, cert_id, sale["txn_id"], version)
    early = spend(other_till, version, cert_id, 500, mode="offline")
    assert upload(client, other_till, early)[0]["status"] == "accepted"
    entry = shop.certificates.show(cert_id)["entries"][-1]
    assert (entry["amount"], entry["shortfall"], entry["note"]) == (0, 500, "not_active")
    upload(client, till, sale)
    assert shop.certificates.show(cert_id)["balance"] == 100000 and shop.check() == []
    assert [f["value"] for f in report_flags(client, shop)] == [500]


@pytest.mark.parametrize("over, status, field", [
    ({"face": 99999}, 400, "face"), ({"sku": "4601234567893", "face": 8990}, 400, "face"),
    ({"bundle_version": 999}, 400, "bundle_version"), ({"bundle_version": 2**63}, 400, "bundle_version"),
    ({"face": 1e308}, 400, "face"), ({"face": -1}, 400, "face"), ({"face": 0}, 400, "face"),
    ({"sku": "x\x00"}, 400, "sku"), ({"extra": 1}, 400, None), ({"txn_id": "nope"}, 400, "txn_id"),
    ({"till": "KY-002-01"}, 403, "till"),
])
def test_hostile_reservations_are_refused_and_create_nothing(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int, over: dict[str, Any],
        status: int, field: str | None) -> None:
    cert_id = uuid.uuid4().hex
    over = dict(over)
    resp = reserve(client, till, cert_id, over.pop("txn_id", str(uuid.uuid4())), version, **over)
    assert resp.status_code == status and resp.json().get("field") == field, resp.json()
    assert shop.certificates.all() == []


def test_another_till_cannot_take_or_read_a_reserved_certificate(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger, version: int) -> None:
    cert_id, txn_id = uuid.uuid4().hex, str(uuid.uuid4())
    assert reserve(client, till, cert_id, txn_id, version).status_code == 200
    assert reserve(client, other_till, cert_id, txn_id, version).status_code == 403
    assert client.get(f"/v1/certificates/{cert_id}", headers=other_till.headers).status_code == 404
    stolen = sell(other_till, version, cert_id)
    assert upload(client, other_till, stolen)[0]["field"] == "certificates.sold[0].cert_id"


def test_the_loyalty_report_table_and_csv_carry_the_certificates_block(
        client: ASGIClient, till: TillSim, shop: Ledger, version: int) -> None:
    sold(client, till, version)
    headers = office_headers(shop, "hq-" + uuid.uuid4().hex[:6])
    csv = client.get("/v1/reports/loyalty?format=csv", headers=headers).text
    block = csv.split("sold,redeemed,outstanding,certificates")[1].strip().splitlines()[0]
    assert block == "100000,0,100000,1"


@pytest.mark.timeout(240)
def test_two_tills_holding_a_whole_certificate_at_once_through_two_workers_get_it_once(
        db_url: str, tmp_path: Any) -> None:
    import httpx

    from .test_races import race
    from .test_server import Server

    with Ledger(db_url) as led:
        a = TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))
        b = TillSim("KY-002-01", "KY-002", led.add_till("KY-002", "KY-002-01"))
        certs = [str(led.certificates.issue(50000)["cert_id"]) for _ in range(6)]
    server = Server(db_url, tmp_path / "ledger.log", "--workers", "2")
    try:
        for cert_id in certs:
            def ask(sim: TillSim, cert_id: str = cert_id) -> Any:
                body = {"till": sim.till, "txn_id": str(uuid.uuid4()), "amount": 50000}
                return lambda: httpx.post(f"{server.url}/v1/certificates/{cert_id}/holds",
                                          json=body, headers=sim.headers, timeout=30)
            answers = race([ask(a), ask(b)])
            granted = [r.json()["amount"] for r in answers if r.status_code == 201]
            refused = [(r.status_code, r.json()["error"]) for r in answers if r.status_code != 201]
            assert granted == [50000] and refused == [(409, "certificate_spent")], \
                [r.text for r in answers]
    finally:
        server.kill()
    with Ledger(db_url) as led:
        assert led.check() == []
        for cert_id in certs:
            held = led.certificates.show(cert_id)
            assert held is not None and held["balance"] == 50000  # held, not yet debited
