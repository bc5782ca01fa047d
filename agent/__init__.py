"""The till daemon: sale session, identification, returns, local API."""
from __future__ import annotations

from ._api import create_app
from ._catalog import Catalog
from ._config import TillConfig, load_config, parse_config
from ._daemon import Agent, AgentState
from ._errors import AgentError, ConfigError, ReturnError, SessionError, TokenError
from ._events import EventBus
from ._logging import JsonFormatter, scrub, setup_logging
from ._ports import InsufficientBalance, LedgerPort, LedgerUnavailable, PrinterFailed, PrinterPort
from ._printing import DriversPrinter
from ._receipt import parse_printed
from ._returns import compute_return, make_return
from ._runtime import ApiServer, EscposPrinter, Runtime
from ._session import Session, SessionState
from ._till import Till
from ._token import (
    Card,
    KeySet,
    Token,
    message_for,
    offline_redeemable,
    verify,
)

__all__ = [
    "Agent",
    "AgentError",
    "AgentState",
    "ApiServer",
    "Card",
    "Catalog",
    "ConfigError",
    "DriversPrinter",
    "EscposPrinter",
    "EventBus",
    "InsufficientBalance",
    "JsonFormatter",
    "KeySet",
    "LedgerPort",
    "LedgerUnavailable",
    "PrinterFailed",
    "PrinterPort",
    "ReturnError",
    "Runtime",
    "Session",
    "SessionError",
    "SessionState",
    "Till",
    "TillConfig",
    "Token",
    "TokenError",
    "compute_return",
    "create_app",
    "load_config",
    "make_return",
    "message_for",
    "offline_redeemable",
    "parse_config",
    "parse_printed",
    "scrub",
    "setup_logging",
    "verify",
]
