"""The camera twin behaves like cv2.VideoCapture and writes video OpenCV reads back."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hardware_sim import CameraTwin, Shot, demo_script, write_video
from hardware_sim.cli import sim

CARD = "4006381333931"


def _script() -> list[Shot]:
    return [Shot(None, 3, phone=False), Shot(CARD, 2, "ean13"), Shot(None, 2)]


def test_twin_serves_frames_then_reports_the_end() -> None:
    twin = CameraTwin(_script(), seed=1)
    assert twin.isOpened()
    frames = []
    while True:
        ok, frame = twin.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 7 == twin.get(cv2.CAP_PROP_FRAME_COUNT)
    assert frames[0].shape == (720, 1280, 3) and frames[0].dtype == np.uint8
    assert twin.read() == (False, None)
    assert twin.served == list(range(7))


def test_twin_reports_size_fps_and_position_like_opencv() -> None:
    twin = CameraTwin(_script(), fps=25.0)
    assert twin.get(cv2.CAP_PROP_FRAME_WIDTH) == 1280
    assert twin.get(cv2.CAP_PROP_FRAME_HEIGHT) == 720
    assert twin.get(cv2.CAP_PROP_FPS) == 25.0
    twin.read()
    assert twin.get(cv2.CAP_PROP_POS_FRAMES) == 1
    assert twin.get(cv2.CAP_PROP_BRIGHTNESS) == 0.0
    assert twin.set(cv2.CAP_PROP_BRIGHTNESS, 1) is False


def test_seeking_replays_the_same_pixels() -> None:
    twin = CameraTwin(_script(), seed=4)
    frames = list(twin)
    assert twin.set(cv2.CAP_PROP_POS_FRAMES, 3)
    ok, again = twin.read()
    assert ok and np.array_equal(again, frames[3])
    assert twin.payload_at(3) == CARD and twin.payload_at(0) is None


def test_twin_loops_when_asked() -> None:
    twin = CameraTwin([Shot(None, 2, phone=False)], loop=True)
    assert all(twin.read()[0] for _ in range(5))


def test_released_twin_reads_nothing() -> None:
    twin = CameraTwin(_script())
    twin.release()
    assert not twin.isOpened()
    assert twin.read() == (False, None)
    assert twin.retrieve() == (False, None)


def test_unplugged_twin_fails_reads_until_replugged() -> None:
    twin = CameraTwin(_script())
    twin.read()
    twin.unplug()
    assert not twin.isOpened() and twin.read() == (False, None)
    twin.replug()
    ok, _ = twin.read()
    assert ok and twin.served == [0, 1]


def test_empty_script_is_refused() -> None:
    with pytest.raises(ValueError):
        CameraTwin([])
    with pytest.raises(ValueError):
        CameraTwin([Shot(None, 0)])


def test_frame_out_of_range_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        CameraTwin(_script()).frame(7)


def test_video_file_is_read_back_by_opencv(tmp_path: Path) -> None:
    path = tmp_path / "counter.avi"
    assert write_video(path, CameraTwin(_script(), seed=2)) == 7
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        read = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            read.append(frame.shape)
    finally:
        cap.release()
    assert read == [(720, 1280, 3)] * 7


def test_video_to_an_unwritable_place_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_video(tmp_path / "missing" / "x.avi", [])


def test_demo_script_alternates_idle_runs_and_customers() -> None:
    shots = demo_script(["tok", CARD], idle=5, hold=3)
    assert [s.payload for s in shots] == [None, "tok", None, CARD, None]
    assert shots[3].kind == "ean13"


def test_cli_phone_writes_a_frame(tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    res = CliRunner().invoke(sim, ["phone", "--code", CARD, "--out", str(out), "--dark"])
    assert res.exit_code == 0, res.output
    image = cv2.imread(str(out))
    assert image.shape == (720, 1280, 3)


def test_cli_phone_flat_writes_the_screen(tmp_path: Path) -> None:
    out = tmp_path / "screen.png"
    res = CliRunner().invoke(sim, ["phone", "--code", "hello", "--out", str(out), "--flat"])
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(out)).shape[0] > cv2.imread(str(out)).shape[1]  # portrait


def test_cli_phone_refuses_letters_as_ean13(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["phone", "--code", "abc", "--symbology", "ean13",
                                   "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 1
    assert "13 digits" in res.output


def test_cli_camera_writes_a_video_and_lists_the_codes(tmp_path: Path) -> None:
    out = tmp_path / "c.avi"
    res = CliRunner().invoke(sim, ["camera", "--out", str(out), "--code", CARD,
                                   "--idle", "2", "--hold", "2"])
    assert res.exit_code == 0, res.output
    assert f"frames 2-3\tean13\t{CARD}" in res.output
    assert out.stat().st_size > 0


def test_cli_camera_writes_png_frames(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["camera", "--frames-dir", str(tmp_path), "--customers", "1",
                                   "--idle", "1", "--hold", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["0000.png", "0001.png", "0002.png"]


def test_cli_camera_writes_the_robustness_set_with_a_manifest(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["camera", "--robustness-set", "3", "--frames-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file\tkind\tpayload"
    assert [ln.split("\t")[1] for ln in lines[1:]] == ["plain", "rotation", "perspective"]


def test_cli_camera_needs_somewhere_to_write() -> None:
    res = CliRunner().invoke(sim, ["camera"])
    assert res.exit_code == 2
    assert "--out" in res.output
    res = CliRunner().invoke(sim, ["camera", "--robustness-set", "2"])
    assert res.exit_code == 2


def test_every_camera_twin_command_has_help_ending_with_an_example() -> None:
    for name in ("camera", "phone"):
        res = CliRunner().invoke(sim, [name, "--help"])
        assert res.exit_code == 0
        assert "Example: kopilka sim " + name in res.output


def test_cli_phone_kind_card_writes_a_card_frame(tmp_path: Path) -> None:
    out = tmp_path / "card.png"
    res = CliRunner().invoke(sim, ["phone", "--code", CARD, "--out", str(out), "--kind", "card"])
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(out)).shape == (720, 1280, 3)
