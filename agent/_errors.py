"""The agent's branch of the kopilka exception tree, all in this one module::

    KopilkaError
     └── AgentError              something the till agent refuses
          ├── RequestRefused      a local API request is malformed (400; field)
          ├── TokenError          a scanned code fails spec/token.md (reason)
          ├── ConfigError         the till's TOML file is invalid (field)
          ├── SessionError        a sale-session action is not allowed now (reason)
          │    └── CodeRefused    a scanned code the till will not take (code)
          ├── ReturnError         a return cannot be made as asked (reason)
          ├── LedgerUnavailable   the ledger did not answer within the budget
          ├── InsufficientBalance the ledger refused a hold (available)
          ├── PrinterFailed       the receipt did not print
          └── BootstrapFailed     a new till could not fetch its bundle or keys

Every one is built the same way: ``(reason, message="", *, field=None)``;
the few that carry one more fact take it as a keyword (``code=``,
``available=``). How each maps to an HTTP answer is ``_http_errors.py``,
to a CLI answer ``_cli.py`` (one table each).
"""
from __future__ import annotations

from typing import Any

from fastcore import KopilkaError


class AgentError(KopilkaError):
    """Root of the till agent's errors: a machine ``reason``, plain ``message``,
    and the ``field`` (request or config key) it is about, if any."""

    def __init__(self, reason: str, message: str = "", field: str | None = None, **extra: Any) -> None:
        super().__init__(reason, message or reason, field, **extra)

    def _text(self) -> str:
        return self.message


class RequestRefused(AgentError):
    """A local API request the till cannot read (``bad_json``, ``bad_request``)."""


class TokenError(AgentError):
    """A scanned code is refused; ``reason`` is the spec/token.md code."""


class ConfigError(AgentError):
    """The till configuration is invalid; ``field`` names the key."""

    @classmethod
    def at(cls, field: str, message: str) -> ConfigError:
        """The error for key ``field``; reads ``"<field>: <message>"``."""
        return cls("config", f"{field}: {message}", field=field)


class SessionError(AgentError):
    """A session action is refused (wrong state, unknown line, ...)."""


class CodeRefused(SessionError):
    """A scanned code the till will not take (till.md §1); ``code`` is what was read."""

    def __init__(self, reason: str, message: str = "", field: str | None = None, *, code: str) -> None:
        self.code = code
        super().__init__(reason, message, field)


class ReturnError(AgentError):
    """A return is refused (unknown receipt, quantity above what is left)."""


class LedgerUnavailable(AgentError):
    """The ledger did not answer within the budget (or answered an error)."""


class InsufficientBalance(AgentError):
    """The ledger refused a hold: the account has less than asked."""

    def __init__(self, reason: str = "insufficient_balance", message: str = "", *, available: int,
                 field: str | None = None) -> None:
        super().__init__(reason, message or f"only {available} points available", field=field)
        self.available = available


class PrinterFailed(AgentError):
    """The receipt did not print (paper out, cover open, unreachable)."""


class BootstrapFailed(AgentError):
    """A new till could not fetch its first bundle or keys from the ledger."""

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"
