"""Building real TXNs (priced by fastcore, hash-chained) for ledger tests."""
from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import fastcore
import httpx

from sync._hashchain import GENESIS, txn_hash

ROOT = Path(__file__).resolve().parents[3]
BUNDLE_TEXT = (ROOT / "examples" / "bundle.json").read_text(encoding="utf-8")
BUNDLE = json.loads(BUNDLE_TEXT)
LOADED = fastcore.load_bundle(BUNDLE_TEXT)
ENGINE = fastcore.Engine(LOADED)


def units(result: dict[str, Any]) -> list[str]:
    """The unit of each line of a sale priced with the example bundle."""
    return [LOADED.catalog[line["sku"]].unit if line.get("sku") in LOADED.catalog else "pcs"
            for line in result["lines"]]

CARD_A = "2900000123458"   # account A-77
CARD_B = "2900000123465"   # account A-77 too (family)
CARD_C = "2900000123472"   # account B-01
MEMBERS_CSV = (
    "card,account,tier,segments,offers,birthday,favorite_category,favorite_until,opening_balance\n"
    f"{CARD_A},A-77,silver,students,,1990-11-22,dairy,2026-12-10,500\n"
    f"{CARD_B},A-77,silver,,,1992-03-01,,,500\n"
    f"{CARD_C},B-01,base,,,,,,40\n"
)

LINES = [{"sku": "4601234567893", "qty": 2}, {"sku": "4607000000014", "qty": 3},
         {"sku": "4607000000038", "qty": 1}]


def basket(account: str | None, redeem: int | str = 0, available: int = 0,
           lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A basket at store KY-001 (customer of tier silver when ``account``)."""
    customer = None
    if account:
        customer = {"card": CARD_A, "account": account, "tier": "silver",
                    "available_points": available}
    return {"store": "KY-001", "at": "2026-11-22T14:05:00+07:00", "customer": customer,
            "lines": copy.deepcopy(lines or LINES), "redeem": redeem}


class TillSim:
    """A till's outbox in miniature: seqs, hash chain, key."""

    def __init__(self, till: str, store: str, key: str) -> None:
        self.till, self.store, self.key = till, store, key
        self.seq = 0
        self.prev = GENESIS

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def _chain(self, txn: dict[str, Any]) -> dict[str, Any]:
        txn["prev_hash"] = self.prev
        txn["hash"] = txn_hash(txn)
        self.prev = txn["hash"]
        return txn

    def sale(self, account: str | None = None, *, redeem: int | str = 0, available: int = 0,
             hold_id: str | None = None, lines: list[dict[str, Any]] | None = None,
             result: dict[str, Any] | None = None, seq: int | None = None,
             bundle_version: int = 1, mode: str = "offline") -> dict[str, Any]:
        """A priced sale TXN with the next seq (or ``seq``)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        b = basket(account, redeem, available, lines)
        res = result if result is not None else ENGINE.price(fastcore.loads(json.dumps(b))).to_json()
        txn = {"txn_id": str(uuid.uuid4()), "till": self.till, "store": self.store, "seq": seq,
               "kind": "sale", "at": b["at"],
               "customer": None if account is None else {"card": CARD_A, "account": account,
                                                         "jti": None, "claims": {}},
               "mode": mode, "hold_id": hold_id, "basket": b, "result": res,
               "bundle_version": bundle_version, "engine_version": fastcore.ENGINE_VERSION,
               "original_txn_id": None, "returned": None}
        return self._chain(txn)

    def ret(self, sale: dict[str, Any], returned: list[tuple[int, str]],
            already: dict[int, int] | None = None) -> dict[str, Any]:
        """A return TXN whose reversal the till computed like the ledger does.

        ``already`` maps a line to the thousandths returned before. A return
        of another till's sale names that till (``original_till``).
        """
        self.seq += 1
        try:
            lines = fastcore.return_lines(sale["result"], units(sale["result"]), returned,
                                          already or {})
        except fastcore.ReturnError:  # the test wants the ledger to refuse it
            lines = []
        member = sale["customer"] is not None
        res_lines = [{"line": x.line, "qty": q, "refund": x.refund,
                      "redeemed_refund": x.redeemed_refund,
                      "points_reversed": x.points_reversed if member else 0,
                      "points_refunded": x.points_refunded if member else 0}
                     for x, (_, q) in zip(lines, returned, strict=False)]
        txn = {"txn_id": str(uuid.uuid4()), "till": self.till, "store": self.store,
               "seq": self.seq, "kind": "return", "at": "2026-11-22T15:00:00+07:00",
               "customer": sale["customer"], "mode": "offline", "hold_id": None,
               "basket": {}, "result": {"lines": res_lines, "totals": {}},
               "bundle_version": sale["bundle_version"], "engine_version": fastcore.ENGINE_VERSION,
               "original_txn_id": sale["txn_id"],
               "returned": [{"line": line, "qty": q} for line, q in returned]}
        if sale["till"] != self.till:
            txn["original_till"] = sale["till"]
        return self._chain(txn)

    def body(self, txns: list[dict[str, Any]]) -> dict[str, Any]:
        return {"till": self.till, "store": self.store, "transactions": txns}


class ASGIClient:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
                resp = await c.request(method, url, **kw)
                await resp.aread()
                return resp
        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)
