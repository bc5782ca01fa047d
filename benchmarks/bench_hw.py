"""Camera decode benchmark: read rate, wrong reads and ms per 1280x720 frame, two seeded sets.

Sets (``hardware_sim``; nothing stored, the frames are drawn from the seed):

- ``standard``: ``robustness_set`` (14 kinds: rotation, perspective, blur,
  motion, glare, low contrast, moire, dark mode, small/far QR, EAN-13 on a
  phone and on a plastic card, empty frames);
- ``limits``: ``limits_set`` (EAN-13 at ~2 px a module, dark mode, blur,
  perspective, glare, on phones and cards; hard QR; empty frames).

Decoders, every one on every frame of a set, in the same run:

- ``pyzbar``: the design card's decoder alone, one read (the baseline);
- ``zxing``: zxing-cpp alone, one read;
- ``legacy``: the chain before this change (zxing > pyzbar+half >
  zxing+sharpen > pyzbar+half_invert, 25 ms budget on the wall clock as
  it was), one read;
- ``default``: the driver's chain as the camera runs it (25 ms budget of
  the thread's CPU time, 100 ms wall cap); an EAN-13 counts as read only
  when *confirmed* (two independent reads agreed on that one frame);
- ``default-wallclock``: the same chain with its budget on the wall clock
  (on this shared machine, wall time under load is 2-4x the CPU time and
  the wall budget skips steps an unshared till would run);
- ``default-nobudget``: the same with every step allowed to run;
- ``zxing-only``: the chain a till without libzbar runs (``--decoders zxing``).

``rate`` counts frames whose code was delivered (confirmed, for the
two-read chains); ``wrong`` counts frames where a *delivered* payload was
not the code shown (``unconf wrong``: an unconfirmed read the camera would
hold back and check against the next frame); ``false`` counts reads on
frames without a code. Times are the decoder's own call on the BGR frame
(grey conversion included), wall clock and the thread's CPU time, over all
frames and over the frames read (``to payload``).

Usage: .venv/bin/python benchmarks/bench_hw.py [--quick] [--set standard|limits|both]
       [--frames N] [--seed S] [--decoders a,b,...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers import DecoderChain, Step, make_decoder  # noqa: E402
from hardware_sim import Sample, limits_set, robustness_set  # noqa: E402

SETS: dict[str, tuple[Callable[..., Iterator[Sample]], int, int]] = {
    # name: (generator, frames, default seed)
    "standard": (robustness_set, 520, 20260401),
    "limits": (limits_set, 600, 20261203),
}


def decoders() -> dict[str, Callable[[], DecoderChain]]:
    """Every chain the benchmark compares, built fresh for each set."""
    return {
        "pyzbar": lambda: DecoderChain((Step("pyzbar"),), budget_ms=None, confirm=False),
        "zxing": lambda: DecoderChain((Step("zxing"),), budget_ms=None, confirm=False),
        "legacy": lambda: make_decoder("legacy", confirm=False, clock=time.perf_counter,
                                       wall_cap_ms=None),
        "default": lambda: make_decoder(),
        "default-wallclock": lambda: make_decoder(clock=time.perf_counter),
        "default-nobudget": lambda: make_decoder(budget_ms=None),
        "zxing-only": lambda: make_decoder("zxing"),
    }


def run_set(name: str, n: int, seed: int, chosen: list[str]) -> None:
    """Run every chosen decoder over one set and print its table."""
    gen = SETS[name][0]
    chains = {k: v() for k, v in decoders().items() if k in chosen}
    blank = np.full((720, 1280, 3), 128, np.uint8)
    for chain in chains.values():  # first call loads the libraries: not a frame's cost
        chain.decode(blank)
        chain.counters.clear()
    times: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    to_payload: dict[str, list[float]] = defaultdict(list)
    to_payload_cpu: dict[str, list[float]] = defaultdict(list)
    hits: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    unconf_right: Counter[str] = Counter()
    unconf_wrong: Counter[str] = Counter()
    false_reads: Counter[str] = Counter()
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    kind_total: Counter[str] = Counter()
    with_code = 0
    load_start = os.getloadavg()[0]
    for sample in gen(n, seed=seed):
        kind = sample.distortion.kind
        kind_total[kind] += 1
        with_code += sample.payload is not None
        for dec, chain in chains.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            found = chain.decode(sample.frame)
            ms = (time.perf_counter() - t0) * 1000
            times[dec].append(ms)
            cpu[dec].append((time.thread_time() - c0) * 1000)
            delivered = [d.payload for d in found if d.confirmed]
            held = [d.payload for d in found if not d.confirmed]
            if sample.payload is None:
                false_reads[dec] += bool(delivered)
                unconf_wrong[dec] += bool(held)
                per_kind[dec][kind] += not delivered
                continue
            if any(p != sample.payload for p in delivered):
                wrong[dec] += 1
            if any(p != sample.payload for p in held):
                unconf_wrong[dec] += 1
            if sample.payload in delivered:
                hits[dec] += 1
                per_kind[dec][kind] += 1
                to_payload[dec].append(ms)
                to_payload_cpu[dec].append(cpu[dec][-1])
            elif sample.payload in held:
                unconf_right[dec] += 1
    load_end = os.getloadavg()[0]
    print(f"\n== set {name}: {n} frames 1280x720 (seed {seed}), {with_code} with a code, "
          f"{n - with_code} without; load average (1 min) {load_start:.2f} at start, "
          f"{load_end:.2f} at end, {os.cpu_count()} cores")
    print(f"{'decoder':17s} {'rate':>7s} {'wrong':>5s} {'false':>5s} {'unconf ok':>9s} "
          f"{'unconf wrong':>12s} {'wall p50':>8s} {'p99':>6s} {'cpu p50':>7s} {'p99':>6s} "
          f"{'to payload p99 wall':>19s} {'cpu':>6s}")
    for dec in chains:
        t, c = np.array(times[dec]), np.array(cpu[dec])
        tp = np.array(to_payload[dec] or [float("nan")])
        tpc = np.array(to_payload_cpu[dec] or [float("nan")])
        rate = 100.0 * hits[dec] / max(with_code, 1)
        print(f"{dec:17s} {rate:6.2f}% {wrong[dec]:5d} {false_reads[dec]:5d} "
              f"{unconf_right[dec]:9d} {unconf_wrong[dec]:12d} {np.median(t):8.2f} "
              f"{np.percentile(t, 99):6.2f} {np.median(c):7.2f} {np.percentile(c, 99):6.2f} "
              f"{np.percentile(tp, 99):19.2f} {np.percentile(tpc, 99):6.2f}")
    kinds = list(kind_total)
    print("read per kind (frames delivered / frames; empty: frames with nothing delivered)")
    print(f"{'kind':22s} " + " ".join(f"{dec:>16s}" for dec in chains))
    for kind in kinds:
        print(f"{kind:22s} " + " ".join(
            f"{per_kind[dec][kind]:>10d}/{kind_total[kind]:<5d}" for dec in chains))
    for dec in ("default", "zxing-only"):
        if dec in chains:
            counters = {k: v for k, v in sorted(chains[dec].counters.items())
                        if not k.startswith("rejected")}
            print(f"{dec} counters: {counters}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a CI-sized run: 1/4 of the frames")
    parser.add_argument("--set", default="both", choices=["standard", "limits", "both"])
    parser.add_argument("--frames", type=int, default=0, help="frames per set (default: the set's)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: the set's)")
    parser.add_argument("--decoders", default=",".join(decoders()),
                        help="comma-separated: " + ",".join(decoders()))
    args = parser.parse_args()
    chosen = [d.strip() for d in args.decoders.split(",") if d.strip()]
    unknown = set(chosen) - set(decoders())
    if unknown:
        parser.error(f"unknown decoders {sorted(unknown)}")
    for name in (["standard", "limits"] if args.set == "both" else [args.set]):
        _, frames, seed = SETS[name]
        n = args.frames or (frames // 4 if args.quick else frames)
        run_set(name, n, args.seed or seed, chosen)


if __name__ == "__main__":
    main()
