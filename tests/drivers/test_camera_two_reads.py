"""Never a wrong card: an EAN-13 is delivered only when two independent reads agree.

The misread is real, not staged: frame 135 of the seeded limits set (a phone
app's EAN-13 under out-of-focus blur, ~3.4 px a module) is read by zxing-cpp
alone as another valid 13-digit number. The tests first check that it still
is (so that they keep testing something), then that no chain and no camera
built on it ever hands that number over.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from drivers import Camera, DecoderChain, Step, make_decoder
from drivers.cli import hw
from hardware_sim import compose_frame, limits_sample, render_phone, standard_distortion
from hardware_sim._phone import ean13_modules

MISREAD = limits_sample(135)  # "ean_blur"
CARD = MISREAD.payload
assert CARD is not None


def _clean_frame(number: str, seed: int) -> np.ndarray:
    """Another frame of the same card number, held still and in focus."""
    rng = np.random.default_rng(seed)
    return compose_frame(render_phone(number, rng=rng), standard_distortion("ean13", rng), rng)


def _one_read(backend: str) -> DecoderChain:
    return DecoderChain((Step(backend),), budget_ms=None, confirm=False)


def test_zxing_alone_misreads_the_blurred_card_as_another_valid_number() -> None:
    read = [d.payload for d in _one_read("zxing").decode(MISREAD.frame)]
    assert len(read) == 1 and read[0] != CARD
    assert len(read[0]) == 13 and read[0].isdigit()


@pytest.mark.parametrize("name", ["default", "zxing", "legacy-steps-with-two-reads"])
def test_a_blurred_card_one_decoder_misreads_is_never_delivered(name: str) -> None:
    if name == "legacy-steps-with-two-reads":
        chain = DecoderChain((Step("zxing"), Step("pyzbar", "half")), budget_ms=None)
    else:
        chain = make_decoder(name, budget_ms=None)
    found = chain.decode(MISREAD.frame)
    assert all(d.payload == CARD for d in found)


def test_the_misread_is_refuted_by_the_other_library_on_the_crop() -> None:
    chain = DecoderChain((Step("zxing"),), budget_ms=None)
    assert chain.decode(MISREAD.frame) == []
    assert chain.counters["ean_refuted"] == 1
    assert chain.last_conflict


def test_two_agreeing_reads_deliver_the_card() -> None:
    found = make_decoder(budget_ms=None).decode(_clean_frame(CARD, 1))
    assert [(d.payload, d.symbology, d.confirmed) for d in found] == [(CARD, "ean13", True)]
    assert found[0].backend == "zxing" and found[0].confirmed_by == "pyzbar+crop+ean13"


def test_a_dark_code_held_askew_is_confirmed_by_zxing_on_the_upright_crop() -> None:
    """Only zbar reads it on the frame (30 degrees, short bars); zxing-cpp agrees on the crop."""
    sample = limits_sample(14)  # "ean_dark", angle -30
    found = make_decoder(budget_ms=None).decode(sample.frame)
    assert [(d.payload, d.confirmed) for d in found] == [(sample.payload, True)]
    assert (found[0].backend, found[0].prep) == ("pyzbar", "half_invert")
    assert found[0].confirmed_by.startswith("zxing")


def test_a_qr_token_needs_one_read() -> None:
    chain = DecoderChain((Step("zxing"),), budget_ms=None, crop_check=False)
    token_frame = render_phone("eyJhbGciOiJFZERTQSJ9.e30.c2ln", rng=np.random.default_rng(0)).image
    found = chain.decode(token_frame)
    assert [(d.symbology, d.confirmed) for d in found] == [("qr", True)]


def test_an_ean_read_once_is_returned_unconfirmed() -> None:
    chain = DecoderChain((Step("zxing"),), budget_ms=None, crop_check=False)
    found = chain.decode(_clean_frame(CARD, 2))
    assert [(d.payload, d.confirmed) for d in found] == [(CARD, False)]
    assert chain.counters["ean_unconfirmed"] == 1


# -- the camera: two frames -------------------------------------------------------

def _frames_only_camera() -> Camera:
    """A camera whose chain cannot confirm on one frame: only two frames can."""
    chain = DecoderChain((Step("zxing"),), budget_ms=None, crop_check=False)
    return Camera("unused", decoder=chain, dedup_window=60)


def _process(cam: Camera, frames: list[np.ndarray]) -> list[list[str]]:
    cam.arm()
    return [[s.payload for s in cam.process(f)] for f in frames]


def test_two_frames_agreeing_deliver_the_card() -> None:
    cam = _frames_only_camera()
    got = _process(cam, [_clean_frame(CARD, 5), _clean_frame(CARD, 6)])
    assert got == [[], [CARD]]
    assert cam.counters["ean_two_frames"] == 1


def test_a_misread_then_a_correct_read_do_not_combine_into_a_card() -> None:
    cam = _frames_only_camera()
    got = _process(cam, [MISREAD.frame, _clean_frame(CARD, 5)])
    assert got == [[], []]
    assert cam.counters["ean_disagree"] == 1


def test_a_misread_between_two_correct_reads_breaks_the_pair() -> None:
    cam = _frames_only_camera()
    got = _process(cam, [_clean_frame(CARD, 5), MISREAD.frame, _clean_frame(CARD, 6),
                         _clean_frame(CARD, 7)])
    assert got == [[], [], [], [CARD]]  # only the last two agree


def test_a_held_read_expires_after_the_confirm_window() -> None:
    cam = Camera("unused", decoder=DecoderChain((Step("zxing"),), budget_ms=None,
                                                crop_check=False), confirm_frames=2)
    blank = np.full((720, 1280, 3), 128, np.uint8)
    got = _process(cam, [_clean_frame(CARD, 5), blank, blank, _clean_frame(CARD, 6)])
    assert got == [[], [], [], []]


def test_arming_again_forgets_a_held_read() -> None:
    cam = _frames_only_camera()
    assert _process(cam, [_clean_frame(CARD, 5)]) == [[]]
    assert _process(cam, [_clean_frame(CARD, 6)]) == [[]]  # arm() in between


def test_the_default_camera_delivers_the_blurred_card_only_as_itself() -> None:
    cam = Camera("unused", decoder=make_decoder(budget_ms=None))
    got = _process(cam, [MISREAD.frame, MISREAD.frame])
    assert all(p == CARD for frame in got for p in frame)


# -- hw decode --strict ------------------------------------------------------------

def _halves_only_zbar_reads(number: str) -> np.ndarray:
    """A flat EAN-13 whose every row is broken: glare over the top of the left half and the
    bottom of the right half. zbar joins halves read on different rows; zxing-cpp needs one
    row across the whole code, so only one library reads it."""
    px, height = 4, 240
    row = np.repeat(np.where(ean13_modules(number), 0, 255).astype(np.uint8), px)
    img = np.tile(row, (height, 1))
    quiet = 11
    img[:height // 2, (quiet + 3) * px + 40:(quiet + 45) * px - 40] = 255
    img[height // 2:, (quiet + 50) * px + 40:(quiet + 92) * px - 40] = 255
    return np.pad(img, 60, constant_values=255)


def test_a_code_only_one_library_reads_is_returned_unconfirmed() -> None:
    found = make_decoder(budget_ms=None).decode(_halves_only_zbar_reads(CARD))
    assert [(d.payload, d.confirmed, d.backend) for d in found] == [(CARD, False, "pyzbar")]


def test_the_camera_delivers_it_when_the_next_frame_agrees() -> None:
    cam = Camera("unused", decoder=make_decoder(budget_ms=None))
    frame = _halves_only_zbar_reads(CARD)
    cam.arm()
    assert cam.process(frame) == []
    scans = cam.process(frame)
    assert [(s.payload, s.confirmed_by) for s in scans] == [(CARD, "next frame")]


@pytest.fixture
def pngs(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, frame in (("blurred", MISREAD.frame), ("clean", _clean_frame(CARD, 8)),
                        ("halves", _halves_only_zbar_reads(CARD))):
        out[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(out[name]), frame)
    return out


def test_strict_decode_prints_a_card_two_reads_agree_on(pngs: dict[str, Path]) -> None:
    res = CliRunner().invoke(hw, ["decode", "--strict", str(pngs["clean"]), str(pngs["blurred"])])
    assert res.exit_code == 0, res.output
    lines = dict(line.split("\t") for line in res.output.splitlines())
    assert lines[str(pngs["clean"])] == CARD
    assert lines[str(pngs["blurred"])] in (CARD, "-")  # never the misread


def test_strict_decode_prints_dash_when_only_one_read_finds_the_card(
        pngs: dict[str, Path]) -> None:
    strict = CliRunner().invoke(hw, ["decode", "--strict", str(pngs["halves"])])
    assert strict.exit_code == 0, strict.output
    assert strict.output == f"{pngs['halves']}\t-\n"
    loose = CliRunner().invoke(hw, ["decode", str(pngs["halves"])])
    assert loose.output == f"{pngs['halves']}\t{CARD}\n"


def test_a_read_whose_corners_are_off_the_frame_is_not_re_read() -> None:
    from drivers._decode import _crop

    gray = np.full((720, 1280), 255, np.uint8)
    assert _crop(gray, [(5000.0, 5000.0), (5100.0, 5010.0)], False) is None
    assert _crop(gray, [(600.0, 300.0), (800.0, 320.0)], True) is not None
