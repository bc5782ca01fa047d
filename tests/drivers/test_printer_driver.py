"""The printer driver printing to its TCP twin (and to a file)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers._errors import PrinterError
from drivers._printer import Printer, PrinterConfig
from drivers._printer_status import PrinterCondition
from drivers._receipt import SaleInfo
from hardware_sim._escpos_parse import parse_all
from hardware_sim._printer import PrinterTwin

RESULT = {
    "lines": [
        {"sku": "4607000000014", "qty": "2", "amount": 17980, "discount": 6000, "redeemed": 0,
         "paid": 11980, "points": 1, "promos": ["DAIRY-MILK-30"]},
        {"sku": "4607000000021", "qty": "1", "amount": 7490, "discount": 375, "redeemed": 0,
         "paid": 7115, "points": 0, "promos": ["B-PCT-5"]},
    ],
    "totals": {"amount": 25470, "discount": 6375, "redeemed_points": 100, "redeemed": 1000,
               "paid": 18095, "points": 1},
}
CARD = "7001234567891234"


def _sale(rid: str = "R-0001-000123") -> SaleInfo:
    return SaleInfo(
        rid, "Копилка №1", "Москва, ул. Ленина, 1", "3", "Иванова", "2024-05-01 10:00",
        card=CARD, balance=1234, names={"4607000000014": "Молоко «Домик» 3.2% 1л"},
    )


@pytest.fixture
def twin() -> Iterator[PrinterTwin]:
    with PrinterTwin(port=0, render_png=False) as t:
        yield t


@pytest.fixture
def printer(twin: PrinterTwin) -> Iterator[Printer]:
    with Printer(PrinterConfig(url=twin.url, status_timeout=0.2)) as p:
        assert isinstance(p, Printer)
        yield p


def test_priced_sale_prints_as_a_person_reads_it(twin: PrinterTwin, printer: Printer) -> None:
    outcome = printer.print_receipt(RESULT, _sale())
    assert outcome.before.condition is PrinterCondition.READY and not outcome.copy
    assert twin.wait_for_receipts(1)
    text = twin.receipts[0].text
    for needle in ("Копилка №1", 'Молоко "Домик" 3.2% 1л', "Скидка DAIRY-MILK-30", "-60.00",
                   "Оплачено баллами (100)", "ИТОГО", "180.95", "****1234", "Начислено баллов",
                   "Баланс баллов", "[QR: R-0001-000123]"):
        assert needle in text, needle
    assert twin.receipts[0].qrs == ["R-0001-000123"]
    assert twin.cuts == 1 and twin.code_page == 17


def test_full_card_number_never_reaches_the_printer(twin: PrinterTwin, printer: Printer) -> None:
    printer.print_receipt(RESULT, _sale())
    assert twin.wait_for_receipts(1)
    assert CARD.encode() not in twin.receipts[0].raw and CARD not in twin.receipts[0].text
    assert CARD[-8:] not in twin.receipts[0].text


def test_cyrillic_round_trips_through_cp866(twin: PrinterTwin, printer: Printer) -> None:
    lines = ["Съешь же ещё этих мягких французских булок", "ЁЖИК № 5"]
    printer.print_lines(lines)
    assert twin.wait_for_receipts(1)
    for line in lines:
        assert line.encode("cp866") in twin.receipts[0].raw
    assert twin.receipts[0].text.splitlines() == lines


def test_print_as_image_when_configured(twin: PrinterTwin) -> None:
    with Printer(PrinterConfig(url=twin.url, as_image=True)) as p:
        assert isinstance(p, Printer)
        out = p.print_receipt(RESULT, _sale())
    assert out.job.as_image
    assert twin.wait_for_receipts(1)
    r = twin.receipts[0]
    assert r.images >= 1 and "Копилка".encode("cp866") not in r.raw and r.qrs == ["R-0001-000123"]


def test_text_the_code_page_lacks_falls_back_to_an_image(twin: PrinterTwin, printer: Printer) -> None:
    out = printer.print_lines(["日本茶"])
    assert out.job.as_image
    assert twin.wait_for_receipts(1) and twin.receipts[0].images == 1


def test_code_page_missing_from_profile_prints_images(twin: PrinterTwin) -> None:
    with Printer(PrinterConfig(url=twin.url, codepage="CP999")) as p:
        assert isinstance(p, Printer)
        assert p.print_lines(["Привет"]).job.as_image


def test_explicit_code_page_number(twin: PrinterTwin) -> None:
    twin.code_pages[59] = "cp866"
    with Printer(PrinterConfig(url=twin.url, codepage_number=59)) as p:
        assert isinstance(p, Printer)
        p.print_lines(["Привет"])
    assert twin.wait_for_receipts(1) and twin.receipts[0].text == "Привет\n" and twin.code_page == 59


@pytest.mark.parametrize(
    "fault,reason",
    [("paper", "paper_out"), ("cover", "cover_open"), ("offline", "offline")],
)
def test_fault_before_printing_refuses_and_sends_nothing(
    twin: PrinterTwin, printer: Printer, fault: str, reason: str
) -> None:
    {"paper": lambda: twin.set_paper("out"), "cover": twin.open_cover,
     "offline": lambda: twin.set_offline(True)}[fault]()
    status = printer.status()
    assert status.condition.value == reason and not status.can_print
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(RESULT, _sale())
    assert err.value.reason == reason and err.value.sent is False
    assert twin.held_bytes == 0 and twin.receipts == []
    assert "R-0001-000123" not in printer.jobs


def test_near_end_prints_and_says_so(twin: PrinterTwin, printer: Printer) -> None:
    twin.set_paper("near_end")
    out = printer.print_receipt(RESULT, _sale())
    assert out.before.condition is PrinterCondition.NEAR_END and out.before.can_print
    assert twin.wait_for_receipts(1)


def test_silent_printer_is_unknown_never_ok(twin: PrinterTwin, printer: Printer) -> None:
    twin.set_silent(True)
    status = printer.status()
    assert status.condition is PrinterCondition.UNKNOWN and status.paper == "unknown"
    assert status.online is None and not status.can_print
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(RESULT, _sale())
    assert err.value.reason == "status_unknown" and not err.value.sent
    assert printer.counters["status_no_answer"] >= 2


def test_silent_printer_prints_when_policy_allows(twin: PrinterTwin) -> None:
    twin.set_silent(True)
    with Printer(PrinterConfig(url=twin.url, status_timeout=0.1, print_when_unknown=True)) as p:
        assert isinstance(p, Printer)
        out = p.print_receipt(RESULT, _sale())
    assert out.after.condition is PrinterCondition.UNKNOWN
    assert twin.wait_for_receipts(1)


def test_paper_out_mid_job_holds_it_until_reloaded(twin: PrinterTwin, printer: Printer) -> None:
    twin.paper_lines_left = 5
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(RESULT, _sale())
    assert err.value.reason == "paper_out" and err.value.sent is True
    assert twin.held_bytes > 0 and twin.receipts == []
    assert printer.status().condition is PrinterCondition.PAPER_OUT
    twin.set_paper("ok")
    assert twin.wait_for_receipts(1)
    assert "ИТОГО" in twin.receipts[0].text and twin.held_bytes == 0
    assert printer.status().condition is PrinterCondition.READY
    # the job was sent once: printing it again is refused, only an explicit copy is allowed
    with pytest.raises(PrinterError) as again:
        printer.print_receipt(RESULT, _sale())
    assert again.value.reason == "already_printed"
    assert printer.reprint("R-0001-000123").copy


def test_printed_receipt_is_never_resent_blindly(twin: PrinterTwin, printer: Printer) -> None:
    printer.print_receipt(RESULT, _sale())
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(RESULT, _sale())
    assert err.value.reason == "already_printed"
    assert twin.wait_for_receipts(1) and len(twin.receipts) == 1


def test_reprint_is_marked_as_a_copy_and_reuses_the_kept_bytes(twin: PrinterTwin, printer: Printer) -> None:
    first = printer.print_receipt(RESULT, _sale())
    out = printer.reprint("R-0001-000123")
    assert out.copy and printer.counters["reprints"] == 1
    assert twin.wait_for_receipts(2)
    copy = twin.receipts[1].text.splitlines()
    assert copy[0].strip() == "*** КОПИЯ ***" and copy[-1].strip() == "*** КОПИЯ ***"
    assert "*** КОПИЯ ***" not in twin.receipts[0].text
    assert first.job.body[2:] in twin.receipts[1].raw  # the same body, after its ESC @


def test_reprint_of_an_unknown_receipt_is_an_error(printer: Printer) -> None:
    with pytest.raises(PrinterError) as err:
        printer.reprint("R-nope")
    assert err.value.reason == "unknown_receipt"


def test_cash_drawer_kick(twin: PrinterTwin, printer: Printer) -> None:
    printer.print_receipt(RESULT, _sale(), kick_drawer=True)
    printer.kick_drawer()
    assert twin.wait_for(lambda t: len(t.drawer_kicks) == 2)
    assert twin.drawer_kicks[0].pin == 0 and twin.drawer_kicks[0].on_ms == 100


def test_receipt_id_as_code128(twin: PrinterTwin) -> None:
    with Printer(PrinterConfig(url=twin.url, receipt_code="code128")) as p:
        assert isinstance(p, Printer)
        p.print_receipt(RESULT, _sale())
    assert twin.wait_for_receipts(1)
    assert twin.receipts[0].barcodes == [("CODE128", "R-0001-000123")]


def test_kept_jobs_are_bounded(twin: PrinterTwin) -> None:
    with Printer(PrinterConfig(url=twin.url, keep_jobs=2)) as p:
        assert isinstance(p, Printer)
        for i in range(3):
            p.print_receipt(RESULT, _sale(f"R-{i}"))
        assert list(p.jobs) == ["R-1", "R-2"]


def test_connection_refused_is_a_clear_error(twin: PrinterTwin) -> None:
    port = twin.port
    twin.stop()
    p = Printer(PrinterConfig(url=f"tcp://127.0.0.1:{port}", connect_timeout=1))
    with pytest.raises(PrinterError) as err:
        p.open()
    assert err.value.reason == "connection"


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(PrinterError) as err:
        Printer(PrinterConfig(url="lpt://1")).open()
    assert err.value.reason == "bad_url"


def test_status_of_a_closed_printer_is_an_error() -> None:
    p = Printer(PrinterConfig())
    with pytest.raises(PrinterError) as err:
        p.status()
    assert err.value.reason == "not_open"
    with pytest.raises(PrinterError):
        p.kick_drawer()


def test_file_printer_has_no_status_and_prints_only_when_allowed(tmp_path: Path) -> None:
    dev = tmp_path / "lp0"
    dev.touch()
    with Printer(PrinterConfig(url=f"file://{dev}")) as p:
        assert isinstance(p, Printer)
        assert p.status().condition is PrinterCondition.UNKNOWN
        with pytest.raises(PrinterError):
            p.print_lines(["x"])
    with Printer(PrinterConfig(url=f"file://{dev}", print_when_unknown=True)) as p:
        assert isinstance(p, Printer)
        p.print_lines(["Привет"])
    data = dev.read_bytes()
    assert "Привет".encode("cp866") in data
    assert [op.name for op in parse_all(data)][-1] == "cut"


def test_printer_reports_it_is_usable() -> None:
    assert Printer.is_usable()


def test_a_return_and_a_copy_print_with_the_same_layout(twin: PrinterTwin, printer: Printer) -> None:
    from drivers._receipt import read_back

    ret = {"lines": [{"line": 0, "sku": "4607000000014", "qty": "1", "refund": 5990, "redeemed_refund": 500,
                      "points_refunded": 5, "points_reversed": 1}],
           "totals": {"refund": 5990, "redeemed_refund": 500, "points_refunded": 5, "points_reversed": 1}}
    info = SaleInfo("R-2", "Копилка №1", till="3", time="2024-05-01 10:05", card=CARD, original="R-1",
                    names={"4607000000014": "Молоко"})
    printer.print_receipt(ret, info, kind="return")
    printer.print_receipt(ret, info, kind="return", copy=True)  # a copy may repeat the receipt id
    assert twin.wait_for_receipts(2)
    got, copy = (read_back(r.text) for r in twin.receipts[:2])
    assert (got["kind"], got["receipt_id"], got["original"], got["copy"]) == ("return", "R-2", "R-1", False)
    assert got["totals"]["refund"] == 5990 and got["totals"]["points_refunded"] == 5
    assert got["totals"]["points_reversed"] == 1 and got["totals"]["card"] == "****1234"
    assert copy["copy"] and {k: v for k, v in copy.items() if k != "copy"} == \
        {k: v for k, v in got.items() if k != "copy"}
    assert CARD not in twin.receipts[0].text


def test_58mm_paper_keeps_every_line_within_32_columns() -> None:
    from drivers._receipt import COLUMNS, Line, layout

    blocks = layout(RESULT, _sale(), columns=COLUMNS[58])
    assert all(len(b.text) <= 32 for b in blocks if isinstance(b, Line) and not b.big)
    assert all(len(b.text) <= 16 for b in blocks if isinstance(b, Line) and b.big)  # double width
    long_name = layout(RESULT, SaleInfo("R-1", "Гипермаркет Копилка на Ленина"), columns=32)
    assert [b.text for b in long_name[:2]] == ["Гипермаркет", "Копилка на"]
