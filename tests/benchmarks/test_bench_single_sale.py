"""`benchmarks/bench_single_sale.py --quick` keeps working (a smoke run: no timing is asserted)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


def test_bench_single_sale_quick_runs_both_backends_with_every_sale_stored_once() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_single_sale.py"),
                           "--quick"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("machine: ")
    assert any(ln.startswith("[ack-only] ") and "requests/s" in ln for ln in out.splitlines())
    for tag in ("[sqlite x1]", "[postgres x1]"):
        lines = [ln for ln in out.splitlines() if ln.startswith(tag + " ")]
        assert any("raw single-row durable commits" in ln for ln in lines), out
        # 50 tills x 3 requests, closed loop and then paced: 300 sales
        assert any("requests/s" in ln and "0 errors; 300 sales stored; balances equal journals"
                   in ln for ln in lines), out
        assert any("paced at 100 requests/s offered" in ln and "0 errors" in ln
                   for ln in lines), out
        assert any("heartbeats paced at 250/s" in ln and "0 errors" in ln for ln in lines), out
