"""Tiers computed from the rolling spend (issue 12 item 1), both backends.

Through the HTTP app with the ledger's clock moved by hand; the review job
through ``Ledger.review_tiers`` (its command line is in test_programme_cli).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sync.ledger import Ledger, make_app

from .conftest import FakeClock
from .credentials import office_headers
from .helpers import CARD_A, CARD_C, MEMBERS_CSV, ASGIClient, TillSim
from .life import PAID, TIER_RULES, bundle_text, claims, upload


@pytest.fixture(params=[False, True], ids=["batch", "per-sale"])
def led(request: pytest.FixtureRequest, db_url: str, clock: FakeClock) -> Iterator[Ledger]:
    """A ledger with tier rules: silver from 1000.00 ₽ of net sales, gold from 2000.00 ₽."""
    ledger = Ledger(db_url, clock=clock, per_sale_commit=request.param)
    ledger.customer_refresh_s = 0
    ledger.import_bundle(bundle_text(tier_rules=TIER_RULES, customer_cache="all"))
    ledger.import_members(MEMBERS_CSV)  # B-01 (card C) is base; A-77 silver from the file
    yield ledger
    ledger.close()


@pytest.fixture
def api(led: Ledger) -> ASGIClient:
    return ASGIClient(make_app(led))


@pytest.fixture
def ky1(led: Ledger) -> TillSim:
    return TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))


def tier_of(led: Ledger, card: str = CARD_C) -> str:
    tier: str = claims(led.issue_token(card))["tier"]
    return tier


def changes(led: Ledger, account: str = "B-01") -> list[tuple[str, str | None, str, int]]:
    with led.storage.transaction() as tx:
        rows = tx.all("SELECT tier, previous, reason, spend FROM tier_changes WHERE account = ? "
                      "ORDER BY changed_at, reason, spend", (account,))
    return [(str(r[0]), r[1], str(r[2]), int(r[3])) for r in rows]


def cache_entry(api: ASGIClient, till: TillSim, card: str = CARD_C) -> dict[str, Any]:
    part = api.get("/v1/bundle?since=0&customers=", headers=till.headers).json()["customers"]
    rows = {row[0]: dict(zip(part["fields"], row, strict=False)) for row in part["upsert"]}
    return rows[card]


def test_the_sale_that_crosses_a_threshold_raises_the_tier_in_its_own_transaction(
        led: Ledger, api: ASGIClient, ky1: TillSim) -> None:
    upload(api, ky1, ky1.sale("B-01"))
    assert tier_of(led) == "base" and changes(led) == []
    second = ky1.sale("B-01")
    upload(api, ky1, second)  # 2 × 522.53 ₽ ≥ 1000.00 ₽
    assert changes(led) == [("silver", "base", "upgrade", 2 * PAID)]
    assert tier_of(led) == "silver"
    assert cache_entry(api, ky1)["tier"] == "silver"
    with led.storage.transaction() as tx:
        row = tx.one("SELECT change_id FROM tier_changes WHERE account = 'B-01'")
    assert row is not None and row[0] == f"sale:{second['txn_id']}"


def test_one_batch_can_climb_two_tiers_and_the_statement_shows_each_change(
        led: Ledger, api: ASGIClient, ky1: TillSim) -> None:
    upload(api, ky1, *[ky1.sale("B-01") for _ in range(4)])  # 2090.12 ₽
    assert tier_of(led) == "gold"
    assert changes(led) == [("silver", "base", "upgrade", 2 * PAID),
                            ("gold", "silver", "upgrade", 4 * PAID)]
    page = api.get("/v1/ledger/cards/" + CARD_C + "/statement",
                   headers=office_headers(led)).json()
    assert page["tier"] == "gold"
    assert [(t["tier"], t["previous"], t["spend"]) for t in page["tiers"]] == [
        ("silver", "base", 2 * PAID), ("gold", "silver", 4 * PAID)]


def silver_then_a_return(api: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    """Two sales (silver), and the next day the first returned whole (spend: one sale)."""
    first = ky1.sale("B-01")
    upload(api, ky1, first, ky1.sale("B-01"))
    clock.advance(days=1)
    upload(api, ky1, ky1.ret(first, [(0, "2"), (1, "3"), (2, "1")]))


def test_a_return_lowers_the_spend_but_never_the_tier_before_the_review(
        led: Ledger, api: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    silver_then_a_return(api, ky1, clock)
    assert tier_of(led) == "silver"
    clock.advance(days=60)  # mid-period: the tier is held for 90 days
    assert led.review_tiers()["lowered"] == []
    assert tier_of(led) == "silver"


def test_the_review_lowers_a_tier_whose_spend_fell_below_its_threshold(
        led: Ledger, api: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    silver_then_a_return(api, ky1, clock)
    clock.advance(days=90)
    done = led.review_tiers()
    assert done["lowered"] == [{"account": "B-01", "from": "silver", "to": "base",
                                "spend": PAID}]
    assert changes(led)[-1] == ("base", "silver", "review", PAID)
    assert tier_of(led) == "base"
    assert cache_entry(api, ky1)["tier"] == "base"
    assert led.review_tiers()["lowered"] == []  # a second run lowers nothing more


def test_the_review_keeps_a_tier_whose_spend_still_reaches_it_and_drops_two_at_once(
        led: Ledger, api: ASGIClient, ky1: TillSim, clock: FakeClock) -> None:
    upload(api, ky1, *[ky1.sale("B-01") for _ in range(4)])  # gold
    clock.advance(days=100)
    assert led.review_tiers()["lowered"] == []  # 2090.12 ₽ within 365 days
    clock.advance(days=300)  # the window has passed over every sale
    assert led.review_tiers()["lowered"][0]["to"] == "base"


def test_the_review_adopts_an_imported_tier_and_reviews_it_one_period_later(
        led: Ledger, clock: FakeClock) -> None:
    assert tier_of(led, CARD_A) == "silver"  # from the members file, no spend
    assert led.review_tiers()["adopted"] == 1
    assert tier_of(led, CARD_A) == "silver"
    clock.advance(days=89)
    assert led.review_tiers()["lowered"] == []
    clock.advance(days=1)
    assert led.review_tiers()["lowered"] == [{"account": "A-77", "from": "silver",
                                              "to": "base", "spend": 0}]
    assert tier_of(led, CARD_A) == "base"


def test_the_points_balance_plays_no_part_in_the_tier(
        led: Ledger, clock: FakeClock) -> None:
    assert led.adjust("B-01", 10**9, note="a huge goodwill")
    clock.advance(days=1)
    led.review_tiers()
    assert tier_of(led) == "base" and changes(led) == []


def test_without_tier_rules_nothing_is_computed(
        led: Ledger, api: ASGIClient, ky1: TillSim) -> None:
    led.import_bundle(bundle_text(customer_cache="all"))
    upload(api, ky1, *[ky1.sale("B-01") for _ in range(4)])
    assert tier_of(led) == "base"
    assert led.review_tiers() == {"at": led.now_text(), "reviewed": 0, "lowered": [],
                                  "tier_rules": False}


def test_a_members_file_imported_again_does_not_undo_a_computed_tier(
        led: Ledger, api: ASGIClient, ky1: TillSim) -> None:
    upload(api, ky1, ky1.sale("B-01"), ky1.sale("B-01"))
    assert tier_of(led) == "silver"
    led.import_members(MEMBERS_CSV)  # still says base for card C
    assert tier_of(led) == "silver"
    assert cache_entry(api, ky1)["tier"] == "silver"


def test_migration_11_gives_every_existing_balance_a_lot(db_url: str, clock: FakeClock) -> None:
    with Ledger(db_url, clock=clock) as led:
        led.import_members(MEMBERS_CSV)
        assert led.adjust("B-01", -100)  # -60: a debt
        with led.storage.transaction() as tx:  # the ledger as it was before migration 11
            for table in ("point_lots", "spend", "tier_changes"):
                tx.execute(f"DROP TABLE {table}")
            tx.execute("ALTER TABLE accounts DROP COLUMN tier_since")
            tx.execute("ALTER TABLE accounts DROP COLUMN tier")
            tx.execute("DELETE FROM schema_migrations WHERE version = '11'")
    with Ledger(db_url, clock=clock) as led:
        with led.storage.transaction() as tx:
            rows = tx.all("SELECT account, lot_id, remaining, pending FROM point_lots "
                          "ORDER BY account")
        assert [tuple(r) for r in rows] == [("A-77", "opening:11", 500, 0),
                                            ("B-01", "debt", -60, 0)]
        assert led.check() == []
        assert led.adjust("B-01", 100)  # pays the debt first
        assert led.available("B-01") == 40 and led.check() == []
