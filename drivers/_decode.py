"""The camera's decoder chain: find QR codes and EAN-13 barcodes in a frame.

No single library reads everything a counter camera sees, so a frame goes
through a short chain of *steps* (a backend and how the frame is prepared)
until one finds a code:

1. zxing-cpp on the grey frame: ~5 ms at 1280x720, reads light-on-dark
   (dark mode) codes itself;
2. pyzbar (the design card's decoder) on the frame at half size (at full
   size it costs ~28 ms, more than the whole budget): it reads the
   EAN-13 of a plastic card held askew, which zxing-cpp misses when no
   scan line crosses the whole (short) barcode;
3. zxing-cpp on an unsharp-masked frame: rescues out-of-focus and
   motion-blurred codes the first pass misses;
4. pyzbar on the inverted half frame (zbar never reads light-on-dark codes
   by itself).

Each step is skipped when its running-average cost would push the frame past
``budget_ms`` (25 ms by default, inside the 30 ms frame budget), so a frame
never costs more than the budget plus one step. The order and the default
come from ``benchmarks/bench_hw.py`` (figures in ``docs/camera.md``).

Backends are imported lazily: a till without libzbar still decodes with
zxing-cpp, and the other way round.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers._device import optional_import
from drivers._errors import DeviceError
from drivers._payload import PayloadRejected, clean_payload

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "DEFAULT_STEPS",
    "Decoded",
    "DecoderChain",
    "Step",
    "make_decoder",
]


@dataclass(frozen=True)
class Decoded:
    """One code found in a frame: its text and who read it how."""

    payload: str
    symbology: str  # "qr" or "ean13"
    backend: str  # "zxing" or "pyzbar"
    prep: str  # how the frame was prepared: "raw", "sharpen", "invert"


@dataclass(frozen=True)
class Step:
    """One link of the chain: a backend run on a prepared frame."""

    backend: str
    prep: str = "raw"


#: raw reads: (bytes, symbology, transcoded_by_zbar)
_Raw = list[tuple[bytes, str, bool]]


def _read_zxing(gray: np.ndarray) -> _Raw:
    zxingcpp: Any = optional_import("zxingcpp")
    formats = [zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.EAN13]
    out: _Raw = []
    for r in zxingcpp.read_barcodes(gray, formats=formats):
        sym = "qr" if r.format == zxingcpp.BarcodeFormat.QRCode else "ean13"
        out.append((bytes(r.bytes), sym, False))
    return out


def _read_pyzbar(gray: np.ndarray) -> _Raw:
    pyzbar: Any = optional_import("pyzbar.pyzbar")
    symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.EAN13]
    out: _Raw = []
    for r in pyzbar.decode(gray, symbols=symbols):
        sym = "qr" if r.type == "QRCODE" else "ean13"
        out.append((bytes(r.data), sym, sym == "qr"))
    return out


def _zbar_usable() -> bool:
    try:
        optional_import("pyzbar.pyzbar")
    except (DeviceError, OSError):  # no wheel, or no libzbar0 on the system
        return False
    return True


def _zxing_usable() -> bool:
    try:
        optional_import("zxingcpp")
    except DeviceError:
        return False
    return True


#: backend name -> (reader, is_usable)
BACKENDS: dict[str, tuple[Callable[[np.ndarray], _Raw], Callable[[], bool]]] = {
    "pyzbar": (_read_pyzbar, _zbar_usable),
    "zxing": (_read_zxing, _zxing_usable),
}


def _cv2() -> Any:
    """OpenCV, imported on first use: a till without a camera never loads it (~40 MB)."""
    return optional_import("cv2")


def _invert(gray: np.ndarray) -> np.ndarray:
    return _cv2().bitwise_not(gray)


def _sharpen(gray: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 2.0, blurred, -1.0, 0)


def _half(gray: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


_PREP: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "raw": lambda g: g,
    "invert": _invert,
    "sharpen": _sharpen,
    "half": _half,
    "half_invert": lambda g: _invert(_half(g)),
}

DEFAULT_STEPS: tuple[Step, ...] = (
    Step("zxing"),
    Step("pyzbar", "half"),
    Step("zxing", "sharpen"),
    Step("pyzbar", "half_invert"),
)


class DecoderChain:
    """Runs the steps in order on a frame, within a time budget, until one reads a code.

    ``roi`` (x, y, w, h) crops the frame to where phones are held;
    ``max_width`` downscales wider frames (a 1080p camera) before decoding.
    ``budget_ms=None`` runs every step regardless of time (tests, diagnosis).
    """

    def __init__(
        self,
        steps: Sequence[Step] = DEFAULT_STEPS,
        *,
        budget_ms: float | None = 25.0,
        roi: tuple[int, int, int, int] | None = None,
        max_width: int = 1280,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        usable = {name: ok() for name, (_, ok) in BACKENDS.items()}
        for step in steps:
            if step.backend not in BACKENDS:
                raise DeviceError("bad_config", f"unknown decoder backend {step.backend!r}")
            if step.prep not in _PREP:
                raise DeviceError("bad_config", f"unknown frame preparation {step.prep!r}")
        self.steps = tuple(s for s in steps if usable[s.backend])
        for s in steps:
            if not usable[s.backend]:
                log.warning("decoder backend %s is not usable here; step skipped", s.backend)
        if not self.steps:
            raise DeviceError("missing_library", "no usable decoder backend (zxing-cpp or pyzbar)")
        self.budget_ms = budget_ms
        self.roi = roi
        self.max_width = max_width
        self._clock = clock
        self._cost_ms = [0.0] * len(self.steps)  # running average per step
        self.counters: Counter[str] = Counter()

    @property
    def name(self) -> str:
        """The chain as text, e.g. ``zxing > zxing+sharpen > pyzbar``."""
        return " > ".join(s.backend + ("" if s.prep == "raw" else "+" + s.prep)
                          for s in self.steps)

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """Grey, cropped to the ROI and downscaled to ``max_width``."""
        cv2 = _cv2()
        np: Any = optional_import("numpy")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.roi is not None:
            x, y, w, h = self.roi
            gray = gray[y:y + h, x:x + w]
        if gray.shape[1] > self.max_width:
            f = self.max_width / gray.shape[1]
            gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(gray)

    def decode(self, frame: np.ndarray) -> list[Decoded]:
        """The codes in ``frame`` (BGR or grey), first successful step only."""
        start = self._clock()
        gray = self.prepare(frame)
        for i, step in enumerate(self.steps):
            elapsed = (self._clock() - start) * 1000
            if i and self.budget_ms is not None and elapsed + self._cost_ms[i] > self.budget_ms:
                self.counters["budget_skip"] += 1
                continue
            t0 = self._clock()
            raws = BACKENDS[step.backend][0](_PREP[step.prep](gray))
            dt = (self._clock() - t0) * 1000
            self._cost_ms[i] = dt if not self._cost_ms[i] else 0.8 * self._cost_ms[i] + 0.2 * dt
            found = self._clean(raws, step)
            if found:
                self.counters[f"hit:{step.backend}+{step.prep}"] += 1
                return found
        return []

    def _clean(self, raws: _Raw, step: Step) -> list[Decoded]:
        out: list[Decoded] = []
        for raw, sym, transcoded in raws:
            try:
                text = clean_payload(raw, transcoded_by_zbar=transcoded)
            except PayloadRejected as exc:
                self.counters[f"rejected:{exc.reason}"] += 1
                log.info("decoded %s rejected: %s", sym, exc.reason)
                continue
            if all(d.payload != text for d in out):
                out.append(Decoded(text, sym, step.backend, step.prep))
        return out


def make_decoder(name: str = "default", **kwargs: Any) -> DecoderChain:
    """A chain by name: ``default`` (the chain above), ``zxing`` or ``pyzbar`` alone."""
    if name == "default":
        return DecoderChain(DEFAULT_STEPS, **kwargs)
    if name in BACKENDS:
        return DecoderChain((Step(name),), **kwargs)
    raise DeviceError("bad_config", f"unknown decoder {name!r}; use default, zxing or pyzbar")
