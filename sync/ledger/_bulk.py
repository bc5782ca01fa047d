"""Set-based fast paths of the batch upload (same effects, fewer round trips).

The per-transaction path in ``_ingest`` runs ~8 statements per sale, each a
round trip to PostgreSQL. Here one batch's claim and apply are decided in
Python from a few bulk reads, then written with ``executemany`` (pipelined
by psycopg, one prepared statement by sqlite3). Nothing is decided by the
writes: they are plain INSERTs, so a concurrent upload racing this one
makes a unique constraint fail, the whole transaction roll back, and the
caller redo the batch on the per-transaction path. Results are only
touched after the commit succeeded.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import _sales
from ._storage import Row, Tx

CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def select_in(tx: Tx, sql: str, prefix: tuple[Any, ...], keys: Sequence[Any]) -> list[Row]:
    """Run ``sql`` (ending in ``IN ({})``) for every chunk of ``keys``."""
    out: list[Row] = []
    for part in _chunks(keys):
        out += tx.all(sql.format(",".join("?" * len(part))), (*prefix, *part))
    return out


@dataclass
class ClaimPlan:
    """What the claim step decided for one batch (applied after commit)."""

    todo: list[Any]
    duplicates: list[tuple[Any, dict[str, Any]]]
    conflicts: list[tuple[Any, str, str]]


def select_pairs(tx: Tx, sql: str, column: str, pairs: dict[str, list[Any]]) -> list[Row]:
    """Run ``sql`` (ending in ``WHERE {}``) for ``till = t AND column IN (…)`` of every till.

    One statement for many tills (their conditions OR-ed: an index probe
    each on both backends), at most ``CHUNK`` values a statement.
    """
    out: list[Row] = []
    terms: list[str] = []
    params: list[Any] = []

    def flush() -> None:
        if terms:
            out.extend(tx.all(sql.format(" OR ".join(terms)), params))
            terms.clear()
            params.clear()

    for till, keys in pairs.items():
        for part in _chunks(sorted(set(keys))):
            if len(params) + len(part) > CHUNK:
                flush()
            terms.append(f"(till = ? AND {column} IN ({','.join('?' * len(part))}))")
            params += [till, *part]
    flush()
    return out


def plan_claims(tx: Tx, till: str, results: Iterable[Any], now: str) -> ClaimPlan:
    """Decide and write the claims of a batch; raises ``Conflict`` on a race."""
    return plan_claims_many(tx, [(till, list(results))], now)[0]


def plan_claims_many(tx: Tx, batches: list[tuple[str, list[Any]]], now: str) -> list[ClaimPlan]:
    """``plan_claims`` for the batches of several tills at once (one till once)."""
    lives = [[r for r in results if r.txn is not None] for _, results in batches]
    known: dict[tuple[str, str], Any] = {}
    ids = {till: [r.txn.txn_id for r in live] for (till, _), live in zip(batches, lives, strict=True)}
    for row in select_pairs(tx, "SELECT till, txn_id, hash, state, outcome FROM till_seqs "
                            "WHERE {}", "txn_id", ids):
        known[(row[0], row[1])] = row[2:]
    taken: dict[tuple[str, int], Any] = {}
    seqs = {till: [r.txn.seq for r in live] for (till, _), live in zip(batches, lives, strict=True)}
    for row in select_pairs(tx, "SELECT till, seq, txn_id, hash, state, outcome FROM till_seqs "
                            "WHERE {}", "seq", seqs):
        taken[(row[0], int(row[1]))] = row[2]
        # A concurrent upload may have committed this very claim between the two reads.
        known.setdefault((row[0], row[2]), row[3:])
    plans = []
    new_rows: list[tuple[str, int, str, str, str, str]] = []
    for (till, _), live in zip(batches, lives, strict=True):
        plan = ClaimPlan([], [], [])
        plans.append(plan)
        for res in live:
            txn = res.txn
            claim = known.get((till, txn.txn_id))
            if claim is not None:
                if claim[0] != txn.hash:
                    plan.conflicts.append((res, "txn_id_conflict",
                                           "this txn_id was uploaded before with another body"))
                elif claim[1] == "applied":
                    plan.duplicates.append((res, json.loads(claim[2])))
                else:
                    plan.todo.append(res)
                continue
            if (till, txn.seq) in taken:
                plan.conflicts.append((res, "seq_conflict", f"seq {txn.seq} of till {till} "
                                       "already belongs to another txn_id"))
                continue
            known[(till, txn.txn_id)] = (txn.hash, "claimed", None)
            taken[(till, txn.seq)] = txn.txn_id
            new_rows.append((till, txn.seq, txn.txn_id, txn.hash, "claimed", now))
            plan.todo.append(res)
    tx.insert_many("till_seqs", ("till", "seq", "txn_id", "hash", "state", "received_at"),
                   new_rows)
    return plans


@dataclass
class SalePlan:
    """One sale of the fast apply path."""

    res: Any
    account: str
    member: bool
    outcome: dict[str, Any]
    outcome_text: str = ""


def write_sales(tx: Tx, plans: list[SalePlan], now: str,
                existing: Callable[[list[SalePlan]], dict[tuple[str, str], Row]],
                for_update: str = "") -> list[tuple[SalePlan, Row | None]]:
    """Insert the batch's new sales and their effects; return (plan, prior row) pairs.

    A plan whose ``(account, txn_id)`` already exists (or repeats earlier in
    the batch) is not written; its prior row (hash, outcome, till) is returned
    for the caller to answer ``duplicate`` or ``txn_id_conflict`` (another
    till's row with this txn_id never counts as this till's).
    Sales that redeem or use a hold are not sent here: they are applied one
    by one under the account's lock (``_ingest``).
    """
    prior = existing(plans)
    fresh: list[SalePlan] = []
    seen: dict[tuple[str, str], SalePlan] = {}
    out: list[tuple[SalePlan, Row | None]] = []
    for p in plans:
        key = (p.account, p.res.txn.txn_id)
        if key in prior:
            out.append((p, prior[key]))
        elif key in seen:
            first = seen[key]
            out.append((p, (first.res.txn.hash, json.dumps(first.outcome), first.res.txn.till)))
        else:
            seen[key] = p
            fresh.append(p)
            out.append((p, None))
    members = sorted({p.account for p in fresh if p.member})
    tx.executemany("INSERT INTO accounts (account, points, created_at) VALUES (?, 0, ?) "
                   "ON CONFLICT DO NOTHING", [(a, now) for a in members])
    bonus = sorted({p.account for p in fresh if p.member and (p.res.txn.welcome
                                                               or p.res.txn.birthday)})
    # the bonus record of the accounts claiming one, locked until commit (one
    # read per batch; a concurrent upload for the same account waits here)
    state = {str(r[0]): [int(r[1]), r[2]] for r in select_in(
        tx, "SELECT account, sales, birthday_bonus_year FROM accounts WHERE account IN ({})"
        + for_update, (), bonus)}
    sale_rows, journal_rows, audit_rows = [], [], []
    moves: dict[str, list[Any]] = {}
    for p in fresh:
        txn = p.res.txn
        corrections = []
        if p.account in state:
            corrections = _sales.bonus_corrections(txn, state[p.account])
            _sales.correct(p.outcome, corrections)
        p.outcome_text = _sales.outcome_text(p.outcome)
        sale_rows.append(_sales.sale_row(txn, p.account, p.outcome_text, now))
        audit_rows.append(_sales.audit_row(txn, p.account, now))
        if not p.member:
            continue
        entries = _sales.journal_entries(txn, p.outcome, corrections)
        journal_rows += [(p.account, entry_id, kind, points, txn.txn_id, note, now)
                         for entry_id, kind, points, note in entries]
        move = moves.setdefault(p.account, [0, 0, None])
        move[0] += sum(e[2] for e in entries)
        move[1] += 1
        if p.account in state:
            move[2] = state[p.account][1]
    tx.insert_many("sales", _sales.SALE_COLUMNS, sale_rows)
    tx.insert_many("journal", ("account", "entry_id", "kind", "points", "txn_id", "note", "at"),
                   journal_rows)
    _sales.after_bulk(tx, fresh, journal_rows, now)  # lots, spend, tiers
    tx.executemany(
        "UPDATE accounts SET points = points + ?, sales = sales + ?, birthday_bonus_year = "
        "COALESCE(?, birthday_bonus_year) WHERE account = ?",
        [(m[0], m[1], m[2], a) for a, m in sorted(moves.items())])
    tx.insert_many("audit_queue", _sales.AUDIT_COLUMNS, audit_rows)
    return out


def existing_sales(tx: Tx) -> Callable[[list[SalePlan]], dict[tuple[str, str], Row]]:
    """A look-up of already stored ``(account, txn_id)`` rows for a list of plans."""
    def look(plans: list[SalePlan]) -> dict[tuple[str, str], Row]:
        ids = sorted({p.res.txn.txn_id for p in plans})
        rows = select_in(tx, "SELECT account, txn_id, hash, outcome, till FROM sales "
                         "WHERE txn_id IN ({})", (), ids)
        return {(str(r[0]), str(r[1])): (r[2], r[3], r[4]) for r in rows}
    return look
