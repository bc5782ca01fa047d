"""Every flag of spec/sync.md's report section, provoked on purpose and found."""
from __future__ import annotations

import csv
import io
import json

from sync._hashchain import txn_hash
from sync.ledger import Ledger
from sync.ledger._allflags import collect_all, rows
from sync.ledger._reports import Ask, gather, render
from sync.ledger._scope import scope

from .conftest import FakeClock
from .helpers import ASGIClient, TillSim
from .test_report_flags import overdraft_day, send


def everything(ledger: Ledger, **kw: object):
    with ledger.storage.transaction() as tx:
        s = scope(tx, ledger.clock(), **kw)  # type: ignore[arg-type]
    return collect_all(ledger.storage, s, ledger.clock())


def test_replayed_jti_and_offline_overdraft_are_found_with_their_bound(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    a, b = overdraft_day(client, till, other_till, shop)
    flags = everything(shop)
    (jti,) = flags.replayed_jti
    assert {u.txn_id for u in jti.uses} == {a["txn_id"], b["txn_id"]}
    (od,) = flags.offline_overdraft
    assert (od.account, od.cap, od.tills, od.bound, od.exceeds) == ("A-77", 100, 2, 200, False)
    flat = [r for r in rows(flags) if r["flag"] == "offline_overdraft"]
    assert {(r["store"], r["till"], r["account"], r["txn_id"]) for r in flat} == {
        ("KY-001", "KY-001-01", "A-77", a["txn_id"]), ("KY-002", "KY-002-01", "A-77", b["txn_id"])}
    assert {r["bound"] for r in flat} == {200}


def test_an_audit_mismatch_lists_the_tills_figure_and_the_ledgers(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sale = till.sale("A-77")
    honest = sale["result"]["totals"]["points"]
    sale["result"]["totals"]["points"] = honest + 50  # a till claiming 50 points too many
    till.prev = sale["prev_hash"]
    send(client, till, [till._chain(sale)])
    shop.audit_pending()
    (m,) = everything(shop).audit_mismatch
    assert (m.sale.store, m.sale.till, m.sale.account, m.sale.txn_id, m.sale.receipt) == (
        "KY-001", "KY-001-01", "A-77", sale["txn_id"], "KY-001-01/1")
    assert (m.till_points, m.ledger_points, m.correction) == (honest + 50, honest, -50)


def test_seq_gaps_conflicts_and_rejects_are_listed_per_till(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    sales = [till.sale("A-77") for _ in range(4)]
    send(client, till, [sales[0], sales[1], sales[3]])  # seq 3 never arrives
    clash = till.sale("A-77", seq=2)  # another txn with a taken seq
    greedy = till.sale("B-01", redeem=500, available=500, mode="online")  # B-01 has 40
    resp = client.post("/v1/transactions", json=till.body([clash, greedy]),
                       headers=till.headers)
    assert [r["status"] for r in resp.json()["results"]] == ["rejected", "rejected"]
    flags = everything(shop)
    (gap,) = flags.seq_gap
    assert (gap.store, gap.till, gap.value, gap.detail) == ("KY-001", "KY-001-01", 3,
                                                              "seq 3 missing")
    (conflict,) = flags.seq_conflict
    assert (conflict.till, conflict.txn_id, conflict.receipt) == (
        "KY-001-01", clash["txn_id"], "KY-001-01/2")
    (rejected,) = flags.rejected
    assert (rejected.reason, rejected.txn_id, rejected.store) == (
        "overdraft", greedy["txn_id"], "KY-001")


def test_a_silent_till_and_a_till_never_heard_from_are_flagged(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    send(client, till, [till.sale("A-77")])
    clock.advance(hours=30)
    flags = everything(shop)
    assert {(f.till, f.value) for f in flags.silent_till} == {("KY-001-01", 30),
                                                               ("KY-002-01", -1)}
    client.post("/v1/heartbeat", headers=till.headers, json={
        "till": till.till, "store": till.store, "queue_depth": 0})
    assert {f.till for f in everything(shop).silent_till} == {"KY-002-01"}
    with shop.storage.transaction() as tx:
        s = scope(tx, clock())
    quiet = collect_all(shop.storage, s, clock(), silent_hours=48)
    assert [f.till for f in quiet.silent_till] == ["KY-002-01"]


def test_a_till_clock_off_by_more_than_the_threshold_is_flagged_with_the_skew(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    for t, at in ((till, "2026-11-22T07:20:00Z"), (other_till, "2026-11-22T14:01:00+07:00")):
        resp = client.post("/v1/heartbeat", headers=t.headers, json={
            "till": t.till, "store": t.store, "queue_depth": 0, "at": at})
        assert resp.status_code == 200, resp.text
    (skew,) = everything(shop).clock_skew
    assert (skew.store, skew.till, skew.value) == ("KY-001", "KY-001-01", 20 * 60)


def test_flags_follow_the_store_filter_and_an_asked_period(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    overdraft_day(client, till, other_till, shop)
    mine = everything(shop, stores=["KY-002"])
    assert [u.till for u in mine.replayed_jti[0].uses] == ["KY-001-01", "KY-002-01"]
    assert [f.till for f in mine.silent_till] == []
    assert everything(shop, first="2026-11-23", last="2026-11-24").replayed_jti == []
    assert everything(shop, first="2026-11-22", last="2026-11-22").replayed_jti != []


def test_every_flag_appears_in_the_csv_with_store_till_and_transaction(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    a, b = overdraft_day(client, till, other_till, shop)
    bad = till.sale("A-77", seq=5)  # seqs 2-4 missing
    bad["result"]["totals"]["points"] += 7
    till.prev = bad["prev_hash"]
    send(client, till, [till._chain(bad)])
    forged = dict(a, at="2026-11-22T16:00:00+07:00")
    forged["hash"] = txn_hash(forged)
    client.post("/v1/transactions", json=till.body([forged]), headers=till.headers)
    clock.advance(hours=25)
    shop.audit_pending()
    got = gather(shop.storage, clock(), Ask(), "sync")
    text = render(got, "sync", "csv")
    _, flags_csv, _ = text.split("\n\n")
    found = {r["flag"] for r in csv.DictReader(io.StringIO(flags_csv))}
    assert found == {"replayed_jti", "offline_overdraft", "audit_mismatch", "seq_gap",
                     "rejected", "silent_till"}
    counts = json.loads(render(got, "sync", "json"))["flag_counts"]
    assert counts["audit_mismatch"] == 1 and counts["seq_gap"] == 1
