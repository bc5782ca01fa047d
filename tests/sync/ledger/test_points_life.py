"""The points lifecycle (issue 12 item 2): pending, spendable, redeemed and expired lots.

Both backends, through the HTTP app, with the ledger's clock moved by hand.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from sync.ledger import Ledger

from .conftest import FakeClock
from .credentials import office_headers
from .helpers import CARD_A, MEMBERS_CSV, ASGIClient, TillSim
from .life import POINTS, bundle_text, claims, journal, lots, upload


@pytest.fixture
def led(ledger: Ledger, clock: FakeClock) -> Ledger:
    ledger.customer_refresh_s = 0
    ledger.import_bundle(bundle_text(hold_days=14, expiry_days=365, customer_cache="all"))
    ledger.import_members(MEMBERS_CSV)  # 500 opening points (available at once)
    clock.advance(hours=1)  # the sales come after the opening balances (08:00 UTC)
    return ledger


@pytest.fixture
def ky1(led: Ledger) -> TillSim:
    return TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))


def hold(client: ASGIClient, till: TillSim, points: int, txn_id: str | None = None) -> Any:
    return client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "A-77", "points": points,
        "txn_id": txn_id or str(uuid.uuid4())})


def statement(client: ASGIClient, led: Ledger) -> dict[str, Any]:
    resp = client.get("/v1/ledger/accounts/A-77/statement",
                      headers=office_headers(led, "hq-" + uuid.uuid4().hex[:8]))
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_an_accrual_is_pending_for_hold_days_and_then_spendable(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    upload(client, ky1, ky1.sale("A-77"))
    assert led.balance("A-77") == 500 + POINTS  # the balance is the journal's
    assert led.available("A-77") == 500  # what a till may spend is not
    page = statement(client, led)
    assert (page["balance"], page["pending"], page["available"]) == (565, POINTS, 500)
    assert [(lot["remaining"], lot["pending_until"]) for lot in page["lots"]] == [
        (500, None), (POINTS, "2026-12-06T08:00:00.000000Z")]
    clock.advance(days=13, hours=23, minutes=59)
    assert led.available("A-77") == 500
    clock.advance(minutes=1)
    assert led.available("A-77") == 565
    assert statement(client, led)["pending"] == 0
    assert led.check() == []


def test_a_hold_cannot_reserve_pending_points_and_says_when_they_become_available(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    upload(client, ky1, ky1.sale("A-77"))
    refused = hold(client, ky1, 501)
    assert refused.status_code == 409
    body = refused.json()
    assert (body["error"], body["available"], body["pending"]) == ("insufficient_balance", 500,
                                                                    POINTS)
    assert body["available_from"] == "2026-12-06T08:00:00.000000Z"
    assert "pending" in body["detail"] and body["field"] == "points"
    assert hold(client, ky1, 566).json().get("pending") is None  # beyond pending: plain refusal
    assert hold(client, ky1, 500).status_code == 201
    clock.advance(days=14)
    assert hold(client, ky1, POINTS).status_code == 201


def test_the_token_bal_and_the_customer_cache_carry_only_spendable_points(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    first = client.get("/v1/bundle?since=0&customers=", headers=ky1.headers).json()["customers"]
    upload(client, ky1, ky1.sale("A-77"))
    assert claims(led.issue_token(CARD_A))["bal"] == 500
    part = client.get(f"/v1/bundle?since=1&customers={first['cursor']}",
                      headers=ky1.headers).json()["customers"]
    entries = {row[0]: dict(zip(part["fields"], row, strict=False)) for row in part["upsert"]}
    assert entries[CARD_A]["balance"] == 500
    clock.advance(days=14)  # no journal entry: the refresh sees the lot mature
    assert claims(led.issue_token(CARD_A))["bal"] == 565
    later = client.get(f"/v1/bundle?since=1&customers={part['cursor']}",
                       headers=ky1.headers).json()["customers"]
    entries = {row[0]: dict(zip(later["fields"], row, strict=False)) for row in later["upsert"]}
    assert entries[CARD_A]["balance"] == 565


def test_a_return_inside_the_window_reverses_the_pending_points_first(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    sale = ky1.sale("A-77")
    upload(client, ky1, sale)
    clock.advance(days=3)
    upload(client, ky1, ky1.ret(sale, [(0, "2"), (1, "3"), (2, "1")]))
    assert led.balance("A-77") == 500
    assert led.available("A-77") == 500  # the opening lot untouched
    assert [r for _, _, r in lots(led, "A-77")] == [500, 0]
    assert led.check() == []


def test_a_return_of_spent_points_takes_other_pending_points_then_leaves_a_debt(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    first = ky1.sale("A-77")
    upload(client, ky1, first)
    clock.advance(days=15)
    assert led.adjust("A-77", -565, note="spent everywhere")  # every available lot
    upload(client, ky1, ky1.sale("A-77"))  # a second accrual, pending
    clock.advance(days=1)
    upload(client, ky1, ky1.ret(first, [(0, "2"), (1, "3"), (2, "1")]))
    assert led.balance("A-77") == 0
    assert [r for _, _, r in lots(led, "A-77")] == [0, 0, 0]  # the pending lot paid for it
    assert led.adjust("A-77", -200, note="overdraft")
    assert led.balance("A-77") == -200
    assert [lot for lot in lots(led, "A-77") if lot[0] == "debt"][0][2] == -200
    assert led.adjust("A-77", 300, note="goodwill")  # pays the debt first
    assert [lot for lot in lots(led, "A-77") if lot[0] == "debt"][0][2] == 0
    assert led.available("A-77") == 100 and led.check() == []


def test_a_redemption_takes_the_oldest_available_points_first(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    clock.advance(days=1)
    assert led.adjust("A-77", 200, note="goodwill")
    upload(client, ky1, ky1.sale("A-77"))  # pending: never taken before the available lots
    sale = ky1.sale("A-77", redeem=100, available=700)
    placed = hold(client, ky1, 100, txn_id=sale["txn_id"]).json()
    ky1.seq -= 1
    upload(client, ky1, ky1.sale("A-77", redeem=100, available=700, hold_id=placed["hold_id"],
                                 mode="online"))
    left = {lot_id.split(":")[0]: remaining for lot_id, _, remaining in lots(led, "A-77")}
    assert (left["opening"], left["adjustment"]) == (400, 200)
    assert led.check() == []


def test_expiry_removes_the_oldest_unspent_points_with_exact_figures_and_only_once(
        led: Ledger, clock: FakeClock) -> None:
    led.import_bundle(bundle_text(hold_days=0, expiry_days=30))
    clock.advance(days=10)
    assert led.adjust("A-77", 100, note="day 10")
    clock.advance(days=10)
    assert led.adjust("A-77", 200, note="day 20")
    clock.advance(days=5)
    assert led.adjust("A-77", -550, note="spent on day 25")  # 500 (day 0) + 50 (day 10)
    assert [r for _, _, r in lots(led, "A-77")] == [0, 50, 200]
    clock.advance(days=10)  # day 35: the day-10 lot has 5 days left, B-01's opening is due
    assert led.expire_points()["expired"] == [{"account": "B-01", "points": 40}]
    clock.advance(days=5)  # day 40
    done = led.expire_points()
    assert (done["points"], done["expired"]) == (50, [{"account": "A-77", "points": 50}])
    assert led.expire_points()["points"] == 0  # idempotent
    assert journal(led, "A-77", "expiry") == [("expiry", -50)]
    assert led.balance("A-77") == 200 and led.check() == []
    clock.advance(days=10)  # day 50
    assert led.expire_points()["points"] == 200
    assert journal(led, "A-77", "expiry") == [("expiry", -50), ("expiry", -200)]
    assert led.balance("A-77") == 0 and led.check() == []


def test_an_expiry_run_as_of_an_earlier_date_expires_only_what_was_due_then(
        led: Ledger, clock: FakeClock) -> None:
    led.import_bundle(bundle_text(expiry_days=30))
    clock.advance(days=20)
    assert led.adjust("A-77", 100)
    clock.advance(days=40)  # day 60: both lots are due, only the first was on day 40
    assert led.expire_points(at="2027-01-01")["expired"] == [
        {"account": "A-77", "points": 500}, {"account": "B-01", "points": 40}]
    assert led.expire_points()["points"] == 100
    assert led.balance("A-77") == 0 and led.check() == []


def test_the_statement_shows_pending_expiring_and_expired_points(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    led.import_bundle(bundle_text(hold_days=14, expiry_days=40, customer_cache="all"))
    upload(client, ky1, ky1.sale("A-77"))
    page = statement(client, led)
    assert page["expiring"] == {"points": 0, "by": "2026-12-22"}
    clock.advance(days=15)
    page = statement(client, led)
    assert page["expiring"]["points"] == 565  # both lots within 30 days of their 40
    assert [lot["expires_at"][:10] for lot in page["lots"]] == ["2027-01-01", "2027-01-01"]
    clock.advance(days=30)
    led.expire_points()
    page = statement(client, led)
    assert [(e["kind"], e["points"]) for e in page["entries"]][-2:] == [
        ("expiry", -500), ("expiry", -POINTS)]
    assert page["balance"] == 0 and page["lots"] == []


def test_check_finds_lots_that_do_not_add_up_to_the_balance(led: Ledger) -> None:
    assert led.check() == []
    with led.storage.transaction() as tx:
        tx.execute("UPDATE point_lots SET remaining = remaining - 1 WHERE account = 'A-77'")
    (bad,) = led.check()
    assert (bad.account, bad.balance, bad.journal, bad.source) == ("A-77", 500, 499, "lots")


def test_a_batch_of_plain_accruals_pays_a_debt_first(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    assert led.adjust("A-77", -600)
    upload(client, ky1, ky1.sale("A-77"), ky1.sale("A-77"), ky1.sale("B-01"))
    assert led.balance("A-77") == -100 + 2 * POINTS
    assert [lot for lot in lots(led, "A-77") if lot[0] == "debt"][0][2] == 0
    assert led.available("A-77") == 0  # the rest (30) is pending
    assert [lot[1:] for lot in lots(led, "B-01") if lot[0].endswith(":accrual")] == [
        (POINTS, POINTS)]
    assert led.check() == []


def test_the_loyalty_report_splits_the_liability_into_available_and_pending_and_shows_expiry(
        led: Ledger, client: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    from sync.ledger._reports import Ask, gather, render
    from sync.ledger._rollup import refresh

    led.import_bundle(bundle_text(hold_days=14, expiry_days=20))
    upload(client, ky1, ky1.sale("A-77"))
    ask = Ask("2026-11-22", "2026-11-22")
    refresh(led.storage, clock(), margin_s=0)
    rep = gather(led.storage, clock(), ask, "loyalty").loyalty
    assert rep is not None and rep.outstanding == {"available": 540, "pending": POINTS,
                                                   "expired": 0}
    clock.advance(days=20, minutes=-30)  # the opening lots (07:00) are 20 days old, the sale's not
    assert led.expire_points()["points"] == 540
    refresh(led.storage, clock(), margin_s=0)
    rep = gather(led.storage, clock(), Ask("2026-11-22", "2026-12-12"), "loyalty").loyalty
    assert rep is not None and rep.outstanding == {"available": POINTS, "pending": 0,
                                                   "expired": 540}
    assert [(r["day"], r["expired"]) for r in rep.liability if r["expired"]] == [
        ("2026-12-12", 540)]
    assert rep.liability[-1]["outstanding"] == POINTS
    text = render(gather(led.storage, clock(), Ask("2026-12-12", "2026-12-12"), "loyalty"),
                  "loyalty", "csv")
    assert "available,pending,expired" in text and f"{POINTS},0,540" in text
    stores = gather(led.storage, clock(), Ask("2026-12-12", "2026-12-12", ("KY-001",)),
                    "loyalty").loyalty
    assert stores is not None and stores.outstanding is None  # pending is not a store's


def test_the_expiry_job_first_pays_a_debt_that_a_racing_batch_left_beside_a_lot(
        led: Ledger, clock: FakeClock) -> None:
    led.import_bundle(bundle_text(expiry_days=30))
    assert led.adjust("A-77", -600)  # -100: a debt
    with led.storage.transaction() as tx:  # what a batch that read "no debt" just before writes
        tx.execute("INSERT INTO point_lots (account, lot_id, earned_at, points, remaining, "
                   "pending, txn_id) VALUES ('A-77', 'x:accrual', ?, 150, 150, 1, 'x')",
                   (led.now_text(),))
        tx.execute("UPDATE accounts SET points = points + 150 WHERE account = 'A-77'")
        tx.execute("INSERT INTO journal (account, entry_id, kind, points, txn_id, at) VALUES "
                   "('A-77', 'x:accrual', 'accrual', 150, 'x', ?)", (led.now_text(),))
    assert led.check() == []
    clock.advance(days=31)
    assert {"account": "A-77", "points": 50} in led.expire_points()["expired"]
    assert led.balance("A-77") == 0 and led.check() == []


def test_an_online_sale_cannot_redeem_pending_points_without_a_hold(
        led: Ledger, client: ASGIClient, ky1: TillSim) -> None:
    assert led.adjust("A-77", -500)  # nothing available; the sale below brings 65 pending
    upload(client, ky1, ky1.sale("A-77"))
    resp = client.post("/v1/transactions", headers=ky1.headers, json=ky1.body(
        [ky1.sale("A-77", redeem=POINTS, available=POINTS, mode="online")]))
    (result,) = resp.json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "overdraft")
    assert result["field"] == "result.totals.redeemed_points"
    assert led.balance("A-77") == POINTS and led.check() == []
