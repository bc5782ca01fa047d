"""Scanner frame -> ScanEvent latency through a real pty, against a raw pty round trip.

Baseline (same run): write a 14-byte frame into the pty master and read it
back from the slave with a blocking os.read. Measured: the same write until
the driver's reader thread has framed, validated (biip) and queued the
ScanEvent, taken from ``ScanEvent.received`` - write time and from the
moment ``Scanner.get()`` returns.

Run: .venv/bin/python benchmarks/bench_hw_scanner.py [N]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drivers._scanner import Scanner, ScannerConfig  # noqa: E402
from hardware_sim._scanner import ScannerTwin  # noqa: E402

FRAME = b"]E04607000000014\r"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def raw_round_trip(n: int) -> list[float]:
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(master, FRAME)
            got = b""
            while len(got) < len(FRAME):
                got += os.read(slave, 64)
            out.append(time.perf_counter() - t0)
    finally:
        os.close(master)
        os.close(slave)
    return out


def driver(n: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as d, ScannerTwin(link_dir=d) as twin:
        with Scanner(ScannerConfig(port=twin.link or "")) as sc:
            assert isinstance(sc, Scanner)
            to_event, to_get = [], []
            for _ in range(n):
                t0 = time.monotonic()
                twin.write(FRAME)
                ev = sc.get(timeout=5)
                t2 = time.monotonic()
                assert ev is not None and ev.gtin == "4607000000014"
                to_event.append(ev.received - t0)
                to_get.append(t2 - t0)
            return to_event, to_get


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    raw = raw_round_trip(n)
    ev, got = driver(n)
    ms = 1000.0
    print(f"frames: {n}")
    print(f"raw pty write->read      median {statistics.median(raw) * ms:.3f} ms  p99 {pct(raw, 0.99) * ms:.3f} ms")
    print(f"driver frame->event      median {statistics.median(ev) * ms:.3f} ms  p99 {pct(ev, 0.99) * ms:.3f} ms")
    print(f"driver frame->get()      median {statistics.median(got) * ms:.3f} ms  p99 {pct(got, 0.99) * ms:.3f} ms")
    print(f"ratio get()/raw (median) {statistics.median(got) / statistics.median(raw):.1f}x; target p99 <= 2 ms: "
          f"{'met' if pct(got, 0.99) <= 0.002 else 'NOT met'}")


if __name__ == "__main__":
    main()
