"""What the scanner hands the agent: one typed event per good scan."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ScanKind(str, enum.Enum):
    """What a scanned code is, as far as a till cares."""

    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    GS1 = "gs1"  # GS1-128 / DataBar / GS1 QR element strings
    WEIGHT = "weight"  # in-store EAN-13 with prefix 20–29 (scale label)
    DATAMATRIX = "datamatrix"  # GS1 DataMatrix marking code, passed through intact
    TEXT = "text"  # anything else: a customer QR, Code 128 text, ...


@dataclass(frozen=True)
class ScanEvent:
    """One good scan.

    ``payload`` is the code without its AIM prefix and terminator, GS (0x1D)
    separators intact. ``symbology`` is the AIM identifier (``"]E0"``) when
    the scanner sent one. ``gtin`` is the 13-digit GTIN when the code
    carries one; for a weight code ``item_code`` is the scale's product code
    and ``weight_grams`` or ``price_kopecks`` the measured value.
    ``received`` is ``time.monotonic()`` when the frame's last byte was read.
    """

    payload: str
    kind: ScanKind
    received: float
    symbology: str | None = None
    gtin: str | None = None
    item_code: str | None = None
    weight_grams: int | None = None
    price_kopecks: int | None = None
    gs1: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanRejected:
    """A frame that looked like a code but is not a valid one (``reason``)."""

    reason: str
    payload: str
    symbology: str | None = None
