"""Head-office flags of the sync report (spec/sync.md, "Reports for head office").

- **replayed jti**: one token (``customer.jti`` of a sale) used at two or
  more tills. A till refuses a jti it has already seen, but two tills
  offline cannot know of each other: each use is listed with its store,
  till, account and transaction.
- **offline overdraft**: an account whose running balance went below zero
  (the journal, oldest first) and that has offline sales redeeming points.
  Each offline redemption is listed with the cap it was allowed (the
  token's ``cap`` claim recorded on the sale, or for a card-only customer
  the program's ``offline_card_redeem_cap`` of the bundle version the till
  used). ``bound`` is the largest cap × the number of tills that redeemed
  offline: the most the offline rules let tills overdraw between two syncs.
  ``exceeds`` says the account went further below zero than that bound.

Computed here from the stored sales (the TXN text as uploaded): over every
sale (``collect_flags``, a scan: the independent reference the tests hold
the rollups to) or for given accounts. The reports read them from the
rollups (``_flagrollup``), which the rollup job keeps with these functions.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from fastcore import is_int

from . import _bundles
from ._readers import ENTRY_ORDER, receipt_id
from ._storage import Storage, Tx

FLAG_COLUMNS = ("flag", "store", "till", "account", "txn_id", "receipt", "jti", "redeemed",
                "cap", "below_zero", "bound", "exceeds")


@dataclass(frozen=True)
class Use:
    """One sale a flag concerns."""

    store: str
    till: str
    account: str
    txn_id: str
    receipt: str
    at: str
    redeemed: int = 0
    cap: int | None = None


@dataclass(frozen=True)
class ReplayedJti:
    """A token id seen on sales of more than one till."""

    jti: str
    tills: int
    uses: list[Use]


@dataclass(frozen=True)
class Overdraft:
    """An account offline redemption drove below zero, and by how much."""

    account: str
    below_zero: int  # how far below zero the running balance went (> 0)
    balance: int  # the balance now
    cap: int  # the largest cap among its offline redemptions
    tills: int  # tills that redeemed offline for it
    bound: int  # cap × tills
    exceeds: bool
    uses: list[Use]


@dataclass
class Flags:
    """Every flag of the report."""

    replayed_jti: list[ReplayedJti] = field(default_factory=list)
    offline_overdraft: list[Overdraft] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"replayed_jti": [asdict(f) for f in self.replayed_jti],
                "offline_overdraft": [asdict(f) for f in self.offline_overdraft]}


#: JSON escapes PostgreSQL's json parser refuses to turn into text (NUL, a lone surrogate);
#: a body holding one is read in Python instead (a hostile till must not hide its jti)
_PG_UNTEXTABLE = r"\\u(0000|[dD][89a-fA-F])"


def _jti_rows(storage: Storage, tx: Tx) -> list[tuple[Any, ...]]:
    """``(jti, store, till, account, txn_id, seq, at)`` of every sale naming a jti."""
    cols = "store, till, account, txn_id, seq, at"
    if storage.kind != "postgresql":
        return tx.all(f"SELECT json_extract(body, '$.customer.jti') AS jti, {cols} FROM sales "
                      "WHERE kind = 'sale' AND jti IS NOT NULL")
    rows = tx.all(f"SELECT (body::json -> 'customer' ->> 'jti') AS jti, {cols} FROM sales "
                  "WHERE kind = 'sale' AND body !~ ? AND strpos(body, '\"jti\":\"') > 0",
                  (_PG_UNTEXTABLE,))
    for body, *rest in tx.all(f"SELECT body, {cols} FROM sales WHERE kind = 'sale' "
                              "AND body ~ ?", (_PG_UNTEXTABLE,)):
        customer = json.loads(body).get("customer")
        jti = customer.get("jti") if isinstance(customer, dict) else None
        rows.append((jti, *rest))
    return [r for r in rows if isinstance(r[0], str)]


def replays(rows: list[tuple[Any, ...]]) -> list[ReplayedJti]:
    """The jtis of ``(jti, store, till, account, txn_id, seq, at)`` rows used at 2+ tills."""
    tills: dict[str, set[str]] = {}
    for jti, _, till, *_ in rows:
        tills.setdefault(str(jti), set()).add(str(till))
    out: dict[str, list[Use]] = {}
    for jti, store, till, account, txn_id, seq, at in sorted(
            rows, key=lambda r: (str(r[0]), str(r[6]), str(r[2]), int(r[5]))):
        if len(tills[str(jti)]) > 1:
            out.setdefault(str(jti), []).append(
                Use(str(store), str(till), str(account), str(txn_id),
                    receipt_id(str(till), int(seq)), str(at)))
    return [ReplayedJti(j, len(tills[j]), uses) for j, uses in out.items()]


def replayed_jtis(storage: Storage, tx: Tx) -> list[ReplayedJti]:
    """Token ids used on sales of two or more tills (a scan of every sale)."""
    return replays(_jti_rows(storage, tx))


def _card_cap(tx: Tx, version: int, cache: dict[int, int | None]) -> int | None:
    if version not in cache:
        bundle = _bundles.load(tx, version) or {}
        cap = (bundle.get("program") or {}).get("offline_card_redeem_cap")
        cache[version] = int(cap) if is_int(cap) and cap >= 0 else None
    return cache[version]


def _walk(accounts: list[str] | None) -> str:
    where = "" if accounts is None else f" WHERE j.account IN ({', '.join('?' * len(accounts))})"
    return ("SELECT account, MIN(running) FROM (SELECT j.account AS account, SUM(j.points) OVER "
            f"(PARTITION BY j.account ORDER BY {ENTRY_ORDER} ROWS UNBOUNDED PRECEDING) AS running "
            "FROM journal j LEFT JOIN sales s ON s.account = j.account AND s.txn_id = j.txn_id"
            f"{where}) AS walk GROUP BY account HAVING MIN(running) < 0 ORDER BY account")


def offline_uses(tx: Tx, account: str, caps: dict[int, int | None]) -> list[Use]:
    """The offline sales of ``account`` that redeemed points, each with the cap it had."""
    uses = []
    for store, till, txn_id, seq, at, version, body in tx.all(
            "SELECT store, till, txn_id, seq, at, bundle_version, body FROM sales "
            "WHERE account = ? AND kind = 'sale' AND mode = 'offline' ORDER BY at, seq",
            (account,)):
        txn = json.loads(body)
        totals = (txn.get("result") or {}).get("totals") or {}
        redeemed = totals.get("redeemed_points", 0)
        if not is_int(redeemed) or redeemed <= 0:
            continue
        claims = (txn.get("customer") or {}).get("claims") or {}
        cap = claims.get("cap") if isinstance(claims, dict) else None
        if not is_int(cap) or cap < 0:
            cap = _card_cap(tx, int(version or 0), caps)
        uses.append(Use(str(store), str(till), str(account), str(txn_id),
                        receipt_id(str(till), int(seq)), str(at), int(redeemed), cap))
    return uses


def overdraft(account: str, below: int, balance: int, uses: list[Use]) -> Overdraft:
    """The flag of ``account``: ``below`` zero at its lowest, its offline redemptions ``uses``."""
    cap_max = max((u.cap for u in uses if u.cap is not None), default=0)
    tills = len({u.till for u in uses})
    return Overdraft(account, below, balance, cap_max, tills, cap_max * tills,
                     below > cap_max * tills, uses)


def offline_overdrafts(tx: Tx, accounts: list[str] | None = None) -> list[Overdraft]:
    """Accounts whose running balance went below zero, with offline redemptions.

    Every account (a scan of the journal), or only ``accounts`` (the rollup
    job's candidates: each one's journal is read by its key).
    """
    lows = tx.all(_walk(accounts), tuple(accounts or ()))
    caps: dict[int, int | None] = {}
    out = []
    for account, lowest in lows:
        uses = offline_uses(tx, str(account), caps)
        if not uses:
            continue  # below zero for another reason (an adjustment, a correction)
        balance = tx.one("SELECT points FROM accounts WHERE account = ?", (account,))
        out.append(overdraft(str(account), -int(lowest), int(balance[0]) if balance else 0,
                             uses))
    return out


def collect_flags(storage: Storage) -> Flags:
    """Both flags, read in one transaction."""
    with storage.transaction() as tx:
        return Flags(replayed_jtis(storage, tx), offline_overdrafts(tx))


def flag_rows(flags: Flags) -> list[dict[str, Any]]:
    """One flat row per transaction a flag concerns (CSV and table)."""
    rows: list[dict[str, Any]] = []
    for r in flags.replayed_jti:
        for u in r.uses:
            rows.append({"flag": "replayed_jti", "store": u.store, "till": u.till,
                         "account": u.account, "txn_id": u.txn_id, "receipt": u.receipt,
                         "jti": r.jti, "redeemed": "", "cap": "", "below_zero": "",
                         "bound": "", "exceeds": ""})
    for o in flags.offline_overdraft:
        for u in o.uses:
            rows.append({"flag": "offline_overdraft", "store": u.store, "till": u.till,
                         "account": o.account, "txn_id": u.txn_id, "receipt": u.receipt,
                         "jti": "", "redeemed": u.redeemed, "cap": "" if u.cap is None else u.cap,
                         "below_zero": o.below_zero, "bound": o.bound,
                         "exceeds": "yes" if o.exceeds else "no"})
    return rows
