"""The phone twin: an app screen showing the customer's QR or EAN-13 code.

A real customer holds up a phone in portrait, the loyalty app open on a
screen with a status bar, a coloured header, a few lines of text and the
code on a card in the middle. In dark mode the app draws the code light on
dark (inverted), which is what defeats zbar and OpenCV. This module renders
that screen flat, at a few pixels per module; ``_scene`` then puts it in a
camera frame with the optics (rotation, perspective, blur, glare, ...).

Everything cosmetic comes from the caller's seeded RNG, so one seed is one
image, byte for byte.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import segno

__all__ = ["PhoneImage", "ean13_modules", "qr_modules", "render_phone"]

# EAN-13 element patterns (GS1 General Specifications §5.2.1.2).
_L = ["0001101", "0011001", "0010011", "0111101", "0100011",
      "0110001", "0101111", "0111011", "0110111", "0001011"]
_R = ["".join("1" if b == "0" else "0" for b in p) for p in _L]
_G = [p[::-1] for p in _R]
_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
           "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]

PHONE_W, PHONE_H = 420, 860
_BEZEL = 14
_SCREEN = (_BEZEL, _BEZEL, PHONE_W - _BEZEL, PHONE_H - _BEZEL)


@dataclass(frozen=True)
class PhoneImage:
    """A flat phone render: BGR image, body mask and where the code is."""

    image: np.ndarray  # (PHONE_H, PHONE_W, 3) uint8
    mask: np.ndarray  # (PHONE_H, PHONE_W) uint8, 255 on the phone body
    code_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the code incl. quiet zone
    payload: str
    symbology: str  # "qr" or "ean13"
    dark: bool


def qr_modules(payload: str, *, error: str = "m", border: int = 4) -> np.ndarray:
    """QR modules as a bool matrix (True = dark), with a quiet zone of ``border``."""
    qr = segno.make(payload, error=error, micro=False)
    inner = np.array([list(row) for row in qr.matrix], dtype=bool)
    return np.pad(inner, border, constant_values=False)


def ean13_modules(number: str, *, quiet: int = 11) -> np.ndarray:
    """EAN-13 bars as a 1-D bool array (True = bar), with quiet zones."""
    if len(number) != 13 or not number.isdigit():
        raise ValueError(f"EAN-13 needs 13 digits, got {number!r}")
    first, left, right = int(number[0]), number[1:7], number[7:]
    bits = "101"
    for parity, digit in zip(_PARITY[first], left, strict=True):
        bits += (_L if parity == "L" else _G)[int(digit)]
    bits += "01010"
    for digit in right:
        bits += _R[int(digit)]
    bits += "101"
    core = np.array([b == "1" for b in bits], dtype=bool)
    return np.pad(core, quiet, constant_values=False)


def _rounded_mask(w: int, h: int, r: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (r, 0), (w - r, h), 255, -1)
    cv2.rectangle(mask, (0, r), (w, h - r), 255, -1)
    for cx, cy in ((r, r), (w - r - 1, r), (r, h - r - 1), (w - r - 1, h - r - 1)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    return mask


def _code_image(payload: str, symbology: str, max_w: int) -> np.ndarray:
    """The code as a grey image (0 = dark), scaled by whole pixels per module."""
    if symbology == "qr":
        mods = qr_modules(payload)
        px = max(2, max_w // mods.shape[1])
        img = np.where(mods, 0, 255).astype(np.uint8)
        return cv2.resize(img, None, fx=px, fy=px, interpolation=cv2.INTER_NEAREST)
    bars = ean13_modules(payload)
    px = max(2, max_w // bars.size)
    height = int(bars.size * px * 0.45)
    row = np.repeat(np.where(bars, 0, 255).astype(np.uint8), px)
    return np.tile(row, (height, 1))


def render_phone(
    payload: str | None,
    *,
    rng: np.random.Generator,
    symbology: str | None = None,
    dark: bool = False,
    code_fraction: float = 0.9,
) -> PhoneImage:
    """Render the app screen showing ``payload`` (``None``: the app without a code).

    ``symbology`` defaults to EAN-13 for a 13-digit number and QR otherwise;
    ``code_fraction`` is the code's width relative to the screen (a small
    code in the app is ~0.5).
    """
    if symbology is None:
        symbology = "ean13" if payload and len(payload) == 13 and payload.isdigit() else "qr"
    if symbology not in ("qr", "ean13"):
        raise ValueError(f"unknown symbology {symbology!r}")
    bg = np.array([18, 18, 18] if dark else [250, 250, 250], np.uint8)
    fg = np.array([235, 235, 235] if dark else [40, 40, 40], np.uint8)
    img = np.empty((PHONE_H, PHONE_W, 3), np.uint8)
    img[:] = (25, 25, 28)  # body
    x0, y0, x1, y1 = _SCREEN
    img[y0:y1, x0:x1] = bg
    brand = rng.integers(40, 220, size=3).astype(np.uint8)
    img[y0 + 30:y0 + 110, x0:x1] = brand if not dark else brand // 2
    for i in range(int(rng.integers(3, 6))):  # lines of text
        ly = y0 + 140 + 26 * i
        lw = int(rng.integers(120, x1 - x0 - 40))
        img[ly:ly + 12, x0 + 20:x0 + 20 + lw] = fg // 2 + bg // 2
    code_box = (0, 0, 0, 0)
    if payload is not None:
        screen_w = x1 - x0
        code = _code_image(payload, symbology, int(screen_w * code_fraction))
        if dark:
            code = 255 - code
            code = np.where(code > 127, 235, 18).astype(np.uint8)
        ch, cw = code.shape
        cx0 = x0 + (screen_w - cw) // 2
        cy0 = y0 + 300 + max(0, (y1 - y0 - 300 - 120 - ch) // 2)
        img[cy0:cy0 + ch, cx0:cx0 + cw] = code[:, :, None]
        code_box = (cx0, cy0, cx0 + cw, cy0 + ch)
        if symbology == "ean13":  # human-readable digits under the bars
            cv2.putText(img, payload, (cx0 + 20, cy0 + ch + 30), cv2.FONT_HERSHEY_SIMPLEX,
                        0.9, tuple(int(c) for c in fg), 2, cv2.LINE_AA)
    mask = _rounded_mask(PHONE_W, PHONE_H, 48)
    return PhoneImage(img, mask, code_box, payload or "", symbology, dark)
