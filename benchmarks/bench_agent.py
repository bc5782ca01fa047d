"""Till agent benchmarks: scan latency, durable commit, resident memory.

Usage: .venv/bin/python benchmarks/bench_agent.py [N]

1. scan -> priced basket visible through the local API: (a) the POS posts
   a line and gets the priced basket back (HTTP round trip on loopback);
   (b) a code written to the pty scanner twin until the SSE event with the
   priced basket reaches an API client. Bundle: 100,000 skus, 5,000
   promotions (benchmarks/_bundlegen.py); baskets up to 40 lines.
2. durable sale commit (the outbox row + journal close + sale index + jti,
   one SQLite transaction, WAL, synchronous=FULL) against a raw SQLite
   synchronous=FULL commit of one small row in the same directory, same run.
3. resident memory of a till process with the 100,000-sku bundle loaded
   and priced (separate process, VmRSS), beside a bare interpreter with
   the same imports.
"""
from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from _bundlegen import make_bundle  # noqa: E402

from agent import Agent, parse_config  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def row(name: str, ms: list[float]) -> str:
    return f"| {name} | {statistics.median(ms):.3f} ms | {pct(ms, 99):.3f} ms |"


def bench_scan_and_commit(n: int, tmp: Path, bundle: dict) -> list[str]:
    from hardware_sim import ScannerTwin

    (tmp / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    scanner = ScannerTwin().open()
    cfg = parse_config({"till": {"id": "T-1", "store": bundle["stores"][0]["id"], "program": "kopilka"},
                        "paths": {"data_dir": "till", "bundle": "bundle.json"}, "api": {"port": 0},
                        "scanner": {"device": scanner.path}}, tmp)
    agent = Agent(cfg)
    loop = threading.Thread(target=agent.run, daemon=True)
    loop.start()
    while agent.api is None:
        time.sleep(0.01)
    till = agent.till
    assert till is not None
    from fastcore import ean13_valid

    # valid EAN-13s only: the scanner driver drops a code with a bad check digit
    skus = [c["sku"] for c in bundle["catalog"] if c["unit"] == "pcs" and ean13_valid(c["sku"])][:5000]
    client = httpx.Client(base_url=agent.api.url, timeout=10,
                          headers={"Authorization": f"Bearer {agent.api_token}"})  # till.md §3
    api_ms: list[float] = []
    commit_ms: list[float] = []
    pay_ms: list[float] = []
    sid = client.post("/v1/sessions").json()["id"]
    lines = 0
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post(f"/v1/sessions/{sid}/lines", json={"sku": skus[i % len(skus)]})
        doc = r.json()
        api_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200 and doc["result"]["totals"]["amount"] > 0
        lines += 1
        if lines == 40:
            till.cancel(sid)
            sid = client.post("/v1/sessions").json()["id"]
            lines = 0
    # whole pay() of a 10-line basket (reprice + commit + print queue + close)
    for i in range(max(20, n // 40)):
        for j in range(10):
            client.post(f"/v1/sessions/{sid}/lines", json={"sku": skus[(i * 10 + j) % len(skus)]})
        t0 = time.perf_counter()
        till.pay(sid)
        pay_ms.append((time.perf_counter() - t0) * 1000)
        sid = client.post("/v1/sessions").json()["id"]
    # (b) pty scanner -> SSE event with the priced basket
    sse_ms: list[float] = []
    got = threading.Event()
    box: dict = {}

    def listen() -> None:
        with httpx.Client(base_url=agent.api.url, timeout=None) as c, c.stream("GET", "/v1/events") as resp:
            for line in resp.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    ev = json.loads(line[5:])
                    if ev.get("type") == "session" and ev.get("action") == "line_added":
                        box["t"] = time.perf_counter()
                        got.set()

    stop = threading.Event()
    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.5)
    for i in range(min(n, 500)):
        if i and i % 40 == 0:
            till.cancel(sid)
            sid = till.open_session().id
        got.clear()
        t0 = time.perf_counter()
        scanner.scan(skus[(i * 13) % len(skus)])
        if not got.wait(5):
            raise RuntimeError("no SSE event for a scan")
        sse_ms.append((box["t"] - t0) * 1000)
    stop.set()
    client.close()
    till.cancel(sid)
    # durable commit vs a raw SQLite synchronous=FULL commit (same directory),
    # measured alternately so that both see the same disk and the same load
    raw_ms: list[float] = []
    conn = sqlite3.connect(tmp / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    body = "x" * 2000
    for i in range(max(300, n // 5)):
        s = till.open_session()
        for j in range(10):
            till.add_line(s.id, skus[(i * 10 + j) % len(skus)])
        s.payment = {"method": "cash", "amount": 0}
        t0 = time.perf_counter()
        with till.lock:
            till.commits.commit(s)
        commit_ms.append((time.perf_counter() - t0) * 1000)
        till.commits.finish(s)
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
        raw_ms.append((time.perf_counter() - t0) * 1000)
    conn.close()
    agent.inbox.put(("signal", "stop"))
    loop.join(30)
    scanner.close()
    ratio_med = statistics.median(commit_ms) / statistics.median(raw_ms)
    ratio_p99 = pct(commit_ms, 99) / pct(raw_ms, 99)
    return [
        "| measure | median | p99 |",
        "|---|---|---|",
        row(f"POS API: add line -> priced basket returned (n={len(api_ms)}, 100k skus, 5k promos)", api_ms),
        row(f"pty scanner -> SSE event with the priced basket (n={len(sse_ms)})", sse_ms),
        row(f"durable sale commit, 10-line sale: outbox row + hash chain + journal close + sale index"
            f" + jti, one FULL txn (n={len(commit_ms)})", commit_ms),
        row(f"baseline: raw SQLite WAL synchronous=FULL commit of a 2 KB row, alternated (n={len(raw_ms)})",
            raw_ms),
        row(f"whole pay() of a 10-line sale: reprice + commit + queue receipt (n={len(pay_ms)})", pay_ms),
        "",
        f"durable commit / raw FULL commit: median x{ratio_med:.2f}, p99 x{ratio_p99:.2f}",
    ]


_RSS_CHILD = r"""
import json, sys, resource
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
import fastcore, agent, sync, httpx, starlette, uvicorn
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
base = rss()
if sys.argv[2] != "bare":
    from _bundlegen import make_baskets
    from sync import PromoCache, TillDb
    from agent._catalog import Catalog
    db = TillDb(sys.argv[2])
    cache = PromoCache(db)  # what the agent does at start: stored rows -> dict -> engine, dict dropped
    cat = Catalog(cache.meta, engine=cache.engine)  # as agent/_daemon.py builds it
    for b in make_baskets({"catalog": [cat.items[s] for s in list(cat.items)[::20]]}, 50):
        cat.price(b)
    import gc; gc.collect()
    print(json.dumps({"base": base, "loaded": rss(), "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    db.close()
else:
    print(json.dumps({"base": base, "loaded": base, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def bench_memory(bundle: dict, tmp: Path) -> list[str]:
    from sync import PromoCache, TillDb

    db_path = tmp / "mem.sqlite3"
    db = TillDb(db_path)
    PromoCache(db).install(json.dumps(bundle))
    db.close()
    out = {}
    for mode in ("bare", str(db_path)):
        res = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(ROOT), mode], capture_output=True, text=True,
                             check=True)
        out["bare" if mode == "bare" else "load"] = json.loads(res.stdout.strip().splitlines()[-1])
    return [
        "| process | resident (VmRSS) |",
        "|---|---|",
        f"| interpreter + agent imports, no bundle | {out['bare']['loaded']} MB |",
        f"| + 100,000-sku / 5,000-promotion bundle loaded from the promo cache and priced | {out['load']['loaded']} MB |",
    ]


def main() -> None:
    import logging

    logging.disable(logging.WARNING)  # "receipt queued" warnings: this till has no printer
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    import fastcore

    print(f"engine: {fastcore.Engine.__module__}; python {sys.version.split()[0]}; {os.cpu_count()} cpus")
    bundle = make_bundle()
    with tempfile.TemporaryDirectory(prefix="kopilka-bench-") as d:
        for line in bench_scan_and_commit(n, Path(d), bundle):
            print(line)
        print()
        for line in bench_memory(bundle, Path(d)):
            print(line)


if __name__ == "__main__":
    main()
