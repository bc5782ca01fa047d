"""The one place the ledger touches ``fastcore`` (validation and re-pricing).

Engines are compiled once per bundle version and kept in a small LRU, since
an audit batch usually spans one or two versions.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import fastcore

_lock = threading.Lock()
_engines: OrderedDict[str, Any] = OrderedDict()
_MAX_ENGINES = 8


def validate_bundle(text: str) -> None:
    """``fastcore.load_bundle``; raises ``fastcore.BundleError``."""
    fastcore.load_bundle(text)


def bundle_error_type() -> type[Exception]:
    """The engine's bundle error class (for ``except``)."""
    return fastcore.BundleError


def engine_for(key: str, body_text: Callable[[], str]) -> Any | None:
    """A compiled ``fastcore.Engine`` for one bundle version (LRU cached)."""
    with _lock:
        eng = _engines.get(key)
        if eng is not None:
            _engines.move_to_end(key)
            return eng
    eng = fastcore.Engine(fastcore.load_bundle(body_text()))
    with _lock:
        _engines[key] = eng
        while len(_engines) > _MAX_ENGINES:
            _engines.popitem(last=False)
    return eng


def exact(obj: Any) -> Any:
    """Re-read a JSON value with exact decimals (the engine never sees a float)."""
    return fastcore.loads(json.dumps(obj))
