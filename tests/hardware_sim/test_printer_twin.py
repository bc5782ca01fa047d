"""The printer twin over TCP, driven by raw sockets and by python-escpos itself."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from escpos.printer import Network

from hardware_sim._printer import PrinterTwin, write_receipt


@pytest.fixture
def twin() -> Iterator[PrinterTwin]:
    with PrinterTwin(port=0) as t:
        yield t


def _query(sock: socket.socket, n: int) -> bytes:
    sock.sendall(b"\x10\x04" + bytes([n]))
    sock.settimeout(0.3)
    try:
        return sock.recv(1)
    except TimeoutError:
        return b""


def test_python_escpos_network_printer_prints_to_the_twin(twin: PrinterTwin, tmp_path: Path) -> None:
    p = Network("127.0.0.1", twin.port, timeout=5)
    p.open()
    try:
        p._raw(b"\x1b@\x1bt\x11")
        p._raw("Привет, мир\n".encode("cp866"))
        p.set(bold=True, double_height=True, double_width=True)
        p._raw(b"BIG\n")
        p.qr("R-0001", native=True, size=4)
        p.cashdraw(2)
        p.cut()
    finally:
        p.close()
    assert twin.wait_for_receipts(1)
    r = twin.receipts[0]
    assert r.text.splitlines()[0] == "Привет, мир" and "BIG" in r.text and r.qrs == ["R-0001"]
    assert twin.drawer_kicks and twin.cuts == 1 and r.png and r.png.startswith(b"\x89PNG")
    txt, png = write_receipt(r, str(tmp_path))
    assert Path(txt).name == "0001.txt" and Path(txt).read_text(encoding="utf-8") == r.text
    assert png and Path(png).read_bytes() == r.png


def test_code_page_select_changes_decoding(twin: PrinterTwin) -> None:
    with socket.create_connection(("127.0.0.1", twin.port)) as s:
        s.sendall(b"\x1bt\x2e" + "Ёж".encode("cp1251") + b"\n\x1bt\x11" + "Ёж".encode("cp866") + b"\n\x1dV\x00")
        assert twin.wait_for_receipts(1)
    assert twin.receipts[0].text == "Ёж\nЁж\n" and twin.code_page == 17


def test_alignment_and_double_width_as_read() -> None:
    twin = PrinterTwin(columns=10, render_png=False)  # fed directly, no socket
    twin.feed(b"\x1b@\x1ba\x01ab\n\x1ba\x02ab\n\x1ba\x01\x1d!\x11ab\n\x1dV\x00")
    assert twin.receipts[0].text == "    ab\n        ab\n   ab\n"


@pytest.mark.parametrize(
    "setup,answers",
    [
        (lambda t: None, [0x12, 0x12, 0x12, 0x12]),
        (lambda t: t.set_paper("near_end"), [0x12, 0x12, 0x12, 0x1E]),
        (lambda t: t.set_paper("out"), [0x1A, 0x32, 0x12, 0x7E]),
        (lambda t: t.open_cover(), [0x1A, 0x16, 0x12, 0x12]),
        (lambda t: t.set_offline(True), [0x1A, 0x12, 0x12, 0x12]),
    ],
)
def test_status_answers(twin: PrinterTwin, setup, answers: list[int]) -> None:
    setup(twin)
    with socket.create_connection(("127.0.0.1", twin.port)) as s:
        assert [_query(s, n)[0] for n in (1, 2, 3, 4)] == answers
    assert twin.status_queries == 4


def test_silent_printer_never_answers_but_prints(twin: PrinterTwin) -> None:
    twin.set_silent(True)
    with socket.create_connection(("127.0.0.1", twin.port)) as s:
        assert _query(s, 1) == b""
        s.sendall(b"hello\n\x1dV\x00")
        assert twin.wait_for_receipts(1)


def test_paper_out_holds_the_job_until_paper_is_loaded(twin: PrinterTwin) -> None:
    twin.set_paper("out")
    with socket.create_connection(("127.0.0.1", twin.port)) as s:
        s.sendall(b"\x1b@held\n\x1dV\x00")
        assert twin.wait_for(lambda t: t.held_bytes == 10)
        assert _query(s, 4) == b"\x7e"  # still answers while stopped
        assert twin.receipts == [] and twin.held_bytes >= 10
        twin.set_paper("ok")
        assert twin.wait_for_receipts(1) and twin.receipts[0].text == "held\n"
        assert _query(s, 4) == b"\x12"


def test_cover_open_and_offline_hold_too(twin: PrinterTwin) -> None:
    twin.open_cover()
    twin.feed(b"a\n\x1dV\x00")
    assert twin.receipts == []
    twin.close_cover()
    assert len(twin.receipts) == 1
    twin.set_offline(True)
    twin.feed(b"b\n\x1dV\x00")
    assert len(twin.receipts) == 1
    twin.set_offline(False)
    assert len(twin.receipts) == 2


def test_paper_runs_out_part_way(twin: PrinterTwin) -> None:
    twin.paper_lines_left = 2
    twin.feed(b"1\n2\n3\n\x1dV\x00")
    assert twin.paper == "out" and twin.receipts == [] and twin.held_bytes > 0
    twin.set_paper("ok")
    assert twin.receipts[0].text == "1\n2\n3\n"


def test_unknown_bytes_are_recorded(twin: PrinterTwin) -> None:
    twin.feed(b"\x1b\xfe")
    assert twin.unknown == [b"\x1b\xfe"]


def test_bad_paper_state_is_refused(twin: PrinterTwin) -> None:
    with pytest.raises(ValueError):
        twin.set_paper("wet")


def test_raster_image_renders_into_the_png(twin: PrinterTwin) -> None:
    twin.feed(b"\x1dv0\x00\x01\x00\x02\x00\xff\xff\x1dV\x00")
    r = twin.receipts[0]
    assert r.images == 1 and r.text == "[image 8x2]\n" and r.png


def _symbols_in(png: bytes) -> list[str]:
    import io

    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]


def test_an_ean13_barcode_is_drawn_as_a_real_symbol() -> None:
    twin = PrinterTwin()  # fed directly, no socket
    twin.feed(b"\x1b@\x1dkC\x0d4601234567893\x1dV\x00")  # GS k 67 n d1..dn: EAN13
    r = twin.receipts[0]
    assert r.barcodes == [("EAN13", "4601234567893")] and r.png
    assert "4601234567893" in _symbols_in(r.png)


def test_a_barcode_the_symbology_cannot_carry_gets_a_placeholder() -> None:
    twin = PrinterTwin()
    twin.feed(b"\x1b@\x1dkC\x03123\x1dV\x00")  # three digits are no EAN-13
    r = twin.receipts[0]
    assert r.barcodes == [("EAN13", "123")] and r.png
    assert _symbols_in(r.png) == []
