"""What the sale path needs from the outside world, as small Protocols.

The till runs against these and never against a concrete library, so the
same code runs on real devices, on the simulators, and in tests; the sync
package's hold client and the drivers' printer plug in behind them.
"""
from __future__ import annotations

from typing import Any, Protocol

from ._errors import LedgerUnavailable, PrinterFailed


class LedgerPort(Protocol):
    """Online look-ups and holds, each bounded by ``timeout`` seconds."""

    def customer(self, card: str, timeout: float) -> dict[str, Any] | None: ...

    def hold(self, account: str, points: int, txn_id: str, timeout: float) -> dict[str, Any]: ...

    def release(self, hold_id: str, timeout: float) -> None: ...

    def enrol(self, card: str, registration: str | None, timeout: float) -> dict[str, Any]:
        """Enrol a new card (docs/enrolment.md): its profile; ``SessionError`` when
        the ledger refuses it, ``LedgerUnavailable`` when it does not answer."""
        ...


class PrinterPort(Protocol):
    """Prints one receipt job; raises ``PrinterFailed``.

    A job is ``{"kind": "sale"|"return", "receipt_id", "text", "result",
    "info"}``: ``text`` is the agent's plain rendering (always there),
    ``result`` the engine's §7 result and ``info`` the sale's metadata, for
    printers that lay the receipt out themselves.
    """

    def print_receipt(self, job: dict[str, Any]) -> None: ...


class OfflineLedger:
    """The ledger port of a till with no ledger configured: always offline."""

    def customer(self, card: str, timeout: float) -> dict[str, Any] | None:
        raise LedgerUnavailable("offline", "no ledger configured")

    def hold(self, account: str, points: int, txn_id: str, timeout: float) -> dict[str, Any]:
        raise LedgerUnavailable("offline", "no ledger configured")

    def release(self, hold_id: str, timeout: float) -> None:
        raise LedgerUnavailable("offline", "no ledger configured")

    def enrol(self, card: str, registration: str | None, timeout: float) -> dict[str, Any]:
        raise LedgerUnavailable("offline", "no ledger configured")


class NoPrinter:
    """A till without a printer: every receipt stays queued for reprint."""

    def print_receipt(self, job: dict[str, Any]) -> None:
        raise PrinterFailed("no_printer", "no printer configured")
