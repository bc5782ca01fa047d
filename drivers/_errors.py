"""Errors raised by the device drivers.

::

    KopilkaError
     └── DeviceError          a device could not do what was asked (reason)
          ├── ScannerError    the barcode scanner failed (reason)
          └── PrinterError    the receipt printer failed or is not ready (reason)

``reason`` is a short machine-readable code (``"paper_out"``,
``"missing_library"``, ``"not_found"`` ...) that the agent maps to a cashier
message; ``str(exc)`` is the human explanation for logs.
"""
from __future__ import annotations

from fastcore import KopilkaError


class DeviceError(KopilkaError):
    """A device could not do what was asked; ``reason`` says why."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.message = message or reason
        super().__init__(f"{reason}: {message}" if message else reason)


class ScannerError(DeviceError):
    """The barcode scanner could not be opened or read."""


class PrinterError(DeviceError):
    """The receipt printer is not ready or the job failed.

    ``sent`` tells whether the job's bytes already reached the printer: a
    printer that ran out of paper mid-job holds the job and finishes it when
    paper is loaded, so the caller must not send it again blindly.
    """

    def __init__(self, reason: str, message: str = "", *, sent: bool = False) -> None:
        self.sent = sent
        super().__init__(reason, message)
