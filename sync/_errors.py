"""Every error of ``sync``: the till side and the central ledger (``sync.ledger``).

::

    KopilkaError                   (fastcore)
     ├── SyncError                 anything the till side of sync refuses
     │    ├── TillDbCorrupt        PRAGMA quick_check failed at start-up
     │    ├── OutboxError          an append was refused; nothing was committed
     │    ├── BundleRefused        a bundle/delta is invalid; the last good one stays
     │    ├── UploaderBusy         another uploader already holds this till database
     │    └── DbInspectError       ``kopilka db`` refused a read (nothing changed)
     └── LedgerError               anything the central ledger refuses
          ├── StorageError         the database URL or schema is unusable (answers 503)
          ├── Conflict             a uniqueness constraint refused a write
          ├── MemberImportError    a members file line is invalid
          ├── BundleImportError    a bundle failed validation
          ├── RequestError         an API request is refused (status: ``_answers``)
          ├── TxnInvalid           one uploaded TXN is refused ``invalid``
          ├── TxnRefused           one TXN is refused while it is applied (its reason)
          ├── ReturnRefused        a return does not fit its sale
          ├── BalanceOutOfBounds   an entry would take a balance past ±(2^53 − 1)
          └── ScopeError           a report's period or store/chain filter is unusable

Both trees live in this one module so that each class has one constructor
shape, ``(reason, message="", field="", **extra)``: ``reason`` is the stable
code of the spec (what status screens, logs and answers show), ``field``
names the offending part (``transactions[3].seq``), ``extra`` holds the
members an answer adds (``available`` of ``insufficient_balance``). The
ledger's HTTP answers are mapped in ``sync.ledger._answers``; the CLI
answers of both sides in ``CLI_ANSWERS`` below.
"""
from __future__ import annotations

from typing import Any

import click

from fastcore import KopilkaError


class _Refusal(KopilkaError):
    """The root's constructor shape; a sync error reads ``field: reason: message``."""

    def __init__(self, reason: str, message: str = "", field: str | None = "", **extra: Any) -> None:
        super().__init__(reason, message, field or "", **extra)

    def _text(self) -> str:
        text = f"{self.reason}: {self.message}" if self.message else self.reason
        return f"{self.field}: {text}" if self.field else text


class SyncError(_Refusal):
    """Root of the till-side sync errors; ``reason`` is a stable code."""


class TillDbCorrupt(SyncError):
    """The till database failed its integrity check; do not write to it."""


class OutboxError(SyncError):
    """An outbox append was refused and rolled back (e.g. ``duplicate_txn_id``)."""


class BundleRefused(SyncError):
    """A bundle or delta failed validation; ``field`` names the bad part if known."""


class UploaderBusy(SyncError):
    """Another uploader (thread or process) holds this till database's lock."""


class DbInspectError(SyncError):
    """``kopilka db`` refused: ``missing``, ``not_a_database``, ``read_only``,
    ``no_such_table`` or ``bad_query``; nothing was changed."""


class LedgerError(_Refusal):
    """Root of the ledger's errors; ``reason`` is a stable code."""


class StorageError(LedgerError):
    """The database cannot be opened or its schema is newer than this code."""


class Conflict(LedgerError):
    """A unique constraint refused the write (translated from the driver)."""


class MemberImportError(LedgerError):
    """A line of a members file is invalid; ``field`` names line and column."""


class BundleImportError(LedgerError):
    """A bundle failed ``fastcore.load_bundle``; ``field`` names the part."""


class RequestError(LedgerError):
    """An API request is refused with the 4xx its ``reason`` maps to; nothing was changed."""


class TxnInvalid(LedgerError):
    """One uploaded TXN is answered ``rejected``/``invalid``; ``field`` is its path."""


class TxnRefused(LedgerError):
    """One TXN is answered ``rejected`` while applied (``overdraft``, ``unknown_original``…)."""


class ReturnRefused(LedgerError):
    """The return does not fit its sale (``reason``: ``invalid``); ``field`` names the part."""


class BalanceOutOfBounds(LedgerError):
    """The entry would take the balance outside ±(2^53 − 1); nothing was written."""


class ScopeError(LedgerError):
    """A report's period or store/chain filter it cannot use (``invalid``; ``field``)."""


#: How a command line answers an error: the first row whose class matches gives
#: the exit code and the one-line message (``{error}``: the error's text,
#: ``{command}``: the command's name). Never a traceback.
CLI_ANSWERS: tuple[tuple[type[KopilkaError], int, str], ...] = (
    (UploaderBusy, 1, "the agent is running on this till database ({error}); stop it first"),
    (SyncError, 1, "{command} refused: {error}"),
    (LedgerError, 1, "{error}"),
    (KopilkaError, 1, "{error}"),
)


def cli_answer(exc: KopilkaError, command: str = "") -> tuple[int, str]:
    """The exit code and message a command line shows for ``exc`` (``CLI_ANSWERS``)."""
    for kind, code, template in CLI_ANSWERS:
        if isinstance(exc, kind):
            return code, template.format(error=exc, command=command)
    raise AssertionError("KopilkaError is the last row")  # pragma: no cover


def cli_error(exc: KopilkaError, command: str = "") -> click.ClickException:
    """``exc`` as the ``ClickException`` a command raises (its exit code and message)."""
    code, message = cli_answer(exc, command)
    out = click.ClickException(message)
    out.exit_code = code  # type: ignore[misc]  # click reads it from the instance
    return out
