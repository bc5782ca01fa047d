"""The camera driver over its twin: a real video file that OpenCV reads back."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from drivers import (
    DEFAULT_STEPS,
    Camera,
    CameraError,
    Decoded,
    DecoderChain,
    Dedup,
    DeviceState,
    make_decoder,
)
from hardware_sim import CameraTwin, Shot, sample_card, sample_token, write_video

RNG = np.random.default_rng(42)
TOKEN = sample_token(RNG)
DARK_TOKEN = sample_token(RNG)
CARD = sample_card(RNG)

#: 0-7 empty, 8-13 token, 14-21 empty, 22-27 dark token, 28-35 empty, 36-41 card, 42-49 empty
SCRIPT = [
    Shot(None, 8, phone=False),
    Shot(TOKEN, 6, "plain"),
    Shot(None, 8),
    Shot(DARK_TOKEN, 6, "dark"),
    Shot(None, 8, phone=False),
    Shot(CARD, 6, "ean13"),
    Shot(None, 8, phone=False),
]
SHOTS = {TOKEN: range(8, 14), DARK_TOKEN: range(22, 28), CARD: range(36, 42)}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "counter.avi"
    write_video(path, CameraTwin(SCRIPT, seed=3))
    return path


def _camera(source: object, **kw: object) -> Camera:
    kw.setdefault("decoder", make_decoder(budget_ms=None))  # deterministic: every step runs
    return Camera(source, **kw)  # type: ignore[arg-type]


def _drain(cam: Camera) -> list[tuple[int, str, str]]:
    scans = []
    while (batch := cam.poll()) is not None:
        scans += [(s.frame_index - 1, s.payload, s.symbology) for s in batch]
    return scans


def test_armed_camera_reads_each_code_once_from_a_video_file(video: Path) -> None:
    with _camera(str(video)) as cam:
        cam.arm()
        scans = _drain(cam)
        health = cam.health()
    assert [(p, sym) for _, p, sym in scans] == [(TOKEN, "qr"), (DARK_TOKEN, "qr"), (CARD, "ean13")]
    for index, payload, _ in scans:
        assert index in SHOTS[payload]
    assert health.counters["frames"] == 50
    assert health.counters["decoded"] == 3
    assert health.counters["duplicate"] >= 10  # a held phone is one scan, not six
    assert cam.ended


def test_dark_mode_phone_is_read_from_the_video(video: Path) -> None:
    with _camera(str(video)) as cam:
        cam.arm()
        assert DARK_TOKEN in [p for _, p, _ in _drain(cam)]


def test_disarmed_camera_reads_frames_but_decodes_nothing(video: Path) -> None:
    with _camera(str(video)) as cam:
        assert not cam.armed
        assert _drain(cam) == []
        counters = cam.health().counters
    assert counters["frames"] == 50 and counters["not_armed"] == 50
    assert "decoded" not in counters


def test_disarming_mid_stream_stops_decoding(video: Path) -> None:
    with _camera(str(video)) as cam:
        cam.arm()
        for _ in range(20):
            cam.poll()
        cam.disarm()
        rest = _drain(cam)
    assert rest == []


def test_a_code_held_up_is_reported_again_after_the_dedup_window() -> None:
    now = [0.0]
    twin = CameraTwin([Shot(CARD, 6, "ean13")], seed=1)
    with _camera(twin, dedup_window=1.5, clock=lambda: now[0]) as cam:
        cam.arm()
        reported = []
        for _ in range(6):
            now[0] += 1.0  # one frame per second: gaps of 1 s < 1.5 s window
            reported.append(len(cam.poll() or []))
    assert reported == [1, 0, 0, 0, 0, 0]


def test_a_code_gone_longer_than_the_window_is_reported_again() -> None:
    now = [0.0]
    twin = CameraTwin([Shot(CARD, 3, "ean13")], seed=1)
    with _camera(twin, dedup_window=1.5, clock=lambda: now[0]) as cam:
        cam.arm()
        reported = []
        for _ in range(3):
            now[0] += 2.0  # gaps of 2 s > 1.5 s window
            reported.append(len(cam.poll() or []))
    assert reported == [1, 1, 1]


def test_arming_again_forgets_the_codes_seen() -> None:
    twin = CameraTwin([Shot(CARD, 4, "ean13")], seed=1)
    with _camera(twin, dedup_window=60) as cam:
        cam.arm()
        assert len(cam.poll() or []) == 1
        assert cam.poll() == []
        cam.arm()  # the next sale
        assert len(cam.poll() or []) == 1


def test_dedup_window_is_measured_from_the_last_sighting() -> None:
    d = Dedup(2.0)
    assert d.is_new("x", 0.0)
    assert not d.is_new("x", 1.5)
    assert not d.is_new("x", 3.0)  # 1.5 s after the last sighting
    assert d.is_new("x", 5.5)
    assert d.is_new("y", 5.5)


def test_dedup_forgets_long_gone_codes() -> None:
    d = Dedup(1.0)
    for i in range(70):
        d.is_new(f"code{i}", float(i))
    assert len(d._last) < 70


def test_threaded_camera_delivers_scans_to_callback_and_queue() -> None:
    twin = CameraTwin([Shot(None, 3, phone=False), Shot(CARD, 12, "ean13"),
                       Shot(None, 3, phone=False)], seed=2)
    got: list[str] = []
    seen = threading.Event()
    cam = _camera(twin)
    cam.arm()

    def on_scan(scan: object) -> None:
        got.append(scan.payload)  # type: ignore[attr-defined]
        seen.set()

    cam.start(on_scan)
    try:
        assert seen.wait(60)
        scan = cam.next_scan(timeout=5)
        assert cam.join(60)
    finally:
        cam.close()
    assert scan is not None and scan.payload == CARD
    assert got == [CARD]
    counters = cam.health().counters
    assert counters["frames"] == 18
    assert cam.next_scan(timeout=0) is None


class _HeldChain(DecoderChain):
    """A decoder that holds its first frame until the file is read to its end."""

    camera: Camera | None = None

    def decode(self, frame: np.ndarray) -> list[Decoded]:
        deadline = time.monotonic() + 60
        gate = threading.Event()
        while self.camera is not None and not self.camera.ended and time.monotonic() < deadline:
            gate.wait(0.005)  # poll the condition with a deadline
        return super().decode(frame)


def test_threaded_camera_drops_stale_frames_when_decoding_is_behind(video: Path) -> None:
    """While the decoder is busy, only the newest frame waits; the others are dropped."""
    chain = _HeldChain(DEFAULT_STEPS, budget_ms=None)
    cam = Camera(str(video), decoder=chain)
    chain.camera = cam
    cam.arm()
    cam.start()
    try:
        assert cam.join(60)
    finally:
        cam.close()
    counters = cam.health().counters
    assert counters["frames"] == 50
    assert counters["processed"] + counters["dropped"] == 50
    assert counters["processed"] <= 2  # the frame it was busy with, then the newest


def test_missing_video_file_fails_to_open() -> None:
    cam = Camera("/nonexistent/counter.avi")
    with pytest.raises(CameraError) as info:
        cam.open()
    assert info.value.reason == "not_found"
    assert cam.state is DeviceState.FAILED


def test_polling_a_closed_camera_is_an_error() -> None:
    with pytest.raises(CameraError) as info:
        Camera("0").poll()
    assert info.value.reason == "closed"


def test_unplugged_camera_is_disconnected_then_reconnected() -> None:
    twin = CameraTwin([Shot(None, 20, phone=False)], seed=5)
    with _camera(twin, lost_after=3, reopen_interval=0.0) as cam:
        assert cam.poll() == []
        twin.unplug()
        for _ in range(3):
            assert cam.poll() is None
        assert cam.state is DeviceState.DISCONNECTED
        assert cam.poll() is None  # still unplugged: the reopen fails
        assert cam.health().counters["reopen_failed"] == 1
        twin.replug()
        assert cam.poll() == []  # reopened and read
        assert cam.state is DeviceState.OPEN
    assert cam.state is DeviceState.CLOSED


def test_a_device_index_given_as_text_is_an_index() -> None:
    assert Camera("2").source == 2
