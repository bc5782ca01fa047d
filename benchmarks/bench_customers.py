"""The store customer cache (spec/till.md §2a): size on the till and time at both ends.

A ledger of ``--members`` members (default 500,000) spread over stores so
that one store, ``KY-001``, has ``--store-members`` (default 50,000) home
members. Members are bulk-inserted (``cards``/``accounts`` rows, as an
existing ledger holds them) and the caches built once (``ensure_built``,
what the first use after migration 7 does). Measured, median of
``--repeat`` runs where it makes sense:

- ledger ``full answer``: the ``customers`` member of KY-001's bundle answer
  for a till without a cursor (its bytes, and gzipped as sent);
- ledger ``import 1,000 changes``: ``import_members`` of 1,000 changed
  KY-001 members (tier and balance), the cache rows written in the same
  transaction; then the ``delta answer`` for a till at the previous cursor;
- till ``apply full`` and ``apply delta``: what the puller does with the
  answer (check every entry, write it in one SQLite transaction);
- till size: bytes the cache adds to the till database (pages of
  ``promo_customer``) and the process's resident memory before/after
  loading it and looking up 1,000 cards; the look-up time per card.

Baseline in the same run: ``json.loads`` of the full answer text (the
least any till-side apply must do).

Run: ``.venv/bin/python benchmarks/bench_customers.py [--db URL] [--quick]``
(``--db postgresql://…`` uses that database, which must be empty; default a
temporary SQLite file).
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from sync import PromoCache, TillDb  # noqa: E402
from sync._customercache import parse_changes, store_changes  # noqa: E402
from sync._memory import release_free_memory  # noqa: E402
from sync.ledger import Ledger  # noqa: E402
from sync.ledger import _customers  # noqa: E402

STORE = "KY-001"


def ean13(n: int) -> str:
    first12 = f"29{n:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def fill(led: Ledger, members: int, store_members: int) -> None:
    """Bulk-insert members: the first ``store_members`` at KY-001, the rest over 99 other stores."""
    now = led.now_text()
    rows_c, rows_a = [], []
    for i in range(members):
        store = STORE if i < store_members else f"ST-{i % 99:03d}"
        acc = f"A-{i}"
        seg = json.dumps(["students"] if i % 7 == 0 else [])
        rows_c.append((ean13(i), acc, "silver" if i % 3 else "base", seg, "[]",
                       f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                       "dairy" if i % 5 == 0 else None, "2026-12-31" if i % 5 == 0 else None,
                       store, now))
        rows_a.append((acc, 100 + i % 5000, i % 4, now))
    with led.storage.transaction() as tx:
        tx.insert_many("cards", ("card", "account", "tier", "segments", "offers", "birthday",
                                 "favorite_category", "favorite_until", "home_store", "updated_at"),
                       rows_c)
        tx.insert_many("accounts", ("account", "points", "sales", "created_at"), rows_a)
    with led.storage.transaction() as tx:
        _customers.ensure_built(tx, now)


def changes_file(n: int, seed: int) -> str:
    lines = []
    for i in range(n):
        k = (i * 37 + seed) % n
        lines.append(json.dumps({"card": ean13(k), "account": f"A-{k}", "tier": f"gold-{seed}",
                                 "home_store": STORE, "opening_balance": 0}))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--members", type=int, default=500_000)
    ap.add_argument("--store-members", type=int, default=50_000)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50,000 members, 5,000 at the store")
    args = ap.parse_args()
    if args.quick:
        args.members, args.store_members, args.repeat = 50_000, 5_000, 1
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{tmp.name}/ledger.db"
    print(f"load: {open('/proc/loadavg').read().strip()}")
    print(f"ledger {url.split(':')[0]}: {args.members:,} members, {args.store_members:,} at {STORE}")
    with Ledger(url, customer_refresh_s=3600) as led:
        t0 = time.perf_counter()
        fill(led, args.members, args.store_members)
        print(f"  bulk insert + first cache build: {time.perf_counter() - t0:.1f} s")
        epoch = led.epoch()

        def full_answer() -> str:
            with led.storage.transaction() as tx:
                return _customers.answer_text(tx, STORE, "store", epoch, None)

        t_full, text = timed(full_answer, args.repeat)
        print(f"  full answer: {t_full * 1000:.0f} ms, {len(text.encode()):,} bytes "
              f"({len(gzip.compress(text.encode(), 1)):,} gzipped)")
        cursor = json.loads(text)["cursor"]
        t0 = time.perf_counter()
        led.import_members(changes_file(args.changes, 1))
        t_imp = time.perf_counter() - t0
        with led.storage.transaction() as tx:
            t_delta, delta = timed(lambda: _customers.answer_text(tx, STORE, "store", epoch, cursor),
                                   args.repeat)
        part = json.loads(delta)
        print(f"  import {args.changes:,} changed members: {t_imp * 1000:.0f} ms; delta answer "
              f"{t_delta * 1000:.1f} ms ({len(part['upsert'])} upserts, {len(delta):,} bytes)")

    with TillDb(Path(tmp.name) / "till.db") as db:
        cache = PromoCache(db)
        t_base = timed(lambda: json.loads(text) and None, args.repeat)[0]
        gc.collect()
        release_free_memory()
        before_rss = rss()

        def apply(answer: str) -> None:
            changes = parse_changes(json.loads(answer))
            with db.transaction() as conn:
                store_changes(conn, changes)

        peak = Peak()
        with peak:
            t_apply = timed(lambda: apply(text), args.repeat)[0]
        gc.collect()
        release_free_memory()
        cards = [ean13(i) for i in range(0, args.store_members, max(1, args.store_members // 1000))]
        t0 = time.perf_counter()
        found = sum(cache.customer(c) is not None for c in cards)
        t_look = (time.perf_counter() - t0) / len(cards)
        after_rss = rss()
        pages = db.conn.execute("SELECT COUNT(*) FROM promo_customer").fetchone()[0]
        size = db.conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'promo_customer'").fetchone()[0] \
            if _has_dbstat(db) else None
        t_dapply = timed(lambda: apply(delta), args.repeat)[0]
        print(f"till: apply full {t_apply * 1000:.0f} ms (baseline json.loads {t_base * 1000:.0f} ms, "
              f"ratio {t_apply / t_base:.1f}x); apply delta of {args.changes:,}: {t_dapply * 1000:.1f} ms")
        print(f"  cache: {pages:,} cards, {size if size is not None else '?'} bytes in SQLite, "
              f"resident memory {(after_rss - before_rss) / 1e6:+.1f} MB after load and "
              f"{len(cards)} look-ups ({found} found, {t_look * 1e6:.1f} µs each); "
              f"peak during the full apply {(peak.top - before_rss) / 1e6:+.1f} MB")
    tmp.cleanup()


class Peak:
    """The highest resident memory seen (sampled every 2 ms) while inside the block."""

    def __init__(self) -> None:
        import threading

        self.top = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.top = max(self.top, rss())

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.top = max(self.top, rss())


def _has_dbstat(db: TillDb) -> bool:
    try:
        db.conn.execute("SELECT 1 FROM dbstat LIMIT 1").fetchall()
        return True
    except Exception:
        return False


if __name__ == "__main__":
    main()
