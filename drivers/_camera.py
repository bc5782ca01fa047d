"""The QR camera: OpenCV capture -> decoder chain -> de-duplicated customer scans.

The camera looks at the counter all day, but a code only matters while a
sale wants a customer: the agent ``arm()``s the camera when it does and
``disarm()``s it once the customer is identified. Disarmed, frames are still
read (so that the capture buffer never goes stale) but never decoded.

Two ways to drive it:

- ``poll()`` reads one frame and returns the new scans in it: deterministic,
  what tests and ``kopilka hw test-camera`` use;
- ``start()`` runs a capture thread and a decode thread joined by a
  one-frame mailbox: when decoding falls behind, the capture thread
  overwrites the unread frame (counted as ``dropped``), so the decoder always
  works on the newest frame instead of a growing backlog.

A phone held in front of the camera shows the same code in every frame; a
payload seen again within ``dedup_window`` seconds of its last sighting is
suppressed (``duplicate``), and ``arm()`` forgets what was seen, so the same
customer can be read again in the next sale.

Never a wrong card: an EAN-13 is reported only when two independent reads
agree. The decoder chain confirms most on the frame itself (the other
library on a crop around the barcode); a read it could not confirm is held
back (``ean_held``) and reported only when the next frame that reads an
EAN-13 (within ``confirm_frames`` frames) reads the same number
(``ean_two_frames``). A different number in between breaks the pair
(``ean_disagree``): a misread followed by a correct read never combines
into a card. QR tokens are signed and need one read.

A chain whose decoder backend cannot be loaded (no libzbar0 for the default
chain) makes the constructor raise ``CameraError("missing_library")``: a
till configured with a camera refuses to start rather than run a weaker
decoder unnoticed.

Sources: a device index (``0``), a video file, a stream URL, or any object
with the ``cv2.VideoCapture`` reading interface (the camera twin). A live
source that stops delivering frames is marked DISCONNECTED and re-opened
every ``reopen_interval`` seconds; a file that ends is closed.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from drivers._decode import Decoded, DecoderChain, make_decoder
from drivers._device import Device, DeviceState, optional_import
from drivers._errors import CameraError, DeviceError

if TYPE_CHECKING:  # OpenCV and numpy are imported when a camera is opened, never at import
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["Camera", "CaptureLike", "Dedup", "EanVotes", "Scan"]


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` the camera uses."""

    def read(self) -> tuple[bool, Any]: ...
    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)
    def release(self) -> None: ...
    def get(self, prop: int) -> float: ...


@dataclass(frozen=True)
class Scan:
    """A customer code read by the camera."""

    payload: str
    symbology: str  # "qr" or "ean13"
    backend: str
    frame_index: int
    at: float  # monotonic seconds
    #: the second read that agreed (EAN-13): "pyzbar+crop", "next frame", ...; "" for QR
    confirmed_by: str = ""


class EanVotes:
    """Two frames agreeing on an unconfirmed EAN-13: the camera's second read.

    Remembers the last frame's unconfirmed number for ``window`` processed
    frames. A frame agreeing with it confirms it; a frame reading another
    number replaces it (a misread then a correct read give nothing).
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._last: tuple[str, int] | None = None  # (payload, frame number)
        self._frame = 0

    def tick(self) -> None:
        """One more processed frame."""
        self._frame += 1
        if self._last is not None and self._frame - self._last[1] > self.window:
            self._last = None

    def vote(self, payload: str) -> bool:
        """An unconfirmed read on this frame; True when the previous one agrees."""
        agrees = self._last is not None and self._last[0] == payload and self._last[1] < self._frame
        self._last = None if agrees else (payload, self._frame)
        return agrees

    def held(self) -> str | None:
        """The number waiting for a second frame, if any."""
        return None if self._last is None else self._last[0]

    def clear(self) -> None:
        """Forget the held number (a new sale, or a frame that contradicted it)."""
        self._last = None


class Dedup:
    """Suppresses a payload seen again within ``window`` s of its last sighting."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._last: dict[str, float] = {}

    def is_new(self, payload: str, now: float) -> bool:
        """True the first time, False while the code keeps being seen within the window."""
        last = self._last.get(payload)
        self._last[payload] = now
        if len(self._last) > 64:  # forget codes long gone
            self._last = {p: t for p, t in self._last.items() if now - t <= self.window}
        return last is None or now - last > self.window

    def clear(self) -> None:
        """Forget every code seen."""
        self._last.clear()


def _as_source(source: int | str | CaptureLike) -> int | str | CaptureLike:
    if isinstance(source, str) and source.isdigit():
        return int(source)
    return source


class Camera(Device):
    """A counter QR camera; see the module docstring for how it is driven."""

    requires = ("cv2",)

    def __init__(
        self,
        source: int | str | CaptureLike,
        *,
        decoder: DecoderChain | None = None,
        dedup_window: float = 3.0,
        confirm_frames: int = 3,
        lost_after: int = 30,
        reopen_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "camera",
    ) -> None:
        super().__init__(name)
        self.source = _as_source(source)
        if decoder is None:
            try:
                decoder = make_decoder()
            except DeviceError as exc:  # no libzbar0: refuse to start, loudly
                raise CameraError(exc.reason, exc.message) from exc
        self.decoder = decoder
        self.dedup = Dedup(dedup_window)
        self.votes = EanVotes(confirm_frames)
        self.lost_after = lost_after
        self.reopen_interval = reopen_interval
        self._clock = clock
        self._cap: CaptureLike | None = None
        self._armed = threading.Event()
        self._failures = 0
        self._last_reopen = 0.0
        self.frame_index = 0
        self.ended = False
        self._stop = threading.Event()
        self._capture_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mailbox: tuple[int, np.ndarray] | None = None
        self._mail_cv = threading.Condition()
        self._scans: queue.Queue[Scan] = queue.Queue()
        self._on_scan: Callable[[Scan], None] | None = None
        self._decode_lock = threading.Lock()

    # -- arming ----------------------------------------------------------------
    @property
    def armed(self) -> bool:
        """True while a session wants a customer (frames are decoded)."""
        return self._armed.is_set()

    def arm(self) -> None:
        """Start decoding; forgets previously seen codes (a new customer may repeat)."""
        with self._decode_lock:  # the decode thread may be checking the dedup table
            self.dedup.clear()
            self.votes.clear()
        self._armed.set()

    def disarm(self) -> None:
        """Stop decoding (frames are still read and thrown away)."""
        self._armed.clear()

    # -- device primitives -------------------------------------------------------
    def _is_file(self) -> bool:
        return isinstance(self.source, str) and os.path.exists(self.source)

    def _at_end(self, cap: CaptureLike) -> bool:
        """A finite source (file, scripted twin) read to its last frame."""
        if self._is_file():
            return True
        cv2: Any = optional_import("cv2")
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return count > 0 and cap.get(cv2.CAP_PROP_POS_FRAMES) >= count

    def _open_capture(self) -> CaptureLike:
        if not isinstance(self.source, (int, str)):
            return self.source
        if isinstance(self.source, str) and "://" not in self.source and not self._is_file():
            raise CameraError("not_found", f"no such video file {self.source!r}")
        capture: CaptureLike = optional_import("cv2").VideoCapture(self.source)
        return capture

    def _open_device(self) -> DeviceState:
        cap = self._open_capture()
        if not cap.isOpened():
            if cap is not self.source:  # ours to release; an object source reopens itself
                cap.release()
            raise CameraError("not_found", f"cannot open camera source {self.source!r}")
        self._cap = cap
        self._failures = 0
        self.ended = False
        return DeviceState.OPEN

    def _close_device(self) -> None:
        self.stop()
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _grab(self) -> np.ndarray | None:
        """One frame from the source, or None (counted; reconnects a lost live source)."""
        if self.state is DeviceState.DISCONNECTED:
            now = self._clock()
            if now - self._last_reopen < self.reopen_interval:
                return None
            self._last_reopen = now
            try:
                self._open_device()
            except CameraError:
                self.counters["reopen_failed"] += 1
                return None
            self._set_state(DeviceState.OPEN, "reconnected")
        if self._cap is None or self.ended:
            return None
        ok, frame = self._cap.read()
        if ok and frame is not None:
            self._failures = 0
            self.counters["frames"] += 1
            self.frame_index += 1
            array: np.ndarray = optional_import("numpy").asarray(frame)
            return array
        self.counters["read_errors"] += 1
        self._failures += 1
        if self._at_end(self._cap):
            self.ended = True
            self._set_state(DeviceState.OPEN, "end of file")
        elif self._failures >= self.lost_after:
            if isinstance(self.source, (int, str)):  # an object source reopens itself
                self._cap.release()
            self._cap = None
            self._last_reopen = self._clock()
            self._set_state(DeviceState.DISCONNECTED, f"{self._failures} reads failed")
        return None

    # -- decoding ------------------------------------------------------------------
    def process(self, frame: np.ndarray, frame_index: int | None = None) -> list[Scan]:
        """Decode ``frame`` if armed; the codes not seen within the dedup window."""
        if not self.armed:
            self.counters["not_armed"] += 1
            return []
        with self._decode_lock:
            self.counters["processed"] += 1
            found = self._confirmed(self.decoder.decode(frame))
            now = self._clock()
            scans = []
            for d in found:
                if not self.dedup.is_new(d.payload, now):
                    self.counters["duplicate"] += 1
                    continue
                self.counters["decoded"] += 1
                log.info("camera read a %s code (%d chars) with %s",
                         d.symbology, len(d.payload), d.backend)
                scans.append(Scan(d.payload, d.symbology, d.backend,
                                  self.frame_index if frame_index is None else frame_index, now,
                                  d.confirmed_by))
        return scans

    def _confirmed(self, found: list[Decoded]) -> list[Decoded]:
        """The reads of one frame that may be reported: QR, and EAN-13 two reads agreed on."""
        self.votes.tick()
        if self.decoder.last_conflict:  # two reads of this frame disagreed: trust no half-read
            if self.votes.held() is not None:
                self.counters["ean_disagree"] += 1
            self.votes.clear()
        out = [d for d in found if d.confirmed]
        held = [d for d in found if not d.confirmed]
        if any(d.symbology == "ean13" for d in out):
            self.votes.clear()  # the card was read properly; forget a half-read
        for d in held:  # the chain returns at most one unconfirmed EAN-13
            waiting = self.votes.held()
            if self.votes.vote(d.payload):
                self.counters["ean_two_frames"] += 1
                out.append(Decoded(d.payload, d.symbology, d.backend, d.prep, True, "next frame"))
            else:
                if waiting is not None and waiting != d.payload:
                    self.counters["ean_disagree"] += 1
                self.counters["ean_held"] += 1
        return out

    def poll(self) -> list[Scan] | None:
        """Read one frame and decode it; None when no frame could be read."""
        if self.state is DeviceState.CLOSED:
            raise CameraError("closed", "open the camera first")
        frame = self._grab()
        if frame is None:
            return None
        return self.process(frame)

    # -- threaded mode -------------------------------------------------------------
    def start(self, on_scan: Callable[[Scan], None] | None = None) -> None:
        """Run capture and decode threads; scans go to ``on_scan`` and ``next_scan()``."""
        if self.state is DeviceState.CLOSED:
            self.open()
        if self._threads:
            return
        self._on_scan = on_scan
        self._stop.clear()
        self._capture_done.clear()
        self._threads = [
            threading.Thread(target=self._capture_loop, name=f"{self.name}-capture", daemon=True),
            threading.Thread(target=self._decode_loop, name=f"{self.name}-decode", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop the threads (waits for them)."""
        self._stop.set()
        with self._mail_cv:
            self._mail_cv.notify_all()
        for t in self._threads:
            t.join()
        self._threads = []

    def next_scan(self, timeout: float | None = None) -> Scan | None:
        """The next scan from the threaded mode, or None after ``timeout``."""
        try:
            return self._scans.get(timeout=timeout)
        except queue.Empty:
            return None

    def _capture_loop(self) -> None:
        while not self._stop.is_set():
            frame = self._grab()
            if frame is None:
                if self.ended:
                    break
                self._stop.wait(0.01 if self.state is DeviceState.OPEN else 0.2)
                continue
            with self._mail_cv:
                if self._mailbox is not None:
                    self.counters["dropped"] += 1  # decoder behind: keep only the newest
                self._mailbox = (self.frame_index, frame)
                self._mail_cv.notify()
        with self._mail_cv:
            self._capture_done.set()
            self._mail_cv.notify_all()

    def _decode_loop(self) -> None:
        while True:
            with self._mail_cv:
                while (self._mailbox is None and not self._stop.is_set()
                       and not self._capture_done.is_set()):
                    self._mail_cv.wait()
                if self._mailbox is None:
                    return
                index, frame = self._mailbox
                self._mailbox = None
            for scan in self.process(frame, index):
                self._scans.put(scan)
                if self._on_scan is not None:
                    self._on_scan(scan)

    def join(self, timeout: float) -> bool:
        """Wait for the threads to finish (a file source read to its end); True if they did."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return all(not t.is_alive() for t in self._threads)
