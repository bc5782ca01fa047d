"""The arithmetic of a return (spec/pricing.md §8): one home for the till and the ledger.

A return gives back a share of each returned line's figures. For a line
sold in quantity ``q`` (thousandths) with ``R`` returned so far including
this return, ``share(X) = X`` when ``R = q``, else ``rhu(X * R, q)``; this
return's figure is ``share(X)`` at the new ``R`` minus ``share(X)`` at the
previous one. Returning a line in any number of steps therefore gives back
exactly the line's figures in total, never more.

The unit of a line (``pcs`` or ``kg``) comes from the catalog of the bundle
version the sale was priced with, never from how the §7 ``qty`` text looks:
a ``kg`` line sold as ``"1"`` may come back as ``"0.25"``. Apart from the
unit, the sale's §7 result is the only input; nothing is re-priced.

Pure: the callers (``agent`` at the till, ``sync.ledger`` at head office)
find the sale, the units and what was returned before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ._errors import ReturnError
from ._quantity import parse_qty_milli, qty_text
from ._values import INF, allocate, is_int, rhu

#: the four per-line figures of a return, in the order of ``LineReturn``
FIGURES = ("refund", "redeemed_refund", "points_refunded", "points_reversed")


@dataclass(frozen=True, slots=True)
class LineReturn:
    """What one return gives back on one sale line."""

    line: int
    qty_milli: int
    #: money back, from the line's ``paid``
    refund: int
    #: the money value of the points given back, from the line's ``redeemed``
    redeemed_refund: int
    #: points given back to the account (the line's share of ``redeemed_points``)
    points_refunded: int
    #: accrued points taken back, from the line's ``points``
    points_reversed: int
    #: the line's quantity returned so far, this return included
    returned_milli: int

    @property
    def qty(self) -> str:
        """The returned quantity as decimal text (``"0.25"``, ``"2"``)."""
        return qty_text(self.qty_milli)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "qty": self.qty, "refund": self.refund,
                "redeemed_refund": self.redeemed_refund, "points_refunded": self.points_refunded,
                "points_reversed": self.points_reversed}


def _figure(line: Mapping[str, Any], key: str, index: int) -> int:
    value = line.get(key, 0)
    if not is_int(value) or value < 0:
        raise ReturnError("bad_sale", f"must be an integer >= 0, not {value!r}", f"sale.lines[{index}].{key}")
    return value


def _sale_lines(result: Any) -> tuple[list[Mapping[str, Any]], int]:
    if not isinstance(result, Mapping):
        raise ReturnError("bad_sale", "the sale has no result object", "sale.result")
    lines = result.get("lines")
    if not isinstance(lines, list) or not all(isinstance(ln, Mapping) for ln in lines):
        raise ReturnError("bad_sale", "the sale's lines are not a list of objects", "sale.lines")
    totals = result.get("totals")
    redeemed_points = totals.get("redeemed_points", 0) if isinstance(totals, Mapping) else 0
    if not is_int(redeemed_points) or redeemed_points < 0:
        raise ReturnError("bad_sale", "must be an integer >= 0", "sale.totals.redeemed_points")
    return lines, redeemed_points


def sold_milli(line: Mapping[str, Any], index: int) -> int:
    """A sale line's quantity in thousandths (its §7 ``qty`` text)."""
    milli = parse_qty_milli(line.get("qty"))
    if milli is None or milli <= 0:
        raise ReturnError("bad_sale", f"not a quantity: {line.get('qty')!r}", f"sale.lines[{index}].qty")
    return milli


def return_qty(value: Any, unit: str, field: str) -> int:
    """A returned quantity in thousandths, by the rules of §2 for ``unit``."""
    milli = parse_qty_milli(value)
    if milli is None or milli == 0:
        raise ReturnError("bad_qty", f"quantity must be > 0 with at most 3 decimals, not {value!r}", field)
    if unit == "pcs" and milli % 1000:
        raise ReturnError("bad_qty", f"the line is sold by the piece; {value} is not a whole number", field)
    return milli


def return_lines(result: Any, units: Sequence[str], items: Sequence[tuple[int, Any]],
                 before: Mapping[int, int]) -> list[LineReturn]:
    """The figures of returning ``items`` (``(line, qty)``) of a sale.

    ``result`` is the sale's §7 result, ``units[i]`` the unit of its line
    ``i`` in the sale's bundle version, and ``before[i]`` the thousandths of
    line ``i`` returned by earlier returns. ``qty`` is ``None`` for "the rest
    of the line". Raises ``ReturnError`` (``reason``: ``empty``,
    ``unknown_line``, ``duplicate_line``, ``bad_qty``, ``too_much``,
    ``bad_sale``) and computes nothing then.
    """
    lines, redeemed_points = _sale_lines(result)
    if len(units) != len(lines):
        raise ReturnError("bad_sale", "the units do not match the sale's lines", "sale.lines")
    if not items:
        raise ReturnError("empty", "choose at least one line to return", "items")
    wanted: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    for k, (index, qty) in enumerate(items):
        if not is_int(index) or not 0 <= index < len(lines):
            raise ReturnError("unknown_line", f"the sale has no line {index!r}", f"items[{k}].line")
        if index in seen:
            raise ReturnError("duplicate_line", f"line {index} is named twice", f"items[{k}].line")
        seen.add(index)
        sold = sold_milli(lines[index], index)
        done = before.get(index, 0)
        milli = sold - done if qty is None else return_qty(qty, units[index], f"items[{k}].qty")
        if milli <= 0 or done + milli > sold:
            left = qty_text(max(0, sold - done))
            raise ReturnError("too_much", f"only {left} left to return on line {index}", f"items[{k}].qty")
        wanted.append((index, milli, sold))
    weights = [_figure(ln, "redeemed", i) for i, ln in enumerate(lines)]
    per_line_points = allocate(redeemed_points, weights, [INF] * len(lines)) if lines else []
    out = []
    for index, milli, sold in wanted:
        line = lines[index]
        prev = before.get(index, 0)
        now = prev + milli
        out.append(LineReturn(
            line=index, qty_milli=milli,
            refund=_step(_figure(line, "paid", index), prev, now, sold),
            redeemed_refund=_step(_figure(line, "redeemed", index), prev, now, sold),
            points_refunded=_step(per_line_points[index], prev, now, sold),
            points_reversed=_step(_figure(line, "points", index), prev, now, sold),
            returned_milli=now,
        ))
    return out


def return_totals(lines: Sequence[LineReturn]) -> dict[str, int]:
    """A return's totals: the sums over its lines (§8)."""
    return {k: sum(getattr(ln, k) for ln in lines) for k in FIGURES}


def _share(total: int, returned: int, sold: int) -> int:
    return total if returned >= sold else rhu(total * returned, sold)


def _step(total: int, prev: int, now: int, sold: int) -> int:
    """This return's part of ``total``: the share at ``now`` returned minus the share at ``prev``."""
    return _share(total, now, sold) - _share(total, prev, sold)
