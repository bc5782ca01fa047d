"""The two sale flags kept by the rollup job equal the flags of a full scan and of the tills' own TXNs."""
from __future__ import annotations

import random
from typing import Any

from sync.ledger import Ledger
from sync.ledger._flags import Flags, collect_flags
from sync.ledger._reports import Ask, gather
from sync.ledger._rollup import refresh, sale_flags

from .conftest import FakeClock
from .helpers import ASGIClient, TillSim
from .test_report_flags import send, with_token


def _tills(shop: Ledger, n: int) -> list[TillSim]:
    out = []
    for i in range(n):
        store = f"KY-00{1 + i % 3}"
        till = f"{store}-0{1 + i}"
        out.append(TillSim(till, store, shop.add_till(store, till)))
    return out


def _same(got: Flags, want: Flags) -> None:
    assert [(f.jti, f.tills, sorted(f.uses, key=lambda u: u.txn_id)) for f in got.replayed_jti] \
        == [(f.jti, f.tills, sorted(f.uses, key=lambda u: u.txn_id)) for f in want.replayed_jti]
    def key(u: Any) -> str:
        return str(u.txn_id)

    assert [(o.account, o.below_zero, o.balance, o.cap, o.tills, o.bound, o.exceeds,
             sorted(o.uses, key=key)) for o in got.offline_overdraft] == \
        [(o.account, o.below_zero, o.balance, o.cap, o.tills, o.bound, o.exceeds,
          sorted(o.uses, key=key)) for o in want.offline_overdraft]


def _rolled(shop: Ledger) -> Flags:
    with shop.storage.transaction() as tx:
        return sale_flags(tx)


def _jtis_from_the_tills(sent: list[tuple[TillSim, dict[str, Any]]]) -> dict[str, set[str]]:
    """Each token id used at two tills or more, from the TXNs the tills sent (not the ledger)."""
    tills: dict[str, set[str]] = {}
    for till, txn in sent:
        jti = (txn.get("customer") or {}).get("jti")
        if isinstance(jti, str):
            tills.setdefault(jti, set()).add(till.till)
    return {j: t for j, t in tills.items() if len(t) > 1}


def test_flags_from_rollups_refreshed_between_uploads_equal_the_scan_and_the_tills(
        client: ASGIClient, shop: Ledger, clock: FakeClock) -> None:
    rnd = random.Random(11)
    tills = _tills(shop, 5)
    shop.adjust("A-77", -480, note="spent elsewhere")
    sent: list[tuple[TillSim, dict[str, Any]]] = []
    for step in range(24):
        till = rnd.choice(tills)
        jti = f"J-{rnd.randrange(8)}" if rnd.random() < 0.7 else None
        redeem = rnd.choice([0, 40, 60]) if jti else 0
        txn = with_token(till, "A-77" if rnd.random() < 0.8 else "B-01", jti,
                         100 if jti else None, redeem=redeem, available=100 if redeem else 0)
        resp = client.post("/v1/transactions", json=till.body([txn]), headers=till.headers)
        assert resp.json()["results"][0]["status"] == "accepted", resp.text
        sent.append((till, txn))
        clock.advance(minutes=3)
        if step % 5 == 4:  # the job runs now and then, leaving the newest minute out
            refresh(shop.storage, clock(), margin_s=60)
        if step == 12:
            shop.adjust("A-77", 15, note="goodwill")
    scanned = collect_flags(shop.storage)
    assert scanned.replayed_jti and scanned.offline_overdraft  # the walk provoked both
    _same(_rolled(shop), scanned)  # rollups plus the newest sales read live
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    refresh(shop.storage, clock(), margin_s=0)  # nothing new: nothing added twice
    _same(_rolled(shop), scanned)  # the rollups alone
    assert {f.jti: {u.till for u in f.uses} for f in scanned.replayed_jti} == \
        _jtis_from_the_tills(sent)
    with shop.storage.transaction() as tx:
        (uses,) = tx.one("SELECT COUNT(*) FROM report_flag_use WHERE flag = 'replayed_jti'")
    assert uses == sum(len(f.uses) for f in scanned.replayed_jti)


def test_a_token_rolled_up_alone_is_flagged_when_another_till_uses_it_after_the_job(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    first = with_token(till, "A-77", "J-5", 100)
    send(client, till, [first])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    clock.advance(seconds=1)  # a real clock moves on after the job's watermark
    assert _rolled(shop).replayed_jti == []
    second = with_token(other_till, "A-77", "J-5", 100)
    send(client, other_till, [second])
    (live,) = _rolled(shop).replayed_jti  # the second use read live, the first rolled up
    assert {u.txn_id for u in live.uses} == {first["txn_id"], second["txn_id"]}
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    (kept,) = _rolled(shop).replayed_jti
    assert kept == live and {u.receipt for u in kept.uses} == {"KY-001-01/1", "KY-002-01/1"}


def test_an_overdraft_rolled_up_follows_a_later_offline_redemption_and_the_live_balance(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    shop.adjust("A-77", -480)
    send(client, till, [with_token(till, "A-77", "J-1", 100, redeem=100, available=100)])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    clock.advance(seconds=1)
    (one,) = _rolled(shop).offline_overdraft
    assert (one.tills, one.bound) == (1, 100)
    send(client, other_till, [with_token(other_till, "A-77", "J-2", 100, redeem=100,
                                         available=100)])
    shop.adjust("A-77", 500, note="repaid")
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    (two,) = _rolled(shop).offline_overdraft
    (want,) = collect_flags(shop.storage).offline_overdraft
    assert (two.tills, two.bound, two.below_zero, two.balance) == \
        (2, 200, want.below_zero, shop.balance("A-77")) and two.balance > 0


def test_a_ledger_rolled_up_before_migration_10_folds_its_flags_history_once(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    shop.adjust("A-77", -480)
    send(client, till, [with_token(till, "A-77", "J-1", 100, redeem=100, available=100)])
    send(client, other_till, [with_token(other_till, "A-77", "J-1", 100, redeem=100,
                                         available=100)])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    with shop.storage.transaction() as tx:  # as migration 10 finds a rolled-up ledger
        for table in ("report_jti", "report_flag_use", "report_overdraft"):
            tx.execute(f"DELETE FROM {table}")
        tx.execute("DELETE FROM report_rollup WHERE name = 'flags'")
        (stores_before,) = tx.one("SELECT SUM(txns) FROM report_store_day")
    assert _rolled(shop).replayed_jti == []
    refresh(shop.storage, clock(), margin_s=0)  # nothing new for the figures
    _same(_rolled(shop), collect_flags(shop.storage))
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT SUM(txns) FROM report_store_day") == (stores_before,)


def test_the_report_lists_the_rolled_up_flags_with_store_till_account_and_txn(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    a = with_token(till, "A-77", "J-3", 100)
    b = with_token(other_till, "A-77", "J-3", 100)
    send(client, till, [a])
    send(client, other_till, [b])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    flags = gather(shop.storage, clock(), Ask(), "sync").flags
    assert flags is not None
    (jti,) = flags.replayed_jti
    assert {(u.store, u.till, u.account, u.txn_id) for u in jti.uses} == {
        ("KY-001", "KY-001-01", "A-77", a["txn_id"]), ("KY-002", "KY-002-01", "A-77", b["txn_id"])}
    mine = gather(shop.storage, clock(), Ask(stores=("KY-002",)), "sync").flags
    assert mine is not None and len(mine.replayed_jti) == 1  # one use in scope keeps the flag


def test_a_report_reads_no_table_of_sales_journal_or_audits_from_end_to_end(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock, db_url: str) -> None:
    """SQLite's own query plans: every statement of the three reports uses a key or an index."""
    if not db_url.startswith("sqlite"):
        return  # the plan wording checked is SQLite's; PostgreSQL runs the same statements
    send(client, till, [with_token(till, "A-77", "J-3", 100)])
    send(client, other_till, [with_token(other_till, "A-77", "J-3", 100)])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    clock.advance(seconds=1)
    conn = shop.storage._conn  # type: ignore[attr-defined]
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        for kind in ("sync", "loyalty", "settlement", "all"):
            gather(shop.storage, clock(), Ask(), kind)
    finally:
        conn.set_trace_callback(None)
    scans = []
    for sql in {s for s in seen if s.lstrip().upper().startswith("SELECT")}:
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
            words = str(row[-1]).split()
            if words[-1] == "audits_mismatched":  # a partial index: the mismatches only
                continue
            if words[0] == "SCAN" and words[1] in ("sales", "journal", "audits", "till_seqs",
                                                  "report_jti", "s", "j", "a"):
                scans.append((row[-1], sql))
    assert scans == []


def test_token_uses_older_than_the_kept_days_are_forgotten_but_flags_stay(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger,
        clock: FakeClock) -> None:
    from sync.ledger._flagrollup import JTI_KEEP_DAYS

    send(client, till, [with_token(till, "A-77", "J-1", 100)])
    send(client, other_till, [with_token(other_till, "A-77", "J-1", 100)])
    send(client, till, [with_token(till, "A-77", "J-2", 100)])
    clock.advance(minutes=5)
    refresh(shop.storage, clock(), margin_s=0)
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM report_jti") == (3,)
    clock.advance(days=JTI_KEEP_DAYS + 2)
    refresh(shop.storage, clock(), margin_s=0)
    with shop.storage.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM report_jti") == (0,)
    (flag,) = _rolled(shop).replayed_jti
    assert flag.jti == "J-1" and flag.tills == 2


def test_the_mismatch_index_made_beforehand_is_found_made_by_migration_10(ledger: Ledger) -> None:
    from sync.ledger._flagrollup import SCHEMA

    (index,) = [sql for sql in SCHEMA if "audits_mismatched" in sql]
    with ledger.storage.transaction() as tx:
        tx.execute(index)  # as after `CREATE INDEX CONCURRENTLY` by hand: nothing to do
        assert tx.one("SELECT COUNT(*) FROM audits WHERE outcome = 'mismatch'") == (0,)
