"""Real till hardware behind small interfaces: scanner, camera, printer."""
from __future__ import annotations

from drivers._barcode import BarcodeRules, WeightRules, interpret
from drivers._camera import Camera, Dedup, Scan
from drivers._decode import DEFAULT_STEPS, Decoded, DecoderChain, Step, make_decoder
from drivers._device import Device, DeviceHealth, DeviceState
from drivers._errors import CameraError, DeviceError, PayloadRejected, PrinterError, ScannerError
from drivers._framing import Framer, Noise, ScanFrame
from drivers._printer import Printer, PrinterConfig, PrintJob, PrintOutcome
from drivers._printer_status import PrinterCondition, PrinterStatus
from drivers._printer_status import decode as decode_printer_status
from drivers._receipt import SaleInfo
from drivers._receipt import as_text as receipt_text
from drivers._receipt import layout as receipt_layout
from drivers._receipt import read_back as read_receipt
from drivers._receipt import return_layout as return_receipt_layout
from drivers._scan_event import ScanEvent, ScanKind, ScanRejected
from drivers._scanner import Scanner, ScannerConfig

__all__ = [
    "BarcodeRules",
    "Camera",
    "CameraError",
    "DEFAULT_STEPS",
    "Decoded",
    "DecoderChain",
    "Dedup",
    "Device",
    "DeviceError",
    "DeviceHealth",
    "DeviceState",
    "Framer",
    "Noise",
    "PayloadRejected",
    "PrintJob",
    "PrintOutcome",
    "Printer",
    "PrinterCondition",
    "PrinterConfig",
    "PrinterError",
    "PrinterStatus",
    "SaleInfo",
    "Scan",
    "ScanEvent",
    "ScanFrame",
    "ScanKind",
    "ScanRejected",
    "Scanner",
    "ScannerConfig",
    "ScannerError",
    "Step",
    "WeightRules",
    "decode_printer_status",
    "interpret",
    "make_decoder",
    "read_receipt",
    "receipt_layout",
    "receipt_text",
    "return_receipt_layout",
]
