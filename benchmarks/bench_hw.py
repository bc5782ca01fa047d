"""Camera decode benchmark: ms per 1280x720 frame and decode rate per backend.

Runs the seeded QR robustness set of the phone twin (``hardware_sim``,
every distortion kind in turn, 1/13 of the frames with no code) through:

- ``pyzbar``: the design card's decoder alone (the baseline of the ratios);
- ``zxing``: zxing-cpp alone;
- ``pyzbar+invert``: zbar with the inverted retry at full size;
- ``default``: the driver's chain (zxing > pyzbar+half > zxing+sharpen >
  pyzbar+half_invert) within its 25 ms budget, as the camera runs it;
- ``default-nobudget``: the same chain with every step always run.

Time is the decoder's own call on the BGR frame (grey conversion included),
wall clock and the thread's CPU time (the CPU figure is what an uncontended
till sees when the machine running the benchmark is busy with other work);
``to payload`` is the time on frames that hold a code and were read.
The scanner's latency benchmark is ``bench_hw_scanner.py``.

Usage: .venv/bin/python benchmarks/bench_hw.py [FRAMES] [SEED]
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers import DecoderChain, Step, make_decoder  # noqa: E402
from hardware_sim import robustness_set  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 520
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20260401
    decoders: dict[str, DecoderChain] = {
        "pyzbar": make_decoder("pyzbar", budget_ms=None),
        "zxing": make_decoder("zxing", budget_ms=None),
        "pyzbar+invert": DecoderChain((Step("pyzbar"), Step("pyzbar", "invert")),
                                      budget_ms=None),
        "default": make_decoder(),
        "default-nobudget": make_decoder(budget_ms=None),
    }
    times: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    to_payload: dict[str, list[float]] = defaultdict(list)
    to_payload_cpu: dict[str, list[float]] = defaultdict(list)
    hits: Counter[str] = Counter()
    false_reads: Counter[str] = Counter()
    misses: dict[str, Counter[str]] = defaultdict(Counter)
    with_code = 0
    for sample in robustness_set(n, seed=seed):
        with_code += sample.payload is not None
        for name, chain in decoders.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            found = chain.decode(sample.frame)
            ms = (time.perf_counter() - t0) * 1000
            cpu[name].append((time.thread_time() - c0) * 1000)
            times[name].append(ms)
            payloads = [d.payload for d in found]
            if sample.payload is None:
                false_reads[name] += bool(payloads)
            elif sample.payload in payloads:
                hits[name] += 1
                to_payload[name].append(ms)
                to_payload_cpu[name].append(cpu[name][-1])
            else:
                misses[name][sample.distortion.kind] += 1

    base = float(np.median(times["pyzbar"]))
    print(f"{n} frames 1280x720 (seed {seed}), {with_code} with a code, {n - with_code} without;"
          f" load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'decoder':18s} {'rate':>8s} {'false':>5s} {'wall med':>8s} {'p99':>7s} "
          f"{'cpu med':>7s} {'p99':>7s} {'to payload p99 wall':>19s} {'cpu':>6s} {'x pyzbar':>8s}"
          "  misses by kind")
    for name in decoders:
        t, c = np.array(times[name]), np.array(cpu[name])
        tp = np.array(to_payload[name] or [float("nan")])
        tc = np.array(to_payload_cpu[name] or [float("nan")])
        rate = 100.0 * hits[name] / max(with_code, 1)
        print(f"{name:18s} {rate:7.2f}% {false_reads[name]:5d} {np.median(t):8.2f} "
              f"{np.percentile(t, 99):7.2f} {np.median(c):7.2f} {np.percentile(c, 99):7.2f} "
              f"{np.percentile(tp, 99):19.2f} {np.percentile(tc, 99):6.2f} "
              f"{base / np.median(t):7.2f}x  "
              f"{dict(misses[name]) or '-'}")
    hits_by_step = {k: v for k, v in decoders["default"].counters.items() if k.startswith("hit:")}
    print("default chain: hits by step", hits_by_step,
          "budget skips", decoders["default"].counters["budget_skip"])


if __name__ == "__main__":
    main()
