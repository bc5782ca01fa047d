"""A customer's year at the ledger, end to end (issue 12), with the ledger's clock injected.

A new card is enrolled at a till that is offline; the account the till
names for it (provisional, derived from the card) is confirmed by the
ledger and lives the whole year: a welcome bonus once, points pending →
spendable → redeemed (oldest lot first) → expiring, silver reached on the
sale that crosses the threshold and lost at a review, a favourite category
chosen in the app (refused a second time within 30 days, accepted after),
a gift certificate bought and spent in two goes. Every sale is priced by
both engine twins (``twins.price``) and the ledger journals exactly their
figures; after every step each figure is checked against the journal.
Both backends.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from sync import provisional_account
from sync.ledger import Ledger

from .certkit import GC_ONLINE
from .conftest import FakeClock
from .credentials import app_headers, office_headers
from .helpers import ASGIClient
from .life import claims, journal, upload
from .twins import BUNDLE, YearTill, basket, local, price

CARD = "2900000123489"
ACCOUNT = provisional_account(CARD)
WELCOME = BUNDLE["program"]["welcome_points"]
FACE = next(i["price"] for i in BUNDLE["catalog"] if i["sku"] == GC_ONLINE)
MILK, BREAD, CHEESE, COFFEE, ICE = ("4607000000014", "4607000000045", "4607000000038",
                                    "4607000000090", "4601234567893")


def on(clock: FakeClock, month: int, day: int) -> None:
    clock.now = datetime(2026, month, day, 9, 0, tzinfo=timezone.utc)


def items(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "qty": qty} for sku, qty in pairs]


class Year:
    """The enrolled card's account seen through the ledger's own answers."""

    def __init__(self, led: Ledger, client: ASGIClient, clock: FakeClock, till: YearTill,
                 other: YearTill) -> None:
        self.led, self.client, self.clock, self.till, self.other = led, client, clock, till, other
        self.office, self.app = office_headers(led, "year"), app_headers(led, "year-app")
        self.certs: list[str] = []

    @property
    def at(self) -> str:
        return local(self.clock.now)

    def page(self) -> dict[str, Any]:
        resp = self.client.get(f"/v1/ledger/accounts/{ACCOUNT}/statement?limit=500",
                               headers=self.office)
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def token(self) -> dict[str, Any]:
        """The claims of a token freshly issued to the app (``POST /v1/tokens``)."""
        resp = self.client.post("/v1/tokens", headers=self.app, json={"card": CARD})
        assert resp.status_code == 200, resp.text
        return claims(resp.json()["token"])

    def settled(self, balance: int, pending: int) -> dict[str, Any]:
        """Every figure of the account and of its certificates agrees with its journal."""
        assert self.led.check() == []  # includes: each certificate's balance = its entries
        page = self.page()
        assert page["balance"] == balance == sum(p for _, p in journal(self.led, ACCOUNT))
        assert page["balance"] == sum(e["points"] for e in page["entries"])
        assert page["balance"] == sum(lot["remaining"] for lot in page["lots"])
        assert page["pending"] == pending
        assert page["available"] == balance - pending - page["held"]
        assert self.led.available(ACCOUNT) == page["available"]
        assert self.token()["bal"] == max(0, page["available"])
        for cert_id in self.certs:
            found = self.led.certificates.show(cert_id)
            assert found["balance"] == sum(e["amount"] for e in found["entries"]) >= 0
        return page

    def tier(self) -> str:
        """The account's tier; an enrolled card has none until one is computed, which the
        engine prices as the default tier (spec/pricing.md §2: ``tier`` null)."""
        tier: str = self.token()["tier"]
        assert (self.page()["tier"] or "") == tier
        return tier or BUNDLE["tiers"][0]["id"]

    def customer(self) -> dict[str, Any]:
        """The basket's customer as an online till gets it (``GET /v1/customers/{card}``)."""
        resp = self.client.get(f"/v1/customers/{CARD}", headers=self.till.headers)
        assert resp.status_code == 200, resp.text
        prof = resp.json()
        assert prof["account"] == ACCOUNT
        return {"card": CARD, "account": ACCOUNT, "tier": prof["tier"],
                "favorite_category": prof["favorite_category"],
                "favorite_until": prof["favorite_until"],
                "first_purchase": prof["first_purchase"], "available_points": prof["balance"]}

    def upload(self, *txns: dict[str, Any], till: YearTill | None = None
               ) -> list[dict[str, Any]]:
        answers = upload(self.client, till or self.till, *txns)
        for txn, answer in zip(txns, answers, strict=True):
            if txn["kind"] in ("enrol", "sale"):  # the account the ledger confirms
                assert answer["account"] == ACCOUNT, answer
            if txn["kind"] == "sale":
                self.journalled(txn, answer.get("corrected") or {})
        return answers

    def journalled(self, txn: dict[str, Any], corrected: dict[str, int]) -> None:
        """The ledger journalled the engine's points of ``txn`` and its spend, nothing else
        (but the bonus it ``corrected``: a welcome given twice)."""
        totals = txn["result"]["totals"]
        self.led.audit_pending()  # the ledger re-prices what it acknowledged
        with self.led.storage.transaction() as tx:
            rows = tx.all("SELECT kind, points FROM journal WHERE txn_id = ? ORDER BY entry_id",
                          (txn["txn_id"],))
            spend = tx.one("SELECT amount FROM spend WHERE txn_id = ?", (txn["txn_id"],))
            audit = tx.one("SELECT outcome FROM audits WHERE txn_id = ?", (txn["txn_id"],))
        want = {"accrual": totals["points"], "redemption": -totals["redeemed_points"],
                "audit_correction": -sum(corrected.values())}
        assert {str(k): int(p) for k, p in rows} == {k: p for k, p in want.items() if p}
        sold = sum(s["face"] for s in txn.get("certificates", {}).get("sold", []))
        assert spend == (totals["paid"] - sold,)  # a certificate bought is not spend
        assert audit == ("ok",)  # the ledger's own engine priced it the same

    def sale(self, *pairs: tuple[str, int], **kw: Any) -> dict[str, Any]:
        """An online till's sale to the identified customer."""
        customer = kw.pop("customer", None) or self.customer()
        txn = self.till.sale_of(customer, items(*pairs), self.at, **kw)
        self.upload(txn)
        return txn

    def redeem(self, points: int, *pairs: tuple[str, int]) -> dict[str, Any]:
        """An online sale redeeming ``points`` with a hold, as a till does it."""
        txn_id, customer = str(uuid.uuid4()), self.customer()
        held = self.client.post("/v1/holds", headers=self.till.headers, json={
            "till": self.till.till, "account": ACCOUNT, "points": points, "txn_id": txn_id})
        assert held.status_code == 201, held.text
        assert customer["available_points"] >= points
        return self.sale(*pairs, customer=customer, redeem=points, mode="online",
                         txn_id=txn_id, hold_id=held.json()["hold_id"])

    def favourite(self, category: str) -> Any:
        return self.client.request("PUT", f"/v1/accounts/{ACCOUNT}/favourite",
                                   headers=self.app, json={"category": category})

    def pay_with_certificate(self, cert_id: str, *pairs: tuple[str, int]) -> tuple[
            dict[str, Any], dict[str, Any]]:
        """An online sale paid first with the certificate: a hold of what is due, then the
        tender of what the hold gave; the rest in cash."""
        txn_id, customer, lines = str(uuid.uuid4()), self.customer(), items(*pairs)
        due = price(basket(self.till.store, customer, lines, self.at))["totals"]["paid"]
        placed = self.client.post(f"/v1/certificates/{cert_id}/holds", headers=self.till.headers,
                                  json={"till": self.till.till, "txn_id": txn_id, "amount": due})
        assert placed.status_code == 201, placed.text
        hold = placed.json()
        tender = {"cert_id": cert_id, "amount": hold["amount"], "mode": "online",
                  "hold_id": hold["hold_id"], "remaining": hold["remaining"]}
        txn = self.till.sale_of(customer, lines, self.at, mode="online", txn_id=txn_id,
                                certificates={"tenders": [tender]})
        assert txn["result"]["totals"]["paid"] == due  # the tender is no discount
        self.upload(txn)
        return txn, hold


@pytest.fixture
def year(ledger: Ledger, client: ASGIClient, clock: FakeClock) -> Year:
    on(clock, 1, 1)
    version, _ = ledger.import_bundle(json.dumps(BUNDLE))
    till, other = (YearTill(t, "KY-001", ledger.add_till("KY-001", t), version)
                   for t in ("KY-001-01", "KY-001-02"))
    return Year(ledger, client, clock, till, other)


def test_a_customers_year(year: Year, clock: FakeClock) -> None:
    led, client, till = year.led, year.client, year.till
    assert client.get(f"/v1/customers/{CARD}", headers=till.headers).status_code == 404

    # January: a new card from the box at a till that cannot reach head office. The till
    # enrols it under the account it derives from the card, sells with the welcome bonus
    on(clock, 1, 10)
    newcomer = {"card": CARD, "account": ACCOUNT, "tier": None, "first_purchase": True,
                "available_points": 0}
    enrol = till.enrol(CARD, year.at)
    first = till.sale_of(newcomer, items((MILK, 2), (BREAD, 1)), year.at)
    assert first["result"]["bonus"]["welcome"] == WELCOME
    # the next day, still offline, the next till does not know the card either: it
    # enrols it too (the same account, derived from the card) and gives a welcome again
    on(clock, 1, 11)
    other = year.other
    enrol2 = other.enrol(CARD, year.at)
    again = other.sale_of(newcomer, items((ICE, 2), (CHEESE, 1)), year.at)
    assert again["result"]["bonus"]["welcome"] == WELCOME
    # the link is back: each till's enrol TXN goes first; the ledger creates the account
    # the first till named and confirms it for the second; one welcome per card
    on(clock, 1, 12)
    answers = year.upload(enrol, first)
    assert (answers[0]["enrolment"], answers[0]["account"]) == ("created", ACCOUNT)
    answers = year.upload(enrol2, again, till=other)
    assert (answers[0]["enrolment"], answers[0]["account"]) == ("confirmed", ACCOUNT)
    assert answers[1]["corrected"] == {"welcome": WELCOME}
    assert year.customer()["first_purchase"] is False
    assert year.tier() == "base"
    jan = first["result"]["totals"]["points"] + again["result"]["totals"]["points"] - WELCOME
    year.settled(balance=jan, pending=jan)  # waiting out the return window
    on(clock, 1, 25)  # 14 days after the second visit: the ledger counts from receipt
    year.settled(balance=jan, pending=jan)
    on(clock, 1, 26)  # 14 days after the ledger received them: spendable, without any job
    year.settled(balance=jan, pending=0)

    # February: a sale that crosses 1000.00 ₽ of net sales: silver at once
    on(clock, 2, 1)
    second = year.sale((COFFEE, 3))
    assert second["basket"]["customer"]["tier"] is None  # the default: before the crossing
    assert second["result"]["bonus"]["welcome"] == 0  # the ledger's profile says so
    p2 = second["result"]["totals"]["points"]
    assert year.tier() == "silver"
    page = year.settled(balance=jan + p2, pending=p2)
    paid = [t["result"]["totals"]["paid"] for t in (first, again, second)]
    assert [(t["tier"], t["reason"], t["spend"]) for t in page["tiers"]] == [
        ("silver", "upgrade", sum(paid))]

    # ... and is returned within the window: its own pending points go, the tier stays
    on(clock, 2, 5)
    year.upload(till.return_of(second, [(0, "3")], year.at))
    year.settled(balance=jan, pending=0)
    assert year.tier() == "silver"

    # the customer chooses a favourite category in the app; the next token carries it
    on(clock, 2, 10)
    chosen = year.favourite("dairy")
    assert chosen.status_code == 200, chosen.text
    assert year.token()["fav"] == {"cat": "dairy"}
    on(clock, 2, 20)  # a change of mind too soon is refused with its reason
    too_soon = year.favourite("bakery")
    assert too_soon.status_code == 409 and too_soon.json()["error"] == "favourite_too_soon"
    assert too_soon.json()["next_change_at"].startswith("2026-03-12T09:00:00")
    assert year.token()["fav"] == {"cat": "dairy"}

    # March: a silver customer whose favourite is dairy buys dairy
    on(clock, 3, 1)
    third = year.sale((MILK, 2), (CHEESE, 1), (BREAD, 1))
    assert {k: third["basket"]["customer"][k] for k in ("tier", "favorite_category")} == {
        "tier": "silver", "favorite_category": "dairy"}
    p3 = third["result"]["totals"]["points"]
    plain = {**third["basket"], "customer": {**third["basket"]["customer"],
                                             "favorite_category": None}}
    assert price(plain)["totals"]["points"] < p3  # the favourite multiplies the dairy lines
    on(clock, 3, 12)  # 30 days after the first choice: the change is accepted
    changed = year.favourite("bakery")
    assert changed.status_code == 200, changed.text
    assert [h["category"] for h in changed.json()["history"]] == ["dairy", "bakery"]
    assert year.token()["fav"] == {"cat": "bakery"}
    assert [f["category"] for f in year.page()["favourite"]] == ["dairy", "bakery"]

    # an online redemption of the January points with a hold: the oldest lot goes first
    on(clock, 3, 20)  # the 1 March points are spendable (since 15 March)
    year.settled(balance=jan + p3, pending=0)
    redeeming = year.redeem(jan, (CHEESE, 1))
    assert redeeming["result"]["totals"]["redeemed_points"] == jan
    e4 = redeeming["result"]["totals"]["points"]
    assert journal(led, ACCOUNT)[-2:] == [("accrual", e4), ("redemption", -jan)]
    year.settled(balance=p3 + e4, pending=e4)
    lots = {lot["lot_id"]: lot["remaining"] for lot in year.page()["lots"]}
    assert not {f"{t['txn_id']}:accrual" for t in (first, again)} & set(lots)  # spent
    assert lots[f"{third['txn_id']}:accrual"] == p3

    # a review before the tier has been held 60 days keeps it
    on(clock, 3, 31)
    assert led.review_tiers()["lowered"] == []
    assert year.tier() == "silver"

    # April: a gift certificate bought with a loaf; activated when the sale is uploaded
    on(clock, 4, 5)
    cert_id = uuid.uuid4().hex
    year.certs.append(cert_id)
    bought = year.sale((GC_ONLINE, 1), (BREAD, 1), certificates={
        "sold": [{"cert_id": cert_id, "sku": GC_ONLINE, "face": FACE}]})
    found = led.certificates.show(cert_id)
    assert (found["state"], found["balance"], found["face"]) == ("active", FACE, FACE)
    assert [(e["kind"], e["amount"]) for e in found["entries"]] == [("issue", FACE)]
    pa = bought["result"]["totals"]["points"]
    year.settled(balance=p3 + e4 + pa, pending=pa)

    # ... spent in two goes: first a sale it pays in full, the rest left on it
    on(clock, 4, 12)
    go1, hold1 = year.pay_with_certificate(cert_id, (CHEESE, 1))
    due1 = go1["result"]["totals"]["paid"]
    assert (hold1["amount"], hold1["remaining"]) == (due1, FACE - due1)
    found = led.certificates.show(cert_id)
    assert found["balance"] == FACE - due1 == sum(e["amount"] for e in found["entries"])
    pb = go1["result"]["totals"]["points"]
    year.settled(balance=p3 + e4 + pa + pb, pending=pa + pb)  # 5 April: pending still

    # ... then a bigger sale takes what is left; the rest in cash
    on(clock, 5, 3)
    go2, hold2 = year.pay_with_certificate(cert_id, (COFFEE, 1))
    assert go2["result"]["totals"]["paid"] > FACE - due1
    assert (hold2["amount"], hold2["remaining"]) == (FACE - due1, 0)
    found = led.certificates.show(cert_id)
    assert found["balance"] == 0
    assert [(e["kind"], e["amount"], e["shortfall"]) for e in found["entries"]] == [
        ("issue", FACE, 0), ("redeem", -due1, 0), ("redeem", due1 - FACE, 0)]
    pc = go2["result"]["totals"]["points"]
    year.settled(balance=p3 + e4 + pa + pb + pc, pending=pc)
    spent = client.post(f"/v1/certificates/{cert_id}/holds", headers=till.headers,
                        json={"till": till.till, "txn_id": str(uuid.uuid4()), "amount": 1})
    assert spent.status_code == 409 and spent.json()["error"] == "certificate_spent"

    # June: the review. Net sales since 3 March (90 days) are below 1000.00 ₽: base again
    on(clock, 6, 1)
    spend = sum(t["result"]["totals"]["paid"] for t in (redeeming, go1, go2)) + (
        bought["result"]["totals"]["paid"] - FACE)
    assert spend < 100000
    assert led.review_tiers()["lowered"] == [{"account": ACCOUNT, "from": "silver",
                                              "to": "base", "spend": spend}]
    assert year.tier() == "base"
    rest = pa + pb + pc
    year.settled(balance=p3 + e4 + rest, pending=0)

    # August to December: the lots expire 180 days after they were earned, oldest
    # first, once however often the job runs
    on(clock, 8, 29)  # 1 March + 180 days = 28 August
    assert led.expire_points()["expired"] == [{"account": ACCOUNT, "points": p3}]
    assert led.expire_points()["points"] == 0
    year.settled(balance=e4 + rest, pending=0)
    assert year.page()["expiring"]["points"] == e4  # the 20 March lot, due 16 September
    on(clock, 9, 16)
    assert led.expire_points()["expired"] == [{"account": ACCOUNT, "points": e4}]
    year.settled(balance=rest, pending=0)
    on(clock, 12, 31)  # the April and May lots, due in October
    assert led.expire_points()["expired"] == [{"account": ACCOUNT, "points": rest}]
    page = year.settled(balance=0, pending=0)
    assert page["lots"] == []

    # December: the year's journal adds up entry by entry
    kinds: dict[str, int] = {}
    for kind, points in journal(led, ACCOUNT):
        kinds[kind] = kinds.get(kind, 0) + points
    assert kinds == {"accrual": jan + WELCOME + p2 + p3 + e4 + rest,
                     "audit_correction": -WELCOME, "return_reversal": -p2,
                     "redemption": -jan, "expiry": -p3 - e4 - rest}
    assert year.tier() == "base"
    assert year.token()["fav"] == {"cat": "bakery"}
