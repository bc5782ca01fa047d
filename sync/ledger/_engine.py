"""The one place the ledger touches ``fastcore`` (validation and re-pricing).

Imported lazily so that the ledger's storage commands work even while the
compiled engine is being rebuilt; a missing engine makes audits report
``unavailable`` instead of failing uploads.
"""
from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_engines: OrderedDict[str, Any] = OrderedDict()
_MAX_ENGINES = 8


def _fastcore() -> Any:
    import fastcore

    return fastcore


def validate_bundle(text: str) -> None:
    """``fastcore.load_bundle``; raises ``fastcore.BundleError``."""
    fc = _fastcore()
    load = getattr(fc, "load_bundle", None)
    if load is None:  # engine package still assembling: use the validator directly
        from fastcore._bundle import load_bundle as load
    load(text)


def bundle_error_type() -> type[Exception]:
    """The engine's bundle error class (for ``except``)."""
    try:
        return _fastcore().BundleError  # type: ignore[no-any-return]
    except AttributeError:
        from fastcore._errors import BundleError

        return BundleError


def engine_for(key: str, body_text: Callable[[], str]) -> Any | None:
    """A compiled ``fastcore.Engine`` for one bundle version (LRU cached), or None."""
    with _lock:
        eng = _engines.get(key)
        if eng is not None:
            _engines.move_to_end(key)
            return eng
    fc = _fastcore()
    if not hasattr(fc, "Engine"):
        return None
    eng = fc.Engine(fc.load_bundle(body_text()))
    with _lock:
        _engines[key] = eng
        while len(_engines) > _MAX_ENGINES:
            _engines.popitem(last=False)
    return eng


@functools.lru_cache(maxsize=1)
def _decimal_loads() -> Any:
    return getattr(_fastcore(), "loads", None)


def exact(obj: Any) -> Any:
    """Re-read a JSON value with exact decimals (the engine never sees a float)."""
    loads = _decimal_loads()
    text = json.dumps(obj)
    return loads(text) if loads is not None else json.loads(text)
