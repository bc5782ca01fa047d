"""Sync benchmark: a till's backlog drained to a real ledger on loopback.

For each ledger backend (SQLite file, PostgreSQL at 127.0.0.1:5432):

1. the raw batched-insert rate of that backend, measured in the same run
   (``raw_insert_rate`` from ``benchmarks/_ledger_baseline.py`` when the
   ledger side provides it, else the fallback below: the same rows inserted
   with ``executemany`` in batches of 1,000, one commit per batch) — the
   ratio's baseline;
2. one till with an N-transaction backlog (100,000 by default) drained to a
   ledger served by uvicorn in a subprocess: transactions/s and the ratio;
   then the time until the ledger's audit worker (which re-prices every
   sale after its acknowledgement) has emptied its queue;
3. a 10,000-sale backlog caught up while the till keeps selling (a sale
   every 10 ms): catch-up time and the sale commit latency (p50/p99/max)
   during it.

    .venv/bin/python benchmarks/bench_sync.py [--quick] [--backend sqlite|postgres|both]
"""
from __future__ import annotations

import argparse
import importlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fastcore  # noqa: E402
from sync import Backoff, Outbox, TillDb, Uploader  # noqa: E402
from tests.sync.ledger_server import PG_ADMIN, LedgerServer, postgres_available  # noqa: E402

CARD, ACCOUNT = "2900000123458", "A-77"


def sale_template() -> dict[str, Any]:
    engine = fastcore.Engine(fastcore.load_bundle((ROOT / "examples" / "bundle.json").read_text("utf-8")))
    basket = json.loads((ROOT / "examples" / "basket.json").read_text("utf-8"))
    basket["redeem"] = 0
    basket["customer"]["card"] = CARD
    return {"kind": "sale", "at": basket["at"],
            "customer": {"card": CARD, "account": ACCOUNT, "jti": None, "claims": None},
            "mode": "offline", "hold_id": None, "basket": basket,
            "result": engine.price(basket).to_json(),
            "bundle_version": 1, "engine_version": fastcore.ENGINE_VERSION}


def _fallback_raw_insert_rate(db_url: str, n: int, body: str) -> float:
    """Rows/s of plain batched inserts (1,000 per commit) into the same backend."""
    rows = [(str(uuid.uuid4()), "KY-001-01", i + 1, body) for i in range(n)]
    sql = "INSERT INTO raw_txn (txn_id, till, seq, body) VALUES ({0}, {0}, {0}, {0})"
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///") + ".raw", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE raw_txn (txn_id TEXT PRIMARY KEY, till TEXT, seq INTEGER, body TEXT)")
        t0 = time.perf_counter()
        for i in range(0, n, 1000):
            conn.execute("BEGIN")
            conn.executemany(sql.format("?"), rows[i:i + 1000])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        conn.close()
        return n / elapsed
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE raw_txn (txn_id TEXT PRIMARY KEY, till TEXT, seq INTEGER, body TEXT)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, n, 1000):
                cur.executemany(sql.format("%s"), rows[i:i + 1000])
                conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE raw_txn")
        conn.commit()
    return n / elapsed


def raw_insert_rate(db_url: str, n: int, body: str) -> tuple[float, str]:
    try:
        mod = importlib.import_module("_ledger_baseline")
        return float(mod.raw_insert_rate(db_url, n)), "benchmarks/_ledger_baseline.py"
    except (ImportError, AttributeError):
        return _fallback_raw_insert_rate(db_url, n, body), "fallback in bench_sync.py"


def fill(outbox: Outbox, template: dict[str, Any], n: int) -> None:
    for i in range(0, n, 5000):
        outbox.append_many({**template, "txn_id": str(uuid.uuid4())} for _ in range(min(5000, n - i)))


def audit_lag(server: LedgerServer, limit_s: float = 600.0) -> float:
    """Seconds until the server's audit worker has re-priced every uploaded sale."""
    t0 = time.perf_counter()
    with server.ledger() as led:
        while led.audits_queued():
            if time.perf_counter() - t0 > limit_s:
                raise RuntimeError("the audit queue did not drain")
            time.sleep(0.05)
    return time.perf_counter() - t0


def drain(server: LedgerServer, workdir: Path, template: dict[str, Any], n: int) -> tuple[float, float]:
    db = TillDb(workdir / "till-drain.db")
    db.start_checkpointer()
    try:
        outbox = Outbox(db, till=server.till, store=server.store)
        fill(outbox, template, n)
        with Uploader(outbox, base_url=server.base_url, key=server.key, batch_size=1000,
                      timeout=120, heartbeat_every_s=0) as up:
            t0 = time.perf_counter()
            report = up.sync_now()
            elapsed = time.perf_counter() - t0
        assert report.remaining == 0 and report.accepted == n, report
        return n / elapsed, audit_lag(server)
    finally:
        db.close()


def catch_up(server: LedgerServer, workdir: Path, template: dict[str, Any], n: int) -> dict[str, float]:
    with server.ledger() as led:
        key = led.add_till(server.store, "KY-001-02")
    db = TillDb(workdir / "till-catchup.db")
    db.start_checkpointer()  # as the agent runs it
    try:
        outbox = Outbox(db, till="KY-001-02", store=server.store)
        # Baseline, same run: sale commit latency with the uploader idle.
        idle: list[float] = []
        for _ in range(200):
            t0 = time.perf_counter()
            outbox.append({**template, "txn_id": str(uuid.uuid4())})
            idle.append((time.perf_counter() - t0) * 1000)
        fill(outbox, template, n - 200)
        latencies: list[float] = []
        stop = threading.Event()

        def sell() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                outbox.append({**template, "txn_id": str(uuid.uuid4())})
                latencies.append((time.perf_counter() - t0) * 1000)
                stop.wait(0.01)

        up = Uploader(outbox, base_url=server.base_url, key=key, batch_size=500, timeout=60,
                      heartbeat_every_s=0, poll_every_s=0.01,
                      backoff=Backoff(base=0.05, cap=1.0, rng=random.Random(1)))
        seller = threading.Thread(target=sell)
        t0 = time.perf_counter()
        seller.start()
        up.start()
        # Caught up: the backlog and everything sold meanwhile is acknowledged.
        while outbox.status().acked_through < n:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        stop.set()
        seller.join()
        up.close()
        lat, idle = sorted(latencies), sorted(idle)
        return {"seconds": elapsed, "sales_during": len(lat), "p50_ms": statistics.median(lat),
                "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))], "max_ms": lat[-1],
                "idle_p50_ms": statistics.median(idle), "idle_p99_ms": idle[int(len(idle) * 0.99)]}
    finally:
        db.close()


ACK_SERVER = r"""
import gzip, json, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def txns(request):
    raw = await request.body()
    if request.headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    body = json.loads(raw)
    res = [{"txn_id": t["txn_id"], "seq": t["seq"], "status": "accepted"} for t in body["transactions"]]
    return JSONResponse({"results": res, "high_water": res[-1]["seq"] if res else 0, "epoch": "e"})

async def time_(request):
    return JSONResponse({"server_time": "x"})

app = Starlette(routes=[Route("/v1/transactions", txns, methods=["POST"]), Route("/v1/time", time_)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def wait_up(port: int, limit_s: float = 60.0) -> None:
    """Until a server on 127.0.0.1:``port`` answers ``GET /v1/time``."""
    import httpx

    deadline = time.monotonic() + limit_s
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/time", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def till_side_ceiling(workdir: Path, template: dict[str, Any], n: int) -> float:
    """Drain rate to a server that only parses and acknowledges: the till side's own ceiling."""
    import subprocess

    from tests.sync.ledger_server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ACK_SERVER, str(port)])
    db = TillDb(workdir / "till-ceiling.db")
    try:
        wait_up(port)
        outbox = Outbox(db, till="KY-001-01", store="KY-001")
        fill(outbox, template, n)
        with Uploader(outbox, base_url=f"http://127.0.0.1:{port}", key="k", batch_size=1000,
                      timeout=120, heartbeat_every_s=0) as up:
            t0 = time.perf_counter()
            report = up.sync_now()
            elapsed = time.perf_counter() - t0
        assert report.remaining == 0, report
        return n / elapsed
    finally:
        db.close()
        proc.kill()
        proc.wait()


def run(backend: str, n: int, n_catchup: int) -> None:
    template = sale_template()
    body = json.dumps(template)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = LedgerServer(backend, work, members=[{"card": CARD, "account": ACCOUNT, "tier": "silver",
                                                       "opening_balance": 0}])
        try:
            raw, source = raw_insert_rate(server.url, n, body)
            rate, lag = drain(server, work, template, n)
            cu = catch_up(server, work, template, n_catchup)
        finally:
            server.close()
    print(f"[{backend}] raw batched insert ({source}): {raw:,.0f} rows/s")
    print(f"[{backend}] drain {n:,} txns till -> ledger (uvicorn, loopback): {rate:,.0f} txn/s "
          f"= {rate / raw:.2f} x raw insert; target >= 5,000 txn/s")
    print(f"[{backend}] every drained sale re-priced by the audit worker {lag:.2f} s after "
          f"the last acknowledgement")
    print(f"[{backend}] catch-up of {n_catchup:,} backlog while selling: {cu['seconds']:.2f} s "
          f"(target <= 10 s); {cu['sales_during']:.0f} sales meanwhile, commit latency "
          f"p50 {cu['p50_ms']:.2f} ms, p99 {cu['p99_ms']:.2f} ms, max {cu['max_ms']:.2f} ms "
          f"(uploader idle, same run: p50 {cu['idle_p50_ms']:.2f} ms, p99 {cu['idle_p99_ms']:.2f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 / 2,000 transactions instead of 100,000 / 10,000")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    n, n_catchup = (10_000, 2_000) if args.quick else (100_000, 10_000)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        ceiling = till_side_ceiling(Path(tmp), sale_template(), n)
    print(f"[till side] drain {n:,} txns to an ack-only server (uvicorn, loopback): {ceiling:,.0f} txn/s")
    for backend in backends:
        if backend == "postgres" and not postgres_available():
            print(f"[postgres] skipped: no server at {PG_ADMIN}")
            continue
        run(backend, n, n_catchup)


if __name__ == "__main__":
    main()
