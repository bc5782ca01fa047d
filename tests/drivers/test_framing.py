from __future__ import annotations

import pytest

from drivers._framing import Framer, Noise, ScanFrame

CODES = ["4607000000014", "]E496385074", "]d2010460700000001421ABC\x1d91EE07\x1d92abc=="]


def _stream(term: bytes) -> bytes:
    return b"".join(c.encode() + term for c in CODES)


def _texts(items: list[ScanFrame | Noise]) -> list[object]:
    return [i.text if isinstance(i, ScanFrame) else (i.reason, i.data) for i in items]


@pytest.mark.parametrize("name,term", [("CR", b"\r"), ("LF", b"\n"), ("CRLF", b"\r\n")])
def test_stream_split_at_every_byte_gives_the_same_frames(name: str, term: bytes) -> None:
    data = _stream(term)
    for i in range(len(data) + 1):
        f = Framer(name)
        assert _texts(f.feed(data[:i], 0.0) + f.feed(data[i:], 0.0)) == CODES, i


@pytest.mark.parametrize("name,term", [("CR", b"\r"), ("LF", b"\n"), ("CRLF", b"\r\n")])
def test_stream_fed_one_byte_at_a_time_gives_the_same_frames(name: str, term: bytes) -> None:
    data = _stream(term)
    f = Framer(name)
    out: list[ScanFrame | Noise] = []
    for i in range(len(data)):
        out += f.feed(data[i : i + 1], 0.0)
    assert _texts(out) == CODES


def test_no_terminator_frame_ends_after_the_gap() -> None:
    f = Framer("none", gap=0.05)
    for i, b in enumerate(b"4607000000014"):
        assert f.feed(bytes([b]), i * 0.001) == []
    assert f.poll(0.03) == []
    assert f.deadline() == pytest.approx(0.062)
    assert _texts(f.poll(0.07)) == ["4607000000014"]
    assert f.deadline() is None


def test_no_terminator_next_scan_after_the_gap_closes_the_previous() -> None:
    f = Framer("none", gap=0.05)
    f.feed(b"111", 0.0)
    assert _texts(f.feed(b"222", 0.2)) == ["111"]
    assert _texts(f.poll(0.3)) == ["222"]


def test_control_bytes_make_the_frame_noise() -> None:
    f = Framer("CR")
    assert _texts(f.feed(b"46070\x00\x07000014\r", 0)) == [("non_printable", b"46070\x00\x07000014")]


def test_group_separator_is_kept() -> None:
    assert _texts(Framer("CR").feed(b"01046\x1d91EE07\r", 0)) == ["01046\x1d91EE07"]


def test_invalid_utf8_is_noise_valid_utf8_is_text() -> None:
    f = Framer("LF")
    assert _texts(f.feed(b"\xff\xfeab\n", 0)) == [("not_utf8", b"\xff\xfeab")]
    assert _texts(f.feed("Привет\n".encode(), 0)) == ["Привет"]


@pytest.mark.parametrize("split", [1, 7, 10, 11, 12, 40])
def test_overlong_frame_is_dropped_once_and_the_next_frame_survives(split: int) -> None:
    data = b"x" * 30 + b"\r" + b"123\r"
    f = Framer("CR", max_length=10)
    out = []
    for i in range(0, len(data), split):
        out += f.feed(data[i : i + split], 0)
    assert _texts(out) == [("overlong", b"x" * 10), "123"]


def test_overlong_with_crlf_split_between_cr_and_lf() -> None:
    f = Framer("CRLF", max_length=4)
    out = f.feed(b"abcdefgh\r", 0) + f.feed(b"\n12\r\n", 0)
    assert _texts(out) == [("overlong", b"abcd"), "12"]


def test_overlong_without_terminator() -> None:
    f = Framer("none", max_length=4, gap=0.05)
    out = f.feed(b"abcdefgh", 0) + f.poll(1) + f.feed(b"12", 2) + f.poll(3)
    assert _texts(out) == [("overlong", b"abcd"), "12"]


def test_stale_fragment_is_partial_noise_and_does_not_join_the_next_code() -> None:
    f = Framer("CR", stale=1.0)
    assert f.feed(b"46070", 0.0) == []
    assert _texts(f.feed(b"4607000000014\r", 5.0)) == [("partial", b"46070"), "4607000000014"]


def test_poll_expires_a_stale_fragment() -> None:
    f = Framer("CR", stale=1.0)
    f.feed(b"46", 0.0)
    assert f.poll(0.5) == []
    assert _texts(f.poll(1.5)) == [("partial", b"46")]


def test_reset_reports_the_fragment_lost_with_the_device() -> None:
    f = Framer("CR")
    f.feed(b"4607", 0.0)
    assert _texts(f.reset()) == [("partial", b"4607")]
    assert f.reset() == []


def test_crlf_scanner_on_a_cr_till_still_reads() -> None:
    assert _texts(Framer("CR").feed(b"123\r\n456\r\n", 0)) == ["123", "456"]


def test_unknown_terminator_is_refused() -> None:
    with pytest.raises(ValueError):
        Framer("ETX")
