"""The page stays a readable size for a chain: day-by-store tables per store, tills needing a look."""
from __future__ import annotations

import json
import re

from sync.ledger import _html
from sync.ledger._allflags import AllFlags
from sync.ledger._loyalty import DAY_COLUMNS
from sync.ledger._report import TillRow
from sync.ledger._scope import Scope
from sync.ledger._syncreport import LAG_COLUMNS, SyncReport

DAYS = [f"2026-11-{d}" for d in range(16, 23)]


def _lag_rows(stores: int) -> list[dict[str, object]]:
    return [{"day": d, "store": f"S{s:04d}", "chain": "c", "txns": 10 + i, "mean_lag_s": 2 + s % 5,
             "max_lag_s": 30 + i, "backlog": i} for s in range(stores) for i, d in enumerate(DAYS)]


def _till(store: str, n: int, **kw: object) -> TillRow:
    base = dict(store=store, till=f"{store}-{n:02d}", last_contact="2026-11-22T07:00:00.000000Z",
                high_water=5, max_seq=5, gaps=[], queue_depth=0, oldest_unsynced_age_s=0,
                bundle_version=1, rejected=0, duplicates=0, audit_mismatches=0, hardware={})
    return TillRow(**{**base, **kw})  # type: ignore[arg-type]


def test_a_short_day_by_store_table_is_shown_whole() -> None:
    rows = _lag_rows(10)
    html = _html._detail("lag", LAG_COLUMNS, rows)
    assert "by day and store" in html and html.count("<tr>") == len(rows) + 1


def test_a_chains_week_is_shown_per_store_with_the_periods_figures() -> None:
    rows = _lag_rows(1500)
    html = _html._detail("lag", LAG_COLUMNS, rows, keep_last=("backlog",), largest=("max_lag_s",))
    assert "per store over the period (10,500 day-and-store rows" in html
    assert html.count("<tr>") == 1500 + 1
    (one,) = [r for r in _html._per_store(rows, LAG_COLUMNS, ("backlog",), ("max_lag_s",))
              if r["store"] == "S0003"]
    mine = [r for r in rows if r["store"] == "S0003"]
    assert one["txns"] == sum(r["txns"] for r in mine)  # type: ignore[misc]
    assert one["max_lag_s"] == 36 and one["backlog"] == 6 and one["mean_lag_s"] == 5
    assert one["day"] == "2026-11-16…2026-11-22"


def test_offline_share_per_store_is_recomputed_from_the_sums() -> None:
    rows = [dict(dict.fromkeys(DAY_COLUMNS, 0), day=d, store="S1", chain="c", sales=s,
                 offline_sales=o, offline_share_bp=o * 10000 // s)
            for d, s, o in ((DAYS[0], 100, 50), (DAYS[1], 300, 0))]
    (one,) = _html._per_store(rows, DAY_COLUMNS)
    assert (one["sales"], one["offline_sales"], one["offline_share_bp"]) == (400, 50, 1250)


def test_a_chains_tills_list_only_those_needing_a_look() -> None:
    tills = [_till(f"S{s:04d}", t) for s in range(300) for t in range(10)]
    tills[5] = _till("S0000", 5, gaps=[(3, 4)], max_seq=9)
    tills[7] = _till("S0000", 7, queue_depth=12)
    tills[9] = _till("S0000", 9, last_contact=None)
    scope = Scope(DAYS[0], DAYS[-1], None, {})
    html = _html._tills(SyncReport(scope, tills, AllFlags()))
    assert "2,997 of 3,000 tills are up to date" in html
    assert re.findall(r"<td class=\"t\">(S0000-0\d)</td>", html) == ["S0000-05", "S0000-07",
                                                                   "S0000-09"]


def test_the_lag_chart_draws_the_top_stores_and_every_store_together() -> None:
    rows = _lag_rows(40)
    scope = Scope(DAYS[0], DAYS[-1], None, {})
    rep = SyncReport(scope, [], AllFlags(), rows)  # type: ignore[arg-type]
    page = _html.sync_section(rep)
    lag = page.split('aria-label="lag per store"')[1].split("</svg>")[0]
    names = re.findall(r'data-series="([^"]+)"', lag)
    assert len(names) == _html.TOP_STORES + 1 and names[-1] == "all stores"


def test_report_json_is_valid_with_one_row_a_line() -> None:
    from sync.ledger._reports import _json_text

    data = {"scope": {"from": "2026-11-16", "stores": None},
            "days": [{"day": d, "store": "Красный-1", "n": 2**63} for d in DAYS],
            "flags": {"replayed_jti": [{"uses": [{"till": 'a"b\\'}]}], "seq_gap": []},
            "empty": {}, "value": 1e308, "text": "\u0000\u2028"}
    text = _json_text(data)
    assert json.loads(text) == data
    assert sum(1 for line in text.splitlines() if '"day": ' in line) == len(DAYS)
