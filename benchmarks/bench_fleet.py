"""Fleet benchmark: N stores x M tills posting a day's sales, compressed in time, to one ledger.

For each backend (PostgreSQL at 127.0.0.1:5432, SQLite for comparison) and
each number of ``kopilka ledger serve --workers`` processes:

1. the backend's raw batched-insert rate, measured in the same run
   (``benchmarks/_ledger_baseline.py``: 1,000 plain rows per durable
   commit) -- the baseline the ingest rate is read against;
2. a fresh ledger database, served by ``kopilka ledger serve --workers W``
   in a subprocess, and a fleet (``hardware_sim.run_fleet``: the real
   outbox, uploader and engine per till, customers by QR token and card,
   online holds, returns, tills offline on a schedule) selling a day in
   compressed time and draining: sales, transactions acknowledged,
   sustained txn/s over the whole run, p50/p99 upload latency (a sale
   committed online -> its acknowledgement) and request latency;
3. the audit lag: how long after the last acknowledgement the ledger's
   audit workers have re-priced every sale;
4. the time of ``kopilka report sync``, ``loyalty`` and ``settlement`` over
   the result (a chain's week: ``bench_reports.py``).

The tills' databases go to /dev/shm when it exists: in a store each till
has its own disk, and on one machine the tills' fsyncs must not be what is
measured. The simulator and the ledger share this machine's cores, so the
figures are a floor for the ledger alone.

    .venv/bin/python benchmarks/bench_fleet.py [--quick] [--backend postgres|sqlite|both]
        [--stores 20 --tills 5 --sales-per-day 100 --compress 1008] [--workers 1,2,4]

Chain size: --stores 1500 --tills 10 --sales-per-day 1000 (a 15,000-till
chain's day; needs hours and a raised open-files limit).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _ledger_baseline import raw_insert_rate  # noqa: E402

from hardware_sim import FleetConfig, FleetResult, run_fleet  # noqa: E402
from hardware_sim._fleet_plan import DAY_S  # noqa: E402
from sync.ledger import Ledger  # noqa: E402
from tests.sync.ledger_server import PG_ADMIN, LedgerServer, postgres_available  # noqa: E402


def audit_lag(db_url: str, limit_s: float = 1800.0) -> float:
    """Seconds after the drain until the audit workers have re-priced every sale."""
    t0 = time.perf_counter()
    with Ledger(db_url) as led:
        while led.audits_queued():
            if time.perf_counter() - t0 > limit_s:
                raise RuntimeError("the audit queue did not drain")
            time.sleep(0.05)
    return time.perf_counter() - t0


def report_seconds(db_url: str, kind: str = "sync") -> float:
    """Time of ``kopilka report KIND --format table`` over the ledger (process start included).

    The first report of a run also folds the day into the rollups (the
    ``kopilka ledger rollup`` a cron would have run): its time includes that.
    """
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from cli import main; main()", "report", kind,
                    "--db", db_url], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def one_run(backend: str, workers: int, cfg: FleetConfig, work: Path, baseline_n: int,
            client_threads: int) -> dict[str, Any]:
    tills = Path(tempfile.mkdtemp(prefix="fleet-tills-", dir="/dev/shm" if Path("/dev/shm").is_dir()
                                  else None))
    folder = Path(tempfile.mkdtemp(dir=work))
    server = LedgerServer("sqlite" if backend == "sqlite" else "postgres", folder,
                          customer_refresh_s=1.0, serve_args=("--workers", str(workers)))
    try:
        raw = raw_insert_rate(server.url, baseline_n)
        result = run_fleet(server.base_url, server.url, cfg, work_dir=tills,
                           upload_threads=client_threads)
        lag = audit_lag(server.url)
        return {"raw": raw, "result": result, "audit_lag": lag,
                "report_s": report_seconds(server.url),
                "loyalty_s": report_seconds(server.url, "loyalty"),
                "settlement_s": report_seconds(server.url, "settlement")}
    finally:
        server.close()
        shutil.rmtree(tills, ignore_errors=True)


def show(backend: str, workers: int, run: dict[str, Any]) -> None:
    r: FleetResult = run["result"]
    up, req = sorted(r.upload_ms), sorted(r.request_ms)

    def pct(v: list[float], p: int) -> float:
        return v[min(len(v) - 1, len(v) * p // 100)] if v else 0.0

    if r.config.backlog:
        tag = f"[{backend} x{workers} backlog]"
        rate = r.uploaded / r.drain_s if r.drain_s else 0.0
        print(f"{tag} {r.counters.sales:,} sales + {r.counters.returns:,} returns sold offline "
              f"by {len(r.tills)} tills in {r.sell_s:.1f} s, then drained at once: "
              f"{r.uploaded:,} txns in {r.drain_s:.1f} s = {rate:,.0f} txn/s "
              f"({r.rejected} rejected, {r.pending} left, {r.retries} retries); request p50 "
              f"{pct(req, 50):.0f} ms, p99 {pct(req, 99):.0f} ms")
        print(f"{tag} audit lag {run['audit_lag']:.2f} s after the drain; same-run baseline: "
              f"raw batched insert {run['raw']:,.0f} rows/s (drain = {rate / run['raw']:.2f} x raw)")
        return
    rate = r.uploaded / r.wall_s if r.wall_s else 0.0
    offered = r.counters.sales * r.config.compress / (r.config.days * DAY_S)
    print(f"[{backend} x{workers}] offered {offered:,.0f} sales/s (planned day, compressed)")
    print(f"[{backend} x{workers}] {len(r.stores)} stores x {r.config.tills} tills: "
          f"{r.counters.sales:,} sales + {r.counters.returns:,} returns, {r.uploaded:,} txns "
          f"acknowledged ({r.rejected} rejected, {r.pending} left) in {r.wall_s:.1f} s "
          f"(selling {r.sell_s:.1f} s, draining {r.drain_s:.1f} s)")
    print(f"[{backend} x{workers}] sustained {rate:,.0f} txn/s; upload latency p50 "
          f"{pct(up, 50):.0f} ms, p99 {pct(up, 99):.0f} ms; request p50 {pct(req, 50):.0f} ms, "
          f"p99 {pct(req, 99):.0f} ms; {r.retries} retries, {r.counters.offline_periods} "
          f"offline periods ({r.counters.caught_up} caught up)")
    print(f"[{backend} x{workers}] audit lag {run['audit_lag']:.2f} s after the drain; "
          f"report sync {run['report_s']:.2f} s (rollup included), loyalty "
          f"{run['loyalty_s']:.2f} s, settlement {run['settlement_s']:.2f} s; same-run baseline: raw batched "
          f"insert {run['raw']:,.0f} rows/s (ingest = {rate / run['raw']:.3f} x raw)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a tiny fleet (CI smoke: keeps the script working; figures mean little)")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--tills", type=int, default=5)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--sales-per-day", type=int, default=100)
    ap.add_argument("--compress", type=float, default=1008.0,
                    help="simulated seconds per real second (1008: a 14-hour day in 50 s)")
    ap.add_argument("--offline-share", type=float, default=0.1)
    ap.add_argument("--workers", default="1,2,4", help="ledger serve worker counts to run")
    ap.add_argument("--client-threads", type=int, default=16,
                    help="the fleet's upload threads (shared by all tills)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", choices=["paced", "backlog", "both"], default="both",
                    help="paced: the day sold in compressed time, each sale posted as made; "
                         "backlog: every till sells offline, then all drain at once")
    args = ap.parse_args()
    if args.quick:
        args.stores, args.tills, args.sales_per_day, args.compress = 2, 2, 30, 20_000.0
        args.workers = "2"
    paced = FleetConfig(stores=args.stores, tills=args.tills, days=args.days, seed=args.seed,
                        sales_per_day=args.sales_per_day, offline_share=args.offline_share,
                        compress=args.compress, start=date(2026, 11, 16))
    # the backlog is sold as fast as the simulator can: only the drain is timed
    backlog = dataclasses.replace(paced, backlog=True, compress=1e9)
    modes = {"paced": [paced], "backlog": [backlog], "both": [paced, backlog]}[args.mode]
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    baseline_n = 2_000 if args.quick else 20_000
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if backend == "postgres" and not postgres_available():
                print(f"[postgres] skipped: no server at {PG_ADMIN}")
                continue
            for workers in counts:
                for cfg in modes:
                    show(backend, workers, one_run(backend, workers, cfg, Path(tmp), baseline_n,
                                                   args.client_threads))


if __name__ == "__main__":
    main()
