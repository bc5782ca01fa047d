"""``kopilka hw decode`` and ``kopilka hw test-camera`` through click's CliRunner."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from drivers.cli import hw
from hardware_sim import (
    CameraTwin,
    Shot,
    compose_frame,
    render_phone,
    sample_token,
    standard_distortion,
    write_video,
)

TOKEN = sample_token(np.random.default_rng(8))


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    phone = render_phone(TOKEN, rng=rng, dark=True)
    with_code = tmp_path / "phone.png"
    cv2.imwrite(str(with_code), compose_frame(phone, standard_distortion("dark", rng), rng))
    without = tmp_path / "counter.png"
    cv2.imwrite(str(without), np.full((720, 1280, 3), 128, np.uint8))
    return with_code, without


def test_decode_prints_one_line_per_file(images: tuple[Path, Path]) -> None:
    with_code, without = images
    res = CliRunner().invoke(hw, ["decode", str(with_code), str(without)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [f"{with_code}\t{TOKEN}", f"{without}\t-"]


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_decode_with_one_backend(images: tuple[Path, Path], decoder: str) -> None:
    with_code, _ = images
    res = CliRunner().invoke(hw, ["decode", "--decoder", decoder, str(with_code)])
    assert res.exit_code == 0, res.output
    # zxing reads the dark-mode phone; zbar alone does not (no inverted retry)
    expected = TOKEN if decoder == "zxing" else "-"
    assert res.output == f"{with_code}\t{expected}\n"


def test_decode_reports_unreadable_files_and_exits_2(tmp_path: Path,
                                                     images: tuple[Path, Path]) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    missing = tmp_path / "missing.png"
    res = CliRunner().invoke(hw, ["decode", str(junk), str(images[1]), str(missing)])
    assert res.exit_code == 2
    assert f"error: cannot read image {junk}" in res.output
    assert f"error: cannot read image {missing}" in res.output
    assert f"{images[1]}\t-" in res.output


def test_decode_needs_an_image() -> None:
    assert CliRunner().invoke(hw, ["decode"]).exit_code == 2


def test_test_camera_reads_the_twin_and_prints_its_codes() -> None:
    # 'sim' is added by the composition root (cli.py), not by drivers
    res = CliRunner().invoke(main, ["hw", "test-camera", "--source", "sim", "--frames", "40"])
    assert res.exit_code == 0, res.output
    assert "\tqr\tzxing\teyJ" in res.output
    assert "frames read: 40" in res.output
    assert "decoded=1" in res.output


def test_test_camera_reads_a_video_file_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    write_video(path, CameraTwin([Shot("4006381333931", 4, "ean13")], seed=1))
    res = CliRunner().invoke(hw, ["test-camera", "--source", str(path), "--frames", "100"])
    assert res.exit_code == 0, res.output
    assert "ean13" in res.output and "4006381333931" in res.output
    assert "frames read: 4;" in res.output


def test_test_camera_without_a_camera_is_an_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(hw, ["test-camera", "--source", str(tmp_path / "none.avi")])
    assert res.exit_code == 1
    assert "not_found" in res.output


def test_every_camera_command_has_help_ending_with_an_example() -> None:
    for name in ("decode", "test-camera"):
        res = CliRunner().invoke(hw, [name, "--help"])
        assert res.exit_code == 0
        assert "Example: kopilka hw " + name in res.output
