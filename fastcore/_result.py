"""The priced basket (spec/pricing.md §7)."""
from __future__ import annotations

from typing import Any


class Result:
    """One priced basket. ``to_json()`` is the §7 object, field for field.

    Both engines build the same plain structure; this class only gives it
    names so that callers do not index dicts by hand.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_json(self) -> dict[str, Any]:
        """The §7 result as JSON-ready dicts, lists, ints and strings."""
        return self._data

    @property
    def lines(self) -> list[dict[str, Any]]:
        return self._data["lines"]

    @property
    def totals(self) -> dict[str, int]:
        return self._data["totals"]

    @property
    def redeem(self) -> dict[str, Any]:
        return self._data["redeem"]

    @property
    def paid(self) -> int:
        return self._data["totals"]["paid"]

    @property
    def points(self) -> int:
        return self._data["totals"]["points"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and other._data == self._data

    def __repr__(self) -> str:
        t = self._data["totals"]
        return f"<Result amount={t['amount']} discount={t['discount']} paid={t['paid']} points={t['points']}>"
