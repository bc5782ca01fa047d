"""The agent's branch of the kopilka exception tree::

    KopilkaError
     └── AgentError        something the till agent refuses
          ├── TokenError    a scanned code fails spec/token.md (reason)
          ├── ConfigError   the till's TOML file is invalid (field)
          ├── SessionError  a sale-session action is not allowed now (reason)
          └── ReturnError   a return cannot be made as asked (reason)
"""
from __future__ import annotations

from fastcore._errors import KopilkaError


class AgentError(KopilkaError):
    """Root of the till agent's errors; carries a machine ``reason``."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.message = message or reason
        super().__init__(self.message if message else reason)


class TokenError(AgentError):
    """A scanned code is refused; ``reason`` is the spec/token.md code."""


class ConfigError(AgentError):
    """The till configuration is invalid; ``field`` names the key."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__("config", f"{field}: {message}")


class SessionError(AgentError):
    """A session action is refused (wrong state, unknown line, ...)."""


class ReturnError(AgentError):
    """A return is refused (unknown receipt, quantity above what is left)."""
