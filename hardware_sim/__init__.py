"""Twins of every till device, speaking the real protocol over the real transport,
and a fleet of lightweight tills selling through a real ledger (``run_fleet``)."""
from __future__ import annotations

from ._camera import CameraTwin, Shot, demo_script, write_video
from ._camera_source import simulated_camera
from ._card import render_card
from ._codes import sample_card, sample_token
from ._fleet import FleetResult, run_fleet
from ._fleet_plan import FleetConfig
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
    "FleetConfig",
    "FleetResult",
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
    "limits_distortion",
    "limits_sample",
    "limits_set",
    "render_card",
    "render_phone",
    "robustness_set",
    "run_fleet",
    "sample_card",
    "sample_token",
    "simulated_camera",
    "standard_distortion",
    "write_video",
]
