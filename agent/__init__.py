"""The till agent: the daemon behind the POS, its sale path and local API.

What other packages and the ``kopilka`` command use: the daemon (``Agent``
with its ``Runtime`` and config), the sale path (``Till``, ``Catalog``,
``make_return``), the local API (``create_app``, served by ``ApiServer``),
the log set-up, and the agent's branch of the exception tree.
"""
from __future__ import annotations

from ._api import create_app
from ._catalog import Catalog
from ._config import TillConfig, load_config, parse_config
from ._daemon import Agent, AgentState
from ._errors import (
    AgentError,
    BootstrapFailed,
    CodeRefused,
    ConfigError,
    InsufficientBalance,
    LedgerUnavailable,
    PrinterFailed,
    RequestRefused,
    ReturnError,
    SessionError,
    TokenError,
)
from ._logging import setup_logging
from ._ports import LedgerPort, PrinterPort
from ._returns import make_return
from ._runtime import ApiServer, Runtime
from ._session import Session, SessionState
from ._till import Till
from ._token import KeySet, offline_redeemable
from ._token import verify as verify_code

__all__ = [
    "Agent",
    "AgentError",
    "AgentState",
    "ApiServer",
    "BootstrapFailed",
    "Catalog",
    "CodeRefused",
    "ConfigError",
    "InsufficientBalance",
    "KeySet",
    "LedgerPort",
    "LedgerUnavailable",
    "PrinterFailed",
    "PrinterPort",
    "RequestRefused",
    "ReturnError",
    "Runtime",
    "Session",
    "SessionError",
    "SessionState",
    "Till",
    "TillConfig",
    "TokenError",
    "create_app",
    "load_config",
    "make_return",
    "offline_redeemable",
    "parse_config",
    "setup_logging",
    "verify_code",
]
