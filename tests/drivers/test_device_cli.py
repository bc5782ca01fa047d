from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from drivers.cli import hw
from hardware_sim._printer import PrinterTwin
from hardware_sim._scanner import ScannerTwin

ROOT = Path(__file__).resolve().parents[2]


def _fds_on(path: str) -> int:
    """How many of this process's descriptors are open on ``path``."""
    real = os.path.realpath(path)
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == real
        except OSError:
            pass
    return n


class _Opened(logging.Handler):
    """Sets ``event`` when a device reports it is open (after pyserial's input flush)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "-> open" in record.getMessage():
            self.event.set()


def _invoke_when_open(args: list[str], path: str, before: int, then: Any) -> Any:
    """Run ``hw args`` in a thread; once its device is open, call ``then()``.

    The fd appearing is not enough: pyserial flushes the input right after
    opening, so bytes sent in between are lost. The device's own "open"
    state change comes after that flush.
    """
    logger = logging.getLogger("drivers._device")
    opened = _Opened()
    old_level = logger.level
    logger.addHandler(opened)
    logger.setLevel(logging.INFO)
    try:
        box: dict[str, Any] = {}
        t = threading.Thread(target=lambda: box.setdefault("res", CliRunner().invoke(hw, args)))
        t.start()
        assert opened.event.wait(10), "the device never opened"
        assert _fds_on(path) > before
        then()
        t.join(10)
        return box["res"]
    finally:
        logger.removeHandler(opened)
        logger.setLevel(old_level)


def test_test_print_prints_to_the_twin() -> None:
    with PrinterTwin(port=0, render_png=False) as twin:
        res = CliRunner().invoke(hw, ["test-print", "--printer", twin.url])
        assert res.exit_code == 0, res.output
        assert "status: ready" in res.output
        assert twin.wait_for_receipts(1) and "тестовая печать" in twin.receipts[0].text


def test_test_print_reports_a_fault_without_traceback() -> None:
    with PrinterTwin(port=0, render_png=False) as twin:
        twin.set_paper("out")
        res = CliRunner().invoke(hw, ["test-print", "--printer", twin.url])
    assert res.exit_code == 1 and "paper_out" in res.output and "Traceback" not in res.output


def test_test_scan_shows_each_scan(tmp_path: Path) -> None:
    with ScannerTwin(link_dir=str(tmp_path)) as twin:
        def scan() -> None:
            twin.scan("2112345012346")
            twin.scan("]E04607000000014")

        args = ["test-scan", "--port", twin.link or "", "--count", "2", "--timeout", "5"]
        res = _invoke_when_open(args, twin.link or "", _fds_on(twin.link or ""), scan)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:2] == ["weight\t-\t'2112345012346' weight=1234g", "ean13\t]E0\t'4607000000014'"]


def test_test_scan_missing_port_and_timeout(tmp_path: Path) -> None:
    res = CliRunner().invoke(hw, ["test-scan", "--port", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "not_found" in res.output
    with ScannerTwin(link_dir=str(tmp_path)) as twin:
        res = CliRunner().invoke(hw, ["test-scan", "--port", twin.link or "", "--timeout", "0.1"])
    assert res.exit_code == 1 and "no scan within" in res.output


def test_sim_printer_writes_receipts_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "sim", "printer", "--port", "0", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("printer listening on tcp://127.0.0.1:")
        url = line.split()[-1]
        res = CliRunner().invoke(hw, ["test-print", "--printer", url])
        assert res.exit_code == 0, res.output
        assert proc.stdout.readline().startswith("receipt ")
        assert "тестовая печать" in (tmp_path / "0001.txt").read_text(encoding="utf-8")
        assert (tmp_path / "0001.png").read_bytes().startswith(b"\x89PNG")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == 0


def test_sim_scanner_prints_the_pty_and_sends_codes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "sim", "scanner", "--link-dir", str(tmp_path), "--prefix", "]E0"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        link = proc.stdout.readline().strip()
        stdin = proc.stdin

        def scan() -> None:
            stdin.write("4607000000014\n")
            stdin.flush()

        args = ["test-scan", "--port", link, "--count", "1", "--timeout", "5"]
        res = _invoke_when_open(args, link, 0, scan)
        assert res.exit_code == 0 and "ean13\t]E0\t'4607000000014'" in res.output
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
