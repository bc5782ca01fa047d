"""The camera's decoder chain: find QR codes and EAN-13 barcodes in a frame, never a wrong card.

No single library reads everything a counter camera sees, so a frame goes
through a short chain of *steps* (a backend and how the frame is prepared)
until one finds a code. The default chain (figures in ``docs/camera.md``):

1. ``zxing`` on the grey frame, rows only, full size (``+fast``: ~4 ms
   at 1280x720); reads QR codes, dark-mode ones included (zxing-cpp's
   ``try_invert``), and most EAN-13;
2. ``zxing-fixed`` on the inverted frame, EAN-13 only (~2 ms): zxing-cpp's
   ``try_invert`` covers matrix codes only, so a dark-mode (light-on-dark)
   EAN-13 is read here; the fixed-threshold binarizer keeps ~2 px modules;
3. ``zxing-fixed`` on the frame, EAN-13 only, rows and columns: small
   (~2 px) and blurred bars the local-average binarizer loses, and a
   barcode held upright;
4. ``zxing`` on an unsharp-masked frame, QR only: out-of-focus tokens;
5. ``pyzbar`` (the design card's decoder) on the half-size frame and
6. on the inverted half frame: a second library for what zxing-cpp misses
   (a short barcode held askew: zbar joins the halves of an EAN-13 read on
   different scan lines).

**Two reads per card.** A QR token is signed (``spec/token.md``): a misread
fails its signature, so one read suffices. An EAN-13 card number is only
protected by its check digit, and a blurred barcode can be misread into
another valid number (measured: zxing-cpp and zbar both do it). So an
EAN-13 is *confirmed* only when a second, independent read agrees: the
other library on a crop around the barcode, turned upright and scaled to
~3 px a module (~4 ms), or a later step of the other library. A second
read that disagrees *refutes* that read (``ean_refuted``; the frame's
other EAN-13 reads may still be confirmed); a read nobody could check is
returned with ``confirmed=False`` and the camera waits for the next frame
to agree (``drivers/_camera.py``).

Each step is skipped when its running-average cost would push the frame past
``budget_ms`` (25 ms by default, inside the 30 ms frame budget). The budget
counts the decoding thread's CPU time, not the wall clock: on a till whose
cores are its own the two are the same; when something else takes the CPU
(an update, a report), a wall-clock budget would skip the very steps that
read hard codes on every frame alike, while the camera already drops the
frames the decoder is too slow for (newest frame wins). ``wall_cap_ms``
(100 ms) still ends a frame that a starved machine cannot finish.

Backends are imported when the chain is built; a chain that names a backend
this machine cannot load is an error (``DeviceError("missing_library")``),
never a silently weaker chain: a till without libzbar must say so at start.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from drivers._device import optional_import
from drivers._errors import DeviceError
from drivers._errors import PayloadRejected
from drivers._payload import clean_payload

if TYPE_CHECKING:
    import numpy as np
    from numpy import ndarray as _NDArray

log = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "DEFAULT_STEPS",
    "LEGACY_STEPS",
    "Decoded",
    "DecoderChain",
    "Step",
    "ZXING_STEPS",
    "backend_problem",
    "make_decoder",
]

SYMBOLOGIES = ("qr", "ean13")


@dataclass(frozen=True)
class Decoded:
    """One code found in a frame: its text, who read it how, and whether a second read agreed."""

    payload: str
    symbology: str  # "qr" or "ean13"
    backend: str  # "zxing", "zxing-fixed" or "pyzbar"
    prep: str  # how the frame was prepared: "raw", "sharpen", "invert", ...
    #: QR: always (signed); EAN-13: a second, independent read agreed
    confirmed: bool = True
    confirmed_by: str = ""  # the agreeing read, e.g. "pyzbar+crop"


@dataclass(frozen=True)
class Step:
    """One link of the chain: a backend run on a prepared frame, for some symbologies."""

    backend: str
    prep: str = "raw"
    symbologies: tuple[str, ...] = SYMBOLOGIES
    #: zxing-cpp: also scan columns (a barcode held upright) / downscaled copies
    rotate: bool = True
    downscale: bool = True

    @property
    def name(self) -> str:
        """``backend+prep`` (``+ean13`` when the step reads EAN-13 only, ``+fast`` without
        zxing-cpp's column and downscaled passes)."""
        text = self.backend + ("" if self.prep == "raw" else "+" + self.prep)
        if set(self.symbologies) != set(SYMBOLOGIES):
            text += "+" + "+".join(self.symbologies)
        return text + ("" if self.rotate and self.downscale else "+fast")


#: raw reads: (bytes, symbology, transcoded_by_zbar, corner points (x, y) in the read image)
_Raw = list[tuple[bytes, str, bool, list[tuple[float, float]]]]
#: reader(image, symbologies, rotate, downscale)
_Reader = Callable[..., _Raw]


def _read_zxing_with(binarizer: str) -> _Reader:
    def read(gray: np.ndarray, symbologies: Sequence[str], rotate: bool = True,
             downscale: bool = True) -> _Raw:
        zxingcpp: Any = optional_import("zxingcpp")
        fmt = zxingcpp.BarcodeFormat
        formats = tuple(fmt.QRCode if s == "qr" else fmt.EAN13 for s in symbologies)
        out: _Raw = []
        for r in zxingcpp.read_barcodes(gray, formats=formats,
                                        binarizer=getattr(zxingcpp.Binarizer, binarizer),
                                        try_invert="qr" in symbologies, try_rotate=rotate,
                                        try_downscale=downscale):
            sym = "qr" if r.format == fmt.QRCode else "ean13"
            p = r.position
            pts = [(float(q.x), float(q.y))
                   for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
            out.append((bytes(r.bytes), sym, False, pts))
        return out
    return read


def _read_pyzbar(gray: np.ndarray, symbologies: Sequence[str], rotate: bool = True,
                 downscale: bool = True) -> _Raw:
    pyzbar: Any = optional_import("pyzbar.pyzbar")
    symbols = [pyzbar.ZBarSymbol.QRCODE if s == "qr" else pyzbar.ZBarSymbol.EAN13
               for s in symbologies]
    out: _Raw = []
    for r in pyzbar.decode(gray, symbols=symbols):
        sym = "qr" if r.type == "QRCODE" else "ean13"
        pts = [(float(q.x), float(q.y)) for q in r.polygon] or [
            (float(r.rect.left), float(r.rect.top)),
            (float(r.rect.left + r.rect.width), float(r.rect.top + r.rect.height))]
        out.append((bytes(r.data), sym, sym == "qr", pts))
    return out


def backend_problem(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine (what to install), or None when it can."""
    if backend == "pyzbar":
        try:
            import pyzbar  # noqa: F401
        except ImportError:
            return "the pyzbar package is not installed (pip install pyzbar; it needs libzbar0)"
        try:
            import pyzbar.pyzbar  # noqa: F401
        except (ImportError, OSError) as exc:
            return (f"pyzbar cannot load the zbar library ({exc}): "
                    "install it with `apt-get install libzbar0`")
        return None
    if backend in ("zxing", "zxing-fixed"):
        try:
            import zxingcpp  # noqa: F401
        except ImportError:
            return "the zxing-cpp package is not installed (pip install zxing-cpp)"
        return None
    return f"unknown decoder backend {backend!r}"


#: backend name -> (reader, library family): reads of two families are independent
BACKENDS: dict[str, tuple[_Reader, str]] = {
    "pyzbar": (_read_pyzbar, "zbar"),
    "zxing": (_read_zxing_with("LocalAverage"), "zxing-cpp"),
    "zxing-fixed": (_read_zxing_with("FixedThreshold"), "zxing-cpp"),
}


def _cv2() -> Any:
    """OpenCV, imported on first use: a till without a camera never loads it (~40 MB)."""
    return optional_import("cv2")


def _invert(gray: np.ndarray) -> np.ndarray:
    out: np.ndarray = _cv2().bitwise_not(gray)
    return out


def _sharpen(gray: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    out: np.ndarray = cv2.addWeighted(gray, 2.0, blurred, -1.0, 0)
    return out


def _half(gray: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    out: np.ndarray = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return out


#: prep name -> (function, scale of its output relative to the grey frame, inverted?)
_PREP: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float, bool]] = {
    "raw": (lambda g: g, 1.0, False),
    "invert": (_invert, 1.0, True),
    "sharpen": (_sharpen, 1.0, False),
    "half": (_half, 0.5, False),
    "half_invert": (lambda g: _invert(_half(g)), 0.5, True),
}

_EAN = ("ean13",)

DEFAULT_STEPS: tuple[Step, ...] = (
    Step("zxing", rotate=False, downscale=False),
    Step("zxing-fixed", "invert", _EAN, rotate=False, downscale=False),
    Step("zxing-fixed", "raw", _EAN, downscale=False),
    Step("zxing", "sharpen", ("qr",), rotate=False, downscale=False),
    Step("pyzbar", "half"),
    Step("pyzbar", "half_invert"),
)

#: what a till without libzbar runs (an explicit ``--decoders zxing`` choice)
ZXING_STEPS: tuple[Step, ...] = tuple(s for s in DEFAULT_STEPS if s.backend != "pyzbar")

#: the chain before two-read confirmation (kept as the benchmark's baseline)
LEGACY_STEPS: tuple[Step, ...] = (
    Step("zxing"),
    Step("pyzbar", "half"),
    Step("zxing", "sharpen"),
    Step("pyzbar", "half_invert"),
)

#: a module this wide (px) in the confirmation crop; EAN-13 is 95 modules between guards
_CROP_MODULE_PX = 3.0


def _crop(gray: np.ndarray, pts: Sequence[tuple[float, float]], invert: bool) -> np.ndarray | None:
    """The barcode's neighbourhood turned upright (bars vertical), ~4 px a module, dark on light.

    A code held askew is turned by the dominant gradient direction (the
    structure tensor of the crop), so that a horizontal scan line crosses
    every bar: zxing-cpp only scans rows and columns.
    """
    cv2 = _cv2()
    np: Any = optional_import("numpy")
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = x1 - x0, y1 - y0
    size = max(w, h, 20.0)
    # a read's corners may cover only the scan lines that decoded (part of a
    # rotated code): take the code's length around them, quiet zones included
    pad_x = 0.5 * size + 8
    pad_y = max(0.5 * size + 8, (0.8 * size - h) / 2)
    height, width = gray.shape[:2]
    crop = gray[max(0, int(y0 - pad_y)):min(height, int(y1 + pad_y) + 1),
                max(0, int(x0 - pad_x)):min(width, int(x1 + pad_x) + 1)]
    if min(crop.shape[:2]) < 16:  # corners off the frame: nothing to re-read
        return None
    small = cv2.pyrDown(crop) if min(crop.shape[:2]) > 120 else crop  # the angle only
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    angle = 0.5 * float(np.degrees(np.arctan2(2 * jxy, jxx - jyy)))  # of the gradients
    factor = min(3.0, max(1.0, _CROP_MODULE_PX * 95 / size))
    ch, cw = crop.shape[:2]
    # upright and scaled, keep a band through the middle: the whole width of
    # the turned crop (a read's corners may sit off the code's centre along
    # it) and a quarter of the code's size across the bars
    if abs(angle) <= 4.0:
        angle = 0.0
    rad = np.radians(angle)
    out_w = int((cw * abs(np.cos(rad)) + ch * abs(np.sin(rad))) * factor)
    out_h = int(max(40.0, 0.25 * size * factor))
    rot = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, factor)
    rot[0, 2] += out_w / 2 - cw / 2
    rot[1, 2] += out_h / 2 - ch / 2
    crop = cv2.warpAffine(crop, rot, (out_w, out_h), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
    out: _NDArray = cv2.bitwise_not(crop) if invert else crop
    return out


class DecoderChain:
    """Runs the steps in order on a frame, within a time budget, until one reads a code.

    ``roi`` (x, y, w, h) crops the frame to where phones are held;
    ``max_width`` downscales wider frames (a 1080p camera) before decoding.
    ``budget_ms=None`` runs every step regardless of time (tests, diagnosis);
    ``clock`` is the budget's clock (the thread's CPU time; ``time.perf_counter``
    for wall time), ``wall_cap_ms`` a wall-clock ceiling on top of it.
    ``confirm=False`` returns every read as confirmed (one read: the
    benchmark's baselines); ``crop_check=False`` skips the crop re-read, so
    an EAN-13 is confirmed only by another step of the other library (or by
    the camera's next frame). Building a chain whose backend cannot be loaded raises
    ``DeviceError("missing_library")`` naming what to install.
    """

    def __init__(
        self,
        steps: Sequence[Step] = DEFAULT_STEPS,
        *,
        budget_ms: float | None = 25.0,
        roi: tuple[int, int, int, int] | None = None,
        max_width: int = 1280,
        clock: Callable[[], float] = time.thread_time,
        wall_cap_ms: float | None = 100.0,
        confirm: bool = True,
        crop_check: bool = True,
    ) -> None:
        for step in steps:
            if step.backend not in BACKENDS:
                raise DeviceError("bad_config", f"unknown decoder backend {step.backend!r}")
            if step.prep not in _PREP:
                raise DeviceError("bad_config", f"unknown frame preparation {step.prep!r}")
            if not step.symbologies or set(step.symbologies) - set(SYMBOLOGIES):
                raise DeviceError("bad_config", f"step {step.name}: symbologies are qr and/or ean13")
        if not steps:
            raise DeviceError("bad_config", "a decoder chain needs at least one step")
        for backend in sorted({s.backend for s in steps}):
            problem = backend_problem(backend)
            if problem is not None:
                raise DeviceError("missing_library", f"decoder backend {backend}: {problem}")
        self.steps = tuple(steps)
        self.budget_ms = budget_ms
        self.roi = roi
        self.max_width = max_width
        self.confirm = confirm
        self.crop_check = crop_check
        self._clock = clock
        self.wall_cap_ms = wall_cap_ms
        self._cost_ms = [0.0] * len(self.steps)  # running average per step
        self.counters: Counter[str] = Counter()
        self._confirmers = self._make_confirmers()
        #: the last frame had EAN-13 reads that contradicted each other
        self.last_conflict = False

    def _make_confirmers(self) -> dict[str, tuple[Step, ...]]:
        """For a read by each backend, the crop reads that check it: the other library first.

        A chain of one library (an explicit ``zxing`` choice) checks with the
        same library's other binarizer on the upscaled crop: two preparations
        instead of two libraries, the weaker form of the rule
        (``docs/camera.md``).
        """
        have = {s.backend for s in self.steps}
        families = {BACKENDS[b][1] for b in have}
        out: dict[str, tuple[Step, ...]] = {}
        for backend in have:
            family = BACKENDS[backend][1]
            other: tuple[str, ...]
            if family == "zxing-cpp":
                other = ("pyzbar",) if "zbar" in families else ()
                same = ("zxing",) if backend == "zxing-fixed" else ("zxing-fixed",)
            else:
                other = ("zxing-fixed", "zxing") if "zxing-cpp" in families else ()
                same = ("pyzbar",)
            chosen = other or same
            # the crop is upright and scaled: zxing-cpp's extra passes would find nothing more
            out[backend] = tuple(Step(b, "crop", ("ean13",), rotate=b == "pyzbar",
                                      downscale=b == "pyzbar") for b in chosen)
        return out

    @property
    def name(self) -> str:
        """The chain as text, e.g. ``zxing > zxing-fixed+invert+ean13 > pyzbar+half``."""
        return " > ".join(s.name for s in self.steps)

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
        out: _NDArray = np.ascontiguousarray(gray)
        return out

    def decode(self, frame: np.ndarray) -> list[Decoded]:
        """The codes in ``frame`` (BGR or grey); see the module docstring for EAN-13.

        Returns the QR codes and confirmed EAN-13 of the first step that finds
        one; when no step does, a lone unconfirmed EAN-13 (``confirmed=False``)
        that no other read contradicted, for the camera to check on the next
        frame.
        """
        start, wall_start = self._clock(), time.perf_counter()
        gray = self.prepare(frame)
        found: dict[str, Decoded] = {}
        pending: dict[str, Decoded] = {}
        refuted: set[str] = set()
        for i, step in enumerate(self.steps):
            elapsed = (self._clock() - start) * 1000
            if i and self.budget_ms is not None and (
                    elapsed + self._cost_ms[i] > self.budget_ms
                    or (self.wall_cap_ms is not None
                        and (time.perf_counter() - wall_start) * 1000 > self.wall_cap_ms)):
                self.counters["budget_skip"] += 1
                continue
            fn, scale, inverted = _PREP[step.prep]
            t0 = self._clock()
            raws = BACKENDS[step.backend][0](fn(gray), step.symbologies, step.rotate,
                                             step.downscale)
            dt = (self._clock() - t0) * 1000
            self._cost_ms[i] = dt if not self._cost_ms[i] else 0.8 * self._cost_ms[i] + 0.2 * dt
            for text, sym, pts in self._clean(raws):
                if text in found:
                    continue
                d = Decoded(text, sym, step.backend, step.prep)
                if sym == "qr" or not self.confirm:
                    found[text] = d
                    continue
                earlier = pending.get(text)
                if earlier is not None and self._independent(earlier.backend, step.backend):
                    found[text] = replace(earlier, confirmed=True, confirmed_by=step.name)
                    del pending[text]
                    continue
                verdict, by = self._check(gray, [(x / scale, y / scale) for x, y in pts],
                                          inverted, step.backend, text)
                if verdict is True:
                    found[text] = replace(d, confirmed_by=by)
                    pending.pop(text, None)
                elif verdict is False:  # the other library read another number there
                    refuted.add(text)
                elif text not in refuted:
                    pending.setdefault(text, replace(d, confirmed=False))
            if found:
                break
        self.last_conflict = bool(refuted) or len(pending) > 1
        for text in refuted:
            pending.pop(text, None)
        if refuted:
            self.counters["ean_refuted"] += len(refuted)
        if found:
            for d in found.values():
                self.counters[f"hit:{d.backend}+{d.prep}"] += 1
            return list(found.values())
        if len(pending) == 1 and not refuted:  # a lone read nobody contradicted
            self.counters["ean_unconfirmed"] += 1
            return list(pending.values())
        if pending:
            self.counters["ean_conflict"] += 1
        return []

    @staticmethod
    def _independent(a: str, b: str) -> bool:
        return BACKENDS[a][1] != BACKENDS[b][1]

    def _check(self, gray: np.ndarray, pts: list[tuple[float, float]], inverted: bool,
               backend: str, text: str) -> tuple[bool | None, str]:
        """Read the barcode again on its crop: True agrees, False disagrees, None unread."""
        crop = _crop(gray, pts, inverted) if self.crop_check else None
        for confirmer in self._confirmers[backend] if crop is not None else ():
            texts = [t for t, sym, _ in self._clean(
                BACKENDS[confirmer.backend][0](crop, ("ean13",), confirmer.rotate,
                                               confirmer.downscale)) if sym == "ean13"]
            if text in texts:
                self.counters["ean_confirmed"] += 1
                return True, confirmer.name
            if texts:
                log.info("EAN-13 read %s disagrees with %s on the crop", backend, confirmer.backend)
                return False, confirmer.name
        return None, ""

    def _clean(self, raws: _Raw) -> list[tuple[str, str, list[tuple[float, float]]]]:
        out: list[tuple[str, str, list[tuple[float, float]]]] = []
        for raw, sym, transcoded, pts in raws:
            try:
                text = clean_payload(raw, transcoded_by_zbar=transcoded)
            except PayloadRejected as exc:
                self.counters[f"rejected:{exc.reason}"] += 1
                log.info("decoded %s rejected: %s", sym, exc.reason)
                continue
            if sym == "ean13" and not (len(text) == 13 and text.isdigit() and text.isascii()):
                self.counters["rejected:not_ean13"] += 1
                continue
            if all(t != text for t, _, _ in out):
                out.append((text, sym, pts))
        return out


def make_decoder(name: str = "default", **kwargs: Any) -> DecoderChain:
    """A chain by name: ``default`` (above), ``legacy`` (before two reads), ``zxing``/``pyzbar`` alone.

    ``zxing`` alone is the explicit choice for a till without libzbar: both
    zxing-cpp binarizers, EAN-13 checked by the other binarizer on the crop.
    """
    if name == "default":
        return DecoderChain(DEFAULT_STEPS, **kwargs)
    if name == "legacy":
        return DecoderChain(LEGACY_STEPS, **kwargs)
    if name == "zxing":
        return DecoderChain(ZXING_STEPS, **kwargs)
    if name == "pyzbar":
        return DecoderChain((Step("pyzbar"),), **kwargs)
    raise DeviceError("bad_config", f"unknown decoder {name!r}; use default, legacy, zxing or pyzbar")
