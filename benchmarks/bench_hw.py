"""Camera decode benchmark: ms per 1280x720 frame and decode rate per backend.

Runs the seeded QR robustness set of the phone twin (``hardware_sim``,
every distortion kind in turn, 1/13 of the frames with no code) through:

- ``pyzbar``: the design card's decoder alone (the baseline of the ratios);
- ``zxing``: zxing-cpp alone;
- ``pyzbar+invert``: zbar with the inverted retry at full size;
- ``default``: the driver's chain (zxing > zxing+sharpen > pyzbar+half >
  pyzbar+half_invert) within its 25 ms budget, as the camera runs it;
- ``default-nobudget``: the same chain with every step always run.

Time is the decoder's own call on the BGR frame (grey conversion included);
``to payload`` is the same time on frames that hold a code and were read.
The scanner's latency benchmark is ``bench_hw_scanner.py``.

Usage: .venv/bin/python benchmarks/bench_hw.py [FRAMES] [SEED]
"""
from __future__ import annotations

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
    to_payload: dict[str, list[float]] = defaultdict(list)
    hits: Counter[str] = Counter()
    false_reads: Counter[str] = Counter()
    misses: dict[str, Counter[str]] = defaultdict(Counter)
    with_code = 0
    for sample in robustness_set(n, seed=seed):
        with_code += sample.payload is not None
        for name, chain in decoders.items():
            t0 = time.perf_counter()
            found = chain.decode(sample.frame)
            ms = (time.perf_counter() - t0) * 1000
            times[name].append(ms)
            payloads = [d.payload for d in found]
            if sample.payload is None:
                false_reads[name] += bool(payloads)
            elif sample.payload in payloads:
                hits[name] += 1
                to_payload[name].append(ms)
            else:
                misses[name][sample.distortion.kind] += 1

    base = float(np.median(times["pyzbar"]))
    print(f"{n} frames 1280x720 (seed {seed}), {with_code} with a code, {n - with_code} without")
    print(f"{'decoder':18s} {'rate':>8s} {'false':>5s} {'median ms':>9s} {'p99 ms':>7s} "
          f"{'to payload p99':>14s} {'x pyzbar':>8s}  misses by kind")
    for name in decoders:
        t = np.array(times[name])
        tp = np.array(to_payload[name] or [float("nan")])
        rate = 100.0 * hits[name] / max(with_code, 1)
        print(f"{name:18s} {rate:7.2f}% {false_reads[name]:5d} {np.median(t):9.2f} "
              f"{np.percentile(t, 99):7.2f} {np.percentile(tp, 99):14.2f} "
              f"{base / np.median(t):7.2f}x  {dict(misses[name]) or '-'}")
    hits_by_step = {k: v for k, v in decoders["default"].counters.items() if k.startswith("hit:")}
    print("default chain: hits by step", hits_by_step,
          "budget skips", decoders["default"].counters["budget_skip"])


if __name__ == "__main__":
    main()
