"""The kopilka exception tree.

Every error the product raises on purpose derives from ``KopilkaError``;
third-party errors are translated once, at the boundary, with
``raise ... from exc``::

    KopilkaError
     ├── BundleError      a bundle violates spec/pricing.md §2–3 (field)
     ├── BasketError      a basket violates spec/pricing.md §2 (field)
     ├── DeltaError       a bundle delta does not fit the bundle it extends, sync.md (field)
     └── ReturnError      a return does not fit its sale, spec/pricing.md §8 (field, reason)

Other packages (``sync``, ``drivers``, ``agent``) add their own branches
under ``KopilkaError``.
"""
from __future__ import annotations

from typing import Any


class KopilkaError(Exception):
    """Root of every error kopilka raises on purpose, with the one constructor shape.

    ``reason`` is the spec's machine-readable code (``bad_bundle``,
    ``paper_out``, ``overdraft`` ...), ``message`` the human explanation,
    ``field`` the path of the offending input (``promotions[3].n``), and
    ``extra`` what a branch adds to its answer. Every branch keeps this
    shape, so one table per boundary (HTTP, CLI) can answer any of them;
    a branch changes only how ``str()`` reads (``_text``).
    """

    def __init__(self, reason: str, message: str = "", field: str | None = None, **extra: Any) -> None:
        self.reason = reason
        self.message = message
        self.field = field
        self.extra = extra
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.field}: {self.message}" if self.field else (self.message or self.reason)


class BundleError(KopilkaError):
    """The bundle is invalid (``bad_bundle``); ``field`` names the promotion, sku or key."""


class BasketError(KopilkaError):
    """The basket is invalid (``bad_basket``); ``field`` names the offending key or line."""


class DeltaError(KopilkaError):
    """A bundle delta does not fit the held bundle (``bad_delta``); ``field`` names the part of ``changes``."""


class ReturnError(KopilkaError):
    """The return does not fit its sale; ``reason`` is ``empty``, ``unknown_line``,
    ``duplicate_line``, ``bad_qty``, ``too_much`` or ``bad_sale``."""
