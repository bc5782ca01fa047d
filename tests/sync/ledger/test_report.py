"""``kopilka report sync``: per store and till health from the till's own shard."""
from __future__ import annotations

import csv
import io
import json

from sync._hashchain import txn_hash
from sync.ledger import Ledger
from sync.ledger._report import collect, render

from .helpers import ASGIClient, TillSim


def busy_day(client: ASGIClient, till: TillSim, other_till: TillSim) -> None:
    sales = [till.sale("A-77") for _ in range(6)]
    client.post("/v1/transactions", json=till.body([sales[i] for i in (0, 1, 2, 4)]),
                headers=till.headers)
    client.post("/v1/transactions", json=till.body(sales[:2]), headers=till.headers)
    bad = dict(sales[5], at="2026-11-22T16:00:00+07:00")
    bad["result"] = dict(bad["result"], totals=dict(bad["result"]["totals"], points=999))
    bad["hash"] = txn_hash(bad)
    client.post("/v1/transactions", json=till.body([bad]), headers=till.headers)
    forged = dict(sales[0], at="2026-11-22T16:00:00+07:00")
    forged["hash"] = txn_hash(forged)
    client.post("/v1/transactions", json=till.body([forged]), headers=till.headers)
    client.post("/v1/heartbeat", headers=till.headers, json={
        "till": till.till, "store": till.store, "queue_depth": 3,
        "oldest_unsynced_age_s": 600, "bundle_version": 1, "hardware": {"printer": "paper_out"}})


def test_the_report_shows_gaps_queue_rejects_duplicates_and_audit_mismatches(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    busy_day(client, till, other_till)
    assert collect(shop.storage)[0].audit_mismatches == 0  # not re-priced yet
    assert shop.audit_pending() == 5
    rows = collect(shop.storage)
    assert [(r.store, r.till) for r in rows] == [("KY-001", "KY-001-01"), ("KY-002", "KY-002-01")]
    mine = rows[0]
    assert (mine.high_water, mine.max_seq, mine.gaps) == (3, 6, [(4, 4)])
    assert (mine.queue_depth, mine.oldest_unsynced_age_s, mine.bundle_version) == (3, 600, 1)
    assert (mine.rejected, mine.duplicates, mine.audit_mismatches) == (1, 2, 1)
    assert mine.last_contact == "2026-11-22T07:00:00.000000Z"
    idle = rows[1]
    assert (idle.last_contact, idle.high_water, idle.queue_depth) == (None, 0, None)


def test_the_report_renders_as_table_csv_and_json(
        client: ASGIClient, till: TillSim, other_till: TillSim, shop: Ledger) -> None:
    busy_day(client, till, other_till)
    rows = collect(shop.storage)
    table = render(rows, "table")
    assert table.splitlines()[0].split()[:3] == ["store", "till", "last_contact"]
    assert "printer=paper_out" in table
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert parsed[0]["gaps"] == "4" and parsed[0]["rejected"] == "1"
    data = json.loads(render(rows, "json"))
    assert data["tills"][0]["gaps"] == [[4, 4]]
