"""Peak memory of a ``kopilka ledger serve`` process fed hostile bodies.

Starts a real ``ledger serve`` on a temporary SQLite file, registers a
till, then sends, one after the other:

- ``bomb``: ~59 KiB of gzip that inflates to 60 MB of ``{}`` (the
  testers' body: a TXN list of empty objects);
- ``deep``: 1 MB of ``[`` (nesting a parser would recurse into);
- ``wide``: 20 MB of ``[1,1,1,…]`` sent plain;
- ``bomb30``: gzip inflating to 30 MB of ``{}`` (under the size limit of
  the new code, above its value budget);
- ``worst``: about the most a body may hold and still be parsed by the new
  code, 1.24 M empty objects (2.5 M values, 3.7 MB) in a heartbeat (its
  check refuses it after parsing).

and prints, for each, the HTTP status and the process's peak resident set
(``VmHWM`` in ``/proc/PID/status``). Each body goes to a freshly started
server, so one body's freed-but-kept memory never counts for the next.
Run it before and after a change to compare.

Usage: .venv/bin/python benchmarks/bench_ledger_memory.py [--quick]
(``--quick`` sends a 6 MB bomb instead of 60 MB).
"""
from __future__ import annotations

import argparse
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM", "VmRSS")):
            name, value = line.split(":", 1)
            out[name] = int(value.split()[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    size = 6_000_000 if args.quick else 60_000_000
    root = Path(__file__).resolve().parents[1]
    kopilka = [sys.executable, "-c", "from cli import main; main()"]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/ledger.db"
        key = subprocess.run(kopilka + ["ledger", "till", "add", "--db", db, "--store", "S1",
                                        "--till", "T1"], check=True, capture_output=True,
                             text=True, cwd=root).stdout.strip()
        items = max(1, (size - 60) // 3)
        plain = (b'{"till":"T1","store":"S1","transactions":['
                 + b",".join([b"{}"] * items) + b"]}")
        half = (b'{"till":"T1","store":"S1","transactions":['
                + b",".join([b"{}"] * (items // 2)) + b"]}")
        worst = (b'{"till":"T1","store":"S1","queue_depth":0,"hardware":['
                 + b",".join([b"{}"] * 1_240_000) + b"]}")
        bodies = [
            ("bomb", "/v1/transactions", gzip.compress(plain, 9), {"Content-Encoding": "gzip"},
             len(plain)),
            ("deep", "/v1/transactions", b"[" * 1_000_000, {}, 1_000_000),
            ("wide", "/v1/transactions", b"[" + b",".join([b"1"] * 10_000_000) + b"]", {},
             20_000_000),
            ("bomb30", "/v1/transactions", gzip.compress(half, 9), {"Content-Encoding": "gzip"},
             len(half)),
            ("worst", "/v1/heartbeat", worst, {}, len(worst)),
        ]
        del plain, half, worst
        print(f"load average {os.getloadavg()[0]:.2f}")
        for name, path, body, headers, inflated in bodies:
            port = _free_port()
            proc = subprocess.Popen(kopilka + ["ledger", "serve", "--db", db, "--port",
                                               str(port)], cwd=root)
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        httpx.get(base + "/v1/time", timeout=1)
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                idle = _status(proc.pid)["VmRSS"]
                headers = dict(headers, Authorization=f"Bearer {key}",
                               **{"Content-Type": "application/json"})
                t0 = time.perf_counter()
                resp = httpx.post(base + path, content=body, headers=headers,
                                  timeout=300)
                dt = time.perf_counter() - t0
                st = _status(proc.pid)
                print(f"{name}: sent {len(body) / 1024:.0f} KiB ({inflated / 1e6:.1f} MB "
                      f"inflated): HTTP {resp.status_code} {resp.text[:70]!r} in {dt:.2f} s; "
                      f"RSS idle {idle / 1024:.0f} MiB, peak {st['VmHWM'] / 1024:.0f} MiB",
                      flush=True)
            finally:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
