"""Returns against the till's own sales (works offline; spec/pricing.md §8).

The sale is found by its receipt id (``KY-001-01/17``, scanned from the
receipt or typed) or its ``txn_id``. Part of it may come back, over one or
several returns. The arithmetic is ``fastcore.return_lines`` -- the one
home the ledger uses too -- fed with:

- the sale's §7 result, never re-priced;
- each line's unit from the bundle version the sale was priced with, kept
  with the sale at commit (``agent_sale.body["sold"]``), so a ``kg`` line
  sold as ``"1"`` comes back as ``"0.25"`` and a till returns a sale priced
  with an older bundle;
- the quantities earlier returns of this till took back.

A line named twice, an unknown line, a quantity that is not the line's
unit's, or more than is left is refused and nothing changes.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import fastcore

from ._errors import ReturnError
from ._receipt import return_job

if TYPE_CHECKING:
    from ._till import Till

log = logging.getLogger(__name__)


def returned_so_far(till: "Till", txn_id: str) -> dict[int, int]:
    """Quantity (thousandths) already returned per line of a sale."""
    with till.db.lock:
        rows = till.db.conn.execute(
            "SELECT body FROM agent_sale WHERE kind = 'return' AND original_txn_id = ?", (txn_id,)
        ).fetchall()
    done: dict[int, int] = {}
    for (body,) in rows:
        for item in json.loads(body)["returned"]:
            done[item["line"]] = done.get(item["line"], 0) + fastcore.qty_milli(item["qty"])
    return done


def _items(items: Any) -> list[tuple[Any, Any]]:
    if not isinstance(items, list):
        raise ReturnError("bad_request", "items is a list of {line, qty}")
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            raise ReturnError("unknown_line", f"items[{k}] is not an object {{line, qty}}")
        out.append((item.get("line"), item.get("qty")))
    return out


def compute_return(sale: dict[str, Any], units: list[str | None], items: Any,
                   done: dict[int, int]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The figures of returning ``items`` of ``sale``; raises ``ReturnError``."""
    wanted = _items(items)
    for k, (index, _qty) in enumerate(wanted):
        if fastcore.is_int(index) and 0 <= index < len(units) \
                and units[index] is None:
            raise ReturnError("unknown_unit", f"items[{k}].line: the unit of line {index} is not known "
                              "(sale from before this till kept units, priced with another bundle)")
    try:
        lines = fastcore.return_lines(sale["result"], [u or "pcs" for u in units], wanted, done)
    except fastcore.ReturnError as exc:
        raise ReturnError(exc.reason, str(exc), field=exc.field) from exc
    return [ln.to_json() for ln in lines], fastcore.return_totals(lines)


def refuse_certificate_lines(sale: dict[str, Any], items: Any) -> None:
    """A gift certificate sold is money handed over, not goods: it is not returned for cash
    at the till (it stays spendable; head office cancels one if it must)."""
    sold = {c.get("sku") for c in ((sale.get("certificates") or {}).get("sold") or [])}
    lines = (sale.get("result") or {}).get("lines") or []
    for k, item in enumerate(items if isinstance(items, list) else []):
        index = item.get("line") if isinstance(item, dict) else None
        if fastcore.is_int(index) and 0 <= index < len(lines) and lines[index].get("sku") in sold:
            raise ReturnError("certificate_not_returnable", f"items[{k}].line: line {index} is a gift "
                              "certificate; it is not returned at the till", field=f"items[{k}].line")


def make_return(till: "Till", receipt: str, items: Any) -> dict[str, Any]:
    """Return part of a sale: commit the return TXN, print its receipt."""
    with till.lock:
        found = till.sale(receipt)
        if found is None or found["kind"] != "sale":
            raise ReturnError("unknown_receipt", f"no sale with receipt {receipt} at this till")
        sale = found["txn"]
        done = returned_so_far(till, sale["txn_id"])
        refuse_certificate_lines(sale, items)  # docs/certificates.md
        lines, totals = compute_return(sale, list(found["sold"]["units"]), items, done)
        txn_id = str(uuid.uuid4())
        now = till.clock()
        at = till.catalog.local_now(till.store, now)
        txn = {
            "txn_id": txn_id, "kind": "return", "at": at,
            "customer": sale.get("customer"), "mode": "offline", "hold_id": None,
            # What came back, as a basket (the ledger wants an object here).
            "basket": {"store": till.store, "at": at, "customer": None, "coupons": [], "redeem": 0,
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
        job = return_job(body, sale, found["receipt_id"], found["sold"],
                         store=till.receipt_header or till.store, till=till.till)
        till.queue_print(txn_id, job)
        log.info("return %s of sale %s: refund %d, points back %d, reversed %d", receipt_id,
                 found["receipt_id"], totals["refund"], totals["points_refunded"], totals["points_reversed"])
        till.events.publish("return", receipt_id=receipt_id, original=found["receipt_id"], totals=totals)
    till.print_pending()
    return {"receipt_id": receipt_id, "txn_id": txn_id, "seq": row.seq, "lines": lines, "totals": totals,
            "receipt": job["text"]}
