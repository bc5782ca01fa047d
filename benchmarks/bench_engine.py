"""Engine benchmark: compiled vs reference on the same 40-line baskets.

Builds a 100,000-sku catalog and 5,000 promotions, prices 40-line baskets
with both engines in one run, and prints the median microseconds per basket
(Python boundary and ``to_json`` included), their ratio, and the
``price_many`` throughput (receipts/s, one core).

    .venv/bin/python benchmarks/bench_engine.py [--quick]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bundlegen import make_baskets, make_bundle  # noqa: E402

from fastcore import compiled, load_bundle, reference  # noqa: E402


def _per_basket_us(engine: object, baskets: list[dict], repeat: int) -> list[float]:
    times = []
    price = engine.price  # type: ignore[attr-defined]
    for _ in range(repeat):
        for b in baskets:
            t0 = time.perf_counter_ns()
            price(b).to_json()
            times.append((time.perf_counter_ns() - t0) / 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller run for CI smoke checks")
    args = ap.parse_args()
    n_skus, n_promos = (20_000, 1_000) if args.quick else (100_000, 5_000)
    t0 = time.perf_counter()
    raw = make_bundle(n_skus, n_promos)
    bundle = load_bundle(raw)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = compiled.Engine(bundle)
    t_compile = time.perf_counter() - t0
    slow = reference.Engine(bundle)
    baskets = make_baskets(raw, 200)
    del raw
    # A till process freezes its long-lived heap (the bundle) after a swap, so
    # collections never walk 100,000 catalog items; measure the same way.
    gc.collect()
    gc.freeze()
    ref_baskets = baskets[: 10 if args.quick else 30]
    # the engines must agree on every basket measured
    for b in ref_baskets:
        assert fast.price(b) == slow.price(b), "engines disagree"
    fast_us = _per_basket_us(fast, baskets, 3 if args.quick else 10)
    slow_us = _per_basket_us(slow, ref_baskets, 1)
    f_med = statistics.median(fast_us)
    s_med = statistics.median(slow_us)
    many = make_baskets({"catalog": [{"sku": k, "unit": v.unit} for k, v in bundle.catalog.items()]},
                        5_000 if args.quick else 20_000, seed=5)
    t0 = time.perf_counter()
    fast.price_many(many)
    rate = len(many) / (time.perf_counter() - t0)
    q = statistics.quantiles(fast_us, n=100)
    print(f"bundle: {n_skus:,} skus, {n_promos:,} promotions; validate {t_load * 1000:.0f} ms, compile {t_compile * 1000:.0f} ms")
    print(f"40-line basket, compiled : median {f_med:8.1f} us   p99 {q[98]:8.1f} us   ({len(fast_us)} runs)")
    print(f"40-line basket, reference: median {s_med:8.1f} us   ({len(slow_us)} runs)")
    print(f"ratio reference/compiled : {s_med / f_med:8.1f}x   (target >= 30x)")
    print(f"price_many (compiled)    : {rate:10,.0f} receipts/s on one core (target >= 20,000)")
    print(f"target <= 50 us median   : {'met' if f_med <= 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
