"""The till daemon: sale session, identification, returns, local API."""
from __future__ import annotations

from ._errors import AgentError, ConfigError, ReturnError, SessionError, TokenError
from ._token import (
    Card,
    KeySet,
    Token,
    ean13_check_ok,
    mask_card,
    message_for,
    offline_redeemable,
    parse_instant,
    verify,
)

__all__ = [
    "AgentError",
    "Card",
    "ConfigError",
    "KeySet",
    "ReturnError",
    "SessionError",
    "Token",
    "TokenError",
    "ean13_check_ok",
    "mask_card",
    "message_for",
    "offline_redeemable",
    "parse_instant",
    "verify",
]
