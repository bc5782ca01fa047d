"""Errors raised by the device drivers.

::

    KopilkaError
     └── DeviceError          a device could not do what was asked (reason)
          ├── ScannerError    the barcode scanner failed (reason)
          ├── PrinterError    the receipt printer failed or is not ready (reason)
          ├── CameraError     the camera could not be opened or is misconfigured (reason)
          └── PayloadRejected decoded bytes that are not a code's text (reason)

``reason`` is a short machine-readable code (``"paper_out"``,
``"missing_library"``, ``"not_found"`` ...) that the agent maps to a cashier
message; ``str(exc)`` is the human explanation for logs.
"""
from __future__ import annotations

from typing import Any

from fastcore import KopilkaError


class DeviceError(KopilkaError):
    """A device could not do what was asked; ``reason`` says why."""

    def __init__(self, reason: str, message: str = "", field: str | None = None, **extra: Any) -> None:
        self._explained = bool(message)
        super().__init__(reason, message or reason, field, **extra)

    def _text(self) -> str:
        return f"{self.reason}: {self.message}" if self._explained else self.reason


class ScannerError(DeviceError):
    """The barcode scanner could not be opened or read."""


class PrinterError(DeviceError):
    """The receipt printer is not ready or the job failed.

    ``sent`` tells whether the job's bytes already reached the printer: a
    printer that ran out of paper mid-job holds the job and finishes it when
    paper is loaded, so the caller must not send it again blindly.
    """

    def __init__(self, reason: str, message: str = "", field: str | None = None, *, sent: bool = False) -> None:
        self.sent = sent
        super().__init__(reason, message, field)


class CameraError(DeviceError):
    """The camera could not be opened or its configuration is wrong."""


class PayloadRejected(DeviceError, ValueError):
    """Decoded bytes that are not a customer code's text; ``reason`` says why
    (``empty``, ``control_character``, ``not_utf8``). Also a ``ValueError``:
    the bytes are bad input, not a device fault."""
