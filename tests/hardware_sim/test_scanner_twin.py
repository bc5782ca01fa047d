from __future__ import annotations

import os
import select
import time
from pathlib import Path

import pytest

from hardware_sim._scanner import ScannerTwin


def _read(path: str, n: int, timeout: float = 5.0) -> bytes:
    """One frame from the slave side: up to its terminator (or ``n`` bytes).

    The kernel hands bytes written to the master to the slave
    asynchronously, so one ``read`` may see a frame's head only.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while len(data) < n and not data.endswith((b"\r", b"\n")):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            data += os.read(fd, n - len(data))
        return data
    finally:
        os.close(fd)


def test_frame_bytes_are_prefix_code_terminator() -> None:
    twin = ScannerTwin(terminator="CRLF", prefix="]E0")
    assert twin.frame("4607000000014") == b"]E04607000000014\r\n"
    assert twin.frame("x", prefix="", terminator="none") == b"x"
    assert twin.frame("Ж".encode(), terminator="LF") == b"]E0\xd0\x96\n"


def test_scan_reaches_the_slave_side_exactly(tmp_path: Path) -> None:
    with ScannerTwin(link_dir=str(tmp_path), prefix="]Q1") as twin:
        assert twin.path and os.path.realpath(twin.link or "") == twin.path
        sent = twin.scan("KOP1.abc")
        assert _read(twin.link or "", 64) == sent == b"]Q1KOP1.abc\r"
        assert twin.sent == [sent]


def test_noise_is_seeded_and_terminated() -> None:
    with ScannerTwin() as twin:
        a = twin.noise(8, seed=1)
        assert a.endswith(b"\r") and len(a) == 9
        assert twin.noise(8, seed=1) == a


def test_unplug_removes_the_link_and_refuses_writes(tmp_path: Path) -> None:
    twin = ScannerTwin(link_dir=str(tmp_path)).open()
    twin.unplug()
    assert not os.path.lexists(twin.link or "")
    with pytest.raises(OSError):
        twin.scan("1")
    twin.close()


def test_replug_moves_the_link_to_a_new_pty(tmp_path: Path) -> None:
    with ScannerTwin(link_dir=str(tmp_path)) as twin:
        old = twin.path
        new = twin.replug()
        assert new != old and os.path.realpath(twin.link or "") == new
        twin.scan("123")
        assert _read(new, 16) == b"123\r"


def test_paced_scanner_sends_every_byte() -> None:
    with ScannerTwin(char_delay=0.0005) as twin:
        assert twin.path
        twin.scan("12345")
        assert _read(twin.path, 16) == b"12345\r"


def test_unknown_terminator_is_refused() -> None:
    with pytest.raises(ValueError):
        ScannerTwin(terminator="TAB")
