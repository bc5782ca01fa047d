"""The printer port over the drivers package's ESC/POS ``Printer``.

Sales, returns and copies print with the one receipt layout
(``drivers._receipt``: Russian, card masked, the receipt id as a QR code
the returns desk scans), from the job's numbers and ``info``. Failures become ``PrinterFailed`` so the till keeps
the job queued for reprint. A job the printer accepted but then faulted on
(``sent=True``: the printer holds it and prints it when fixed) counts as
printed, so a receipt is never sent twice.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from drivers import Printer, PrinterConfig, PrinterError, SaleInfo

from ._errors import PrinterFailed

log = logging.getLogger(__name__)

_WORDS = {
    "paper_out": "paper out: load a new roll",
    "cover_open": "printer cover open: close it",
    "offline": "printer offline",
    "status_unknown": "printer does not answer: check cable and power",
    "connection": "printer unreachable: check cable and power",
    "error": "printer error (cutter or head): see the printer",
}


class DriversPrinter:
    """``PrinterPort`` over ``drivers.Printer``; reconnects after a failure."""

    def __init__(self, url: str, codepage: str = "cp866", columns: int = 48) -> None:
        self.config = PrinterConfig(url=url, codepage=codepage.upper(), columns=columns)
        self._printer: Printer | None = None
        self._lock = threading.Lock()

    def _device(self) -> Printer:
        if self._printer is None:
            printer = Printer(self.config)
            printer.open()
            self._printer = printer
        return self._printer

    def print_receipt(self, job: dict[str, Any]) -> None:
        with self._lock:
            try:
                printer = self._device()
                printer.print_receipt(job["result"], SaleInfo(**job["info"]), kind=job.get("kind", "sale"),
                                      copy=bool(job.get("copy")),
                                      kick_drawer=job.get("kind") == "sale" and job.get("method") == "cash")
            except PrinterError as exc:
                if exc.reason == "already_printed" or getattr(exc, "sent", False):
                    log.warning("receipt %s: printer took it but reports %s", job.get("receipt_id"), exc.reason)
                    return
                self.close()
                raise PrinterFailed(exc.reason, _WORDS.get(exc.reason, str(exc))) from exc

    @property
    def state(self) -> Any:
        return None if self._printer is None else self._printer.state

    def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            try:
                printer.close()
            except Exception:  # pragma: no cover - closing must not fail
                log.debug("printer close failed", exc_info=True)
