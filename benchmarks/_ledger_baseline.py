"""The ratio baseline of the sync benchmarks: raw batched inserts.

``raw_insert_rate(db_url, n)`` measures how many rows per second the same
backend takes when nothing but plain inserts of TXN-sized rows are done,
1,000 rows per durable commit, through the ledger's own storage layer
(``sync.ledger.open_storage``: SQLite WAL + ``synchronous=FULL``, or
psycopg 3). The ledger's ingest and a till's drain are reported against it.
"""
from __future__ import annotations

import json
import time
import uuid

from sync.ledger import open_storage

BATCH = 1000


def _body() -> str:
    line = {"sku": "4607000000014", "qty": "3", "amount": 26970, "discount": 8990,
            "redeemed": 0, "paid": 17980, "points": 19, "promos": ["MILK-2FOR1"]}
    return json.dumps({"basket": {"lines": [{"sku": line["sku"], "qty": 3}] * 7},
                       "result": {"lines": [line] * 7}}, separators=(",", ":"))


def raw_insert_rate(db_url: str, n: int) -> float:
    """Rows/s of plain batched inserts (``BATCH`` per commit) into ``db_url``'s backend."""
    table = "raw_baseline_" + uuid.uuid4().hex[:8]
    body = _body()
    rows = [(str(uuid.uuid4()), "KY-001-01", i + 1, body) for i in range(n)]
    with open_storage(db_url) as st:
        with st.transaction() as tx:
            tx.execute(f"CREATE TABLE {table} (txn_id TEXT PRIMARY KEY, till TEXT NOT NULL, "
                       "seq BIGINT NOT NULL, body TEXT NOT NULL)")
        try:
            t0 = time.perf_counter()
            for i in range(0, n, BATCH):
                with st.transaction() as tx:
                    tx.executemany(f"INSERT INTO {table} (txn_id, till, seq, body) "
                                   "VALUES (?, ?, ?, ?)", rows[i:i + BATCH])
            elapsed = time.perf_counter() - t0
        finally:
            with st.transaction() as tx:
                tx.execute(f"DROP TABLE {table}")
    return n / elapsed
