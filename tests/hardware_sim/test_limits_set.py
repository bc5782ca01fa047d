"""The second benchmark set (limits of EAN-13 reading) is seeded, complete and what it says."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from hardware_sim import LIMIT_KINDS, limits_distortion, limits_sample, limits_set
from hardware_sim._phone import qr_modules


def test_a_frame_is_the_same_for_the_same_seed_and_index() -> None:
    a, b = limits_sample(7), limits_sample(7)
    assert a.payload == b.payload
    assert np.array_equal(a.frame, b.frame)
    assert not np.array_equal(a.frame, limits_sample(7, seed=1).frame)


def test_the_set_is_its_samples_in_order() -> None:
    first = list(limits_set(3))
    assert [s.index for s in first] == [0, 1, 2]
    assert np.array_equal(first[2].frame, limits_sample(2).frame)


def test_kinds_cycle_and_carry_the_right_code() -> None:
    for sample in itertools.islice(limits_set(len(LIMIT_KINDS)), len(LIMIT_KINDS)):
        kind = sample.distortion.kind
        assert kind == LIMIT_KINDS[sample.index]
        assert sample.frame.shape == (720, 1280, 3)
        if kind == "empty":
            assert sample.payload is None
        elif kind.startswith("qr"):
            assert sample.payload is not None and sample.payload.count(".") == 2
        else:
            assert sample.payload is not None and len(sample.payload) == 13
        assert sample.distortion.dark == ("dark" in kind)


@pytest.mark.parametrize(("kind", "lo", "hi"), [
    ("ean_small", 1.9, 2.6), ("ean_dark_small", 2.0, 2.6), ("card_small", 2.0, 2.8),
    ("ean_blur", 3.0, 4.0), ("qr_small", 2.3, 2.8),
])
def test_module_size_is_in_frame_pixels_per_module(kind: str, lo: float, hi: float) -> None:
    modules = 117 if not kind.startswith("qr") else int(qr_modules("x" * 400).shape[1])
    for seed in range(20):
        d = limits_distortion(kind, modules, np.random.default_rng(seed))
        assert lo <= d.code_px / modules <= hi


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        limits_distortion("fisheye", 117, np.random.default_rng(0))
