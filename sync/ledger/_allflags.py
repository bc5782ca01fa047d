"""Every flag of spec/sync.md's report section, each naming what it concerns.

The two that read the sales (``_flags``: a ``jti`` used at two tills, an
offline overdraft measured against its bound cap × tills), kept by the
rollup job (``_flagrollup``), are joined by:

- **audit mismatch**: a sale the ledger re-priced to other figures, with
  both (the till's claim and the ledger's) and the correction journaled;
- **seq gap**: seqs missing between a till's high-water mark and the
  highest seq it sent (a lost or still-queued transaction);
- **seq conflict**: a transaction refused because its till and seq were
  already taken by another ``txn_id`` (two tills sharing an identity, or a
  restored outbox);
- **rejected**: every other refused transaction, with its reason;
- **silent till**: no upload or heartbeat for more than ``silent_hours``;
- **clock skew**: a till whose clock, at its latest heartbeat, differed
  from the ledger's by more than ``skew_s`` seconds.

A flag is listed when it concerns a store of the scope; flags tied to
transactions keep those whose till day lies in the period, when one was
asked for (rejects: the UTC day they were last refused). Gaps, silence and skew describe the
tills now.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from . import _certflags, _rollup
from ._clock import parse_utc_text
from ._flags import Flags, Overdraft, ReplayedJti, Use, flag_rows
from ._report import all_gaps
from ._readers import receipt_id
from ._scope import Scope
from ._storage import Storage, Tx

#: a till silent longer than this is flagged (hours)
SILENT_HOURS = 24
#: a till clock further than this from the ledger's is flagged (seconds)
SKEW_S = 300
_FIGURE = re.compile(r"totals\.(points|redeemed_points): (-?\d+) != (-?\d+)")

COLUMNS = ("flag", "store", "till", "account", "txn_id", "receipt", "jti", "redeemed", "cap",
           "below_zero", "bound", "exceeds", "till_figure", "ledger_figure", "detail")


@dataclass(frozen=True)
class AuditMismatch:
    """A sale the ledger's re-pricing disagrees with."""

    sale: Use  # its store, till, account, txn_id, receipt, at
    till_points: int | None  # what the till claimed (totals.points)
    ledger_points: int | None  # what re-pricing gives
    till_redeemed: int | None
    ledger_redeemed: int | None
    correction: int  # points journaled as audit_correction (≤ 0)
    detail: str


@dataclass(frozen=True)
class TillFlag:
    """A till-level flag: a gap, a refused transaction, silence or a skewed clock."""

    store: str
    till: str
    detail: str
    txn_id: str = ""
    receipt: str = ""
    reason: str = ""
    times: int = 0
    value: int = 0  # the gap's first seq, the hours silent, the skew in seconds


@dataclass
class AllFlags:
    """Every flag of a report."""

    replayed_jti: list[ReplayedJti] = field(default_factory=list)
    offline_overdraft: list[Overdraft] = field(default_factory=list)
    audit_mismatch: list[AuditMismatch] = field(default_factory=list)
    seq_gap: list[TillFlag] = field(default_factory=list)
    seq_conflict: list[TillFlag] = field(default_factory=list)
    rejected: list[TillFlag] = field(default_factory=list)
    silent_till: list[TillFlag] = field(default_factory=list)
    clock_skew: list[TillFlag] = field(default_factory=list)
    certificate_double_use: list[TillFlag] = field(default_factory=list)  # _certflags

    def to_json(self) -> dict[str, Any]:
        return {k: [asdict(x) for x in v] for k, v in vars(self).items()}

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in vars(self).items()}


def _utc(text: str) -> datetime:
    """A stored UTC instant (``_clock.utc_text``); ``fromisoformat`` first: strptime
    costs a second for 15,000 tills."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_utc_text(text)
    return moment if moment.tzinfo is not None else parse_utc_text(text)


def _figures(detail: str) -> dict[str, tuple[int, int]]:
    return {m[1]: (int(m[2]), int(m[3])) for m in _FIGURE.finditer(detail)}


def audit_mismatches(tx: Tx, scope: Scope) -> list[AuditMismatch]:
    """Sales whose audit says ``mismatch``, with the till's and the ledger's figures.

    Read through the partial index ``audits_mismatched`` (migration 10):
    the mismatches, not the audit row of every sale.
    """
    out = []
    for account, txn_id, till, store, detail, seq, at, body, fix in tx.all(
            "SELECT a.account, a.txn_id, a.till, a.store, a.detail, s.seq, s.at, s.body, "
            "(SELECT COALESCE(SUM(j.points), 0) FROM journal j WHERE j.account = a.account "
            "AND j.txn_id = a.txn_id AND j.kind = 'audit_correction') "
            "FROM audits a JOIN sales s ON s.account = a.account AND s.txn_id = a.txn_id "
            "WHERE a.outcome = 'mismatch' ORDER BY s.at, a.till, s.seq"):
        if not scope.covers(str(store), str(at)):
            continue
        totals = (json.loads(body).get("result") or {}).get("totals") or {}
        figures = _figures(str(detail or ""))
        pts, red = figures.get("points"), figures.get("redeemed_points")
        claimed_pts, claimed_red = totals.get("points"), totals.get("redeemed_points")
        out.append(AuditMismatch(
            Use(str(store), str(till), str(account), str(txn_id),
                receipt_id(str(till), int(seq)), str(at)), claimed_pts if isinstance(claimed_pts, int) else None,
            pts[0] if pts else claimed_pts if isinstance(claimed_pts, int) else None,
            claimed_red if isinstance(claimed_red, int) else None,
            red[0] if red else claimed_red if isinstance(claimed_red, int) else None,
            int(fix or 0), str(detail or "")))
    return out


def _refused(tx: Tx, scope: Scope, stores: dict[str, str]) -> tuple[list[TillFlag],
                                                                      list[TillFlag]]:
    conflicts: list[TillFlag] = []
    others: list[TillFlag] = []
    for till, txn_id, seq, reason, detail, last_at, times in tx.all(
            "SELECT till, txn_id, seq, reason, detail, last_at, times FROM rejects "
            "ORDER BY last_at, till, seq"):
        store = stores.get(str(till), "")
        if not scope.covers(store, str(last_at)):
            continue
        flag = TillFlag(store, str(till), str(detail or ""), str(txn_id or ""),
                        receipt_id(str(till), int(seq)) if seq is not None else "",
                        str(reason), int(times), int(seq) if seq is not None else 0)
        (conflicts if reason == "seq_conflict" else others).append(flag)
    return conflicts, others


def till_flags(tx: Tx, scope: Scope, now: datetime, silent_hours: float = SILENT_HOURS,
               skew_s: int = SKEW_S) -> AllFlags:
    """Gaps, seq conflicts, rejects, silent tills and skewed clocks in ``scope``."""
    flags = AllFlags()
    stores = {str(t): str(s) for t, s in tx.all("SELECT till, store FROM tills")}
    flags.seq_conflict, flags.rejected = _refused(tx, scope, stores)
    contact = {str(t): c for t, c in tx.all("SELECT till, last_contact FROM till_state")}
    missing = all_gaps(tx)
    beats = {str(r[0]): r[1:] for r in tx.all("SELECT till, at, received_at FROM heartbeats")}
    for till, store in sorted(stores.items(), key=lambda kv: (kv[1], kv[0])):
        if not scope.has(store):
            continue
        for low, high in missing.get(till, []):
            span = str(low) if low == high else f"{low}-{high}"
            flags.seq_gap.append(TillFlag(store, till, f"seq {span} missing", value=low))
        beat = beats.get(till)
        last = max(filter(None, [contact.get(till), beat[1] if beat else None]), default=None)
        if last is None:
            flags.silent_till.append(TillFlag(store, till, "never heard from", value=-1))
        else:
            hours = (now - _utc(str(last))).total_seconds() / 3600
            if hours > silent_hours:
                flags.silent_till.append(TillFlag(store, till, f"last contact {last}",
                                                  value=int(hours)))
        if beat and beat[0]:
            try:
                claimed = datetime.fromisoformat(str(beat[0]).replace("Z", "+00:00"))
                skew = int((claimed - _utc(str(beat[1]))).total_seconds())
            except (ValueError, TypeError):
                continue
            if abs(skew) > skew_s:
                flags.clock_skew.append(TillFlag(
                    store, till, f"till clock {beat[0]} at ledger {beat[1]}", value=skew))
    return flags


def _scoped_jti(found: list[ReplayedJti], scope: Scope) -> list[ReplayedJti]:
    return [f for f in found if any(scope.covers(u.store, u.at) for u in f.uses)]


def _scoped_overdraft(found: list[Overdraft], scope: Scope) -> list[Overdraft]:
    return [o for o in found if any(scope.covers(u.store, u.at) for u in o.uses)]


def collect_all(storage: Storage, scope: Scope, now: datetime,
                silent_hours: float = SILENT_HOURS, skew_s: int = SKEW_S,
                sales: Flags | None = None) -> AllFlags:
    """Every flag in ``scope``.

    ``sales``: the two sale flags, read from the flag rollups by the
    caller (``_reports.gather`` shares the scan of the newest sales with
    the figures); read here when None.
    """
    with storage.transaction() as tx:
        if sales is None:
            sales = _rollup.sale_flags(tx)
        flags = till_flags(tx, scope, now, silent_hours, skew_s)
        flags.replayed_jti = _scoped_jti(sales.replayed_jti, scope)
        flags.offline_overdraft = _scoped_overdraft(sales.offline_overdraft, scope)
        flags.audit_mismatch = audit_mismatches(tx, scope)
        flags.certificate_double_use = _certflags.double_use(tx, scope)
    return flags


def legacy(flags: AllFlags) -> Flags:
    """The two sale flags as ``_flags.Flags`` (the sync report's first table)."""
    return Flags(flags.replayed_jti, flags.offline_overdraft)


def rows(flags: AllFlags) -> list[dict[str, Any]]:
    """One flat row per transaction or till a flag concerns (CSV, table, HTML)."""
    blank = dict.fromkeys(COLUMNS, "")
    out: list[dict[str, Any]] = [{**blank, **r} for r in flag_rows(legacy(flags))]
    for m in flags.audit_mismatch:
        u = m.sale
        out.append({**blank, "flag": "audit_mismatch", "store": u.store, "till": u.till,
                    "account": u.account, "txn_id": u.txn_id, "receipt": u.receipt,
                    "till_figure": "" if m.till_points is None else m.till_points,
                    "ledger_figure": "" if m.ledger_points is None else m.ledger_points,
                    "detail": m.detail})
    for name in ("seq_gap", "seq_conflict", "rejected", "silent_till", "clock_skew",
                 "certificate_double_use"):
        for f in getattr(flags, name):
            out.append({**blank, "flag": name, "store": f.store, "till": f.till,
                        "txn_id": f.txn_id, "receipt": f.receipt,
                        "detail": "; ".join(x for x in (f.reason, f.detail) if x)})
    return out

