"""Twins of every till device, speaking the real protocol over the real transport."""
from __future__ import annotations

from ._netproxy import ChaosMode, ChaosProxy
from ._paper import Receipt
from ._printer import DrawerKick, PrinterTwin
from ._scanner import ScannerTwin

__all__: list[str] = [
    "ChaosMode",
    "ChaosProxy",
    "DrawerKick",
    "PrinterTwin",
    "Receipt",
    "ScannerTwin",
]
