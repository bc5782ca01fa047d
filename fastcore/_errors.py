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


class KopilkaError(Exception):
    """Root of every error kopilka raises on purpose."""


class _FieldError(KopilkaError):
    """An input error that names the offending field (``promotions[3].n``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class BundleError(_FieldError):
    """The bundle is invalid; ``field`` names the promotion, sku or key."""


class BasketError(_FieldError):
    """The basket is invalid; ``field`` names the offending key or line."""


class DeltaError(_FieldError):
    """A bundle delta does not fit the held bundle; ``field`` names the part of ``changes``."""


class ReturnError(_FieldError):
    """The return does not fit its sale; ``reason`` is ``empty``, ``unknown_line``,
    ``duplicate_line``, ``bad_qty``, ``too_much`` or ``bad_sale``."""

    def __init__(self, field: str, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(field, message)
