"""The camera twin: a scripted counter scene served like ``cv2.VideoCapture``.

A script is a list of ``Shot``s: a phone showing a code (or nothing) held for
some frames under one distortion, with the small hand shake of a real
customer from frame to frame; long ``Shot(None, n)`` runs are the empty
counter a camera sees most of the day. ``CameraTwin`` serves the frames
through the ``VideoCapture`` reading interface (``read``, ``grab``,
``retrieve``, ``isOpened``, ``release``, ``get``, ``set``) so the camera
driver cannot tell it from OpenCV; ``write_video`` writes the same frames to
a real video file (MJPG in AVI by default) that ``cv2.VideoCapture`` reads
back, the transport the driver tests go through.

Frame ``i`` depends only on ``(seed, i)``: seeking and replay give the
same pixels.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from hardware_sim._card import render_card
from hardware_sim._phone import PhoneImage, render_phone
from hardware_sim._scene import (
    FRAME_H,
    FRAME_W,
    Distortion,
    apply_optics,
    compose_frame,
    empty_frame,
    standard_distortion,
)

__all__ = ["CameraTwin", "Shot", "demo_script", "write_video"]


@dataclass(frozen=True)
class Shot:
    """``frames`` frames of ``payload`` on a phone (None: no code) under a distortion.

    ``kind="card"`` shows a plastic card's EAN-13 instead of a phone.
    """

    payload: str | None
    frames: int
    kind: str = "plain"  # a standard distortion kind (hardware_sim._scene.KINDS)
    distortion: Distortion | None = None  # explicit, overrides ``kind``
    phone: bool = True  # for payload None: show the app without a code, or nothing


def demo_script(codes: Sequence[str], *, idle: int = 45, hold: int = 20,
                kinds: Sequence[str] = ("plain", "dark", "rotation", "glare")) -> list[Shot]:
    """An empty counter between customers, each showing one of ``codes``."""
    shots = [Shot(None, idle, phone=False)]
    for i, code in enumerate(codes):
        kind = "ean13" if len(code) == 13 and code.isdigit() else kinds[i % len(kinds)]
        shots += [Shot(code, hold, kind), Shot(None, idle, phone=False)]
    return shots


class CameraTwin:
    """A ``cv2.VideoCapture``-compatible source playing a script of shots."""

    def __init__(self, shots: Sequence[Shot], *, seed: int = 0, fps: float = 30.0,
                 loop: bool = False) -> None:
        if not shots or any(s.frames < 1 for s in shots):
            raise ValueError("a script needs at least one shot of at least one frame")
        self.shots = list(shots)
        self.seed = seed
        self.fps = fps
        self.loop = loop
        self._starts = list(np.cumsum([0] + [s.frames for s in self.shots[:-1]]))
        self.frame_count = sum(s.frames for s in self.shots)
        self._pos = 0
        self._open = True
        self._unplugged = False
        self._grabbed: int | None = None
        self._cache: dict[int, tuple[Distortion, PhoneImage | None, np.ndarray]] = {}
        self.served: list[int] = []  # frame numbers handed out, for tests to assert on

    # -- the scene ---------------------------------------------------------------
    def _shot_setup(self, k: int) -> tuple[Distortion, PhoneImage | None, np.ndarray]:
        if k not in self._cache:
            shot = self.shots[k]
            rng = np.random.default_rng([self.seed, k])
            d = shot.distortion or standard_distortion(shot.kind, rng)
            phone = None
            if shot.kind == "card" and shot.payload is not None:
                phone = render_card(shot.payload, rng=rng)
            elif shot.payload is not None or shot.phone:
                phone = render_phone(shot.payload, rng=rng, dark=d.dark,
                                     code_fraction=d.code_fraction)
            background = empty_frame(rng, replace(d, noise=0, blur=0, motion=0, contrast=1.0))
            self._cache = {k: (d, phone, background)}  # one shot at a time is enough
        return self._cache[k]

    def payload_at(self, index: int) -> str | None:
        """What frame ``index`` shows (None: no code)."""
        return self.shots[bisect.bisect_right(self._starts, index) - 1].payload

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` of the script (1280x720 BGR), the same for the same seed."""
        if not 0 <= index < self.frame_count:
            raise IndexError(index)
        k = bisect.bisect_right(self._starts, index) - 1
        d, phone, background = self._shot_setup(k)
        rng = np.random.default_rng([self.seed, k, index])
        if phone is None:
            return apply_optics(background.copy(), d, rng)
        shake = replace(
            d,
            offset=(d.offset[0] + float(rng.normal(0, 4)), d.offset[1] + float(rng.normal(0, 4))),
            angle=d.angle + float(rng.normal(0, 0.7)),
        )
        return compose_frame(phone, shake, rng, background=background)

    # -- cv2.VideoCapture interface --------------------------------------------------
    def unplug(self) -> None:
        """Simulate the USB cable pulled: reads fail and the source reports closed."""
        self._unplugged = True

    def replug(self) -> None:
        """The cable is back: reads go on from where they stopped."""
        self._unplugged = False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        """True until released (and while plugged in)."""
        return self._open and not self._unplugged

    def release(self) -> None:
        """Close the source; ``read`` then returns ``(False, None)``."""
        self._open = False

    def grab(self) -> bool:
        """Advance to the next frame without rendering it."""
        if not self.isOpened():
            return False
        if self._pos >= self.frame_count:
            if not self.loop:
                return False
            self._pos = 0
        self._grabbed = self._pos
        self._pos += 1
        return True

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        """Render the grabbed frame."""
        if self._grabbed is None or not self.isOpened():
            return False, None
        self.served.append(self._grabbed)
        return True, self.frame(self._grabbed)

    def read(self) -> tuple[bool, np.ndarray | None]:
        """``grab`` then ``retrieve``: ``(True, frame)`` or ``(False, None)`` at the end."""
        if not self.grab():
            return False, None
        return self.retrieve()

    def get(self, prop: int) -> float:
        """Frame size, fps, position and count; 0 for anything else (as OpenCV does)."""
        return float({
            cv2.CAP_PROP_FRAME_WIDTH: FRAME_W,
            cv2.CAP_PROP_FRAME_HEIGHT: FRAME_H,
            cv2.CAP_PROP_FPS: self.fps,
            cv2.CAP_PROP_POS_FRAMES: self._pos,
            cv2.CAP_PROP_FRAME_COUNT: self.frame_count,
        }.get(prop, 0.0))

    def set(self, prop: int, value: float) -> bool:
        """Seek with ``CAP_PROP_POS_FRAMES``; other properties are refused (False)."""
        if prop == cv2.CAP_PROP_POS_FRAMES and 0 <= int(value) <= self.frame_count:
            self._pos = int(value)
            return True
        return False

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.read()
            if not ok or frame is None:
                return
            yield frame


def write_video(path: str | Path, frames: Iterable[np.ndarray], *, fps: float = 30.0,
                fourcc: str = "MJPG") -> int:
    """Write ``frames`` to a video file OpenCV can read back; returns the frame count."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (FRAME_W, FRAME_H))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {fourcc} video to {path}")
    n = 0
    try:
        for frame in frames:
            writer.write(frame)
            n += 1
    finally:
        writer.release()
    return n
