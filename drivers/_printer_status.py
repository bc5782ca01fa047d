"""What the printer's DLE EOT answers mean.

Each answer is one byte with bits 1 and 4 set and bits 0 and 7 clear
(``b & 0x93 == 0x12``); anything else is not a status byte. A query that
gets no answer leaves its part UNKNOWN: python-escpos reads a silent
printer as "paper present", which is exactly the mistake to avoid.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class PrinterCondition(str, enum.Enum):
    """The one thing a cashier needs to know about the printer."""

    READY = "ready"
    NEAR_END = "near_end"  # prints; change the roll soon
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    ERROR = "error"  # cutter jam, overheated head ...
    UNKNOWN = "unknown"  # the printer did not answer: never assume ready


@dataclass(frozen=True)
class PrinterStatus:
    """Decoded DLE EOT 1..4 answers; ``None`` where no answer came."""

    online: bool | None = None
    cover_open: bool | None = None
    paper: str = "unknown"  # ok, near_end, out, unknown
    error: bool | None = None
    raw: bytes = b""

    @property
    def condition(self) -> PrinterCondition:
        """The worst known fact, or UNKNOWN when the printer did not say."""
        if self.online is None:
            return PrinterCondition.UNKNOWN
        if self.cover_open:
            return PrinterCondition.COVER_OPEN
        if self.paper == "out":
            return PrinterCondition.PAPER_OUT
        if self.error:
            return PrinterCondition.ERROR
        if not self.online:
            return PrinterCondition.OFFLINE
        if self.paper == "unknown":
            return PrinterCondition.UNKNOWN
        if self.paper == "near_end":
            return PrinterCondition.NEAR_END
        return PrinterCondition.READY

    @property
    def can_print(self) -> bool:
        """True only when the printer said it is ready (or nearly out of paper)."""
        return self.condition in (PrinterCondition.READY, PrinterCondition.NEAR_END)


def is_status_byte(b: int) -> bool:
    """Whether ``b`` has the fixed bits of a DLE EOT answer."""
    return b & 0x93 == 0x12


def decode(answers: dict[int, int]) -> PrinterStatus:
    """Build a status from the answers received, keyed by DLE EOT ``n``."""
    s1, s2, s3, s4 = (answers.get(n) for n in (1, 2, 3, 4))
    paper = "unknown"
    if s4 is not None:
        paper = "out" if s4 & 0x60 else "near_end" if s4 & 0x0C else "ok"
    if s2 is not None and s2 & 0x20:
        paper = "out"
    error = None
    if s3 is not None or s2 is not None:
        error = bool((s3 or 0) & 0x68) or bool((s2 or 0) & 0x40)
    return PrinterStatus(
        online=None if s1 is None else not (s1 & 0x08),
        cover_open=None if s2 is None else bool(s2 & 0x04),
        paper=paper,
        error=error,
        raw=bytes(v for v in (s1, s2, s3, s4) if v is not None),
    )
