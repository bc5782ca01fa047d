"""Twins of every till device, speaking the real protocol over the real transport."""
from __future__ import annotations

from ._camera import CameraTwin, Shot, demo_script, write_video
from ._camera_source import simulated_camera
from ._card import render_card
from ._codes import ean13_check_digit, sample_card, sample_token
from ._netproxy import ChaosMode, ChaosProxy
from ._paper import Receipt
from ._phone import PhoneImage, render_phone
from ._printer import DrawerKick, PrinterTwin
from ._scanner import ScannerTwin
from ._scene import (
    KINDS,
    LIMIT_KINDS,
    Distortion,
    Sample,
    compose_frame,
    limits_distortion,
    limits_sample,
    limits_set,
    robustness_set,
    standard_distortion,
)

__all__: list[str] = [
    "CameraTwin",
    "ChaosMode",
    "ChaosProxy",
    "Distortion",
    "DrawerKick",
    "KINDS",
    "LIMIT_KINDS",
    "PhoneImage",
    "PrinterTwin",
    "Receipt",
    "Sample",
    "ScannerTwin",
    "Shot",
    "compose_frame",
    "demo_script",
    "ean13_check_digit",
    "limits_distortion",
    "limits_sample",
    "limits_set",
    "render_card",
    "render_phone",
    "robustness_set",
    "sample_card",
    "sample_token",
    "simulated_camera",
    "standard_distortion",
    "write_video",
]
