"""Returns against the till's own sales (works offline).

The sale is found by its receipt id (``KY-001-01/17``, scanned from the
receipt or typed) or its ``txn_id``. Part of it may come back, over one or
several returns. Each returned share is computed *cumulatively* so that
returning a line in pieces gives back exactly what returning it at once
would: for a line sold in quantity ``Q`` (thousandths), ``R`` already
returned and ``q`` returned now, every figure ``F`` of the line gives
``rhu(F*(R+q), Q) - rhu(F*R, Q)`` (spec/pricing.md ``rhu``):

- ``refund``: of the line's ``paid`` money;
- ``redeemed_refund``: of the line's ``redeemed`` money (paid with points);
- ``points_refunded``: of the line's share of the sale's redeemed points
  (split over lines with ``allocate(redeemed_points, weights=redeemed)``);
- ``points_reversed``: of the line's accrued ``points``.

Welcome and birthday points belong to no line and are never reversed
(the ledger computes the same figures and audits the till's against them).
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import fastcore

from ._catalog import milli_to_text, normalize_qty, qty_milli
from ._errors import ReturnError
from ._receipt import return_receipt

if TYPE_CHECKING:
    from ._till import Till

log = logging.getLogger(__name__)

INF = -1


def _share(figure: int, before: int, now: int, total: int) -> int:
    return fastcore.rhu(figure * (before + now), total) - fastcore.rhu(figure * before, total)


def returned_so_far(till: "Till", txn_id: str) -> dict[int, int]:
    """Quantity (thousandths) already returned per line of a sale."""
    with till.db.lock:
        rows = till.db.conn.execute(
            "SELECT body FROM agent_sale WHERE kind = 'return' AND original_txn_id = ?", (txn_id,)
        ).fetchall()
    done: dict[int, int] = {}
    for (body,) in rows:
        for item in json.loads(body)["returned"]:
            done[item["line"]] = done.get(item["line"], 0) + qty_milli(item["qty"])
    return done


def compute_return(sale: dict[str, Any], items: list[dict[str, Any]], done: dict[int, int],
                   point_value: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The reversal of ``items`` of ``sale`` given what ``done`` already returned."""
    res = sale["result"]
    lines = res["lines"]
    seen: set[int] = set()
    wanted: list[tuple[int, int]] = []
    if not items:
        raise ReturnError("empty", "choose at least one line to return")
    for k, item in enumerate(items):
        idx = item.get("line") if isinstance(item, dict) else None
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(lines):
            raise ReturnError("unknown_line", f"items[{k}].line: the receipt has no line {idx}")
        if idx in seen:
            raise ReturnError("duplicate_line", f"items[{k}].line: line {idx} given twice")
        seen.add(idx)
        unit = "kg" if "." in str(lines[idx]["qty"]) else "pcs"
        try:
            q = qty_milli(normalize_qty(item.get("qty", lines[idx]["qty"]), "kg" if unit == "kg" else "pcs"))
        except ValueError as exc:
            raise ReturnError("bad_qty", f"items[{k}].qty: {exc}") from exc
        sold, already = qty_milli(lines[idx]["qty"]), done.get(idx, 0)
        if already + q > sold:
            raise ReturnError("too_much", f"items[{k}].qty: only {milli_to_text(sold - already)} left to return on line {idx}")
        wanted.append((idx, q))
    redeemed_points = int(res["totals"].get("redeemed_points", 0))
    line_points = fastcore.allocate(redeemed_points, [int(ln["redeemed"]) for ln in lines], [INF] * len(lines))
    out: list[dict[str, Any]] = []
    for idx, q in wanted:
        ln, sold, before = lines[idx], qty_milli(lines[idx]["qty"]), done.get(idx, 0)
        out.append({
            "line": idx, "qty": milli_to_text(q),
            "refund": _share(int(ln["paid"]), before, q, sold),
            "redeemed_refund": _share(int(ln["redeemed"]), before, q, sold),
            "points_reversed": _share(int(ln["points"]), before, q, sold),
            "points_refunded": _share(line_points[idx], before, q, sold),
        })
    totals = {k: sum(o[k] for o in out) for k in ("refund", "redeemed_refund", "points_reversed", "points_refunded")}
    return out, totals


def make_return(till: "Till", receipt: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Return part of a sale: commit the return TXN, print its receipt."""
    with till.lock:
        found = till.sale(receipt)
        if found is None or found["kind"] != "sale":
            raise ReturnError("unknown_receipt", f"no sale with receipt {receipt} at this till")
        sale = found["txn"]
        done = returned_so_far(till, sale["txn_id"])
        lines, totals = compute_return(sale, items, done, till.catalog.point_value)
        txn_id = str(uuid.uuid4())
        now = till.clock()
        txn = {
            "txn_id": txn_id, "kind": "return", "at": till.catalog.local_now(till.store, now),
            "customer": sale.get("customer"), "mode": "offline", "hold_id": None,
            # What came back, as a basket (the ledger wants an object here).
            "basket": {"store": till.store, "at": till.catalog.local_now(till.store, now), "customer": None,
                       "coupons": [], "redeem": 0,
                       "lines": [{"sku": sale["result"]["lines"][ln["line"]]["sku"], "qty": ln["qty"]}
                                 for ln in lines]},
            "result": {"lines": lines, "totals": totals},
            "bundle_version": sale.get("bundle_version"), "engine_version": fastcore.ENGINE_VERSION,
            "original_txn_id": sale["txn_id"],
            "returned": [{"line": ln["line"], "qty": ln["qty"]} for ln in lines],
        }
        account = (sale.get("customer") or {}).get("account")
        prefix = f"{till.till}/"
        row = till.outbox.append(txn, extra=[(
            "INSERT INTO agent_sale (txn_id, receipt_id, kind, account, redeemed_points, at_epoch,"
            " original_txn_id, body) VALUES (?, ? || (SELECT seq FROM outbox WHERE txn_id = ?),"
            " 'return', ?, 0, ?, ?, ?)",
            (txn_id, prefix, txn_id, account, now, sale["txn_id"], json.dumps(txn)),
        )])
        receipt_id = f"{prefix}{row.seq}"
        body = dict(row.txn, receipt_id=receipt_id)
        text = return_receipt(body, dict(sale, receipt_id=found["receipt_id"]), till.catalog)
        till.queue_print("return", body, text)
        log.info("return %s of sale %s: refund %d, points back %d, reversed %d", receipt_id,
                 found["receipt_id"], totals["refund"], totals["points_refunded"], totals["points_reversed"])
        till.events.publish("return", receipt_id=receipt_id, original=found["receipt_id"], totals=totals)
    till.print_pending()
    return {"receipt_id": receipt_id, "txn_id": txn_id, "seq": row.seq, "lines": lines, "totals": totals,
            "receipt": text}
