"""JSON in and out with exact decimals.

A basket's ``qty`` of ``0.455`` must stay exactly 455/1000, so JSON numbers
with a fraction are read as ``decimal.Decimal``, never as ``float``.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON reading every fractional number as an exact ``Decimal``."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Serialise a result (ints, strings, lists, dicts) as UTF-8 JSON text."""
    return json.dumps(value, ensure_ascii=False, indent=indent)
