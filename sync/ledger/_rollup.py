"""Daily report rollups: what the head-office reports read instead of the journal.

A week of a 15,000-till chain is about 100 million sales; a report that
scanned ``sales`` and ``journal`` for it would take minutes. ``refresh``
(``kopilka ledger rollup``, run by cron or by hand) folds the sales and
journal entries that arrived since its watermark into three small tables
keyed by day and store, and the reports read those (thousands of rows) plus
a scan of what arrived after the watermark (the last minutes, found through
the ``received_at`` and ``at`` indexes). The ingest path is not touched.

- ``report_store_day``: transactions, sales, returns, member and offline
  sales, amount, discount, paid, lag (seconds from the till's ``at`` to the
  ledger's ``received_at``: sum and max) by the day the till made them, and
  how many transactions the ledger received on that (store-local) day;
- ``report_points_day``: journal points and entries by kind;
- ``report_promo_day``: uses, discount and bonus points per promotion;
- the two flags that read the sales (a token at two tills, an offline
  overdraft), kept by ``_flagrollup`` in the same transaction from the
  same pass over the new sales.

A *day* is the store's local calendar day as the till stamped it (the date
part of the sale's ``at``, which carries the till's offset); a journal
entry counts on the day of the transaction it belongs to, an adjustment or
expiry on the UTC day it was made.

The watermark stops ``margin`` seconds before now, so that an upload
still committing (its rows stamped a moment earlier) is never skipped; the
rows after it are read live by every report, so figures are always
current. ``scan`` is the same arithmetic over the raw tables: the test
proves the rollups give the same figures.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import _flagrollup
from ._clock import parse_utc_text, utc_text
from ._flagrollup import Seen
from ._flags import Flags
from ._storage import Storage, Tx

#: migration 8 (``_migrations``): the rollup tables, reference-sized, keyed by day
SCHEMA = [
    """CREATE TABLE report_store_day (
        day TEXT NOT NULL,
        store TEXT NOT NULL,
        txns BIGINT NOT NULL DEFAULT 0,
        sales BIGINT NOT NULL DEFAULT 0,
        returns BIGINT NOT NULL DEFAULT 0,
        member_sales BIGINT NOT NULL DEFAULT 0,
        offline_sales BIGINT NOT NULL DEFAULT 0,
        amount BIGINT NOT NULL DEFAULT 0,
        discount BIGINT NOT NULL DEFAULT 0,
        paid BIGINT NOT NULL DEFAULT 0,
        lag_sum_s BIGINT NOT NULL DEFAULT 0,
        lag_max_s BIGINT NOT NULL DEFAULT 0,
        received BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (day, store))""",
    """CREATE TABLE report_points_day (
        day TEXT NOT NULL,
        store TEXT NOT NULL,
        kind TEXT NOT NULL,
        points BIGINT NOT NULL DEFAULT 0,
        entries BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (day, store, kind))""",
    """CREATE TABLE report_promo_day (
        day TEXT NOT NULL,
        store TEXT NOT NULL,
        promo TEXT NOT NULL,
        uses BIGINT NOT NULL DEFAULT 0,
        discount BIGINT NOT NULL DEFAULT 0,
        points BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (day, store, promo))""",
    """CREATE TABLE report_rollup (
        name TEXT PRIMARY KEY,
        upto TEXT NOT NULL)""",
]

#: the counters of ``report_store_day`` after its key, in order
STORE_COLUMNS = ("txns", "sales", "returns", "member_sales", "offline_sales", "amount",
                 "discount", "paid", "lag_sum_s", "lag_max_s", "received")
_MAX_AT = STORE_COLUMNS.index("lag_max_s")
#: the default safety margin of the watermark (seconds)
MARGIN_S = 120
_START = ""  # before every stored instant
#: the day of the figures summed over every day before a report's period
BEFORE = ""


@dataclass
class Facts:
    """Figures keyed by day and store, as stored in the rollup tables."""

    stores: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    points: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    promos: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)

    def store_row(self, day: str, store: str) -> list[int]:
        return self.stores.setdefault((day, store), [0] * len(STORE_COLUMNS))

    def add(self, other: Facts) -> Facts:
        """``self`` plus ``other`` (sums, and the larger maximum lag)."""
        for key, row in other.stores.items():
            mine = self.store_row(*key)
            for i, v in enumerate(row):
                mine[i] = max(mine[i], v) if i == _MAX_AT else mine[i] + v
        for src, dst in ((other.points, self.points), (other.promos, self.promos)):
            for k, vals in src.items():
                cur = dst.setdefault(k, [0] * len(vals))
                for i, v in enumerate(vals):
                    cur[i] += v
        return self

    def only(self, first: str, last: str, stores: set[str] | None) -> Facts:
        """The figures of days ``first``…``last`` and of ``stores`` (None: every store)."""
        def keep(day: str, store: str) -> bool:
            return first <= day <= last and (stores is None or store in stores)
        return Facts({k: v for k, v in self.stores.items() if keep(*k)},
                     {k: v for k, v in self.points.items() if keep(k[0], k[1])},
                     {k: v for k, v in self.promos.items() if keep(k[0], k[1])})


    def collapse(self, first: str) -> Facts:
        """Days before ``first`` summed per store as day ``BEFORE`` (their promotions dropped)."""
        out = Facts()
        for (d, s), v in self.stores.items():
            out.add(Facts({(BEFORE if d < first else d, s): v}, {}, {}))
        for (d, s, k), v in self.points.items():
            out.add(Facts({}, {(BEFORE if d < first else d, s, k): v}, {}))
        out.add(Facts({}, {}, {k: v for k, v in self.promos.items() if k[0] >= first}))
        return out


def _at(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sale_facts(facts: Facts, rows: Iterable[tuple[Any, ...]], seen: Seen | None) -> None:
    for store, kind, at, mode, account, received_at, body, till, seq, txn_id in rows:
        store, at = str(store), str(at)
        made, got = _at(at), parse_utc_text(str(received_at))
        day = at[:10]
        row = facts.store_row(day, store)
        row[0] += 1
        lag = max(0, int((got - made).total_seconds())) if made else 0
        row[8] += lag
        row[9] = max(row[9], lag)
        got_day = got.astimezone(made.tzinfo).date().isoformat() if made else day
        facts.store_row(got_day, store)[10] += 1
        if kind != "sale":
            row[2] += 1
            continue
        row[1] += 1
        row[3] += 0 if str(account).startswith("anon:") else 1
        row[4] += 1 if mode == "offline" else 0
        txn = json.loads(body)
        result = txn.get("result") or {}
        totals = result.get("totals") or {}
        if seen is not None:
            seen.sale(txn, (str(store), str(till), str(account), str(txn_id), int(seq), at),
                      mode == "offline")
        row[5] += _int(totals.get("amount"))
        row[6] += _int(totals.get("discount"))
        row[7] += _int(totals.get("paid"))
        for applied in result.get("applied") or []:
            if isinstance(applied, dict) and isinstance(applied.get("promo"), str):
                p = facts.promos.setdefault((day, store, applied["promo"]), [0, 0, 0])
                p[0] += 1
                p[1] += _int(applied.get("discount"))
                p[2] += _int(applied.get("points"))


def _journal_facts(facts: Facts, rows: Iterable[tuple[Any, ...]]) -> None:
    for kind, points, at, store, sale_at in rows:
        key = (str(sale_at)[:10], str(store)) if store is not None else (str(at)[:10], "")
        p = facts.points.setdefault((*key, str(kind)), [0, 0])
        p[0] += int(points)
        p[1] += 1


def scan(tx: Tx, after: str = _START, upto: str | None = None, seen: Seen | None = None) -> Facts:
    """The figures of sales received and journal entries made in ``(after, upto]``.

    ``seen`` collects on the way what the flag rollups need of the same
    sales (their token ids, the accounts redeeming offline), so a sale's
    body is read once.
    """
    facts = Facts()
    bound, params = ("", (after,)) if upto is None else (" AND {0} <= ?", (after, upto))
    _sale_facts(facts, tx.all(
        "SELECT store, kind, at, mode, account, received_at, body, till, seq, txn_id FROM sales "
        "WHERE received_at > ?" + bound.format("received_at"), params), seen)
    _journal_facts(facts, tx.all(
        "SELECT j.kind, j.points, j.at, s.store, s.at FROM journal j LEFT JOIN sales s "
        "ON s.account = j.account AND s.txn_id = j.txn_id WHERE j.at > ?"
        + bound.format("j.at"), params))
    return facts


def watermark(tx: Tx) -> str:
    """How far the rollup tables go (``""``: nothing rolled up yet)."""
    row = tx.one("SELECT upto FROM report_rollup WHERE name = 'all'")
    return str(row[0]) if row else _START


def _upsert(tx: Tx, table: str, keys: tuple[str, ...], cols: tuple[str, ...],
            rows: dict[Any, list[int]]) -> None:
    def merge(c: str) -> str:
        if c == "lag_max_s":
            return (f"{c} = CASE WHEN excluded.{c} > {table}.{c} THEN excluded.{c} "
                    f"ELSE {table}.{c} END")
        return f"{c} = {table}.{c} + excluded.{c}"
    names = keys + cols
    tx.executemany(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(merge(c) for c in cols)}",
        [(*k, *v) for k, v in sorted(rows.items())])


def refresh(storage: Storage, now: datetime, margin_s: float = MARGIN_S) -> tuple[str, str]:
    """Fold what arrived since the watermark into the rollups; ``(from, to)`` instants.

    One transaction: the tables and the watermark move together, so a
    crash or a second job running at once never counts anything twice (the
    watermark row is locked first).
    """
    upto = utc_text(now - timedelta(seconds=margin_s))
    with storage.transaction() as tx:
        tx.execute("INSERT INTO report_rollup (name, upto) VALUES ('all', ?) "
                   "ON CONFLICT (name) DO NOTHING", (_START,))
        row = tx.one("SELECT upto FROM report_rollup WHERE name = 'all'" + storage.for_update)
        after = str(row[0]) if row else _START
        flagged = tx.one("SELECT upto FROM report_rollup WHERE name = 'flags'")
        # a ledger rolled up before migration 10 folds its flags' history once
        flags_after = str(flagged[0]) if flagged else _START
        if upto <= after and upto <= flags_after:
            return after, after
        seen = Seen()
        if upto > after:
            facts = scan(tx, after, upto, seen if flags_after == after else None)
            _upsert(tx, "report_store_day", ("day", "store"), STORE_COLUMNS, facts.stores)
            _upsert(tx, "report_points_day", ("day", "store", "kind"), ("points", "entries"),
                    facts.points)
            _upsert(tx, "report_promo_day", ("day", "store", "promo"),
                    ("uses", "discount", "points"), facts.promos)
        if flags_after != after:
            scan(tx, flags_after, upto, seen)
        _flagrollup.apply(tx, _flagrollup.fold(tx, seen, flags_after, upto), upto)
        tx.execute("UPDATE report_rollup SET upto = ? WHERE name = 'all'", (max(upto, after),))
        tx.execute("INSERT INTO report_rollup (name, upto) VALUES ('flags', ?) "
                   "ON CONFLICT (name) DO UPDATE SET upto = excluded.upto", (upto,))
    return after, upto


def load(tx: Tx, first: str, last: str, seen: Seen | None = None,
         promos: bool = True) -> Facts:
    """The rolled-up figures of days ``first``…``last`` plus what arrived after the watermark.

    The days before ``first`` come summed per store under the day
    ``BEFORE`` (``""``): the liability of a period starts from the points
    outstanding before it, and a backlog from the transactions still
    waiting, and neither needs a row per past day, so a ledger with years
    of history reads as many rows as one with a week. ``promos=False``
    leaves the period's promotion rows to ``promo_totals`` (the newest
    ones, after the watermark, are still in the facts); ``seen`` collects
    the newest sales' token ids and offline redemptions for the flags.
    """
    facts = Facts()
    cols = ", ".join(f"MAX({c})" if c == "lag_max_s" else f"SUM({c})" for c in STORE_COLUMNS)
    for store, *vals in tx.all(f"SELECT store, {cols} FROM report_store_day WHERE day < ? "
                               "GROUP BY store", (first,)):
        facts.stores[(BEFORE, str(store))] = [int(v) for v in vals]
    for day, store, *vals in tx.all(
            f"SELECT day, store, {', '.join(STORE_COLUMNS)} FROM report_store_day "
            "WHERE day >= ? AND day <= ?", (first, last)):
        facts.stores[(str(day), str(store))] = [int(v) for v in vals]
    for store, kind, points, entries in tx.all(
            "SELECT store, kind, SUM(points), SUM(entries) FROM report_points_day "
            "WHERE day < ? GROUP BY store, kind", (first,)):
        facts.points[(BEFORE, str(store), str(kind))] = [int(points), int(entries)]
    for day, store, kind, points, entries in tx.all(
            "SELECT day, store, kind, points, entries FROM report_points_day "
            "WHERE day >= ? AND day <= ?", (first, last)):
        facts.points[(str(day), str(store), str(kind))] = [int(points), int(entries)]
    for day, store, promo, *vals in tx.all(
            "SELECT day, store, promo, uses, discount, points FROM report_promo_day "
            "WHERE day >= ? AND day <= ?", (first, last)) if promos else []:
        facts.promos[(str(day), str(store), str(promo))] = [int(v) for v in vals]
    tail = scan(tx, watermark(tx), None, seen)
    return facts.add(tail.collapse(first).only(BEFORE, last, None))


def promo_totals(tx: Tx, first: str, last: str,
                 stores: frozenset[str] | None) -> dict[str, list[int]]:
    """``[uses, discount, points]`` per promotion over days ``first``…``last``, rolled up.

    Summed by the database: a chain's week is a million promotion rows
    (1,500 stores x 7 days x the ~100 promotions a store's day fires), a
    report needs one line per promotion. What arrived after the watermark
    is in ``load(..., promos=False)``'s facts, to be added.
    """
    where, params = "day >= ? AND day <= ?", [first, last]
    if stores is not None:
        if not stores:
            return {}
        where += f" AND store IN ({', '.join('?' * len(stores))})"
        params += sorted(stores)
    return {str(p): [int(u), int(d), int(n)] for p, u, d, n in tx.all(
        f"SELECT promo, SUM(uses), SUM(discount), SUM(points) FROM report_promo_day "
        f"WHERE {where} GROUP BY promo", params)}


def sale_flags(tx: Tx) -> Flags:
    """The two sale flags now: their rollups plus the sales and entries after the watermark."""
    seen = Seen()
    after = watermark(tx)
    scan(tx, after, None, seen)
    return _flagrollup.load(tx, seen, after)
