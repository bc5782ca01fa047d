"""Head-office reports over a period and scope: figures equal the transactions' own sums."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import ledger as ledger_group
from sync.ledger.cli import report as report_group
from sync.ledger._reports import Ask, gather, render
from sync.ledger._rollup import load, refresh, scan
from sync.ledger._errors import ScopeError
from sync.ledger._scope import scope

from .conftest import FakeClock
from .helpers import MEMBERS_CSV, ASGIClient, TillSim
from .reportdata import CHAINS, DAYS, Week, coalition_bundle

WEEK = Ask(DAYS[0], DAYS[-1])


@pytest.fixture
def week(ledger: Ledger, client: ASGIClient, clock: FakeClock) -> Week:
    clock.now = clock.now.replace(day=15)  # the members' opening balances: before the week
    ledger.import_bundle(coalition_bundle())
    ledger.import_members(MEMBERS_CSV)
    w = Week(ledger, client)
    w.run(clock)
    assert ledger.audit_pending() > 0
    return w


def test_loyalty_figures_per_day_and_store_equal_the_sums_of_the_uploaded_sales(
        week: Week, ledger: Ledger) -> None:
    rep = gather(ledger.storage, ledger.clock(), WEEK, "loyalty").loyalty
    assert rep is not None
    expected = week.expected()
    got = {(r["day"], r["store"]): r for r in rep.days}
    assert set(got) == set(expected)
    for key, want in expected.items():
        for name, value in want.items():
            assert got[key][name] == value, (key, name)
        assert got[key]["chain"] == CHAINS[key[1]]
    assert rep.totals["sales"] == len(week.accepted) == 5 * 3 * 2 * 3 + 5
    assert rep.totals["offline_sales"] == len(week.accepted) - 5
    promos = {p["promo"]: [p["uses"], p["discount"], p["points"]] for p in rep.promotions}
    assert promos == dict(week.promos())
    assert [p["promo"] for p in rep.top("discount")][0] == max(
        promos, key=lambda p: (promos[p][1], p))


def test_the_liability_is_the_journal_up_to_each_day_and_ends_at_the_sum_of_balances(
        week: Week, ledger: Ledger) -> None:
    rep = gather(ledger.storage, ledger.clock(), WEEK, "loyalty").loyalty
    assert rep is not None
    with ledger.storage.transaction() as tx:
        (total,) = tx.one("SELECT SUM(points) FROM accounts")
    assert rep.liability[-1]["outstanding"] == total
    assert len(rep.liability) == len(DAYS)
    opening = 500 + 40  # the members file's opening balances (A-77's two cards: once)
    first = week.expected()
    day0 = sum(v["accrued"] - v["redeemed"] for (d, _), v in first.items() if d == DAYS[0])
    fixes = sum(c["points"] for c in rep.corrections if c["day"] == DAYS[0])
    assert rep.liability[0]["outstanding"] == opening + day0 + fixes


def test_a_store_or_chain_filter_keeps_only_its_stores(week: Week, ledger: Ledger) -> None:
    rep = gather(ledger.storage, ledger.clock(), Ask(DAYS[0], DAYS[-1], chains=("baton",)),
                 "loyalty").loyalty
    assert rep is not None and {r["store"] for r in rep.days} == {"BT-001"}
    one = gather(ledger.storage, ledger.clock(), Ask(DAYS[1], DAYS[1], stores=("KY-002",)),
                 "loyalty").loyalty
    assert one is not None and {(r["day"], r["store"]) for r in one.days} == {
        (DAYS[1], "KY-002")}
    assert one.days[0]["sales"] == week.expected()[(DAYS[1], "KY-002")]["sales"]


def test_an_unknown_store_chain_or_a_reversed_period_is_refused(ledger: Ledger) -> None:
    with ledger.storage.transaction() as tx:
        with pytest.raises(ScopeError, match="store"):
            scope(tx, ledger.clock(), stores=["NOPE"])
        with pytest.raises(ScopeError, match="chain"):
            scope(tx, ledger.clock(), chain_names=["nope"])
        with pytest.raises(ScopeError, match="after"):
            scope(tx, ledger.clock(), "2026-11-20", "2026-11-19")
        with pytest.raises(ScopeError, match="YYYY-MM-DD"):
            scope(tx, ledger.clock(), "20.11.2026")


def test_lag_and_backlog_show_the_till_that_was_offline_two_days(
        week: Week, ledger: Ledger) -> None:
    rep = gather(ledger.storage, ledger.clock(), WEEK, "sync").sync
    assert rep is not None
    ky2 = {r["day"]: r for r in rep.days if r["store"] == "KY-002"}
    ky1 = {r["day"]: r for r in rep.days if r["store"] == "KY-001"}
    assert ky2[DAYS[0]]["backlog"] == 3 and ky2[DAYS[1]]["backlog"] == 6
    assert ky2[DAYS[2]]["backlog"] == 0 and ky1[DAYS[0]]["backlog"] == 0
    assert ky2[DAYS[0]]["max_lag_s"] > 2 * 86400 > ky1[DAYS[0]]["max_lag_s"]
    sent = [t for t in week.accepted if t["store"] == "KY-001" and t["at"][:10] == DAYS[0]]
    assert ky1[DAYS[0]]["txns"] == len(sent)


def test_rollups_refreshed_between_uploads_give_the_figures_of_a_full_scan(
        ledger: Ledger, client: ASGIClient, clock: FakeClock) -> None:
    ledger.import_bundle(coalition_bundle())
    ledger.import_members(MEMBERS_CSV)
    w = Week(ledger, client)
    w.run(clock, DAYS[:2])
    clock.advance(minutes=5)
    refresh(ledger.storage, clock(), margin_s=60)  # a margin: the newest minute is left out
    w.run(clock, DAYS[2:4])
    ledger.audit_pending()  # corrections journaled after the sales they belong to
    clock.advance(minutes=5)
    refresh(ledger.storage, clock(), margin_s=0)
    refresh(ledger.storage, clock(), margin_s=0)  # nothing new: nothing counted twice
    clock.advance(minutes=5)
    w.run(clock, DAYS[4:])  # after the watermark: read live
    ledger.audit_pending()
    with ledger.storage.transaction() as tx:
        scanned = scan(tx)
        rolled = {first: load(tx, first, DAYS[-1]) for first in (DAYS[0], DAYS[2])}
        (rows,) = tx.one("SELECT COUNT(*) FROM report_store_day")
    assert rows > 0
    for first, got in rolled.items():  # days before the period: summed per store
        assert got == scanned.collapse(first).only("", DAYS[-1], None)
    assert any(day == "" for day, _ in rolled[DAYS[2]].stores)
    assert render(gather(ledger.storage, clock(), WEEK, "loyalty"), "loyalty", "json") == \
        render(gather(ledger.storage, clock(), WEEK, "loyalty"), "loyalty", "json")


def test_settlement_charges_the_chain_that_earned_for_points_spent_in_the_other(
        week: Week, ledger: Ledger) -> None:
    rep = gather(ledger.storage, ledger.clock(), WEEK, "settlement").settlement
    assert rep is not None and rep.value == 100
    chains = {c["chain"]: c for c in rep.chains}
    spent_bt = sum(t["result"]["totals"]["redeemed_points"] for t in week.accepted
                   if t["store"] == "BT-001" and t["customer"])
    assert chains["baton"]["spent"] == spent_bt == 5 * 20
    earned = {c: chains[c]["earned"] for c in chains}
    share = {c: spent_bt * earned[c] // sum(earned.values()) for c in earned}
    pairs = {(p["earned_in"], p["spent_in"]): p["points"] for p in rep.pairs}
    assert sum(pairs[(c, "baton")] for c in earned if (c, "baton") in pairs) == spent_bt
    assert abs(pairs[("krasyar", "baton")] - share["krasyar"]) <= 1
    (net,) = rep.nets
    assert (net["debtor"], net["creditor"]) == ("krasyar", "baton")
    assert net["points"] == pairs[("krasyar", "baton")]
    assert net["kopecks"] == net["points"] * 100
    assert chains["krasyar"]["net_kopecks"] == -net["kopecks"] == -chains["baton"]["net_kopecks"]


@pytest.mark.parametrize("kind", ["sync", "loyalty", "settlement"])
def test_every_report_renders_as_table_csv_json_and_html(week: Week, ledger: Ledger,
                                                         kind: str) -> None:
    got = gather(ledger.storage, ledger.clock(), WEEK, "all")
    data = json.loads(render(got, kind, "json"))
    assert data["scope"] == {"from": DAYS[0], "to": DAYS[-1], "stores": None}
    first_csv = render(got, kind, "csv").split("\n\n")[0]
    assert list(csv.DictReader(io.StringIO(first_csv)))
    assert render(got, kind, "table").splitlines()[0]
    page = render(got, kind, "html")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_the_report_commands_write_the_same_figures(week: Week, db_url: str, ledger: Ledger,
                                                    tmp_path) -> None:
    runner = CliRunner()
    args = ["--db", db_url, "--from", DAYS[0], "--to", DAYS[-1]]
    out = runner.invoke(report_group, ["loyalty", *args, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["totals"]["sales"] == len(week.accepted)
    page = tmp_path / "week.html"
    out = runner.invoke(report_group, ["loyalty", *args, "--format", "html", "-o", str(page)])
    assert out.exit_code == 0, out.output
    text = page.read_text(encoding="utf-8")
    assert "Chain settlement" in text and "Flags" in text and "Lag per store" in text
    out = runner.invoke(report_group, ["settlement", *args, "--chain", "baton",
                                       "--format", "csv"])
    assert out.exit_code == 0 and out.output.startswith("debtor,creditor,points,kopecks\n")
    out = runner.invoke(report_group, ["sync", *args, "--store", "NOPE"])
    assert out.exit_code == 1 and "no store 'NOPE'" in out.output
    out = runner.invoke(ledger_group, ["rollup", "--db", db_url])
    assert out.exit_code == 0 and "rolled up" in out.output


def test_without_a_period_the_report_covers_the_last_seven_days(ledger: Ledger,
                                                                clock: FakeClock) -> None:
    with ledger.storage.transaction() as tx:
        s = scope(tx, clock())
    assert s.last == clock().date().isoformat()
    assert s.first == (clock() - timedelta(days=6)).date().isoformat() and not s.dated


def test_hostile_store_and_till_names_are_text_in_the_page(ledger: Ledger,
                                                           client: ASGIClient) -> None:
    evil = '<img src=x onerror="alert(1)">'
    key = ledger.add_till(evil, evil + "-01")
    resp = client.post("/v1/heartbeat", headers={"Authorization": f"Bearer {key}"}, json={
        "till": evil + "-01", "store": evil, "queue_depth": 2})
    assert resp.status_code == 200, resp.text
    page = render(gather(ledger.storage, ledger.clock(), Ask(), "all"), "loyalty", "html")
    assert evil not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_a_return_counts_on_its_day_with_the_points_it_reversed(
        client: ASGIClient, shop: Ledger) -> None:
    till = TillSim("KY-001-01", "KY-001", shop.add_till("KY-001", "KY-001-01"))
    sale = till.sale("A-77", redeem=30, available=500)
    back = till.ret(sale, [(1, "1")])
    for txn in (sale, back):
        resp = client.post("/v1/transactions", json=till.body([txn]), headers=till.headers)
        assert resp.json()["results"][0]["status"] == "accepted", resp.text
    lines = back["result"]["lines"]
    want = sum(x["points_refunded"] - x["points_reversed"] for x in lines)
    rep = gather(shop.storage, shop.clock(), Ask("2026-11-22", "2026-11-22"), "loyalty").loyalty
    assert rep is not None
    (day,) = rep.days
    assert (day["sales"], day["returns"], day["reversed"]) == (1, 1, want) and want != 0
    assert day["redeemed"] == 30 == sale["result"]["totals"]["redeemed_points"]


def test_a_store_keeps_the_chain_of_the_newest_bundle_that_lists_it(ledger: Ledger) -> None:
    ledger.import_bundle(coalition_bundle())
    ledger.add_till("BT-001", "BT-001-01")
    ledger.add_till("XX-404", "XX-404-01")  # in no bundle
    newer = json.loads(coalition_bundle())
    newer["stores"] = [s for s in newer["stores"] if s["id"] != "BT-001"]
    newer["stores"][0]["chain"] = "krasyar-east"
    ledger.import_bundle(json.dumps(newer))
    with ledger.storage.transaction() as tx:
        s = scope(tx, ledger.clock(), chain_names=["baton", "krasyar-east"])
    assert s.stores == {"BT-001", "KY-001"}
    assert (s.chains["KY-002"], s.chains["XX-404"]) == ("krasyar", "")


@pytest.mark.parametrize("utc_hour, last", [(9, "2026-12-03"), (18, "2026-12-04"), (23, "2026-12-04")])
def test_the_default_period_ends_on_the_newest_local_day_of_any_store(
        ledger: Ledger, utc_hour: int, last: str) -> None:
    # at 18:00 UTC a store at UTC+7 already sells on 4 December: its sales are in "this week"
    now = datetime(2026, 12, 3, utc_hour, 30, tzinfo=timezone.utc)
    with ledger.storage.transaction() as tx:
        got = scope(tx, now)
    assert got.last == last
    assert (date.fromisoformat(got.last) - date.fromisoformat(got.first)).days == 6


def test_promotions_summed_by_the_database_equal_the_rows_added_up(
        week: Week, ledger: Ledger, clock: FakeClock) -> None:
    from sync.ledger import _loyalty
    from sync.ledger._rollup import promo_totals

    clock.advance(minutes=5)
    refresh(ledger.storage, clock(), margin_s=120)  # some rows rolled up, the newest live
    for ask in (WEEK, Ask(DAYS[0], DAYS[-1], chains=("baton",))):
        got = gather(ledger.storage, clock(), ask, "loyalty").loyalty
        assert got is not None
        with ledger.storage.transaction() as tx:
            s = scope(tx, clock(), ask.first, ask.last, list(ask.stores), list(ask.chains))
            by_rows = _loyalty.build(load(tx, s.first, s.last), s)
            summed = promo_totals(tx, s.first, s.last, s.stores)
        assert got.promotions == by_rows.promotions and got.promotions
        assert set(summed) <= {p["promo"] for p in got.promotions}
