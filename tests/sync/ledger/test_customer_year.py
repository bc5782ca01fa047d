"""A customer's year at the ledger, end to end, with the ledger's clock injected.

One account earns over a simulated year: points pending → spendable →
redeemed → expiring, the tier reaching silver on the sale that crosses and
dropping back at a review. After every step each figure is checked against
the journal (balance = journal sum = lots sum; balance = pending +
available + held). Both backends.

Hooks for the steps other helpers add later are marked ``HOOK``.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from sync.ledger import Ledger

from .conftest import FakeClock
from .credentials import office_headers
from .helpers import ASGIClient, TillSim
from .life import PAID, POINTS, bundle_text, claims, journal, upload

CARD = "2900000123489"
RULES = {"window_days": 90, "review_days": 60,
         "thresholds": [{"tier": "silver", "spend": 100000}, {"tier": "gold", "spend": 500000}]}


def on(clock: FakeClock, month: int, day: int) -> None:
    clock.now = datetime(2026, month, day, 9, 0, tzinfo=timezone.utc)


class Year:
    """The account ``Y-01`` seen through the ledger's own answers."""

    def __init__(self, led: Ledger, client: ASGIClient, till: TillSim) -> None:
        self.led, self.client, self.till = led, client, till
        self.office = office_headers(led, "year")

    def page(self) -> dict[str, Any]:
        resp = self.client.get("/v1/ledger/accounts/Y-01/statement?limit=500",
                               headers=self.office)
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def settled(self, balance: int, pending: int) -> dict[str, Any]:
        """Every figure of the account agrees with its journal; returns the statement."""
        assert self.led.check() == []
        page = self.page()
        assert page["balance"] == balance == sum(p for _, p in journal(self.led, "Y-01"))
        assert page["balance"] == sum(e["points"] for e in page["entries"])
        assert page["pending"] == pending
        assert page["available"] == balance - pending - page["held"]
        assert self.led.available("Y-01") == page["available"]
        assert claims(self.led.issue_token(CARD))["bal"] == max(0, page["available"])
        return page

    def tier(self) -> str:
        tier: str = claims(self.led.issue_token(CARD))["tier"]
        assert self.page()["tier"] == tier
        return tier

    def sale(self, **kw: Any) -> dict[str, Any]:
        txn = self.till.sale("Y-01", **kw)
        upload(self.client, self.till, txn)
        return txn

    def redeem(self, points: int) -> dict[str, Any]:
        """An online sale redeeming ``points`` with a hold, as a till does it."""
        txn_id = str(uuid.uuid4())
        held = self.client.post("/v1/holds", headers=self.till.headers, json={
            "till": self.till.till, "account": "Y-01", "points": points, "txn_id": txn_id})
        assert held.status_code == 201, held.text
        return self.sale(redeem=points, available=points, hold_id=held.json()["hold_id"],
                         mode="online")


@pytest.fixture
def year(ledger: Ledger, client: ASGIClient, clock: FakeClock) -> Year:
    on(clock, 1, 1)
    ledger.import_bundle(bundle_text(hold_days=14, expiry_days=180, tier_rules=RULES))
    # HOOK (enrolment, migration 13): the customer enrols in the app here instead
    # of arriving with a members file; the same account and card follow.
    ledger.import_members("card,account,tier,segments,offers,birthday,favorite_category,"
                          f"favorite_until,opening_balance\n{CARD},Y-01,base,,,,,,0\n")
    return Year(ledger, client, TillSim("KY-001-01", "KY-001",
                                        ledger.add_till("KY-001", "KY-001-01")))


def test_a_customers_year(year: Year, clock: FakeClock) -> None:
    led = year.led
    assert year.tier() == "base"

    # January: the first purchase; its points wait out the return window
    on(clock, 1, 10)
    first = year.sale()
    year.settled(balance=POINTS, pending=POINTS)
    on(clock, 1, 24)  # 14 days later: spendable, without any job
    year.settled(balance=POINTS, pending=0)

    # February: the second purchase crosses 1000.00 ₽ of net sales: silver at once
    on(clock, 2, 1)
    second = year.sale()
    assert year.tier() == "silver"
    page = year.settled(balance=2 * POINTS, pending=POINTS)
    assert [(t["tier"], t["reason"], t["spend"]) for t in page["tiers"]] == [
        ("silver", "upgrade", 2 * PAID)]

    # ... and is returned within the window: its own pending points go, the tier stays
    on(clock, 2, 5)
    upload(year.client, year.till, year.till.ret(second, [(0, "2"), (1, "3"), (2, "1")]))
    year.settled(balance=POINTS, pending=0)
    assert year.tier() == "silver"

    # March: a third purchase, then an online redemption of 65 points with a hold
    on(clock, 3, 1)
    year.sale()
    on(clock, 3, 20)  # the March points are spendable (since 15 March)
    year.settled(balance=2 * POINTS, pending=0)
    redeeming = year.redeem(POINTS)
    earned = redeeming["result"]["totals"]["points"]
    assert journal(led, "Y-01")[-2:] == [("accrual", earned), ("redemption", -POINTS)]
    year.settled(balance=POINTS + earned, pending=earned)
    lots = {lot["lot_id"]: lot["remaining"] for lot in year.page()["lots"]}
    assert f"{first['txn_id']}:accrual" not in lots  # the oldest (January) lot was spent

    # HOOK (gift certificates, migration 12): a certificate bought and redeemed
    # here moves money, not points; its figures join the checks above.

    # a review before the tier has been held 60 days keeps it
    on(clock, 3, 31)
    assert led.review_tiers()["lowered"] == []
    assert year.tier() == "silver"

    # June: the review. Net sales since 3 March (90 days) are the redeeming sale's alone
    on(clock, 6, 1)
    done = led.review_tiers()
    spend = redeeming["result"]["totals"]["paid"]
    assert done["lowered"] == [{"account": "Y-01", "from": "silver", "to": "base",
                                "spend": spend}]
    assert year.tier() == "base"
    year.settled(balance=POINTS + earned, pending=0)

    # August/September: the March lots expire 180 days after they were earned,
    # oldest first, once however often the job runs
    on(clock, 8, 29)  # 1 March + 180 days = 28 August
    assert led.expire_points()["expired"] == [{"account": "Y-01", "points": POINTS}]
    assert led.expire_points()["points"] == 0
    year.settled(balance=earned, pending=0)
    page = year.page()
    assert page["expiring"]["points"] == earned  # the 20 March lot, due 16 September
    on(clock, 9, 16)
    assert led.expire_points()["expired"] == [{"account": "Y-01", "points": earned}]
    page = year.settled(balance=0, pending=0)
    assert [p for k, p in journal(led, "Y-01", "expiry")] == [-POINTS, -earned]
    assert page["lots"] == []

    # December: the year's journal adds up entry by entry
    on(clock, 12, 31)
    kinds: dict[str, int] = {}
    for kind, points in journal(led, "Y-01"):
        kinds[kind] = kinds.get(kind, 0) + points
    assert kinds == {"accrual": 3 * POINTS + earned, "return_reversal": -POINTS,
                     "redemption": -POINTS, "expiry": -POINTS - earned}
    assert year.tier() == "base"
    year.settled(balance=0, pending=0)
