"""The head-office page: one self-contained HTML file (``--format html``).

Styles are inline, charts are inline SVG (``_charts``), there is no script,
no font, no image and no link to fetch: the file opens the same offline,
from a mail attachment or an archive. Every text from the ledger (store and
till names, promotion ids, reject details) is HTML-escaped.

The page answers the analyst's questions in order: which stores are behind
(lag, backlog, silent tills), what the programme cost (points, discounts,
promotions, liability, offline share), which accounts were overdrawn
offline and why (every flag with its till and transactions), and what each
chain owes (settlement).
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from . import _charts
from ._allflags import COLUMNS as FLAG_COLUMNS
from ._allflags import rows as flag_rows
from ._loyalty import DAY_COLUMNS, PROMO_COLUMNS, Loyalty
from ._settlement import CHAIN_COLUMNS, NET_COLUMNS, PAIR_COLUMNS, Settlement
from ._syncreport import LAG_COLUMNS, SyncReport

#: stores drawn as their own line (then a line for every store together); the rest are in
#: the tables
TOP_STORES = 7
#: a day-by-store table longer than this is shown per store over the period (a chain's
#: week is 10,500 rows: megabytes nobody scrolls), every row staying in CSV and JSON
DETAIL_ROWS = 2_000
#: a tills table longer than this lists the tills needing a look only
TILL_ROWS = 2_000
_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:16px 0 6px}.scope{color:#555}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:130px}
.card b{display:block;font-size:18px}.warn b{color:#b00}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.t{text-align:left}td.w{white-space:normal;min-width:24em}
svg.chart{width:100%;max-width:760px;height:auto;display:block;margin:4px 0 12px}
svg .grid{stroke:#e5e5e5}svg .axis,svg .legend{font-size:11px;fill:#444}
details{margin:6px 0}
"""


def money(kopecks: int) -> str:
    """``-1 234.56`` from kopecks, exact (no float)."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), 100)
    return f"{sign}{whole:,}.{part:02d}".replace(",", " ")


def table(columns: Sequence[str], rows: Sequence[dict[str, Any]], empty: str = "none") -> str:
    """An HTML table; text cells left-aligned, numbers right."""
    if not rows:
        return f"<p><i>{escape(empty)}</i></p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            if isinstance(v, int) and not isinstance(v, bool):
                cells.append(f"<td>{v}</td>")  # digits: nothing to escape
            else:
                text = escape("" if v is None else str(v))
                cells.append(f'<td class="t{" w" if len(text) > 48 else ""}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _card(label: str, value: str, warn: bool = False) -> str:
    return (f'<div class="card{" warn" if warn else ""}">{escape(label)}'
            f"<b>{escape(value)}</b></div>")


def _by_store(rows: Sequence[dict[str, Any]], days: list[str], key: str,
              rank: str) -> list[tuple[str, list[int]]]:
    """The ``TOP_STORES`` stores with the largest ``rank`` and their daily ``key``."""
    peak: dict[str, int] = {}
    for r in rows:
        peak[r["store"]] = max(peak.get(r["store"], 0), r[rank])
    top = sorted(peak, key=lambda s: (-peak[s], s))[:TOP_STORES]
    index = {(r["day"], r["store"]): r[key] for r in rows}
    return [(s, [index.get((d, s), 0) for d in days]) for s in top]


def _weighted_mean(rows: Sequence[dict[str, Any]], days: list[str]) -> list[int]:
    """Every store's lag together per day: the daily means weighted by transactions."""
    lag = dict.fromkeys(days, 0)
    txns = dict.fromkeys(days, 0)
    for r in rows:
        if r["day"] in lag:
            lag[r["day"]] += r["mean_lag_s"] * r["txns"]
            txns[r["day"]] += r["txns"]
    return [lag[d] // txns[d] if txns[d] else 0 for d in days]


def _per_store(rows: Sequence[dict[str, Any]], columns: Sequence[str],
               keep_last: Sequence[str] = (), largest: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Day-by-store ``rows`` as one row per store over the period (``day`` = the span).

    Counts add up; ``keep_last`` columns keep the last day's value (a backlog),
    ``largest`` the largest; ``mean_lag_s`` is weighted by ``txns``,
    ``offline_share_bp`` recomputed from the sums.
    """
    out: dict[str, dict[str, Any]] = {}
    days = sorted({r["day"] for r in rows})
    span = f"{days[0]}…{days[-1]}" if days else ""
    for r in sorted(rows, key=lambda r: (r["store"], r["day"])):
        cur = out.setdefault(r["store"], {"day": span, "store": r["store"],
                                          "chain": r.get("chain", ""), "_lag": 0})
        for c in columns:
            v = r.get(c)
            if c in ("day", "store", "chain") or not isinstance(v, int):
                continue
            if c in keep_last:
                cur[c] = v
            elif c in largest:
                cur[c] = max(cur.get(c, 0), v)
            elif c == "mean_lag_s":
                cur["_lag"] += v * r.get("txns", 0)
            else:
                cur[c] = cur.get(c, 0) + v
    for cur in out.values():
        lag = cur.pop("_lag")
        if "mean_lag_s" in columns:
            cur["mean_lag_s"] = lag // cur["txns"] if cur.get("txns") else 0
        if "offline_share_bp" in columns:
            sales = cur.get("sales", 0)
            cur["offline_share_bp"] = cur.get("offline_sales", 0) * 10000 // sales if sales else 0
    return list(out.values())


def _detail(summary: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
            keep_last: Sequence[str] = (), largest: Sequence[str] = ()) -> str:
    if len(rows) <= DETAIL_ROWS:
        return (f"<details><summary>{escape(summary)} by day and store</summary>"
                + table(columns, rows) + "</details>")
    return (f"<details><summary>{escape(summary)} per store over the period "
            f"({len(rows):,} day-and-store rows are in the CSV and JSON)</summary>"
            + table(columns, _per_store(rows, columns, keep_last, largest)) + "</details>")


def _needs_a_look(t: Any) -> bool:
    return bool(t.gaps or t.rejected or t.audit_mismatches or t.queue_depth
                or t.last_contact is None)


def _tills(rep: SyncReport) -> str:
    columns = ("store", "till", "last_contact", "high_water", "max_seq", "queue_depth",
               "oldest_unsynced_age_s", "rejected", "duplicates", "audit_mismatches")
    if len(rep.tills) <= TILL_ROWS:
        return table(columns, [dict(vars(t)) for t in rep.tills], "no tills in this scope")
    shown = [dict(vars(t)) for t in rep.tills if _needs_a_look(t)]
    return (f"<p>{len(rep.tills) - len(shown):,} of {len(rep.tills):,} tills are up to date "
            "(no gap, nothing queued, nothing refused) and not listed; every till is in the "
            "CSV and JSON.</p>" + table(columns, shown, "every till is up to date"))


def sync_section(rep: SyncReport) -> str:
    days = rep.scope.days()
    labels = [d[5:] for d in days]
    counts = rep.flags.counts()
    parts = ["<h2>Sync: which stores are behind</h2>", '<div class="cards">',
             _card("tills", str(len(rep.tills))),
             _card("tills with gaps", str(sum(1 for t in rep.tills if t.gaps)),
                   any(t.gaps for t in rep.tills)),
             _card("silent tills", str(counts["silent_till"]), bool(counts["silent_till"])),
             _card("queued now (heartbeats)", str(sum(t.queue_depth or 0 for t in rep.tills))),
             "</div>",
             "<h3>Lag per store (mean seconds from sale to ledger)</h3>",
             _charts.lines("lag per store", labels,
                           _by_store(rep.days, days, "mean_lag_s", "max_lag_s")
                           + [("all stores", _weighted_mean(rep.days, days))], " s"),
             "<h3>Queue depth (transactions made but not yet received, end of day)</h3>",
             _charts.lines("backlog per store", labels,
                           _by_store(rep.days, days, "backlog", "backlog")),
             _detail("lag and backlog", LAG_COLUMNS, rep.days, keep_last=("backlog",),
                     largest=("max_lag_s",)),
             "<h3>Tills now</h3>", _tills(rep)]
    return "\n".join(parts)


def flags_section(rep: SyncReport) -> str:
    counts = rep.flags.counts()
    parts = ["<h2>Flags</h2>", '<div class="cards">']
    parts += [_card(k.replace("_", " "), str(v), bool(v)) for k, v in counts.items()]
    parts.append("</div>")
    if rep.flags.offline_overdraft:
        parts.append("<h3>Accounts overdrawn offline (against the bound cap x tills)</h3>")
        parts.append(table(("account", "below_zero", "balance", "cap", "tills", "bound",
                            "exceeds"),
                           [dict(vars(o), exceeds="yes" if o.exceeds else "no")
                            for o in rep.flags.offline_overdraft]))
    parts.append("<h3>Every flag, with its store, till, account and transaction</h3>")
    parts.append(table(FLAG_COLUMNS, flag_rows(rep.flags), "no flags in this scope"))
    return "\n".join(parts)


def loyalty_section(rep: Loyalty) -> str:
    days = rep.scope.days()
    labels = [d[5:] for d in days]
    per_day: dict[str, dict[str, int]] = {d: {} for d in days}
    per_store: dict[str, dict[str, int]] = {}
    for r in rep.days:
        for target in (per_day.setdefault(r["day"], {}), per_store.setdefault(r["store"], {})):
            for k in ("accrued", "redeemed", "sales", "offline_sales"):
                target[k] = target.get(k, 0) + r[k]
    t = rep.totals
    end = rep.liability[-1]["outstanding"] if rep.liability else 0
    stores = sorted(per_store, key=lambda s: (-per_store[s]["accrued"] - per_store[s]["redeemed"],
                                              s))[:20]
    fixes = [(c["day"][5:], c) for c in rep.corrections]
    parts = [
        "<h2>Loyalty: what the programme did and cost</h2>", '<div class="cards">',
        _card("sales", f"{t['sales']:,}"), _card("member sales", f"{t['member_sales']:,}"),
        _card("points accrued", f"{t['accrued']:,}"), _card("points redeemed", f"{t['redeemed']:,}"),
        _card("discounts, roubles", money(t["discount"])),
        _card("offline share", f"{t['offline_share_bp'] // 100}.{t['offline_share_bp'] % 100:02d}%"),
        _card("points outstanding", f"{end:,}"),
        _card("audit corrections", f"{t['corrected']:,}", bool(t["corrected"])), "</div>",
        "<h3>Points accrued and redeemed per day</h3>",
        _charts.bars("points per day", labels,
                     [("accrued", [per_day[d].get("accrued", 0) for d in days]),
                      ("redeemed", [per_day[d].get("redeemed", 0) for d in days])]),
        "<h3>Points accrued and redeemed per store</h3>",
        _charts.bars("points per store", stores,
                     [("accrued", [per_store[s]["accrued"] for s in stores]),
                      ("redeemed", [per_store[s]["redeemed"] for s in stores])]),
        "<h3>Liability: points outstanding at the end of each day</h3>",
        _charts.lines("points outstanding", labels,
                      [("outstanding", [x["outstanding"] for x in rep.liability])]),
        "<h3>Top promotions by discount (kopecks)</h3>",
        _charts.hbars("top promotions by discount",
                      [(p["promo"], p["discount"]) for p in rep.top("discount")]),
        "<h3>Top promotions by bonus points</h3>",
        _charts.hbars("top promotions by points",
                      [(p["promo"], p["points"]) for p in rep.top("points")]),
        "<h3>Offline share of sales (basis points: 10000 = every sale)</h3>",
        _charts.bars("offline share", labels, [("offline share", [
            per_day[d]["offline_sales"] * 10000 // per_day[d]["sales"]
            if per_day[d].get("sales") else 0 for d in days])], " bp"),
        "<h3>Audit corrections per day</h3>",
        _charts.bars("audit corrections", [d for d, _ in fixes],
                     [("entries", [c["entries"] for _, c in fixes]),
                      ("points", [c["points"] for _, c in fixes])]),
        _detail("sales and points", DAY_COLUMNS, rep.days),
        "<details><summary>every promotion</summary>",
        table(PROMO_COLUMNS, rep.promotions), "</details>"]
    return "\n".join(parts)


def settlement_section(rep: Settlement) -> str:
    return "\n".join([
        "<h2>Chain settlement: what each chain owes</h2>",
        f"<p>A point is worth {rep.value} kopecks.</p>",
        table(NET_COLUMNS, rep.nets, "nothing to settle: one chain, or no cross-chain points"),
        "<h3>Per chain</h3>", table(CHAIN_COLUMNS, rep.chains, "no chain"),
        "<h3>Points earned in one chain and spent in another</h3>",
        table(PAIR_COLUMNS, rep.pairs, "none")])


def page(title: str, scope_text: str, sections: Sequence[str]) -> str:
    """The whole document."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"scope\">{escape(scope_text)}</p>\n"
            + "\n".join(sections) + "\n</body></html>\n")
