"""Till agent benchmarks: scan latency, durable commit, resident memory.

Usage: .venv/bin/python benchmarks/bench_agent.py [N] [--loaded [--backend postgres|sqlite]]

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

``--loaded`` measures 1 (a) and (b) only, on a machine loaded the way a
store's is: a ``kopilka ledger serve`` (PostgreSQL when 127.0.0.1:5432
answers, else SQLite; ``--backend``) holding the same bundle, both tills
bootstrapped from it and uploading to it, and a second till agent in its
own process selling 10-line sales back to back for the whole measurement
(so the ledger ingests and audits them meanwhile). The same measurement
without that load runs first, in the same run, as the baseline.
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


def bench_scan_and_commit(n: int, tmp: Path, bundle: dict, ledger: tuple[str, str, str] | None = None,
                          scan_only: bool = False) -> list[str]:
    """``ledger``: (url, key, till id) to bootstrap from and upload to; ``scan_only``: part 1 alone."""
    from hardware_sim import ScannerTwin

    (tmp / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    scanner = ScannerTwin().open()
    doc: dict = {"till": {"id": "T-1", "store": bundle["stores"][0]["id"], "program": "kopilka"},
                 "paths": {"data_dir": "till", "bundle": "bundle.json"}, "api": {"port": 0},
                 "scanner": {"device": scanner.path}}
    if ledger is not None:  # bootstrapped from the ledger (no seed file to be replaced mid-run)
        doc["till"]["id"] = ledger[2]
        doc["paths"] = {"data_dir": f"till-{ledger[2]}"}
        doc["ledger"] = {"url": ledger[0], "key": ledger[1]}
    cfg = parse_config(doc, tmp)
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
    # the same edit in process (no HTTP): wall, and this thread's CPU time, which
    # excludes waiting for a core (the p99 of a loaded 2-core machine is mostly that)
    inproc_ms: list[float] = []
    inproc_cpu: list[float] = []
    till.cancel(sid)  # one open sale per till
    sid_in = till.open_session().id
    for i in range(min(n, 400)):
        if i and i % 40 == 0:
            till.cancel(sid_in)
            sid_in = till.open_session().id
        c0, t0 = time.thread_time(), time.perf_counter()
        till.add_line(sid_in, skus[(i * 7) % len(skus)])
        inproc_ms.append((time.perf_counter() - t0) * 1000)
        inproc_cpu.append((time.thread_time() - c0) * 1000)
    till.cancel(sid_in)
    sid = till.open_session().id
    # whole pay() of a 10-line basket (reprice + commit + print queue + close)
    for i in range(0 if scan_only else max(20, n // 40)):
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
    for i in range(0 if scan_only else max(300, n // 5)):
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
    if scan_only:
        return [
            row(f"POS API: add line -> priced basket returned (n={len(api_ms)})", api_ms),
            row(f"pty scanner -> SSE event with the priced basket (n={len(sse_ms)})", sse_ms),
            row(f"in process: add line (reprice + hints + journal + event), wall (n={len(inproc_ms)})", inproc_ms),
            row(f"in process: the same, CPU time of the thread (n={len(inproc_cpu)})", inproc_cpu),
        ]
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


_SECOND_TILL = r"""
import json, logging, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
logging.disable(logging.WARNING)
from agent import Agent, parse_config
tmp, url, key, till_id, store = Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
skus = json.loads((tmp / "skus.json").read_text())
cfg = parse_config({"till": {"id": till_id, "store": store, "program": "kopilka"}, "paths": {"data_dir": "till-2"},
                    "ledger": {"url": url, "key": key}}, tmp)
agent = Agent(cfg, serve_api=False).start()
till = agent.till
print("ready", flush=True)
cards = json.loads((tmp / "cards.json").read_text())
stop, sales, carded, i = tmp / "stop", 0, 0, 0
while not stop.exists():
    s = till.open_session()
    if i % 2 == 0:  # every other sale to a member: the ledger then audits it (re-prices it)
        try:
            till.identify(s.id, cards[i % len(cards)])
            carded += 1
        except Exception as exc:  # counted: the figures say how many sales had a card
            print("identify:", exc, file=sys.stderr)
    for j in range(10):
        till.add_line(s.id, skus[(i * 10 + j) % len(skus)])
    till.pay(s.id)
    sales += 1
    i += 1
(tmp / "sales.txt").write_text(f"{sales} {carded}")
agent.stop()
"""


def _uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench_loaded(n: int, bundle: dict, backend: str) -> list[str]:
    """Part 1 without load, then with a ledger and a second till selling (see the module docstring)."""
    from tests.sync.ledger_server import LedgerServer

    from fastcore import ean13_check_digit, ean13_valid

    out = [f"load average before: {_uptime()}", "", "| measure | median | p99 |", "|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="kopilka-bench-") as d:
        out += [line.replace("| ", "| quiet: ", 1)
                for line in bench_scan_and_commit(n, Path(d), bundle, scan_only=True)]
    with tempfile.TemporaryDirectory(prefix="kopilka-bench-loaded-") as d:
        tmp = Path(d)
        cards = [c + str(ean13_check_digit(c)) for c in (f"29{k:010d}" for k in range(1, 51))]
        server = LedgerServer(backend, tmp, members=[{"card": c, "account": f"A-{k}", "tier": "silver",
                                                      "opening_balance": 1000} for k, c in enumerate(cards)])
        (tmp / "cards.json").write_text(json.dumps(cards))
        second: subprocess.Popen[bytes] | None = None
        try:
            with server.ledger() as led:
                t0 = time.perf_counter()
                version, _ = led.import_bundle(json.dumps(bundle))
                key2 = led.add_till(server.store, "KY-001-02")
            print(f"ledger ({backend}): bundle version {version} imported in {time.perf_counter() - t0:.1f} s")
            skus = [c["sku"] for c in bundle["catalog"] if c["unit"] == "pcs" and ean13_valid(c["sku"])][:5000]
            (tmp / "skus.json").write_text(json.dumps(skus[::-1]))
            second = subprocess.Popen([sys.executable, "-c", _SECOND_TILL, str(ROOT), str(tmp), server.base_url, key2,
                                       "KY-001-02", server.store], stdout=subprocess.PIPE,
                                      stderr=(tmp / "second-till.log").open("wb"))
            assert second.stdout is not None
            if second.stdout.readline().strip() != b"ready":
                raise RuntimeError("the second till did not start")
            load0 = _uptime()
            t0 = time.perf_counter()
            lines = bench_scan_and_commit(n, tmp, bundle, ledger=(server.base_url, server.key, server.till),
                                          scan_only=True)
            elapsed = time.perf_counter() - t0
            load1 = _uptime()
            (tmp / "stop").touch()
            second.wait(120)
            sales, carded = (int(x) for x in (tmp / "sales.txt").read_text().split())
            with server.ledger() as led, led.storage.transaction() as tx:
                audited = tx.one("SELECT count(*) FROM audits")
        finally:
            if second is not None and second.poll() is None:
                second.kill()
            server.close()
        out += [line.replace("| ", "| loaded: ", 1) for line in lines]
        out += ["", f"load: ledger serve ({backend}) + second till selling 10-line sales: {sales} sales in "
                f"{elapsed:.0f} s ({sales / elapsed:.1f}/s, {carded} to a member card); sales audited by the ledger: {audited[0] if audited else 0}; "
                f"load average {load0} -> {load1}"]
    return out


def main() -> None:
    import argparse
    import logging

    logging.disable(logging.WARNING)  # "receipt queued" warnings: this till has no printer
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=2000)
    ap.add_argument("--loaded", action="store_true", help="scan latency with a ledger and a second till selling")
    ap.add_argument("--backend", choices=("postgres", "sqlite"), default=None)
    args = ap.parse_args()
    import fastcore

    print(f"engine: {fastcore.Engine.__module__}; python {sys.version.split()[0]}; {os.cpu_count()} cpus; "
          f"load average {_uptime()}")
    bundle = make_bundle()
    if args.loaded:
        from tests.sync.ledger_server import postgres_available

        backend = args.backend or ("postgres" if postgres_available() else "sqlite")
        for line in bench_loaded(args.n, bundle, backend):
            print(line)
        return
    with tempfile.TemporaryDirectory(prefix="kopilka-bench-") as d:
        for line in bench_scan_and_commit(args.n, Path(d), bundle):
            print(line)
        print()
        for line in bench_memory(bundle, Path(d)):
            print(line)


if __name__ == "__main__":
    main()
