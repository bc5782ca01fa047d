"""The pricing and loyalty engine (spec/pricing.md).

``Engine(bundle).price(basket)`` gives a ``Result`` whose ``to_json()`` is
the §7 object; ``Engine(bundle).hints(basket)`` gives the cashier's ``Hint``
list (why each reached promotion did or did not apply, near misses; reason
codes in ``HINT_REASONS``), which is not part of that object. The compiled Cython engine is used unless ``KOPILKA_PURE=1``
asks for the pure-Python twin; both are importable explicitly as
``fastcore.reference.Engine`` and ``fastcore.compiled.Engine``.

It is also the one home of the small domain rules every package shares:
EAN-13 check digits (``ean13_check_digit``, ``ean13_valid``), how a card
number is shown (``mask_card``), money and quantity text (``money_text``,
``parse_qty_milli``/``qty_milli``/``qty_text``), instants
(``parse_instant``, ``epoch_seconds``), ``is_int``, base64url and the
token's JWS envelope (``b64url_*``, ``jws_sign``, ``jws_signature_ok``)
and bundle deltas (``apply_delta``).

Pure: no I/O, no clock, no globals beyond constants.
"""
from __future__ import annotations

import os as _os
import typing as _typing

from ._bundle import MAX_INT, Bundle, Program, load_bundle
from ._certificate import (
    CERT_KIND,
    CERT_TYP,
    CERT_VALID_DAYS,
    CertificateKind,
    cert_claims,
    cert_sign,
    offline_allowance,
    tender_amount,
)
from ._codes import ean13_check_digit, ean13_valid
from ._delta import KEYED_SECTIONS, WHOLE_SECTIONS, apply_delta
from ._errors import BasketError, BundleError, DeltaError, KopilkaError, ReturnError
from ._hints import HINT_REASONS, Hint
from ._instants import epoch_seconds, parse_instant
from ._json import dumps, loads
from ._jws import b64url_decode, b64url_encode, jws_sign, jws_signature_ok
from ._mask import mask_card, scrub
from ._money import money_text
from ._quantity import parse_qty_milli, qty_milli, qty_text
from ._result import Result
from ._returns import LineReturn, return_lines, return_totals
from ._values import allocate, is_int, rhu

ENGINE_VERSION = "kopilka-fastcore/1"

if _typing.TYPE_CHECKING:  # both twins have one API: the compiled engine's stub (_engine.pyi)
    from .compiled import Engine
elif _os.environ.get("KOPILKA_PURE") == "1":
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
    "CERT_KIND",
    "CERT_TYP",
    "CERT_VALID_DAYS",
    "CertificateKind",
    "DeltaError",
    "ENGINE_VERSION",
    "Engine",
    "HINT_REASONS",
    "Hint",
    "KEYED_SECTIONS",
    "KopilkaError",
    "LineReturn",
    "MAX_INT",
    "Program",
    "Result",
    "ReturnError",
    "WHOLE_SECTIONS",
    "allocate",
    "apply_delta",
    "b64url_decode",
    "b64url_encode",
    "cert_claims",
    "cert_sign",
    "dumps",
    "ean13_check_digit",
    "ean13_valid",
    "epoch_seconds",
    "is_int",
    "jws_sign",
    "jws_signature_ok",
    "load_bundle",
    "loads",
    "mask_card",
    "money_text",
    "offline_allowance",
    "parse_instant",
    "parse_qty_milli",
    "qty_milli",
    "qty_text",
    "return_lines",
    "return_totals",
    "rhu",
    "scrub",
    "tender_amount",
]
