"""Ledger ingest rate, in process (no HTTP): batches of sales applied exactly once.

For each backend, ``--n`` priced member sales (the example basket) go
through ``Ledger.upload`` in batches of ``--batch``; then the audit queue
they left is drained (``Ledger.audit_pending``: every sale re-priced with
``Engine.price_many``, the work the server's audit worker does after the
acknowledgement) and timed on its own. The
rate is compared with ``raw_insert_rate`` (plain batched inserts of
TXN-sized rows into the same backend, measured in the same run). The ratio
says what exactly-once costs: claim, sale row, journal, balance, audit,
high-water mark. The till-to-ledger drain over HTTP is ``bench_sync.py``.

Run: ``.venv/bin/python benchmarks/bench_ledger_ingest.py [--n 20000] [--pg URL|--no-pg]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import fastcore  # noqa: E402
import psycopg  # noqa: E402
from _ledger_baseline import raw_insert_rate  # noqa: E402

from sync._hashchain import GENESIS, txn_hash  # noqa: E402
from sync.ledger import Ledger, TillRecord  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMBERS = "card,account,opening_balance\n2900000123458,A-77,1000\n2900000123465,B-01,1000\n"


def sales(n: int) -> list[dict[str, Any]]:
    bundle_text = (ROOT / "examples" / "bundle.json").read_text("utf-8")
    basket = json.loads((ROOT / "examples" / "basket.json").read_text("utf-8"))
    basket["redeem"] = 0
    result = fastcore.Engine(fastcore.load_bundle(bundle_text)).price(
        fastcore.loads(json.dumps(basket))).to_json()
    out, prev = [], GENESIS
    for i in range(n):
        account = ("A-77", "B-01")[i % 2]
        txn = {"txn_id": str(uuid.uuid4()), "till": "KY-001-01", "store": "KY-001",
               "seq": i + 1, "kind": "sale", "at": basket["at"],
               "customer": {"card": "2900000123458", "account": account, "jti": None,
                            "claims": None},
               "mode": "offline", "hold_id": None, "basket": basket, "result": result,
               "bundle_version": 1, "engine_version": fastcore.ENGINE_VERSION,
               "original_txn_id": None, "returned": None, "prev_hash": prev}
        txn["hash"] = prev = txn_hash(txn)
        out.append(txn)
    return out


def ingest_rate(url: str, txns: list[dict[str, Any]], batch: int
                ) -> tuple[float, list[float], float]:
    """(ingest txn/s, batch latencies in ms, audit sales/s)."""
    with Ledger(url) as led:
        led.import_bundle((ROOT / "examples" / "bundle.json").read_text("utf-8"))
        led.import_members(MEMBERS)
        led.add_till("KY-001", "KY-001-01")
        till = TillRecord("KY-001-01", "KY-001")
        lat = []
        t0 = time.perf_counter()
        for i in range(0, len(txns), batch):
            t1 = time.perf_counter()
            answer = led.upload(till, {"till": till.till, "store": till.store,
                                       "transactions": txns[i:i + batch]})
            lat.append((time.perf_counter() - t1) * 1000)
            assert all(r.status == "accepted" for r in answer.results)
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        audited = led.audit_pending()
        audit_s = time.perf_counter() - t1
        assert audited == len(txns) and led.audits_queued() == 0
        assert led.check() == []
    return len(txns) / elapsed, lat, audited / audit_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    txns = sales(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{tmp}/ledger.db", f"sqlite:///{tmp}/raw.db")]
        name = None
        if not args.no_pg:
            name = "kopilka_bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            pg = f"postgresql://postgres@127.0.0.1:5432/{name}"
            targets.append(("postgresql", pg, pg))
        try:
            for label, url, raw_url in targets:
                raw = raw_insert_rate(raw_url, args.n)
                rate, lat, audit = ingest_rate(url, txns, args.batch)
                print(f"{label:10s} ingest {rate:8.0f} txn/s (batch {args.batch}, median batch "
                      f"{statistics.median(lat):.0f} ms); raw inserts {raw:8.0f} rows/s; "
                      f"ratio {rate / raw:.2f}; audit after ack {audit:8.0f} sales/s")
        finally:
            if name:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
