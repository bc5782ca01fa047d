"""The pricing and loyalty engine (spec/pricing.md).

``Engine(bundle).price(basket)`` gives a ``Result`` whose ``to_json()`` is
the §7 object. The compiled Cython engine is used unless ``KOPILKA_PURE=1``
asks for the pure-Python twin; both are importable explicitly as
``fastcore.reference.Engine`` and ``fastcore.compiled.Engine``.

Pure: no I/O, no clock, no globals beyond constants.
"""
from __future__ import annotations

import os

from ._bundle import MAX_INT, Bundle, Program, load_bundle
from ._errors import BasketError, BundleError, KopilkaError, ReturnError
from ._json import dumps, loads
from ._result import Result
from ._returns import LineReturn, return_lines, return_totals
from ._values import allocate, rhu

ENGINE_VERSION = "kopilka-fastcore/1"

if os.environ.get("KOPILKA_PURE") == "1":
    from .reference import Engine
else:
    try:
        from .compiled import Engine
    except ImportError:  # the extension is not built: say so once, keep working
        import logging

        logging.getLogger(__name__).warning("fastcore: compiled engine not built, using the reference twin")
        from .reference import Engine

__all__ = [
    "BasketError",
    "Bundle",
    "BundleError",
    "ENGINE_VERSION",
    "Engine",
    "KopilkaError",
    "LineReturn",
    "MAX_INT",
    "Program",
    "Result",
    "ReturnError",
    "allocate",
    "dumps",
    "load_bundle",
    "loads",
    "return_lines",
    "return_totals",
    "rhu",
]
