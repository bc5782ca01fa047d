"""Single-sale benchmark: many online tills, each posting one sale a request.

An online till posts each sale as it is paid (``POST /v1/transactions`` with
one TXN); a chain's ledger sees thousands of such requests at once. Here
``--tills`` simulated tills (1,000 by default), each a keep-alive HTTP/1.1
connection driven by one asyncio client process, post ``--requests`` sales
each, back to back (a closed loop: the ledger's capacity, not a paced
day), against ``kopilka ledger serve --workers N`` on SQLite and on
PostgreSQL. The sales are real TXNs (priced by the engine, hash-chained per
till, half of them for a member) built before the clock starts.

Printed per backend and worker count: requests/s and latency p50/p99/max
of the closed loop, of each paced run (``--paced``: offered rates) and of
one heartbeat per till paced at ``--heartbeats``/s (250/s is 15,000 tills
at one a minute), and two baselines measured in the same run:

- the same client against an ack-only server (parses the JSON, answers
  ``accepted``): the ceiling of the client and uvicorn on this machine;
- raw single-row durable commits on the same backend (one connection, one
  ``INSERT`` + ``COMMIT`` at a time): what one commit per request costs.

    .venv/bin/python benchmarks/bench_single_sale.py [--quick] [--backend sqlite|postgres|both]
        [--tills 1000] [--requests 5] [--workers 1,2] [--paced 500,1000,2000] [--heartbeats 250]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sync import ACK_SERVER, CARD, ACCOUNT, sale_template, wait_up  # noqa: E402
from sync import GENESIS, txn_hash  # noqa: E402
from sync.ledger import Ledger, open_storage  # noqa: E402
from tests.sync.ledger_server import (  # noqa: E402
    PG_ADMIN, LedgerServer, free_port, postgres_available)

STORES = 100


def till_names(n: int) -> list[tuple[str, str]]:
    return [(f"S{i % STORES:03}", f"S{i % STORES:03}-{i:05}") for i in range(n)]


def build_requests(template: dict[str, Any], tills: list[tuple[str, str, str]],
                   per_till: int) -> list[list[bytes]]:
    """Each till's requests as raw HTTP/1.1 bytes (one sale each, chained by hash)."""
    out = []
    anon = {**template, "customer": None}
    for n, (store, till, key) in enumerate(tills):
        prev, reqs = GENESIS, []
        for seq in range(1, per_till + 1):
            base = template if (n + seq) % 2 else anon
            txn = {**base, "txn_id": str(uuid.uuid4()), "till": till, "store": store,
                   "seq": seq, "prev_hash": prev, "original_txn_id": None, "returned": None}
            txn["hash"] = prev = txn_hash(txn)
            body = json.dumps({"till": till, "store": store, "transactions": [txn]},
                              separators=(",", ":")).encode()
            reqs.append(b"POST /v1/transactions HTTP/1.1\r\nHost: ledger\r\n"
                        b"Authorization: Bearer " + key.encode() + b"\r\n"
                        b"Content-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body)
        out.append(reqs)
    return out


def build_heartbeats(tills: list[tuple[str, str, str]], per_till: int) -> list[list[bytes]]:
    """Each till's heartbeats as raw HTTP/1.1 bytes."""
    out = []
    for store, till, key in tills:
        body = json.dumps({"till": till, "store": store, "at": "2026-11-22T15:00:00+07:00",
                           "queue_depth": 0, "oldest_unsynced_age_s": 0}).encode()
        out.append([b"POST /v1/heartbeat HTTP/1.1\r\nHost: ledger\r\n"
                    b"Authorization: Bearer " + key.encode() + b"\r\n"
                    b"Content-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body] * per_till)
    return out


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _till(port: int, reqs: list[bytes], latencies: list[float], errors: list[str],
                start: asyncio.Event, check: bool, pace: tuple[float, float] | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    await start.wait()
    began = time.perf_counter()
    try:
        for k, req in enumerate(reqs):
            if pace is not None:  # this till's k-th sale is paid at offset + k x interval
                due = began + pace[0] + k * pace[1]
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t0 = time.perf_counter()
            writer.write(req)
            status, body = await _read_answer(reader)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
            elif check and b'"status":"accepted"' not in body:
                errors.append(body[:300].decode(errors="replace"))
    finally:
        writer.close()


async def _load(port: int, requests: list[list[bytes]], check: bool, rate: float
                ) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    start = asyncio.Event()
    interval = len(requests) / rate if rate else 0.0
    rng = random.Random(1)
    tasks = [asyncio.create_task(_till(port, r, latencies, errors, start, check,
                                       (rng.uniform(0, interval), interval) if rate else None))
             for r in requests]
    await asyncio.sleep(0.5)  # every connection opened before the clock starts
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0, latencies, errors


def load(port: int, requests: list[list[bytes]], check: bool = True, rate: float = 0.0
         ) -> dict[str, Any]:
    """Closed loop (``rate`` 0: each till posts its next sale on the answer) or paced."""
    elapsed, lat, errors = asyncio.run(_load(port, requests, check, rate))
    lat.sort()
    n = len(lat)
    return {"n": n, "rate": n / elapsed, "p50": statistics.median(lat) * 1000,
            "p99": lat[min(n - 1, int(n * 0.99))] * 1000, "max": lat[-1] * 1000,
            "errors": errors}


def ack_only(requests: list[list[bytes]]) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ACK_SERVER, str(port)])
    try:
        wait_up(port)
        return load(port, requests)
    finally:
        proc.kill()
        proc.wait()


def raw_commit_rate(db_url: str, seconds: float) -> float:
    """Single-row ``INSERT`` + durable ``COMMIT``s a second, one connection, same backend."""
    table = "raw_commit_" + uuid.uuid4().hex[:8]
    with open_storage(db_url) as st:
        with st.transaction() as tx:
            tx.execute(f"CREATE TABLE {table} (txn_id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            with st.transaction() as tx:
                tx.execute(f"INSERT INTO {table} (txn_id, body) VALUES (?, ?)",
                           (str(uuid.uuid4()), "x" * 2000))
            n += 1
        elapsed = time.perf_counter() - t0
        with st.transaction() as tx:
            tx.execute(f"DROP TABLE {table}")
    return n / elapsed


def register(server: LedgerServer, n: int) -> list[tuple[str, str, str]]:
    with Ledger(server.url) as led:
        return [(store, till, led.add_till(store, till)) for store, till in till_names(n)]


def run(backend: str, workers: int, args: argparse.Namespace, template: dict[str, Any],
        work: Path) -> None:
    sub = work / f"{backend}-{workers}"
    sub.mkdir()
    server = LedgerServer(backend, sub, members=[{"card": CARD, "account": ACCOUNT,
                                                   "tier": "silver", "opening_balance": 0}],
                          serve_args=("--workers", str(workers)))
    try:
        tills = register(server, args.tills)
        r = args.requests
        every = build_requests(template, tills, r * (1 + len(args.paced)))
        raw = raw_commit_rate(server.url, 2.0 if args.quick else 5.0)
        got = load(server.port, [reqs[:r] for reqs in every])
        paced = [(rate, load(server.port, [reqs[r * i:r * (i + 1)] for reqs in every],
                             rate=rate))
                 for i, rate in enumerate(args.paced, start=1)]
        beats = load(server.port, build_heartbeats(tills, 1), check=False,
                     rate=args.heartbeats) if args.heartbeats else None
        with Ledger(server.url) as led:
            with led.storage.transaction() as tx:
                (sales,) = tx.one("SELECT COUNT(*) FROM sales") or (0,)
            sound = led.check() == []
    finally:
        server.close()
    tag = f"[{backend} x{workers}]"
    print(f"{tag} raw single-row durable commits (one connection): {raw:,.0f}/s")
    print(f"{tag} {args.tills:,} tills x {args.requests} one-sale requests: "
          f"{got['rate']:,.0f} requests/s = {got['rate'] / raw:.1f} x raw commits; "
          f"p50 {got['p50']:.0f} ms, p99 {got['p99']:.0f} ms, max {got['max']:.0f} ms; "
          f"{len(got['errors'])} errors; {sales:,} sales stored; balances "
          f"{'equal' if sound else 'DIFFER FROM'} journals")
    for rate, p in paced:
        print(f"{tag} paced at {rate:,.0f} requests/s offered: {p['rate']:,.0f} requests/s; "
              f"p50 {p['p50']:.0f} ms, p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms; "
              f"{len(p['errors'])} errors")
    if beats is not None:
        print(f"{tag} heartbeats paced at {args.heartbeats:,.0f}/s offered (one per till): "
              f"{beats['rate']:,.0f}/s; p50 {beats['p50']:.0f} ms, p99 {beats['p99']:.0f} ms; "
              f"{len(beats['errors'])} errors")
    for e in (got["errors"] + [e for _, p in paced for e in p["errors"]])[:3]:
        print(f"{tag}   error: {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="50 tills x 3 requests, workers 1, paced at 100/s")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--tills", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=5, help="one-sale requests per till")
    ap.add_argument("--workers", default="1,2", help="ledger serve worker counts to run")
    ap.add_argument("--paced", default="500,1000,2000",
                    help="offered rates (requests/s, comma-separated) of the paced runs that "
                         "follow the closed loop: latency at a given load")
    ap.add_argument("--heartbeats", type=float, default=250.0,
                    help="offered heartbeats/s of the last run (one per till; 0: none)")
    args = ap.parse_args()
    if args.quick:
        args.tills, args.requests, args.workers, args.paced = 50, 3, "1", "100"
    args.paced = [float(x) for x in args.paced.split(",") if x]
    print(f"machine: {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    template = sale_template()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fake = [(s, t, "k") for s, t in till_names(args.tills)]
        ack = ack_only(build_requests(template, fake, args.requests))
        print(f"[ack-only] {args.tills:,} tills x {args.requests}: {ack['rate']:,.0f} requests/s; "
              f"p50 {ack['p50']:.0f} ms, p99 {ack['p99']:.0f} ms (the client's and uvicorn's "
              f"ceiling here)")
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            if backend == "postgres" and not postgres_available():
                print(f"[postgres] skipped: no server at {PG_ADMIN}")
                continue
            for workers in (int(w) for w in args.workers.split(",")):
                run(backend, workers, args, template, work)


if __name__ == "__main__":
    main()
