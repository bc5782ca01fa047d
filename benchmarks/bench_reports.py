"""Report benchmark: a 15,000-till chain's week, built at the rollup level, reported on.

A week of a chain of 1,500 stores x 10 tills is about 105 million sales;
the reports read the daily rollups (``report_*``, docs/reports.md), not the
sales. So this benchmark builds what the rollup job would have left after
such a week, directly, in a fresh ledger database (PostgreSQL and SQLite):

- the programme's bundle with every store and its chain (three chains);
- 15,000 tills: registry, state (1 % with seq gaps), heartbeats, a few
  hundred rejects;
- ``report_store_day`` and ``report_points_day`` for the week and the
  ``--history`` days before it (realistic figures: ~10,000 sales a store a
  day), ``report_promo_day`` for the week (``--promos`` promotions firing
  per store and day, of 5,000);
- flagged cases: replayed tokens, accounts overdrawn offline (with their
  sales and balances), audit mismatches; ``--accounts`` member accounts;
- the watermark at "now", so the reports read no tail.

Then it times ``kopilka report sync|loyalty|settlement --format
table|json|html`` over the week as a subprocess (process start included),
median of ``--repeat`` runs, against a baseline measured in the same run:
the time of a raw ``SELECT count(*), sum(...)`` over the rollup tables.
It prints the size of the whole head-office page (``report loyalty
--format html``).

    .venv/bin/python benchmarks/bench_reports.py [--quick] [--backend postgres|sqlite|both]
        [--stores 1500 --tills 10 --days 7 --history 21 --promos 100 --repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from sync.ledger import Ledger  # noqa: E402
from sync.ledger._clock import utc_text  # noqa: E402
from sync.ledger._storage import Storage  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHAINS = (("krasyar", 0.47), ("baton", 0.33), ("sibmarket", 0.20))
KINDS = ("sync", "loyalty", "settlement")
FORMATS = ("table", "json", "html")


def bulk(storage: Storage, url: str, table: str, columns: Sequence[str],
         rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` fast: COPY on PostgreSQL, one executemany transaction on SQLite."""
    n = 0
    if url.startswith("postgresql"):
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
                    n += 1
        return n
    listed = list(rows)
    with storage.transaction() as tx:
        tx.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' * len(columns))})", listed)
    return len(listed)


def chain_of(i: int, stores: int) -> str:
    edge = 0.0
    for name, share in CHAINS:
        edge += share
        if i < stores * edge:
            return name
    return CHAINS[-1][0]


def build(url: str, args: argparse.Namespace, now: datetime) -> dict[str, int]:
    """The chain's week at the rollup level; how many rows went into each table."""
    rng = random.Random(7)
    stores = [f"S{i:04d}" for i in range(args.stores)]
    days = [(date.fromisoformat(args.first) + timedelta(days=d)).isoformat()
            for d in range(-args.history, args.days)]
    week = days[args.history:]
    bundle = json.loads((ROOT / "examples" / "bundle.json").read_text())
    bundle["stores"] = [{"id": s, "chain": chain_of(i, len(stores)), "timezone": "Asia/Krasnoyarsk"}
                        for i, s in enumerate(stores)]
    counts: dict[str, int] = {}
    with Ledger(url) as led:
        led.import_bundle(json.dumps(bundle, ensure_ascii=False))
        st = led.storage
        tills = [(s, f"{s}-{t:02d}") for s in stores for t in range(1, args.tills + 1)]
        stamp = utc_text(now - timedelta(minutes=3))
        counts["tills"] = bulk(st, url, "tills", ("till", "store", "key_hash", "created_at"),
                               ((t, s, uuid.uuid4().hex, stamp) for s, t in tills))
        gapped = set(rng.sample(range(len(tills)), max(1, len(tills) // 100)))
        counts["till_state"] = bulk(
            st, url, "till_state", ("till", "store", "high_water", "max_seq", "last_contact",
                                    "accepted", "duplicates", "rejected", "audit_mismatches"),
            ((t, s, 70_000, 70_010 if i in gapped else 70_000, stamp, 70_000, rng.randrange(3),
              0, 0) for i, (s, t) in enumerate(tills)))
        counts["till_seqs"] = bulk(
            st, url, "till_seqs", ("till", "seq", "txn_id", "hash", "account", "state",
                                   "outcome", "received_at"),
            ((tills[i][1], 70_000 + k, uuid.uuid4().hex, "h", None, "applied", "accepted", stamp)
             for i in sorted(gapped) for k in (3, 4, 10)))
        hw = json.dumps({"printer": "ok", "scanner": "ok", "display": "ok"})
        counts["heartbeats"] = bulk(
            st, url, "heartbeats", ("till", "store", "at", "received_at", "queue_depth",
                                    "oldest_unsynced_age_s", "bundle_version", "agent_version",
                                    "hardware"),
            ((t, s, stamp, stamp, rng.choice([0] * 19 + [3]), 0, 1, "0.1", hw)
             for s, t in tills))
        counts["rejects"] = bulk(
            st, url, "rejects", ("till", "reject_id", "txn_id", "seq", "reason", "detail",
                                 "first_at", "last_at", "times"),
            ((tills[i][1], uuid.uuid4().hex, uuid.uuid4().hex, 100 + i, "invalid", "bad line",
              stamp, f"{rng.choice(week)}T10:00:00.000000Z", 1)
             for i in rng.sample(range(len(tills)), min(len(tills), 300))))
        store_rows = []
        point_rows = []
        for d in days:
            for s in stores:
                sales = rng.randrange(8_000, 12_000)
                members, offline = sales * 6 // 10, sales // 50
                amount = sales * rng.randrange(60_000, 90_000)
                discount = amount // 12
                store_rows.append((d, s, sales + sales // 40, sales, sales // 40, members, offline,
                                   amount, discount, amount - discount,
                                   sales * rng.randrange(1, 4), rng.randrange(30, 90_000),
                                   sales + sales // 40))
                accrued = members * rng.randrange(30, 70)
                for kind, points, entries in (("accrual", accrued, members),
                                              ("redemption", -accrued // 3, members // 8),
                                              ("return_reversal", -accrued // 60, sales // 40),
                                              ("audit_correction", -rng.randrange(0, 40),
                                               rng.randrange(0, 3))):
                    point_rows.append((d, s, kind, points, entries))
            point_rows.append((d, "", "adjustment", rng.randrange(-5_000, 5_000), 40))
            point_rows.append((d, "", "expiry", -rng.randrange(100_000, 300_000), 900))
        counts["report_store_day"] = bulk(
            st, url, "report_store_day",
            ("day", "store", "txns", "sales", "returns", "member_sales", "offline_sales",
             "amount", "discount", "paid", "lag_sum_s", "lag_max_s", "received"), store_rows)
        counts["report_points_day"] = bulk(st, url, "report_points_day",
                                           ("day", "store", "kind", "points", "entries"),
                                           point_rows)
        promos = [f"P{i:04d}" for i in range(5_000)]
        counts["report_promo_day"] = bulk(
            st, url, "report_promo_day", ("day", "store", "promo", "uses", "discount", "points"),
            ((d, s, p, rng.randrange(1, 400), rng.randrange(0, 300_000), rng.randrange(0, 2_000))
             for d in week for s in stores for p in rng.sample(promos, args.promos)))
        accounts = [f"A{i:08d}" for i in range(args.accounts)]
        counts["accounts"] = bulk(st, url, "accounts", ("account", "points", "sales",
                                                        "created_at"),
                                  ((a, rng.randrange(0, 5_000), 10, stamp) for a in accounts))
        counts.update(_flag_cases(st, url, rng, tills, week, accounts, stamp))
        with st.transaction() as tx:
            for name in ("all", "flags"):
                tx.execute("INSERT INTO report_rollup (name, upto) VALUES (?, ?) ON CONFLICT "
                           "(name) DO UPDATE SET upto = excluded.upto", (name, utc_text(now)))
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return counts


def _flag_cases(st: Storage, url: str, rng: random.Random, tills: list[tuple[str, str]],
                week: list[str], accounts: list[str], stamp: str) -> dict[str, int]:
    """Replayed tokens, offline overdrafts and audit mismatches, as the rollup job keeps them."""
    uses, sales, audits, overdrafts = [], [], [], []
    seq = iter(range(1, 10**9))

    def sale(account: str, store: str, till: str, day: str) -> tuple[str, int, str]:
        txn_id, s, at = str(uuid.uuid4()), next(seq), f"{day}T12:00:00+07:00"
        body = json.dumps({"txn_id": txn_id, "result": {"totals": {"points": 40,
                                                                   "redeemed_points": 0}}})
        sales.append((account, txn_id, till, store, s, "sale", at, "offline", 1, "h", body,
                      "accepted", stamp))
        return txn_id, s, at

    for k in range(300):  # a token used at two tills of different stores
        account = rng.choice(accounts)
        for store, till in rng.sample(tills, 2):
            txn_id, s, at = sale(account, store, till, rng.choice(week))
            uses.append(("replayed_jti", f"jti-{k}", account, txn_id, store, till, s, at, 0, None))
    for account in rng.sample(accounts, 200):  # overdrawn offline at one to three tills
        overdrafts.append((account, rng.randrange(1, 400)))
        for store, till in rng.sample(tills, rng.randrange(1, 4)):
            txn_id, s, at = sale(account, store, till, rng.choice(week))
            uses.append(("offline_overdraft", account, account, txn_id, store, till, s, at,
                         rng.randrange(50, 300), 100))
    for _ in range(100):
        store, till = rng.choice(tills)
        account = rng.choice(accounts)
        txn_id, _s, _at = sale(account, store, till, rng.choice(week))
        audits.append((account, txn_id, till, store, 1, "mismatch",
                       "totals.points: 40 != 35", stamp))
    out = {"sales (flagged cases)": bulk(st, url, "sales", (
        "account", "txn_id", "till", "store", "seq", "kind", "at", "mode", "bundle_version",
        "hash", "body", "outcome", "received_at"), sales)}
    out["audits (mismatches)"] = bulk(st, url, "audits", (
        "account", "txn_id", "till", "store", "bundle_version", "outcome", "detail", "at"), audits)
    out["report_flag_use"] = bulk(st, url, "report_flag_use", (
        "flag", "subject", "account", "txn_id", "store", "till", "seq", "at", "redeemed", "cap"),
        uses)
    out["report_overdraft"] = bulk(st, url, "report_overdraft", ("account", "below_zero"),
                                   overdrafts)
    return out


def baseline_s(url: str) -> float:
    """A raw aggregate over the week's rollup rows: the floor any report stands on."""
    with Ledger(url) as led, led.storage.transaction() as tx:
        t0 = time.perf_counter()
        tx.one("SELECT COUNT(*), SUM(txns), SUM(amount) FROM report_store_day")
        tx.one("SELECT COUNT(*), SUM(points) FROM report_points_day")
        tx.one("SELECT COUNT(*), SUM(discount) FROM report_promo_day")
        return time.perf_counter() - t0


def report_s(url: str, kind: str, fmt: str, first: str, last: str, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from cli import main; main()", "report", kind,
                    "--db", url, "--from", first, "--to", last, "--format", fmt, "-o", str(out)],
                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def one_backend(backend: str, args: argparse.Namespace, work: Path) -> None:
    now = datetime.now(timezone.utc)
    if backend == "postgres":
        name = "kopilka_bench_reports_" + uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{work / 'reports.db'}"
    try:
        t0 = time.perf_counter()
        counts = build(url, args, now)
        built = time.perf_counter() - t0
        rows = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        print(f"[{backend}] built in {built:.1f} s: {rows}")
        base = statistics.median(baseline_s(url) for _ in range(args.repeat))
        print(f"[{backend}] baseline: raw count/sum over the rollup tables {base:.3f} s")
        last = (date.fromisoformat(args.first) + timedelta(days=args.days - 1)).isoformat()
        for kind in KINDS:
            for fmt in FORMATS:
                out = work / f"{backend}-{kind}.{fmt}"
                times = [report_s(url, kind, fmt, args.first, last, out)
                         for _ in range(args.repeat)]
                med = statistics.median(times)
                print(f"[{backend}] report {kind} --format {fmt}: median {med:.2f} s "
                      f"(max {max(times):.2f} s, {med / base:,.0f} x baseline), "
                      f"{out.stat().st_size:,} bytes")
        page = work / f"{backend}-loyalty.html"
        print(f"[{backend}] the whole head-office page (report loyalty --format html): "
              f"{page.stat().st_size / 1e6:.2f} MB for {args.stores:,} stores")
    finally:
        if backend == "postgres":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a tiny chain (CI smoke: keeps the script working; figures mean little)")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--stores", type=int, default=1500)
    ap.add_argument("--tills", type=int, default=10)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--history", type=int, default=21, help="rolled-up days before the week")
    ap.add_argument("--promos", type=int, default=100,
                    help="promotions firing per store and day (of 5,000)")
    ap.add_argument("--accounts", type=int, default=300_000)
    ap.add_argument("--first", default="2026-11-16")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.quick:
        args.stores, args.tills, args.history, args.promos = 12, 3, 3, 5
        args.accounts, args.repeat = 2_000, 1
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at the start; {args.stores:,} stores x {args.tills} tills, "
          f"{args.days} days (+{args.history} before), {args.promos} promotions a store-day")
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            one_backend(backend, args, Path(tmp))


if __name__ == "__main__":
    main()
