"""The scanner driver read through its pty twin, exactly as it reads /dev/ttyACM0."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers._barcode import BarcodeRules
from drivers._device import DeviceState
from drivers._errors import ScannerError
from drivers._scan_event import ScanEvent, ScanKind
from drivers._scanner import Scanner, ScannerConfig
from hardware_sim._scanner import ScannerTwin

EAN = "4607000000014"
MARKING = "010460700000001421ABC\x1d91EE07\x1d92abc=="


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll a condition until true; fail after the deadline (no sleep as sync)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.002)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[ScannerTwin]:
    with ScannerTwin(link_dir=str(tmp_path)) as t:
        yield t


def _scanner(twin: ScannerTwin, **kw: object) -> Scanner:
    kw.setdefault("terminator", twin.terminator)
    return Scanner(ScannerConfig(port=twin.link or "", **kw))  # type: ignore[arg-type]


def _get(scanner: Scanner) -> ScanEvent:
    event = scanner.get(timeout=5)
    assert event is not None, "no scan arrived"
    return event


def test_scan_arrives_as_typed_event(twin: ScannerTwin) -> None:
    with _scanner(twin) as sc:
        assert isinstance(sc, Scanner)
        twin.scan(EAN, prefix="]E0")
        event = _get(sc)
        assert (event.payload, event.symbology, event.kind, event.gtin) == (EAN, "]E0", ScanKind.EAN13, EAN)
        assert sc.path == twin.path


@pytest.mark.parametrize("terminator", ["CR", "LF", "CRLF"])
def test_every_terminator(tmp_path: Path, terminator: str) -> None:
    with ScannerTwin(terminator=terminator, link_dir=str(tmp_path)) as twin, _scanner(twin) as sc:
        twin.scan(EAN)
        twin.scan("96385074", prefix="]E4")
        assert [_get(sc).payload, _get(sc).payload] == [EAN, "96385074"]


def test_no_terminator_ends_frame_on_silence(tmp_path: Path) -> None:
    with ScannerTwin(terminator="none", link_dir=str(tmp_path)) as twin, _scanner(twin, gap=0.03) as sc:
        assert isinstance(sc, Scanner)
        twin.scan(EAN)
        assert _get(sc).payload == EAN


def test_slow_scanner_frame_in_pieces_is_buffered(tmp_path: Path) -> None:
    with ScannerTwin(link_dir=str(tmp_path), char_delay=0.002) as twin, _scanner(twin) as sc:
        assert isinstance(sc, Scanner)
        twin.scan(MARKING, prefix="]d2")
        event = _get(sc)
        assert event.payload == MARKING and event.kind is ScanKind.DATAMATRIX
        assert sc.counters.get("dropped.partial", 0) == 0


def test_frame_written_in_two_parts_across_reads(twin: ScannerTwin) -> None:
    with _scanner(twin) as sc:
        assert isinstance(sc, Scanner)
        twin.write(b"460700")
        wait_until(lambda: sc.counters["bytes"] == 6)  # the driver has read the first part alone
        assert sc.get(timeout=0) is None
        twin.write(b"0000014\r")
        assert _get(sc).payload == EAN


def test_quick_double_scans_are_all_queued(twin: ScannerTwin) -> None:
    with _scanner(twin) as sc:
        assert isinstance(sc, Scanner)
        twin.write(b"".join(twin.frame(EAN) for _ in range(5)) + twin.frame("96385074"))
        got = [_get(sc).payload for _ in range(6)]
        assert got == [EAN] * 5 + ["96385074"]


def test_noise_is_dropped_counted_and_the_next_scan_reads(twin: ScannerTwin, caplog: pytest.LogCaptureFixture) -> None:
    with _scanner(twin, max_length=64) as sc:
        assert isinstance(sc, Scanner)
        twin.noise(12, seed=3)
        twin.write(b"x" * 100 + b"\r")
        twin.write(b"\xff\xfe\r")
        twin.scan("4607000000015")  # bad check digit: passed on, for the till to refuse
        twin.scan(EAN)
        bad = _get(sc)
        assert (bad.payload, bad.kind) == ("4607000000015", ScanKind.TEXT)
        assert _get(sc).payload == EAN
        assert sc.counters["dropped.non_printable"] == 1
        assert sc.counters["dropped.overlong"] == 1
        assert sc.counters["dropped.not_utf8"] == 1
        assert sc.counters["bad_check_digit"] == 1
        assert "dropped.bad_check_digit" not in sc.counters
        assert sc.health().counters["scans"] == 2


def test_unplug_and_replug_under_a_new_name_without_restart(twin: ScannerTwin) -> None:
    with _scanner(twin, reconnect_interval=0.01) as sc:
        assert isinstance(sc, Scanner)
        twin.scan(EAN)
        assert _get(sc).payload == EAN
        old = twin.path
        twin.write(b"46070")  # a frame cut by the unplug
        wait_until(lambda: sc.counters["bytes"] == 14 + 5)
        twin.unplug()
        wait_until(lambda: sc.state is DeviceState.DISCONNECTED)
        assert not sc.connected.is_set()
        new = twin.replug()
        assert new != old
        assert sc.connected.wait(5)
        assert sc.path == new and sc.state is DeviceState.OPEN
        twin.scan("96385074")
        assert _get(sc).payload == "96385074"
        assert sc.counters["disconnects"] == 1 and sc.reconnects == 1
        assert sc.counters["dropped.partial"] == 1


def test_device_found_again_by_glob(tmp_path: Path) -> None:
    with ScannerTwin(link_dir=str(tmp_path), link_name="usb-ACME_Scan-if00") as twin:
        cfg = ScannerConfig(port="/nonexistent", find=str(tmp_path / "usb-ACME*"), reconnect_interval=0.01)
        with Scanner(cfg) as sc:
            assert isinstance(sc, Scanner)
            twin.unplug()
            wait_until(lambda: not sc.connected.is_set())  # the loss is seen before the new device appears
            twin.replug()
            assert sc.connected.wait(5) and sc.path == twin.path
            twin.scan(EAN)
            assert _get(sc).payload == EAN


def test_missing_device_is_a_clear_error(tmp_path: Path) -> None:
    sc = Scanner(ScannerConfig(port=str(tmp_path / "ttyACM9")))
    with pytest.raises(ScannerError) as err:
        sc.open()
    assert err.value.reason == "not_found"
    assert sc.state is DeviceState.FAILED


def test_wait_for_device_opens_before_it_is_plugged(tmp_path: Path) -> None:
    link = tmp_path / "usb-Late-if00"
    cfg = ScannerConfig(port=str(link), wait_for_device=True, reconnect_interval=0.01)
    with Scanner(cfg) as sc:
        assert isinstance(sc, Scanner)
        wait_until(lambda: sc.state is DeviceState.DISCONNECTED)
        with ScannerTwin(link_dir=str(tmp_path), link_name="usb-Late-if00") as twin:
            assert sc.connected.wait(5)
            twin.scan(EAN)
            assert _get(sc).payload == EAN


def test_on_event_callback_and_reader_thread_stops_on_close(twin: ScannerTwin) -> None:
    seen = threading.Event()
    got: list[ScanEvent] = []

    def on_event(e: ScanEvent) -> None:
        got.append(e)
        seen.set()

    sc = Scanner(ScannerConfig(port=twin.link or ""), on_event=on_event)
    sc.open()
    twin.scan(EAN)
    assert seen.wait(5) and got[0].payload == EAN
    sc.close()
    assert not any(t.name == "scanner-reader" for t in threading.enumerate())
    assert sc.state is DeviceState.CLOSED
    sc.close()  # twice is fine


def test_full_queue_drops_with_a_reason(twin: ScannerTwin) -> None:
    with Scanner(ScannerConfig(port=twin.link or "", queue_size=2)) as sc:
        assert isinstance(sc, Scanner)
        twin.write(twin.frame(EAN) * 3)
        wait_until(lambda: sc.counters["dropped.queue_full"] == 1)
        assert sc.events.qsize() == 2


def test_required_aim_prefix(twin: ScannerTwin) -> None:
    with _scanner(twin, rules=BarcodeRules(aim_prefix=True)) as sc:
        assert isinstance(sc, Scanner)
        twin.scan(EAN)
        twin.scan(EAN, prefix="]E0")
        assert _get(sc).symbology == "]E0"
        assert sc.counters["dropped.missing_aim_prefix"] == 1


def test_scanner_reports_it_is_usable() -> None:
    assert Scanner.is_usable()
