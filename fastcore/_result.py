"""The priced basket (spec/pricing.md §7)."""
from __future__ import annotations

from typing import Any


class Result:
    """One priced basket. ``to_json()`` is the §7 object, field for field.

    Both engines give the same plain structure; this class only gives it
    names so that callers do not index dicts by hand. The compiled engine
    hands over a compact ``source`` instead (its figures as C integers) and
    the dicts are built on the first access: most of the cost of a result
    is its hundred-odd small dicts, which a batch (the ledger's audit) may
    never need all at once, and the totals can be read without them.
    """

    __slots__ = ("_data", "_source")

    def __init__(self, data: dict[str, Any] | None = None, source: Any = None) -> None:
        if data is None and source is None:
            raise ValueError("a Result needs its §7 data or a source that builds it")
        self._data = data
        self._source = source

    def to_json(self) -> dict[str, Any]:
        """The §7 result as JSON-ready dicts, lists, ints and strings.

        The same object on every call (built once), as before.
        """
        data = self._data
        if data is None:
            data = self._data = self._source.build()
            self._source = None
        return data

    @property
    def lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = self.to_json()["lines"]
        return lines

    @property
    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = self.to_json()["totals"]
        return totals

    @property
    def redeem(self) -> dict[str, Any]:
        redeem: dict[str, Any] = self.to_json()["redeem"]
        return redeem

    @property
    def paid(self) -> int:
        if self._data is None:
            return self._source.paid_total  # type: ignore[no-any-return]
        return self._data["totals"]["paid"]  # type: ignore[no-any-return]

    @property
    def points(self) -> int:
        if self._data is None:
            return self._source.points_total  # type: ignore[no-any-return]
        return self._data["totals"]["points"]  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and other.to_json() == self.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable content, as a dict

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        """Pickled and copied as its §7 data (the compact source is the engine's own)."""
        return (Result, (self.to_json(),))

    def __repr__(self) -> str:
        t = self.totals
        return f"<Result amount={t['amount']} discount={t['discount']} paid={t['paid']} points={t['points']}>"
