"""Card numbers never reach the ledger's logs, at any level, in any logger.

The access log of uvicorn writes every request path, and
``/v1/customers/{card}`` carries a whole card number; the ledger's own
lines may name cards too. ``MaskFilter`` sits on every handler (the root
handler and uvicorn's two) and rewrites each record before it is
formatted: a customer or card path keeps only the card's last 4 digits
(``fastcore.mask_card``, whatever the path holds), and any other 13-digit run
or token-shaped text is masked by ``fastcore.scrub``, the scrubber the till
agent's logs use too. The record's arguments are masked one by one, so uvicorn's
access formatter still finds its five fields.
"""
from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote

from fastcore import scrub
from fastcore import mask_card

_CARD_PATH = re.compile(r"(/v1/(?:customers|ledger/cards)/)([^/?#\s\"']*)")


def mask(text: str) -> str:
    """``text`` with card paths, card numbers and tokens masked."""
    return scrub(_CARD_PATH.sub(lambda m: m.group(1) + mask_card(unquote(m.group(2))), text))


def _arg(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else value


class MaskFilter(logging.Filter):
    """Masks a record's message, arguments and traceback text in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True


def setup(level: str) -> dict[str, Any]:
    """Mask the root logger's handlers; return uvicorn's log config with the filter on."""
    logging.basicConfig(level=level.upper())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskFilter) for f in handler.filters):
            handler.addFilter(MaskFilter())
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"mask": {"()": MaskFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["mask"]
    return config
