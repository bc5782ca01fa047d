"""Counter-camera optics: put a phone screen into a 1280x720 camera frame.

The distortions are the ones a counter QR camera really sees; each is a
field of ``Distortion`` and the *standard distortion set* samples them at
the levels written in ``docs/camera.md``:

- rotation (in-plane, any angle) and perspective (the phone tilted: its
  corners pushed by up to ``tilt`` of the phone's size);
- blur (out of focus, Gaussian sigma) and motion blur (a hand moving);
- glare (a ceiling lamp reflected: a bright soft blob over the code);
- low contrast (dim screen, auto-exposure fighting a bright counter);
- screen moire (the LCD pixel grid beating against the sensor grid);
- dark mode (the app draws the code light-on-dark);
- small and far codes (a few pixels per module);
- a plastic card's EAN-13 instead of a phone;
- sensor noise on every frame.

Every random choice comes from a ``numpy`` Generator given by the caller, so
a seed names a frame exactly.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from hardware_sim._codes import sample_card, sample_token
from hardware_sim._card import render_card
from hardware_sim._phone import PhoneImage, ean13_modules, qr_modules, render_phone

__all__ = [
    "FRAME_H",
    "FRAME_W",
    "KINDS",
    "Distortion",
    "Sample",
    "apply_optics",
    "compose_frame",
    "LIMIT_KINDS",
    "empty_frame",
    "limits_distortion",
    "limits_sample",
    "limits_set",
    "robustness_set",
    "standard_distortion",
]

FRAME_W, FRAME_H = 1280, 720

KINDS = (
    "plain", "rotation", "perspective", "blur", "motion", "glare", "low_contrast",
    "moire", "dark", "small", "far", "ean13", "card", "empty",
)


@dataclass(frozen=True)
class Distortion:
    """How one frame is degraded; the defaults are a clean, centred code."""

    kind: str = "plain"
    code_px: float = 360.0  # code width incl. quiet zone, in frame pixels
    code_fraction: float = 0.9  # code width on the phone screen (small code: 0.5)
    angle: float = 0.0  # in-plane rotation, degrees
    tilt: float = 0.0  # perspective: corner displacement / phone size
    offset: tuple[float, float] = (0.0, 0.0)  # code centre from frame centre, px
    blur: float = 0.0  # Gaussian sigma, px
    motion: int = 0  # motion-blur length, px
    glare: float = 0.0  # peak added brightness (0-255)
    glare_radius: float = 80.0
    contrast: float = 1.0  # 1 = full, 0.3 = a dim screen
    moire: float = 0.0  # amplitude of the screen-grid beat (0-1)
    noise: float = 2.0  # sensor noise sigma
    dark: bool = False


@dataclass(frozen=True)
class Sample:
    """One frame of the robustness set and what it should decode to."""

    index: int
    frame: np.ndarray
    payload: str | None  # None: no code in the frame
    distortion: Distortion


def _background(rng: np.random.Generator) -> np.ndarray:
    """A counter top: low-frequency colour blotches and a few boxes."""
    base = rng.integers(80, 170, size=3)
    small = np.clip(base + rng.integers(-30, 30, size=(9, 16, 3)), 0, 255).astype(np.uint8)
    bg = cv2.resize(small, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):
        x, y = int(rng.integers(0, FRAME_W)), int(rng.integers(0, FRAME_H))
        w, h = int(rng.integers(60, 300)), int(rng.integers(40, 200))
        color = tuple(int(c) for c in rng.integers(30, 230, size=3))
        cv2.rectangle(bg, (x, y), (x + w, y + h), color, -1)
    return bg


def apply_optics(frame: np.ndarray, d: Distortion, rng: np.random.Generator) -> np.ndarray:
    """Camera-wide effects: exposure/contrast, blur, motion, sensor noise."""
    if d.contrast != 1.0:
        level = float(rng.uniform(100, 150))
        frame = cv2.convertScaleAbs(frame, alpha=d.contrast, beta=level * (1 - d.contrast))
    if d.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), d.blur)
    if d.motion > 1:
        k: np.ndarray = np.zeros((d.motion, d.motion), np.float32)
        k[d.motion // 2, :] = 1.0 / d.motion
        rot = cv2.getRotationMatrix2D((d.motion / 2 - 0.5, d.motion / 2 - 0.5),
                                      float(rng.uniform(0, 180)), 1.0)
        k = np.asarray(cv2.warpAffine(k, rot, (d.motion, d.motion)), np.float32)  # float32 in, float32 out
        k /= max(float(k.sum()), 1e-6)
        frame = cv2.filter2D(frame, -1, k)
    if d.noise > 0:
        noise = np.empty((FRAME_H, FRAME_W), np.int16)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randn(noise, 0, d.noise)  # type: ignore[call-overload]  # the stub lacks scalar mean/stddev
        frame = np.clip(frame.astype(np.int16) + noise[:, :, None], 0, 255).astype(np.uint8)
    return frame


def empty_frame(rng: np.random.Generator, d: Distortion | None = None) -> np.ndarray:
    """A frame of the counter with no code in it (most frames a camera sees)."""
    return apply_optics(_background(rng), d or Distortion(kind="empty"), rng)


def _homography(phone: PhoneImage, d: Distortion, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = phone.code_box
    height, width = phone.image.shape[:2]
    if x1 <= x0:  # no code: place the screen centre instead
        x0, y0, x1, y1 = 60, 300, width - 60, height - 160
    scale = d.code_px / (x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    affine = cv2.getRotationMatrix2D((cx, cy), d.angle, scale)
    affine[0, 2] += FRAME_W / 2 + d.offset[0] - cx
    affine[1, 2] += FRAME_H / 2 + d.offset[1] - cy
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    dst = cv2.transform(corners[None], affine)[0]
    if d.tilt > 0:
        size = scale * max(width, height)
        # Tilting a phone pushes one edge away (shorter) and one closer (longer).
        axis = float(rng.uniform(0, 2 * np.pi))
        direction = np.array([np.cos(axis), np.sin(axis)], np.float32)
        centre = dst.mean(axis=0)
        for i in range(4):
            side = float(np.dot(dst[i] - centre, direction))
            dst[i] += (dst[i] - centre) * (d.tilt * side / size * 2)
            dst[i] += rng.normal(0, d.tilt * size * 0.1, size=2).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, dst.astype(np.float32))


def compose_frame(phone: PhoneImage, d: Distortion, rng: np.random.Generator,
                  background: np.ndarray | None = None) -> np.ndarray:
    """The camera frame (1280x720 BGR) of ``phone`` held over the counter under ``d``."""
    frame = _background(rng) if background is None else background.copy()
    h = _homography(phone, d, rng)
    size = (FRAME_W, FRAME_H)
    warped = cv2.warpPerspective(phone.image, h, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(phone.mask, h, size, flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(alpha)
    if ys.size:
        top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        a = alpha[top:bottom, left:right, None].astype(np.float32) / 255.0
        screen = warped[top:bottom, left:right].astype(np.float32)
        if d.moire > 0:
            yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
            f1, f2 = rng.uniform(0.42, 0.48, size=2)
            theta = float(rng.uniform(0, np.pi))
            u = xx * np.cos(theta) + yy * np.sin(theta)
            v = -xx * np.sin(theta) + yy * np.cos(theta)
            grid = np.sin(2 * np.pi * f1 * u) * np.sin(2 * np.pi * f2 * v)
            screen *= (1.0 + d.moire * grid)[:, :, None]
        if d.glare > 0:
            c = np.array([[[phone.code_box[0] + phone.code_box[2], phone.code_box[1]
                            + phone.code_box[3]]]], np.float32) / 2
            gx, gy = cv2.perspectiveTransform(c, h)[0, 0]
            gx += rng.uniform(-0.35, 0.35) * d.code_px
            gy += rng.uniform(-0.35, 0.35) * d.code_px
            yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
            r2 = ((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * d.glare_radius**2)
            screen += (d.glare * np.exp(-r2))[:, :, None]
        region = frame[top:bottom, left:right].astype(np.float32)
        blended = region * (1 - a) + np.clip(screen, 0, 255) * a
        frame[top:bottom, left:right] = blended.astype(np.uint8)
    return apply_optics(frame, d, rng)


def standard_distortion(kind: str, rng: np.random.Generator) -> Distortion:
    """Sample one distortion of ``kind`` at the standard set's levels (docs/camera.md)."""
    if kind not in KINDS:
        raise ValueError(f"unknown distortion kind {kind!r}; one of {', '.join(KINDS)}")
    base = Distortion(
        kind=kind,
        code_px=float(rng.uniform(300, 420)),
        angle=float(rng.uniform(-12, 12)),
        tilt=float(rng.uniform(0.0, 0.03)),
        offset=(float(rng.uniform(-200, 200)), float(rng.uniform(-90, 90))),
        noise=float(rng.uniform(1.5, 4.0)),
    )
    u = rng.uniform
    extra: dict[str, object] = {}
    if kind == "rotation":
        extra = {"angle": float(u(-180, 180))}
    elif kind == "perspective":
        extra = {"tilt": float(u(0.06, 0.12))}
    elif kind == "blur":
        extra = {"blur": float(u(0.8, 1.6))}
    elif kind == "motion":
        extra = {"motion": int(rng.integers(3, 7))}
    elif kind == "glare":
        extra = {"glare": float(u(110, 170)), "glare_radius": float(u(50, 110))}
    elif kind == "low_contrast":
        extra = {"contrast": float(u(0.25, 0.4))}
    elif kind == "moire":
        extra = {"moire": float(u(0.15, 0.3))}
    elif kind == "dark":
        extra = {"dark": True, "angle": float(u(-30, 30))}
    elif kind == "small":
        extra = {"code_fraction": 0.5, "code_px": float(u(230, 270))}
    elif kind == "far":
        extra = {"code_px": float(u(200, 240)), "blur": float(u(0.4, 0.7))}
    elif kind == "ean13":
        extra = {"code_px": float(u(330, 450)), "angle": float(u(-20, 20))}
    elif kind == "card":
        extra = {"code_px": float(u(330, 450)), "angle": float(u(-25, 25)),
                 "tilt": float(u(0.0, 0.06))}
    return replace(base, **extra)  # type: ignore[arg-type]


def robustness_set(n: int = 520, seed: int = 20260401) -> Iterator[Sample]:
    """``n`` frames cycling through ``KINDS``, each seeded by ``(seed, index)``.

    Code frames carry a fresh signed token (or card number for ``ean13``);
    ``empty`` frames carry none and count false reads.
    """
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kind = KINDS[i % len(KINDS)]
        d = standard_distortion(kind, rng)
        payload = None if kind == "empty" else (
            sample_card(rng) if kind in ("ean13", "card") else sample_token(rng))
        yield _sample(i, payload, d, kind == "card", rng)


def _sample(i: int, payload: str | None, d: Distortion, card: bool,
            rng: np.random.Generator) -> Sample:
    if payload is None:  # the counter, or a phone showing the app without a code
        if i % 2:
            return Sample(i, empty_frame(rng, d), None, d)
        return Sample(i, compose_frame(render_phone(None, rng=rng), d, rng), None, d)
    if card:
        shown = render_card(payload, rng=rng)
    else:
        shown = render_phone(payload, rng=rng, dark=d.dark, code_fraction=d.code_fraction)
    return Sample(i, compose_frame(shown, d, rng), payload, d)


#: The second set: the limits of EAN-13 reading (and a few hard QR cases).
#: Sizes are in frame pixels per module (``px``); see ``docs/camera.md``.
LIMIT_KINDS = (
    "ean_small", "card_small", "ean_dark", "ean_blur", "card_blur", "ean_perspective",
    "ean_glare", "ean_dark_small", "qr_small", "qr_dark_blur", "qr_perspective_glare", "empty",
)


def _modules(payload: str, card: bool) -> int:
    """Modules across the code's box (incl. quiet zone): 117 for EAN-13, 4+N+4 for a QR."""
    if card or (len(payload) == 13 and payload.isdigit()):
        return int(ean13_modules(payload).size)
    return int(qr_modules(payload).shape[1])


def limits_distortion(kind: str, modules: int, rng: np.random.Generator) -> Distortion:
    """One distortion of the second (limits) set; ``modules`` across the code's box."""
    if kind not in LIMIT_KINDS:
        raise ValueError(f"unknown distortion kind {kind!r}; one of {', '.join(LIMIT_KINDS)}")
    u = rng.uniform
    base = Distortion(
        kind=kind,
        code_px=modules * float(u(2.6, 3.6)),
        angle=float(u(-15, 15)),
        tilt=float(u(0.0, 0.03)),
        offset=(float(u(-220, 220)), float(u(-100, 100))),
        noise=float(u(1.5, 4.5)),
    )
    px = lambda lo, hi: modules * float(u(lo, hi))  # noqa: E731
    extra: dict[str, object] = {}
    if kind == "ean_small":
        extra = {"code_px": px(1.9, 2.6)}
    elif kind == "card_small":
        extra = {"code_px": px(2.0, 2.8), "angle": float(u(-25, 25)), "tilt": float(u(0, 0.06))}
    elif kind == "ean_dark":
        extra = {"dark": True, "angle": float(u(-30, 30))}
    elif kind == "ean_dark_small":
        extra = {"dark": True, "code_px": px(2.0, 2.6)}
    elif kind == "ean_blur":
        extra = {"code_px": px(3.0, 4.0), "blur": float(u(0.9, 1.4))}
    elif kind == "card_blur":
        extra = {"code_px": px(3.0, 4.0), "blur": float(u(0.8, 1.3)), "angle": float(u(-20, 20))}
    elif kind == "ean_perspective":
        extra = {"tilt": float(u(0.08, 0.15))}
    elif kind == "ean_glare":
        extra = {"glare": float(u(110, 170)), "glare_radius": float(u(40, 90))}
    elif kind == "qr_small":
        extra = {"code_px": px(2.3, 2.8), "code_fraction": 0.6}
    elif kind == "qr_dark_blur":
        extra = {"dark": True, "code_px": px(3.5, 4.5), "blur": float(u(0.8, 1.2))}
    elif kind == "qr_perspective_glare":
        extra = {"tilt": float(u(0.08, 0.14)), "glare": float(u(100, 160)),
                 "glare_radius": float(u(50, 100))}
    return replace(base, **extra)  # type: ignore[arg-type]


def limits_set(n: int = 600, seed: int = 20261203) -> Iterator[Sample]:
    """The second benchmark set: ``n`` frames cycling through ``LIMIT_KINDS``.

    Small modules (down to ~2 px), dark mode, blur, perspective and glare on
    EAN-13 codes (phone app and plastic card), a few hard QR frames, and
    empty frames for false reads. Seeded by ``(seed, index)`` like
    ``robustness_set``; nothing is stored, the frames are drawn again.
    """
    for i in range(n):
        yield limits_sample(i, seed)


def limits_sample(i: int, seed: int = 20261203) -> Sample:
    """Frame ``i`` of ``limits_set(seed=seed)``, drawn alone (tests name a frame by its index)."""
    rng = np.random.default_rng([seed, i])
    kind = LIMIT_KINDS[i % len(LIMIT_KINDS)]
    card = kind.startswith("card")
    if kind == "empty":
        payload = None
    else:
        payload = sample_token(rng) if kind.startswith("qr") else sample_card(rng)
    d = limits_distortion(kind, _modules(payload, card) if payload else 117, rng)
    return _sample(i, payload, d, card, rng)
