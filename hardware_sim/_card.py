"""The plastic loyalty card twin: an EAN-13 barcode printed on a card.

Customers without the app hand over (or hold up) the plastic card; its
back carries the card number as an EAN-13 barcode with the digits under
it. The card is 85.6 x 54 mm (ISO/IEC 7810 ID-1), rendered at ~5 px/mm.
"""
from __future__ import annotations

import cv2
import numpy as np

from hardware_sim._phone import PhoneImage, ean13_modules

__all__ = ["render_card"]

CARD_W, CARD_H = 428, 270


def render_card(number: str, *, rng: np.random.Generator) -> PhoneImage:
    """The back of a loyalty card showing ``number`` (13 digits) as EAN-13."""
    bars = ean13_modules(number)  # raises ValueError unless 13 digits
    tint = rng.integers(215, 250, size=3).astype(np.uint8)
    img = np.empty((CARD_H, CARD_W, 3), np.uint8)
    img[:] = tint
    stripe = rng.integers(40, 200, size=3)
    img[10:40] = stripe.astype(np.uint8)  # magnetic-stripe-like band / brand colour
    px = 3
    row = np.repeat(np.where(bars, 0, 255).astype(np.uint8), px)
    height = 160  # full-height EAN-13 is ~0.6 of its width; cards often print it shorter
    code = np.tile(row, (height, 1))
    cx0 = (CARD_W - code.shape[1]) // 2
    cy0 = 55
    img[cy0:cy0 + height, cx0:cx0 + code.shape[1]] = code[:, :, None]
    cv2.putText(img, number, (cx0 + 40, cy0 + height + 30), cv2.FONT_HERSHEY_SIMPLEX,
                0.8, (30, 30, 30), 2, cv2.LINE_AA)
    mask = np.zeros((CARD_H, CARD_W), np.uint8)
    cv2.rectangle(mask, (0, 0), (CARD_W - 1, CARD_H - 1), 255, -1)
    code_box = (cx0, cy0, cx0 + code.shape[1], cy0 + height)
    return PhoneImage(img, mask, code_box, number, "ean13", False)
