"""`benchmarks/bench_fleet.py --quick` keeps working (a smoke run: no timing is asserted)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


def test_bench_fleet_quick_runs_both_backends_paced_and_as_a_backlog() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_fleet.py"), "--quick"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("machine: ")
    for tag in ("[postgres x2]", "[postgres x2 backlog]", "[sqlite x2]", "[sqlite x2 backlog]"):
        lines = [ln for ln in out.splitlines() if ln.startswith(tag + " ")]
        assert lines, out
        assert any("txn/s" in ln for ln in lines) and any("raw batched insert" in ln for ln in lines)
        assert any("0 rejected, 0 left" in ln for ln in lines), out
