"""The decoder chain: backends, inverted retry, UTF-8 only, time budget, robustness."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import segno

from drivers import DEFAULT_STEPS, DecoderChain, DeviceError, Step, make_decoder
from drivers._errors import PayloadRejected
from drivers._payload import clean_payload, repair_zbar_text
from hardware_sim import render_phone, robustness_set, sample_token


def _qr(data: str | bytes, *, px: int = 6, dark: bool = False, **kw: object) -> np.ndarray:
    """A flat QR image (no quiet-zone tricks) of ``data``."""
    qr = segno.make(data, error="m", micro=False, **kw)  # type: ignore[arg-type]
    mods = np.pad(np.array([list(r) for r in qr.matrix], bool), 4)
    img = np.where(mods, 0, 255).astype(np.uint8)
    if dark:
        img = 255 - img
    return cv2.resize(img, None, fx=px, fy=px, interpolation=cv2.INTER_NEAREST)


# -- payload text ------------------------------------------------------------------

@pytest.mark.parametrize(("zbar_text", "original"), [
    ("caf矇", "café"),  # UTF-8 read as Shift-JIS
    ("Zoﾃｫ 12 竄ｬ", "Zoë 12 €"),  # half-width katakana mojibake
    ("cafÃ©", "café"),  # UTF-8 read as latin-1
])
def test_zbar_mojibake_is_turned_back_into_utf8(zbar_text: str, original: str) -> None:
    assert repair_zbar_text(zbar_text) == original


@pytest.mark.parametrize("text", ["eyJhbGciOiJFZERTQSJ9.e30.sig", "Привет", "ÄÖÜ", "日本語"])
def test_genuine_text_is_left_alone(text: str) -> None:
    assert repair_zbar_text(text) == text


def test_clean_payload_accepts_utf8_and_a_trailing_line_ending() -> None:
    assert clean_payload("ключ".encode()) == "ключ"
    assert clean_payload(b"4006381333931\r\n") == "4006381333931\r\n"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"caf\xe9", "not_utf8"),
    (b"\xff\xfe\x80", "not_utf8"),
    (b"", "empty"),
    (b"abc\x00def", "control_character"),
    (b"abc\x1bdef", "control_character"),
])
def test_clean_payload_rejects_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadRejected) as info:
        clean_payload(raw)
    assert info.value.reason == reason


def test_zbar_transcoded_binary_is_rejected_as_control_characters() -> None:
    # zbar turns bytes ff fe 80 81 into 'ÿþ\x80\x81' (C1 controls)
    with pytest.raises(PayloadRejected) as info:
        clean_payload("ÿþ\x80\x81".encode(), transcoded_by_zbar=True)
    assert info.value.reason == "control_character"


# -- backends over real images ---------------------------------------------------

@pytest.mark.parametrize("backend", ["zxing", "pyzbar"])
@pytest.mark.parametrize("text", ["café", "Zoë 12 €", "ключ-токен"])
def test_utf8_payload_without_eci_decodes_exactly(backend: str, text: str) -> None:
    """zbar misreads the first two as Big5 / Shift-JIS; the chain repairs them."""
    image = _qr(text, encoding="utf-8", eci=False)
    assert [d.payload for d in make_decoder(backend, budget_ms=None).decode(image)] == [text]


def test_latin1_bytes_are_rejected_not_passed_on_as_mojibake() -> None:
    chain = DecoderChain((Step("zxing"),), budget_ms=None)
    assert chain.decode(_qr("café".encode("latin-1"))) == []
    assert chain.counters["rejected:not_utf8"] == 1


def test_binary_payload_is_rejected_by_every_backend() -> None:
    chain = make_decoder("default", budget_ms=None)
    assert chain.decode(_qr(bytes([0xFF, 0xFE, 0x80, 0x81]))) == []
    assert chain.counters["rejected:not_utf8"] >= 1
    assert chain.counters["rejected:control_character"] >= 1


def test_dark_mode_code_is_missed_by_plain_zbar() -> None:
    image = _qr("dark-mode-token", dark=True)
    assert make_decoder("pyzbar", budget_ms=None).decode(image) == []


def test_inverted_retry_reads_a_dark_mode_code_with_zbar() -> None:
    chain = DecoderChain((Step("pyzbar"), Step("pyzbar", "invert")), budget_ms=None)
    found = chain.decode(_qr("dark-mode-token", dark=True))
    assert [(d.payload, d.prep) for d in found] == [("dark-mode-token", "invert")]


def test_default_chain_reads_a_dark_mode_phone() -> None:
    token = sample_token(np.random.default_rng(1))
    phone = render_phone(token, rng=np.random.default_rng(2), dark=True)
    found = make_decoder(budget_ms=None).decode(phone.image)
    assert [d.payload for d in found] == [token]
    assert found[0].backend == "zxing"


def test_ean13_card_is_reported_as_ean13() -> None:
    phone = render_phone("4006381333931", rng=np.random.default_rng(0))
    found = make_decoder(budget_ms=None).decode(phone.image)
    assert [(d.payload, d.symbology) for d in found] == [("4006381333931", "ean13")]


def test_steps_past_the_budget_are_skipped() -> None:
    ticks = iter(np.arange(0, 10, 0.030))  # every clock reading is 30 ms later
    chain = make_decoder(budget_ms=25.0, clock=lambda: float(next(ticks)))
    assert chain.decode(np.full((100, 100), 255, np.uint8)) == []
    assert chain.counters["budget_skip"] == len(DEFAULT_STEPS) - 1


def test_the_budget_counts_cpu_time_and_the_wall_cap_still_ends_a_frame() -> None:
    blank = np.full((100, 100), 255, np.uint8)
    frozen = make_decoder(budget_ms=25.0, clock=lambda: 0.0, wall_cap_ms=None)
    assert frozen.decode(blank) == []
    assert frozen.counters["budget_skip"] == 0  # no CPU time spent: every step runs
    capped = make_decoder(budget_ms=25.0, clock=lambda: 0.0, wall_cap_ms=0.0)
    assert capped.decode(blank) == []
    assert capped.counters["budget_skip"] == len(DEFAULT_STEPS) - 1


def test_roi_crops_and_max_width_downscales() -> None:
    chain = make_decoder(roi=(10, 20, 300, 200), max_width=150)
    assert chain.prepare(np.zeros((720, 1280, 3), np.uint8)).shape == (100, 150)


def test_chain_name_lists_its_steps() -> None:
    assert make_decoder().name == (
        "zxing+fast > zxing-fixed+invert+ean13+fast > zxing-fixed+ean13+fast > "
        "zxing+sharpen+qr+fast > pyzbar+half > pyzbar+half_invert")
    assert "pyzbar" not in make_decoder("zxing").name
    assert make_decoder("legacy").name == "zxing > pyzbar+half > zxing+sharpen > pyzbar+half_invert"


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"steps": (Step("opencv"),)}, "bad_config"),
    ({"steps": (Step("zxing", "fisheye"),)}, "bad_config"),
    ({"steps": ()}, "bad_config"),
    ({"steps": (Step("zxing", "raw", ("datamatrix",)),)}, "bad_config"),
])
def test_bad_chain_configuration_is_a_device_error(kwargs: dict, reason: str) -> None:
    with pytest.raises(DeviceError) as info:
        DecoderChain(**kwargs)
    assert info.value.reason == reason


def test_unknown_decoder_name_is_a_device_error() -> None:
    with pytest.raises(DeviceError):
        make_decoder("tesseract")


def test_default_chain_reads_99_percent_of_a_seeded_robustness_subset() -> None:
    """Correctness, not timing: every step runs (no budget) on 70 seeded frames (5 per kind)."""
    chain = make_decoder(budget_ms=None)
    expected = found = false_reads = 0
    for sample in robustness_set(70):
        payloads = [d.payload for d in chain.decode(sample.frame)]
        if sample.payload is None:
            false_reads += bool(payloads)
            continue
        expected += 1
        found += sample.payload in payloads
    assert false_reads == 0
    assert found / expected >= 0.99, f"{found}/{expected}"
