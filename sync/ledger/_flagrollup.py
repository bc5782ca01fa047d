"""Rollups of the two flags that read the sales: a jti at two tills, an offline overdraft.

``_flags`` finds both by scanning every sale and the whole journal; on a
chain's ledger (100 million sales a week) that is minutes per report. The
rollup job (``_rollup.refresh``, ``kopilka ledger rollup``) keeps them
instead, in the same transaction and from the same watermark as the
figures, so a report reads a few rows per flagged case:

- ``report_jti``: every token use (jti, store, till, account, txn, receipt)
  of the last ``JTI_KEEP_DAYS`` sale days: the job's memory of which
  tokens it has seen, never read by a report. A token lives 300 s
  (spec/token.md), so its uses fall within a day or two of each other; a
  second use that reaches the ledger more than ``JTI_KEEP_DAYS`` after the
  first one's day (a till offline that long, itself a ``silent_till``) is
  not matched.
- ``report_flag_use``: every sale a standing flag concerns, with the
  flag and its subject (the jti, or the account), redeemed points and cap.
- ``report_overdraft``: each flagged account and how far below zero its
  running balance went.

The journal is ordered by the ledger's own ``at`` first (``ENTRY_ORDER``),
so new entries only ever come after the old ones: an account's lowest
running balance can go lower, or it can gain an offline redemption, only
with a new negative entry or a new offline sale. Those accounts are the
job's candidates, and each is walked again by its key (``_flags``' own
arithmetic, restricted to them). Reports add what arrived after the
watermark the same way, read-only, so flags are as current as figures.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastcore import is_int

from ._flags import Flags, Overdraft, Use, offline_overdrafts, overdraft, replays
from ._readers import receipt_id
from ._storage import Tx

#: migration 10 (``_migrations``): the flag rollups, and the index that finds mismatches
SCHEMA = [
    """CREATE TABLE report_jti (
        jti TEXT NOT NULL,
        account TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        store TEXT NOT NULL,
        till TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at TEXT NOT NULL,
        day TEXT NOT NULL,
        PRIMARY KEY (jti, account, txn_id))""",
    "CREATE INDEX report_jti_by_day ON report_jti (day)",
    """CREATE TABLE report_flag_use (
        flag TEXT NOT NULL CHECK (flag IN ('replayed_jti', 'offline_overdraft')),
        subject TEXT NOT NULL,
        account TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        store TEXT NOT NULL,
        till TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at TEXT NOT NULL,
        redeemed BIGINT NOT NULL DEFAULT 0,
        cap BIGINT,
        PRIMARY KEY (flag, subject, account, txn_id))""",
    """CREATE TABLE report_overdraft (
        account TEXT PRIMARY KEY,
        below_zero BIGINT NOT NULL)""",
    # audit mismatches are rare: a partial index lists them without reading
    # the audit row of every sale (and costs the audit worker nothing per match)
    "CREATE INDEX IF NOT EXISTS audits_mismatched ON audits (at) WHERE outcome = 'mismatch'",
]

#: sale days of token uses the job remembers (see the module docstring)
JTI_KEEP_DAYS = 14
_CHUNK = 500
#: ``(jti, store, till, account, txn_id, seq, at)``: one sale naming a token
JtiRow = tuple[str, str, str, str, str, int, str]


@dataclass
class Seen:
    """What the flags need of the sales the figures' scan reads (``_rollup.scan``)."""

    jti: list[JtiRow] = field(default_factory=list)
    offline: set[str] = field(default_factory=set)  # accounts redeeming offline

    def sale(self, txn: dict[str, Any], where: tuple[str, str, str, str, int, str],
             offline: bool) -> None:
        """Note one sale's token id and, when offline, whether it redeemed points."""
        store, till, account, txn_id, seq, at = where
        customer = txn.get("customer")
        jti = customer.get("jti") if isinstance(customer, dict) else None
        if isinstance(jti, str):
            self.jti.append((jti, store, till, account, txn_id, seq, at))
        if offline:
            totals = (txn.get("result") or {}).get("totals") or {}
            redeemed = totals.get("redeemed_points", 0) if isinstance(totals, dict) else 0
            if is_int(redeemed) and redeemed > 0:
                self.offline.add(account)


@dataclass
class Delta:
    """What a span of new sales and journal entries changes in the flags."""

    fresh: list[JtiRow]  # token uses not remembered yet
    replayed: dict[str, list[JtiRow]]  # jti -> every use of it, when at two tills or more
    overdrafts: dict[str, Overdraft | None]  # each candidate account: its flag, or none


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i:i + _CHUNK])


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _jti_row(row: Sequence[Any]) -> JtiRow:
    jti, store, till, account, txn_id, seq, at = row
    return (str(jti), str(store), str(till), str(account), str(txn_id), int(seq), str(at))


def fold(tx: Tx, seen: Seen, after: str, upto: str | None) -> Delta:
    """The flags' changes by the sales ``seen`` and the journal entries in ``(after, upto]``."""
    new = {(r[0], r[3], r[4]): r for r in seen.jti}
    known: dict[tuple[str, str, str], JtiRow] = {}
    for part in _chunks(sorted({r[0] for r in new.values()})):
        for row in tx.all("SELECT jti, store, till, account, txn_id, seq, at FROM report_jti "
                          f"WHERE jti IN ({_marks(len(part))})", part):
            r = _jti_row(row)
            known[(r[0], r[3], r[4])] = r
    groups: dict[str, list[JtiRow]] = {}
    for r in {**known, **new}.values():
        groups.setdefault(r[0], []).append(r)
    replayed = {j: rows for j, rows in groups.items() if len({r[2] for r in rows}) > 1}
    bound, params = ("", (after,)) if upto is None else (" AND j.at <= ?", (after, upto))
    candidates = set(seen.offline)
    flagged = {str(a) for (a,) in tx.all("SELECT account FROM report_overdraft")}
    for account, points in tx.all(  # the entries of the span, by the ``at`` index
            "SELECT j.account, j.points FROM journal j WHERE j.at > ?" + bound, params):
        if int(points) < 0 or str(account) in flagged:
            candidates.add(str(account))
    found: dict[str, Overdraft | None] = dict.fromkeys(candidates)
    for part in _chunks(sorted(candidates)):
        for flag in offline_overdrafts(tx, part):
            found[flag.account] = flag
    return Delta([r for k, r in new.items() if k not in known], replayed, found)


def _use_row(flag: str, subject: str, u: Use, seq: int) -> tuple[Any, ...]:
    return (flag, subject, u.account, u.txn_id, u.store, u.till, seq, u.at, u.redeemed, u.cap)


_INSERT_USE = ("INSERT INTO report_flag_use (flag, subject, account, txn_id, store, till, seq, "
               "at, redeemed, cap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (flag, subject, account, txn_id) DO NOTHING")


def _seq(receipt: str) -> int:
    return int(receipt.rsplit("/", 1)[1])


def apply(tx: Tx, delta: Delta, upto: str) -> None:
    """Write ``delta`` into the flag rollups (the rollup job's transaction)."""
    tx.executemany("INSERT INTO report_jti (jti, store, till, account, txn_id, seq, at, day) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (jti, account, txn_id) DO NOTHING",
                   [(*r, r[6][:10]) for r in delta.fresh])
    tx.executemany(_INSERT_USE, [("replayed_jti", j, r[3], r[4], r[1], r[2], r[5], r[6], 0, None)
                                 for j, rows in sorted(delta.replayed.items()) for r in rows])
    accounts = sorted(delta.overdrafts)
    for part in _chunks(accounts):
        stale = [str(a) for (a,) in tx.all("SELECT account FROM report_overdraft "
                                           f"WHERE account IN ({_marks(len(part))})", part)]
        for account in stale:
            tx.execute("DELETE FROM report_overdraft WHERE account = ?", (account,))
            tx.execute("DELETE FROM report_flag_use WHERE flag = 'offline_overdraft' "
                       "AND subject = ?", (account,))
    for account in accounts:
        flag = delta.overdrafts[account]
        if flag is None:
            continue
        tx.execute("INSERT INTO report_overdraft (account, below_zero) VALUES (?, ?)",
                   (account, flag.below_zero))
        tx.executemany(_INSERT_USE, [_use_row("offline_overdraft", account, u, _seq(u.receipt))
                                     for u in flag.uses])
    cutoff = (date.fromisoformat(upto[:10]) - timedelta(days=JTI_KEEP_DAYS)).isoformat()
    tx.execute("DELETE FROM report_jti WHERE day < ?", (cutoff,))


def load(tx: Tx, seen: Seen, after: str) -> Flags:
    """Both flags: the rollups, plus what ``seen`` and the journal hold after ``after``."""
    jti_rows = {(r[0], r[3], r[4]): r for r in map(_jti_row, tx.all(
        "SELECT subject, store, till, account, txn_id, seq, at FROM report_flag_use "
        "WHERE flag = 'replayed_jti'"))}
    uses: dict[str, list[Use]] = {}
    for account, store, till, txn_id, seq, at, redeemed, cap in tx.all(
            "SELECT subject, store, till, txn_id, seq, at, redeemed, cap FROM report_flag_use "
            "WHERE flag = 'offline_overdraft' ORDER BY subject, at, seq, till"):
        uses.setdefault(str(account), []).append(Use(
            str(store), str(till), str(account), str(txn_id), receipt_id(str(till), int(seq)),
            str(at), int(redeemed), None if cap is None else int(cap)))
    lows = {str(a): int(below) for a, below in tx.all(
        "SELECT account, below_zero FROM report_overdraft")}
    balance: dict[str, int] = {}
    for part in _chunks(sorted(lows)):  # by key: on Citus the rollups live on the coordinator
        balance.update((str(a), int(p)) for a, p in tx.all(
            f"SELECT account, points FROM accounts WHERE account IN ({_marks(len(part))})", part))
    flags: dict[str, Overdraft | None] = {
        a: overdraft(a, below, balance.get(a, 0), uses.get(a, [])) for a, below in lows.items()}
    tail = fold(tx, seen, after, None)
    for rows in tail.replayed.values():
        jti_rows.update({(r[0], r[3], r[4]): r for r in rows})
    flags.update(tail.overdrafts)
    return Flags(replays(list(jti_rows.values())),
                 [f for _, f in sorted(flags.items()) if f is not None])
