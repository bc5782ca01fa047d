"""Engine benchmark: compiled vs reference vs a pure-Python floor, two bundle shapes.

For each bundle shape (``_bundlegen``: ``sparse`` = 100,000 skus and 5,000
promotions, about six reaching each line; ``dense`` = 100,000 skus and
1,000 category/brand promotions that every line reaches by the dozen) it
prices 40-line baskets and prints, per run, the median microseconds per
basket of:

- ``compiled``: ``engine.price(basket).to_json()`` (the §7 dicts built);
- ``compiled, price only``: ``engine.price(basket)`` (figures kept in C until asked);
- ``floor``: pure Python doing only the boundary work any engine has: read
  the basket's dicts (one sku look-up and one quantity per line) and build
  a §7-shaped result with as many dicts, ints and promotion ids as the
  compiled engine's result for that basket — no pricing at all;
- ``reference``: the pure-Python twin (fewer baskets; it is slow);

and ``price_many`` against ``price`` in a loop over the same distinct
baskets (receipts/s, one core); and the cashier hints read from an
already priced result (``Engine.hints(basket, result=...)``, the screen's
``limit=5`` and every hint), as the till asks for them on each scan. The timings of a run are interleaved
batch by batch, so load from other processes falls on all of them alike;
wall medians per basket and the CPU time of each batch per basket (which
excludes waiting for a core on a shared machine) are both printed, and the
load average before and after each run. The engines must agree on
every basket the reference prices before any timing starts.

    .venv/bin/python benchmarks/bench_engine.py [--quick] [--runs N] [--shape sparse|dense|both]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bundlegen import make_baskets, make_bundle, make_dense_baskets, make_dense_bundle  # noqa: E402

from fastcore import compiled, load_bundle, reference  # noqa: E402

SHAPES: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., list[dict[str, Any]]], tuple[int, int], tuple[int, int]]] = {
    # name: (bundle maker, basket maker, (skus, promotions) full, (skus, promotions) --quick)
    "sparse": (make_bundle, make_baskets, (100_000, 5_000), (20_000, 1_000)),
    "dense": (make_dense_bundle, make_dense_baskets, (100_000, 1_000), (20_000, 300)),
}


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if os.path.exists("/proc/loadavg") else "?"


def _milli(qty: Any) -> int:
    if type(qty) is int:
        return qty * 1000
    whole, _, frac = str(qty).partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def _floor_shapes(results: list[dict[str, Any]]) -> list[tuple[list[list[str]], list[str]]]:
    """What the floor must build per basket: each line's promotion ids and the applied ids."""
    return [([list(line["promos"]) for line in r["lines"]], [a["promo"] for a in r["applied"]]) for r in results]


def _floor(basket: dict[str, Any], prices: dict[str, int], shape: tuple[list[list[str]], list[str]]) -> dict[str, Any]:
    """Read the basket's dicts and build a §7-shaped result; no pricing (see the module docstring)."""
    line_promos, applied_ids = shape
    customer = basket.get("customer")
    points_available = customer.get("available_points", 0) if customer else 0
    lines = []
    total = 0
    for i, line in enumerate(basket["lines"]):
        sku = line["sku"]
        price = prices[sku]
        q = _milli(line["qty"])
        amount = (2 * price * q + 1000) // 2000
        total += amount
        lines.append({"sku": sku, "qty": str(line["qty"]), "amount": amount, "discount": 0, "redeemed": 0,
                      "paid": amount, "points": 0, "promos": list(line_promos[i])})
    applied = [{"promo": pid, "discount": 0, "points": 0} for pid in applied_ids]
    return {
        "lines": lines, "applied": applied,
        "totals": {"amount": total, "discount": 0, "redeemed_points": 0, "redeemed": 0, "paid": total, "points": 0},
        "bonus": {"lines": 0, "promo": 0, "welcome": 0, "birthday": 0},
        "redeem": {"requested": basket.get("redeem") or 0, "max_points": points_available, "points": 0, "limited_by": "none"},
        "rejected_coupons": list(basket.get("coupons") or []),
    }


def _batch(f: Callable[[Any, Any], Any], baskets: list[dict[str, Any]], shapes: list[Any],
           wall: list[float], cpu: list[float]) -> None:
    """Time ``f`` on every basket: wall microseconds per basket, and the batch's CPU time per basket."""
    c0 = time.process_time_ns()
    for b, shape in zip(baskets, shapes, strict=True):
        t0 = time.perf_counter_ns()
        f(b, shape)
        wall.append((time.perf_counter_ns() - t0) / 1000)
    cpu.append((time.process_time_ns() - c0) / 1000 / len(baskets))


def _cpu_rate(f: Callable[[], Any], n: int) -> float:
    c0 = time.process_time_ns()
    f()
    return n / ((time.process_time_ns() - c0) / 1e9)


def _one_run(fast: Any, slow: Any, baskets: list[dict[str, Any]], ref_baskets: list[dict[str, Any]],
             prices: dict[str, int], shapes: list[Any], many: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    price = fast.price
    modes: dict[str, Callable[[Any, Any], Any]] = {
        "full": lambda b, _: price(b).to_json(),
        "lazy": lambda b, _: price(b),
        "floor": lambda b, shape: _floor(b, prices, shape),
    }
    wall: dict[str, list[float]] = {k: [] for k in modes}
    cpu: dict[str, list[float]] = {k: [] for k in modes}
    for _ in range(repeat):  # modes interleaved batch by batch
        for k, f in modes.items():
            _batch(f, baskets, shapes, wall[k], cpu[k])
    # cashier hints (Engine.hints) from an already priced result, as the till asks for them:
    # the screen's 5, and every hint; and the reference twin's index on the same baskets
    results = [price(b) for b in baskets]
    hints5: list[float] = []
    hints_all: list[float] = []
    for b, r in zip(baskets, results, strict=True):
        t0 = time.perf_counter_ns()
        fast.hints(b, result=r, limit=5)
        t1 = time.perf_counter_ns()
        fast.hints(b, result=r)
        hints5.append((t1 - t0) / 1000)
        hints_all.append((time.perf_counter_ns() - t1) / 1000)
    ref_wall: list[float] = []
    ref_cpu: list[float] = []
    _batch(lambda b, _: slow.price(b).to_json(), ref_baskets, shapes[: len(ref_baskets)], ref_wall, ref_cpu)
    # price_many vs a loop of price over the same distinct baskets, alternated; CPU time
    t_many, t_loop, t_many_json = [], [], []
    n = len(many)
    for _ in range(2):
        t_loop.append(_cpu_rate(lambda: [price(b) for b in many], n))
        t_many.append(_cpu_rate(lambda: fast.price_many(many), n))
        t_many_json.append(_cpu_rate(lambda: [r.to_json() for r in fast.price_many(many)], n))
    out = {k: statistics.median(v) for k, v in wall.items()}
    out.update({k + "_cpu": statistics.median(v) for k, v in cpu.items()})
    out["full_p99"] = statistics.quantiles(wall["full"], n=100)[98]
    out["ref"] = statistics.median(ref_wall)
    out["hints5"] = statistics.median(hints5)
    out["hints_all"] = statistics.median(hints_all)
    out["hints5_p99"] = statistics.quantiles(hints5, n=100)[98]
    out["ref_cpu"] = ref_cpu[0]
    out.update(many=max(t_many), loop=max(t_loop), many_json=max(t_many_json))
    return out


def bench_shape(name: str, quick: bool, runs: int) -> list[dict[str, float]]:
    make, make_b, full_size, quick_size = SHAPES[name]
    n_skus, n_promos = quick_size if quick else full_size
    t0 = time.perf_counter()
    raw = make(n_skus, n_promos)
    bundle = load_bundle(raw)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = compiled.Engine(bundle)
    t_compile = time.perf_counter() - t0
    slow = reference.Engine(bundle)
    baskets = make_b(raw, 200)
    many = make_b(raw, 2_000 if quick else 10_000, seed=5)
    prices = {c["sku"]: c["price"] for c in raw["catalog"]}
    del raw
    # A till process freezes its long-lived heap (the bundle) after a swap, so
    # collections never walk 100,000 catalog items; measure the same way.
    gc.collect()
    gc.freeze()
    ref_baskets = baskets[: 5 if quick else 10]
    for b in ref_baskets:  # the engines must agree on every basket the reference prices
        assert fast.price(b) == slow.price(b), "engines disagree"
    results = [fast.price(b).to_json() for b in baskets]
    shapes = _floor_shapes(results)
    applied = statistics.median(len(r["applied"]) for r in results)
    print(f"[{name}] {n_skus:,} skus, {n_promos:,} promotions; validate {t_load * 1000:.0f} ms, compile {t_compile * 1000:.0f} ms; "
          f"result: median {applied:.0f} applied promotions per basket")
    out = []
    for run in range(runs):
        load0 = _load()
        r = _one_run(fast, slow, baskets, ref_baskets, prices, shapes, many, 2 if quick else 4)
        r["load"] = load0 + " -> " + _load()
        out.append(r)
        print(f"  run {run + 1}: compiled {r['full']:6.1f} us (p99 {r['full_p99']:7.1f}; cpu {r['full_cpu']:6.1f}), "
              f"price only {r['lazy']:6.1f} us (cpu {r['lazy_cpu']:6.1f}), floor {r['floor']:6.1f} us (cpu {r['floor_cpu']:6.1f}), "
              f"reference {r['ref']:8.0f} us | cpu rates: price_many {r['many']:7,.0f}/s, price loop {r['loop']:7,.0f}/s, "
              f"price_many+to_json {r['many_json']:7,.0f}/s | hints (5) {r['hints5']:6.0f} us (p99 {r['hints5_p99']:6.0f}), "
              f"all hints {r['hints_all']:6.0f} us | load {r['load']}")
    med = {k: statistics.median(r[k] for r in out) for k in out[0] if k != "load"}
    print(f"  median of {runs} runs, wall per basket: compiled {med['full']:.1f} us, price only {med['lazy']:.1f} us, "
          f"floor {med['floor']:.1f} us, reference {med['ref']:.0f} us")
    print(f"  median of {runs} runs, cpu per basket:  compiled {med['full_cpu']:.1f} us, price only {med['lazy_cpu']:.1f} us, "
          f"floor {med['floor_cpu']:.1f} us, reference {med['ref_cpu']:.0f} us")
    print(f"  compiled / floor {med['full'] / med['floor']:.2f}x, reference / compiled {med['ref'] / med['full']:.0f}x "
          f"(target >= 30x); <= 50 us median: {'met' if med['full'] <= 50 else 'MISSED'} with to_json, "
          f"{'met' if med['lazy'] <= 50 else 'MISSED'} price only")
    print(f"  hints from a priced result: the screen's 5 {med['hints5']:.0f} us, all {med['hints_all']:.0f} us "
          f"({med['hints5'] / med['full']:.1f}x / {med['hints_all'] / med['full']:.1f}x the price with to_json)")
    print(f"  price_many {med['many']:,.0f} receipts/s (target >= 20,000: {'met' if med['many'] >= 20_000 else 'MISSED'}), "
          f"price loop {med['loop']:,.0f}/s ({med['many'] / med['loop']:.2f}x); with every to_json {med['many_json']:,.0f}/s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller bundles and fewer baskets (smoke check)")
    ap.add_argument("--runs", type=int, default=3, help="timing runs per shape (medians are reported)")
    ap.add_argument("--shape", choices=("sparse", "dense", "both"), default="both")
    args = ap.parse_args()
    print(f"load average at start: {_load()} ({os.cpu_count()} cpus)")
    for name in ("sparse", "dense") if args.shape == "both" else (args.shape,):
        bench_shape(name, args.quick, args.runs)
        gc.unfreeze()
        gc.collect()
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
