"""The cashier's hints of one sale: the engine's ``fastcore.Hint`` objects
as the till shows and prints them.

The engine reads them from the result it priced the basket with (one
pricing per edit); they ride beside the §7 result, never in it, so no
figure of the sale depends on whether hints are on. The text is the
till's language (``[till] language``); the figures stay ints.
"""
from __future__ import annotations

from typing import Any

import fastcore

from ._i18n import engine_text


def hint_view(hint: fastcore.Hint, language: str) -> dict[str, Any]:
    """One hint for the API and the cashier page: the engine's fields and
    ``text`` in ``language`` (``ru`` or ``en``)."""
    doc = hint.to_json()
    doc["text"] = engine_text(language, ru=doc.pop("text_ru"), en=doc.pop("text_en"))
    return doc


def next_time(hints: list[dict[str, Any]]) -> list[str]:
    """The near misses' texts, for the receipt's "next time" block."""
    return [str(h["text"]) for h in hints if h.get("near")]
