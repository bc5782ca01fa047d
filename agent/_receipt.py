"""Print jobs: what the till hands its printer port for a sale, a return or a copy.

The layout itself is the drivers' (``drivers.receipt_layout``) (one module for every receipt);
this module only gathers what the layout needs from a committed TXN -- the
names, prices and units of the sale's own bundle version, the masked card's
source, the points each line spent -- into a JSON-safe job that waits in
the print queue (``agent_print``) until the printer takes it. ``job["text"]``
is the same layout as plain lines, for ports without a printer behind them.
"""
from __future__ import annotations

from typing import Any, Mapping

import fastcore
from drivers import SaleInfo, read_receipt, receipt_layout, receipt_text, return_receipt_layout

#: ``fastcore.allocate``'s "no cap"
_NO_CAP = -1


def line_points(result: Mapping[str, Any]) -> list[int]:
    """The sale's spent points split over its lines by ``redeemed`` money
    (the split pricing.md §8 uses for returns, so the receipt and a later
    return agree)."""
    lines = result.get("lines", [])
    total = int(result.get("totals", {}).get("redeemed_points", 0))
    if not lines:
        return []
    return list(fastcore.allocate(total, [int(ln.get("redeemed", 0)) for ln in lines], [_NO_CAP] * len(lines)))


def sold_facts(result: Mapping[str, Any], catalog: Any) -> dict[str, Any]:
    """What a sale keeps of its bundle version, at commit: each line's unit
    (returns, pricing.md §8) and the names and prices its receipt shows."""
    skus = [ln["sku"] for ln in result.get("lines", [])]
    return {
        "units": [catalog.unit(sku) for sku in skus],
        "names": {sku: catalog.name(sku) for sku in skus},
        "prices": {sku: int(catalog.items.get(sku, {}).get("price", 0)) for sku in skus},
    }


def _info(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def sale_job(txn: Mapping[str, Any], sold: Mapping[str, Any], *, store: str, till: str,
             balance: int | None = None, lang: str = "ru") -> dict[str, Any]:
    """The print job of a committed sale."""
    result = dict(txn["result"])
    shares = line_points(result)
    result["lines"] = [dict(ln, redeemed_points=shares[i]) if ln.get("redeemed") else dict(ln)
                       for i, ln in enumerate(result.get("lines", []))]
    skus = [ln["sku"] for ln in result["lines"]]
    cust = txn.get("customer") or {}
    info = _info(receipt_id=txn["receipt_id"], store=store, till=till, time=txn["at"][:16].replace("T", " "),
                 card=cust.get("card"), balance=balance, names=dict(sold.get("names", {})),
                 prices=dict(sold.get("prices", {})),
                 units=dict(zip(skus, sold.get("units", []), strict=False)),
                 method=(txn.get("payment") or {}).get("method"),
                 mode=txn.get("mode") if cust else None, lang=lang,
                 next_time=list(sold.get("next_time") or []) or None,
                 certificates=txn.get("certificates"))
    return _job("sale", txn["receipt_id"], result, info)


def return_job(ret: Mapping[str, Any], sale: Mapping[str, Any], sale_receipt: str, sold: Mapping[str, Any],
               *, store: str, till: str, lang: str = "ru") -> dict[str, Any]:
    """The print job of a committed return of ``sale``."""
    sale_lines = sale["result"]["lines"]
    lines = [dict(ln, sku=sale_lines[ln["line"]]["sku"]) for ln in ret["result"]["lines"]]
    units = sold.get("units", [])
    cust = ret.get("customer") or {}
    info = _info(receipt_id=ret["receipt_id"], store=store, till=till, time=ret["at"][:16].replace("T", " "),
                 card=cust.get("card"), names=dict(sold.get("names", {})),
                 units={sale_lines[i]["sku"]: u for i, u in enumerate(units)},
                 original=sale_receipt, lang=lang)
    return _job("return", ret["receipt_id"], {"lines": lines, "totals": dict(ret["result"]["totals"])}, info)


def copy_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a printed receipt (marked as such, same numbers)."""
    out = _job(str(job["kind"]), str(job["receipt_id"]), job["result"], dict(job["info"]), copy=True)
    out["method"] = None
    return out


def blocks(job: Mapping[str, Any], columns: int = 48, code: str = "qr") -> list[Any]:
    """The job laid out by the one layout module."""
    lay = return_receipt_layout if job["kind"] == "return" else receipt_layout
    return lay(job["result"], SaleInfo(**job["info"]), columns=columns, code=code,  # type: ignore[arg-type]
               copy=bool(job.get("copy")))


def _job(kind: str, receipt_id: str, result: Mapping[str, Any], info: dict[str, Any],
         copy: bool = False) -> dict[str, Any]:
    job: dict[str, Any] = {"kind": kind, "receipt_id": receipt_id, "result": dict(result), "info": info,
                           "method": info.get("method"), "copy": copy}
    job["text"] = receipt_text(blocks(job))
    return job


def parse_printed(text: str, lang: str = "ru") -> dict[str, Any]:
    """A printed receipt's text read back into numbers (``drivers.read_receipt``)."""
    return read_receipt(text, lang)
