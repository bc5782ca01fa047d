"""The head-office reports, gathered and rendered: one door for the CLI and HTTP.

``gather`` reads, in one pass over the rollups, what the asked reports
need; ``render`` writes one of them as ``table``, ``csv``, ``json`` or
``html``. The HTML of the loyalty report is the whole head-office page
(sync, flags, loyalty, settlement); the sync and settlement pages hold
their own sections only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastcore import money_text

from . import (_allflags, _certflags, _flagrollup, _html, _lots, _loyalty, _rollup, _scope, _settlement,
               _syncreport)
from ._clock import utc_text
from ._report import _csv, _table
from ._report import collect as collect_tills
from ._report import render as render_tills
from ._storage import Storage

KINDS = ("sync", "loyalty", "settlement")
FORMATS = ("table", "csv", "json", "html")


@dataclass(frozen=True)
class Ask:
    """What a report is asked for: period, stores and chains, flag thresholds."""

    first: str | None = None
    last: str | None = None
    stores: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()
    silent_hours: float = _allflags.SILENT_HOURS
    skew_s: int = _allflags.SKEW_S


@dataclass
class Reports:
    """The reports of one scope (those not asked for are None)."""

    scope: _scope.Scope
    sync: _syncreport.SyncReport | None = None
    loyalty: _loyalty.Loyalty | None = None
    settlement: _settlement.Settlement | None = None
    flags: _allflags.AllFlags | None = None


def gather(storage: Storage, now: datetime, ask: Ask, kind: str) -> Reports:
    """The ``kind`` report (the loyalty one in HTML needs all three: ``"all"``)."""
    seen = _flagrollup.Seen()
    sales_flags = None
    with storage.transaction() as tx:
        scope = _scope.scope(tx, now, ask.first, ask.last, list(ask.stores), list(ask.chains))
        facts = _rollup.load(tx, scope.first, scope.last, seen, promos=False)
        promos = (_rollup.promo_totals(tx, scope.first, scope.last, scope.stores)
                  if kind in ("loyalty", "all") else {})
        value = _settlement.point_value(tx)
        if kind != "settlement":
            sales_flags = _flagrollup.load(tx, seen, _rollup.watermark(tx))
    out = Reports(scope)
    if sales_flags is not None:
        out.flags = _allflags.collect_all(storage, scope, now, ask.silent_hours, ask.skew_s,
                                          sales_flags)
    if kind in ("sync", "all"):
        assert out.flags is not None
        out.sync = _syncreport.build(collect_tills(storage), facts, scope, out.flags)
    if kind in ("loyalty", "all"):
        out.loyalty = _loyalty.build(facts, scope, promos)
        if scope.stores is None:  # pending is the programme's, not a store's
            with storage.transaction() as tx:
                out.loyalty.outstanding = _lots.outstanding(tx, utc_text(now))
            out.loyalty.outstanding["expired"] = sum(r["expired"] for r in out.loyalty.liability)
        out.loyalty.certificates = _certflags.loyalty_figures(storage, scope)
    if kind in ("settlement", "all"):
        out.settlement = _settlement.build(facts, scope, value)
    return out


def _scope_text(scope: _scope.Scope) -> str:
    where = "every store" if scope.stores is None else "stores " + ", ".join(sorted(scope.stores))
    return f"{scope.first} to {scope.last}, {where}"


#: money columns (int kopecks): a person reads ``1633.20``, a CSV keeps ``163320``
MONEY_COLUMNS = frozenset({"amount", "discount", "paid", "kopecks", "net_kopecks"})


def _readable(column: str, value: Any) -> Any:
    """A terminal table's cell: money as roubles, basis points as a percentage."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if column in MONEY_COLUMNS:
        return money_text(value)
    if column.endswith("_bp"):
        return f"{value // 100}.{value % 100:02d} %"
    return value


def _sections(blocks: list[tuple[str, tuple[str, ...], list[dict[str, Any]]]], fmt: str) -> str:
    blocks = [(name, cols, [{c: r.get(c, "") for c in cols} for r in rows])
              for name, cols, rows in blocks]
    if fmt == "csv":
        return "\n".join(_csv(cols, rows) for _, cols, rows in blocks)
    return "\n".join(f"{name}\n" + _table(cols, [{c: _readable(c, v) for c, v in r.items()} for r in rows],
                                             "(none)") for name, cols, rows in blocks)


def _sync_text(rep: _syncreport.SyncReport, fmt: str) -> str:
    head = render_tills(rep.tills, fmt)
    return head + "\n" + _sections([("flags", _allflags.COLUMNS, _allflags.rows(rep.flags)),
                                    ("lag and backlog by day and store",
                                     _syncreport.LAG_COLUMNS, rep.days)], fmt)


#: the flags the loyalty report lists (spec/sync.md: overdrafts, replayed tokens, audits)
LOYALTY_FLAGS = ("replayed_jti", "offline_overdraft", "audit_mismatch")


def _loyalty_flags(flags: _allflags.AllFlags | None) -> _allflags.AllFlags:
    return _allflags.AllFlags(**{k: getattr(flags, k) if flags else [] for k in LOYALTY_FLAGS})


def _loyalty_text(rep: _loyalty.Loyalty, flags: _allflags.AllFlags, fmt: str) -> str:
    totals = dict(rep.totals, day="total", store="", chain="")
    return _sections([
        ("by day and store", _loyalty.DAY_COLUMNS, rep.days + [totals]),
        ("promotions", _loyalty.PROMO_COLUMNS, rep.promotions),
        ("liability (points outstanding at the end of the day)", ("day", "outstanding",
                                                                  "expired"), rep.liability),
        ("points outstanding now (expired: in the period)", ("available", "pending", "expired"),
         [rep.outstanding] if rep.outstanding else []),
        ("audit corrections", ("day", "entries", "points"), rep.corrections),
        ("flags", _allflags.COLUMNS, _allflags.rows(flags)),
        *_certflags.loyalty_section(rep.certificates)], fmt)


def _settlement_text(rep: _settlement.Settlement, fmt: str) -> str:
    return _sections([
        ("net each chain owes another", _settlement.NET_COLUMNS, rep.nets),
        ("per chain", _settlement.CHAIN_COLUMNS, rep.chains),
        ("points earned in one chain and spent in another", _settlement.PAIR_COLUMNS,
         rep.pairs)], fmt)


def render(reports: Reports, kind: str, fmt: str) -> str:
    """The ``kind`` report of ``reports`` as ``fmt`` text."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if fmt == "html":
        sections = []
        if reports.sync is not None:
            sections += [_html.sync_section(reports.sync), _html.flags_section(reports.sync)]
        if reports.loyalty is not None:
            sections.insert(0 if kind == "loyalty" else len(sections),
                            _html.loyalty_section(reports.loyalty))
        if reports.settlement is not None:
            sections.append(_html.settlement_section(reports.settlement))
        title = {"sync": "Sync health", "loyalty": "Loyalty programme report",
                 "settlement": "Chain settlement"}[kind]
        return _html.page(title, _scope_text(reports.scope), sections)
    rep: Any = getattr(reports, kind)
    if fmt != "json":
        if kind == "loyalty":
            return _loyalty_text(rep, _loyalty_flags(reports.flags), fmt)
        return _sync_text(rep, fmt) if kind == "sync" else _settlement_text(rep, fmt)
    data = rep.to_json()
    if kind == "loyalty":
        data["flags"] = {k: v for k, v in _loyalty_flags(reports.flags).to_json().items()
                         if k in LOYALTY_FLAGS}
    return _json_text(data) + "\n"


def _json_text(value: Any, depth: int = 0) -> str:
    """JSON with one row (one day-and-store, one till, one flag) a line.

    ``json.dumps(indent=…)`` runs the pure-Python encoder: 3.5 s for a
    chain's week; row by row the C encoder writes the same JSON in a tenth.
    """
    if isinstance(value, dict) and value and depth < 2:
        return "{\n" + ",\n".join(f"{json.dumps(str(k), ensure_ascii=False)}: "
                                   f"{_json_text(v, depth + 1)}" for k, v in value.items()) + "\n}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in value) + "\n]"
    return json.dumps(value, ensure_ascii=False)



def report_text(storage: Storage, now: datetime, kind: str, fmt: str, ask: Ask | None = None) -> str:
    """The ``kind`` report as ``fmt`` text, the rollups brought up to date first.

    What ``kopilka report`` prints and the demo shows; the loyalty report in
    HTML is the whole head-office page (all three reports and every flag).
    """
    _rollup.refresh(storage, now)  # what the scheduled job has not folded in yet
    got = gather(storage, now, ask or Ask(), "all" if kind == "loyalty" and fmt == "html" else kind)
    return render(got, kind, fmt)
