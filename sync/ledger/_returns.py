"""The points side of a return, per line (spec/sync.md, spec/pricing.md §1).

For a sale line with ``q`` units (thousandths) that earned ``P`` points, the
points reversed once ``R`` units have been returned in total are
``allocate(P, weights=[R, q - R], caps=∞)[0]`` — the returned part's share
when the line's points are split between the returned and the kept units,
which for two lines equals ``rhu(P*R, q)``. A return's own share is the
difference between the cumulative shares after and before it, so returning
a line in several steps reverses exactly ``P`` in the end and never more.
Redeemed points are refunded the same way: the sale's ``redeemed_points``
are first split over its lines with ``allocate(weights=line.redeemed)``.
Money figures (``refund`` from ``paid``, ``redeemed_refund`` from
``redeemed``) use the same rule, for the audit against the till.
Welcome and birthday points belong to no line and are never reversed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastcore._values import INF, allocate, rhu

from ._txn import qty_milli


class ReturnRefused(Exception):
    """The return does not fit its sale (``reason``: ``invalid``)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True)
class LineReturn:
    """The ledger's computation for one returned line."""

    line: int
    qty_milli: int
    refund: int
    redeemed_refund: int
    points_reversed: int
    points_refunded: int
    cumulative_milli: int


def _share(total: int, part: int, whole: int) -> int:
    return total if part >= whole else rhu(total * part, whole)


def compute(sale_result: dict[str, Any], returned: tuple[tuple[int, int], ...],
            already: dict[int, tuple[int, int, int, int, int]]) -> list[LineReturn]:
    """Per returned line: refund, redeemed refund, points reversed and refunded.

    ``already`` maps a line to its cumulative ``(qty_milli, points_reversed,
    points_refunded, refund, redeemed_refund)`` from earlier returns.
    """
    lines = sale_result.get("lines") or []
    redeemed_points = int((sale_result.get("totals") or {}).get("redeemed_points", 0))
    weights = [max(0, int(line.get("redeemed", 0))) for line in lines]
    per_line_redeemed = allocate(redeemed_points, weights, [INF] * len(lines)) if lines else []
    state = dict(already)
    out = []
    for line_no, qty in returned:
        if line_no >= len(lines):
            raise ReturnRefused(f"the sale has no line {line_no}")
        line = lines[line_no]
        sold = qty_milli(line.get("qty"))
        if sold is None or sold <= 0:
            raise ReturnRefused(f"line {line_no} of the sale has no usable qty")
        prev = state.get(line_no, (0, 0, 0, 0, 0))
        total = prev[0] + qty
        if total > sold:
            raise ReturnRefused(f"line {line_no}: returning more than was sold")
        points = _share(int(line.get("points", 0)), total, sold)
        refunded = _share(per_line_redeemed[line_no], total, sold)
        refund = _share(int(line.get("paid", 0)), total, sold)
        red_refund = _share(int(line.get("redeemed", 0)), total, sold)
        out.append(LineReturn(line_no, qty, refund - prev[3], red_refund - prev[4],
                              points - prev[1], refunded - prev[2], total))
        state[line_no] = (total, points, refunded, refund, red_refund)
    return out
