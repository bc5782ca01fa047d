"""A coalition's week for the report tests: two chains, three stores, real priced sales.

Every sale is priced by fastcore against the example bundle with its own
day, hash-chained by its till and uploaded through the ledger's HTTP API;
the list of what was sent is kept, so a test can add up the expected
figures from the transactions themselves, never from the ledger.
"""
from __future__ import annotations

import copy
import json
from collections import defaultdict
from typing import Any

import fastcore

from sync.ledger import Ledger

from .helpers import BUNDLE, CARD_A, CARD_C, ENGINE, ASGIClient, TillSim

#: KY-001 and KY-002 are one chain, BT-001 another: they share the programme
CHAINS = {"KY-001": "krasyar", "KY-002": "krasyar", "BT-001": "baton"}
DAYS = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]


def coalition_bundle() -> str:
    """The example bundle with a third store of another chain."""
    body = copy.deepcopy(BUNDLE)
    body["stores"] = [{"id": s, "chain": c, "timezone": "Asia/Krasnoyarsk"}
                      for s, c in CHAINS.items()]
    return json.dumps(body, ensure_ascii=False)


def priced(till: TillSim, day: str, hour: int, account: str | None, *, redeem: int = 0,
           available: int = 0, mode: str = "offline") -> dict[str, Any]:
    """A sale of ``till`` made on ``day`` at ``hour`` (till time, +07:00), priced for that day."""
    txn = till.sale(account, redeem=redeem, available=available, mode=mode)
    at = f"{day}T{hour:02d}:05:00+07:00"
    txn["at"] = txn["basket"]["at"] = at
    if account is not None:
        card = CARD_C if account == "B-01" else CARD_A
        txn["basket"]["customer"]["card"] = txn["customer"]["card"] = card
        txn["basket"]["customer"]["tier"] = "base" if account == "B-01" else "silver"
    txn["result"] = ENGINE.price(fastcore.loads(json.dumps(txn["basket"]))).to_json()
    till.prev = txn["prev_hash"]
    return till._chain(txn)


class Week:
    """The tills, what each uploaded and was accepted, and the expected sums."""

    def __init__(self, ledger: Ledger, client: ASGIClient) -> None:
        self.ledger, self.client = ledger, client
        self.tills = {s: [TillSim(f"{s}-0{i}", s, ledger.add_till(s, f"{s}-0{i}"))
                          for i in (1, 2)] for s in CHAINS}
        self.accepted: list[dict[str, Any]] = []

    def upload(self, till: TillSim, txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        resp = self.client.post("/v1/transactions", json=till.body(txns), headers=till.headers)
        assert resp.status_code == 200, resp.text
        results = resp.json()["results"]
        for txn, res in zip(txns, results, strict=True):
            if res["status"] == "accepted":
                self.accepted.append(txn)
        return list(results)

    def run(self, clock: Any, days: list[str] = DAYS) -> None:
        """Each day: members and anonymous customers at every till; KY earns, BT spends.

        The ledger clock follows the days, so most sales arrive the same
        day; the second till of KY-002 is offline on the first two days and
        uploads them on the third.
        """
        held: list[dict[str, Any]] = []
        for n, day in enumerate(days):
            clock.now = clock.now.replace(year=int(day[:4]), month=int(day[5:7]),
                                          day=int(day[8:]), hour=9)
            for store, tills in self.tills.items():
                for k, till in enumerate(tills):
                    txns = [priced(till, day, 10 + k, "A-77" if store != "BT-001" else None),
                            priced(till, day, 12 + k, "B-01"),
                            priced(till, day, 14 + k, None)]
                    if store == "BT-001" and k == 0:  # a coalition member spends in baton
                        txns.append(priced(till, day, 16, "A-77", redeem=20, available=20,
                                           mode="online"))
                    if till.till == "KY-002-02" and n < 2:
                        held += txns
                        continue
                    if till.till == "KY-002-02" and held:
                        txns, held = held + txns, []
                    self.upload(till, txns)
            clock.advance(hours=1)

    def expected(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (day, store): the sums of the accepted transactions as sent."""
        out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for txn in self.accepted:
            row = out[(txn["at"][:10], txn["store"])]
            totals = txn["result"]["totals"]
            row["sales"] += 1
            row["offline_sales"] += txn["mode"] == "offline"
            member = txn["customer"] is not None
            row["member_sales"] += member
            for key in ("amount", "discount", "paid"):
                row[key] += totals[key]
            row["accrued"] += totals["points"] if member else 0
            row["redeemed"] += totals["redeemed_points"] if member else 0
        return out

    def promos(self) -> dict[str, list[int]]:
        """Per promotion: uses, discount, points, from the sales' ``applied``."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for txn in self.accepted:
            for a in txn["result"]["applied"]:
                got = out[a["promo"]]
                got[0] += 1
                got[1] += a["discount"]
                got[2] += a["points"]
        return out
