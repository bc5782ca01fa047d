"""`benchmarks/bench_reports.py --quick` keeps working (a smoke run: no timing is asserted)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


def test_bench_reports_quick_times_every_report_and_format_on_both_backends() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_reports.py"),
                           "--quick"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("machine: ")
    for backend in ("postgres", "sqlite"):
        assert f"[{backend}] baseline: raw count/sum" in out, out
        for kind in ("sync", "loyalty", "settlement"):
            for fmt in ("table", "json", "html"):
                assert f"[{backend}] report {kind} --format {fmt}: median " in out, out
        assert f"[{backend}] the whole head-office page" in out, out
