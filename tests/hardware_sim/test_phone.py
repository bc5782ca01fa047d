"""The phone twin renders real, decodable codes, deterministically."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import zxingcpp

from fastcore import ean13_valid
from hardware_sim import (
    KINDS,
    render_card,
    render_phone,
    robustness_set,
    sample_card,
    sample_token,
    standard_distortion,
)
from hardware_sim._phone import ean13_modules, qr_modules


def _zxing_texts(image: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_sample_card_is_13_digits_with_a_valid_check_digit() -> None:
    for seed in range(20):
        card = sample_card(np.random.default_rng(seed))
        assert len(card) == 13 and card.isdigit()
        assert ean13_valid(card)


def test_sample_token_is_a_compact_eddsa_jws_of_realistic_length() -> None:
    token = sample_token(np.random.default_rng(5))
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header)))["alg"] == "EdDSA"
    claims = json.loads(base64.urlsafe_b64decode(pad(payload)))
    assert claims["exp"] - claims["iat"] == 300
    assert len(base64.urlsafe_b64decode(pad(signature))) == 64
    assert 300 <= len(token) <= 600
    assert "=" not in token


def test_sample_token_is_the_same_for_the_same_seed() -> None:
    assert sample_token(np.random.default_rng(9)) == sample_token(np.random.default_rng(9))


def test_ean13_bars_have_guards_and_95_modules_between_quiet_zones() -> None:
    bars = ean13_modules("4006381333931", quiet=0)
    assert bars.size == 95
    assert list(bars[:3]) == [True, False, True]
    assert list(bars[45:50]) == [False, True, False, True, False]


def test_ean13_bars_refuse_letters() -> None:
    with pytest.raises(ValueError):
        ean13_modules("40063813339A1")


def test_qr_modules_have_a_quiet_zone() -> None:
    mods = qr_modules("hello")
    assert not mods[:4].any() and not mods[:, :4].any()


@pytest.mark.parametrize("dark", [False, True])
def test_flat_phone_screen_decodes_to_its_token(dark: bool) -> None:
    token = sample_token(np.random.default_rng(1))
    phone = render_phone(token, rng=np.random.default_rng(2), dark=dark)
    assert phone.symbology == "qr"
    assert _zxing_texts(phone.image) == [token]


def test_dark_mode_draws_the_code_light_on_dark() -> None:
    token = sample_token(np.random.default_rng(1))
    light = render_phone(token, rng=np.random.default_rng(2))
    dark = render_phone(token, rng=np.random.default_rng(2), dark=True)
    x0, y0, x1, y1 = light.code_box
    # the quiet zone's corner is background: white in light mode, near-black in dark mode
    assert light.image[y0 + 2, x0 + 2].mean() > 200
    assert dark.image[y0 + 2, x0 + 2].mean() < 40


def test_a_13_digit_card_is_shown_as_an_ean13_barcode() -> None:
    card = sample_card(np.random.default_rng(3))
    phone = render_phone(card, rng=np.random.default_rng(4))
    assert phone.symbology == "ean13"
    assert _zxing_texts(phone.image) == [card]


def test_unknown_symbology_is_refused() -> None:
    with pytest.raises(ValueError, match="symbology"):
        render_phone("x", rng=np.random.default_rng(0), symbology="pdf417")


def test_unknown_distortion_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown distortion"):
        standard_distortion("fog", np.random.default_rng(0))


def test_robustness_set_cycles_every_kind_and_is_reproducible() -> None:
    first = list(robustness_set(len(KINDS), seed=11))
    again = list(robustness_set(len(KINDS), seed=11))
    assert [s.distortion.kind for s in first] == list(KINDS)
    for a, b in zip(first, again, strict=True):
        assert a.payload == b.payload
        assert np.array_equal(a.frame, b.frame)
        assert a.frame.shape == (720, 1280, 3)
    assert first[-1].payload is None  # the empty counter
    assert all(s.payload for s in first[:-1])


def test_plastic_card_shows_its_number_as_ean13() -> None:
    card = sample_card(np.random.default_rng(6))
    shown = render_card(card, rng=np.random.default_rng(7))
    assert shown.symbology == "ean13"
    assert _zxing_texts(shown.image) == [card]


def test_plastic_card_refuses_a_token() -> None:
    with pytest.raises(ValueError):
        render_card("eyJ.e30.sig", rng=np.random.default_rng(0))
