"""JSON log lines for the till agent (journald / log shippers read them).

Card numbers never reach a log: any 13-digit run in a message is masked to
its last 4 digits, and anything shaped like a signed token is replaced, as
a second line of defence behind the code that already logs masked values.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO

from fastcore import scrub


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (scrubbed), exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        if record.exc_info:
            doc["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(level: str = "INFO", stream: IO[str] | None = None, file: str | None = None) -> logging.Handler:
    """Route the root logger to JSON lines on ``stream`` (stderr) or ``file``."""
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(stream or sys.stderr)
    )
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_kopilka", False):
            root.removeHandler(old)
            old.close()
    handler._kopilka = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler
