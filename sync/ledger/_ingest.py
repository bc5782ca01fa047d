"""Batch upload: exactly-once application of till transactions.

Three steps:

1. **claim** (the till's shard): each TXN's ``(till, seq)`` and
   ``(till, txn_id)`` are claimed in ``till_seqs``. A known ``txn_id`` with
   another hash is ``txn_id_conflict``; an applied one is ``duplicate``
   (answered with its original outcome); a seq held by another ``txn_id``
   is ``seq_conflict``.
2. **apply** (the account's shard, per sale): the ``sales`` row — primary
   key ``(account, txn_id)``, kept forever — journal entries, balance,
   hold and the sale's ``audit_queue`` row (re-priced after the answer by
   ``_auditor``), in one savepoint per TXN.
3. **finish** (the till's shard): claims become ``applied`` (with the
   outcome a resend will be answered with) or are dropped when the apply
   refused them; rejects, counters, last contact and the contiguous
   high-water mark are updated.

On one database (the default) the three steps are one transaction — in
fact one savepoint of a transaction shared with the other requests of the
process (``_group.GroupCommit``): a crash at any point leaves either the
whole batch or nothing, and a resend is answered from the committed claims
(``duplicate``) or applied afresh. ``per_sale_commit`` (Citus, see
docs/ledger-distribution.md) runs each step as its own transaction on one
distribution key and each sale as its own: a crash between steps leaves
``claimed`` rows; a resend finds them and completes the work, and the
``sales`` primary key stops a second apply. Either way the answer is sent
only after the last commit: at-least-once delivery becomes exactly-once
effect.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from fastcore import MAX_INT, is_int

from . import _audit, _bulk, _certificates, _enrol, _holds, _journal, _lots, _returns, _sales
from ._auditor import Activity
from ._clock import utc_text
from ._sales import AUDIT_QUEUED
from ._group import GroupCommit, transient
from ._errors import (
    BalanceOutOfBounds,
    Conflict,
    RequestError,
    ReturnRefused,
    TxnInvalid,
    TxnRefused,
)
from ._storage import Storage, Tx
from ._tills import TillRecord
from ._txn import Txn, validate

log = logging.getLogger(__name__)

MAX_BATCH = 5000
HWM_CHUNK = 5000


@dataclass
class Result:
    """One TXN's answer."""

    txn_id: Any
    seq: Any
    status: str = "accepted"
    reason: str | None = None
    detail: str | None = None
    original: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    txn: Txn | None = None
    account: str | None = None
    audit: str | None = None
    applied_now: bool = False
    outcome_text: str | None = None  # the accepted outcome as stored (encoded once)
    field: str | None = None  # a rejected TXN: the path of the value at fault

    def reject(self, reason: str, detail: str, field: str | None = None) -> None:
        """Refuse this TXN (forgetting anything a rolled-back apply had set)."""
        self.status, self.reason = "rejected", reason
        self.detail, self.field = safe_text(detail), safe_text(field) if field else field
        self.outcome = self.original = self.outcome_text = self.audit = None
        self.applied_now = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"txn_id": self.txn_id, "seq": self.seq, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
            out["detail"] = self.detail
            if self.field:
                out["field"] = self.field
        if self.status == "accepted" and self.outcome is not None:
            out.update({k: v for k, v in self.outcome.items() if k != "status"})
        if self.status == "duplicate":
            out["original"] = self.original
        return out


@dataclass
class BatchAnswer:
    """The whole answer of POST /v1/transactions."""

    results: list[Result]
    high_water: int
    epoch: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"results": [r.to_json() for r in self.results], "high_water": self.high_water,
                "epoch": self.epoch}


def check_envelope(body: Any, till: TillRecord) -> list[Any]:
    """Validate the batch envelope; 4xx (nothing changed) when it is wrong."""
    if not isinstance(body, dict):
        raise RequestError("invalid", "the body must be a JSON object", "")
    for key, own in (("till", till.till), ("store", till.store)):
        value = body.get(key)
        if not isinstance(value, str):
            raise RequestError("invalid", f"{key} must be a string", key)
        if value != own:
            raise RequestError("forbidden", f"this key belongs to {key} {own}", key)
    txns = body.get("transactions")
    if not isinstance(txns, list):
        raise RequestError("invalid", "transactions must be a list", "transactions")
    if not txns:
        raise RequestError("invalid", "transactions must not be empty", "transactions")
    if len(txns) > MAX_BATCH:
        raise RequestError("batch_too_large", f"at most {MAX_BATCH} transactions a batch",
                           "transactions")
    for i, txn in enumerate(txns):
        if isinstance(txn, dict) and isinstance(txn.get("till"), str) and txn["till"] != till.till:
            raise RequestError("forbidden", f"transactions[{i}] names till {txn['till']}",
                               f"transactions[{i}].till")
    return txns


def safe_text(value: Any, limit: int = 300) -> Any:
    """Text that can be stored and sent back whatever a till put in it.

    A detail or an echoed ``txn_id`` may quote hostile input (an object key
    with a NUL or a lone surrogate): PostgreSQL refuses NUL, and neither
    backend nor the UTF-8 answer can hold a lone surrogate, so both are
    escaped; long text is cut.
    """
    if not isinstance(value, str):
        return value
    if not value.isascii() or "\x00" in value:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return value if len(value) <= limit else value[:limit] + "…"


def _reject_id(res: Result) -> str:
    raw = f"{res.txn_id}|{res.txn.hash if res.txn else ''}|{res.seq}|{res.reason}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


class Ingest:
    """Applies batches for one ledger database."""

    def __init__(self, storage: Storage, clock: Callable[[], datetime], *,
                 per_sale_commit: bool = False, activity: Activity | None = None,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.storage = storage
        self.clock = clock
        self.per_sale_commit = per_sale_commit
        self.activity = activity or Activity()
        self.on_queued = on_queued
        self.programs = _returns.Programs()
        #: the uploads (and heartbeats) of this process share their commits
        self.group = GroupCommit(storage)

    # -- step 1 ---------------------------------------------------------
    def _claim(self, till: TillRecord, results: list[Result], now: str) -> list[Result]:
        """Step 1 in its own transaction (the ``per_sale_commit`` path)."""
        with self.storage.transaction() as tx:
            return self._claim_in(tx, till, results, now)

    def _claim_in(self, tx: Tx, till: TillRecord, results: list[Result], now: str
                  ) -> list[Result]:
        return self._claim_many(tx, [(till, results)], now)[0]

    def _claim_many(self, tx: Tx, items: list[tuple[TillRecord, list[Result]]], now: str
                    ) -> list[list[Result]]:
        """Step 1 for the batches of several tills (one till once), set-based."""
        try:
            with tx.savepoint():
                plans = _bulk.plan_claims_many(tx, [(t.till, rs) for t, rs in items], now)
        except Conflict:  # a concurrent upload of the same till: decide one by one
            log.info("claim race on till %s; claiming one by one",
                     ", ".join(t.till for t, _ in items))
            return [self._claim_each(tx, t, rs, now) for t, rs in items]
        for plan in plans:
            for res, original in plan.duplicates:
                res.status, res.original = "duplicate", original
            for res, reason, detail in plan.conflicts:
                res.reject(reason, detail)
        return [plan.todo for plan in plans]

    def _claim_each(self, tx: Tx, till: TillRecord, results: list[Result], now: str
                    ) -> list[Result]:
        todo: list[Result] = []

        def settle(res: Result, row: Any) -> None:
            """Answer a TXN whose ``txn_id`` the till already claimed (``row``)."""
            assert res.txn is not None
            if row[0] != res.txn.hash:
                res.reject("txn_id_conflict", "this txn_id was uploaded before with another body")
            elif row[1] == "applied":
                res.status, res.original = "duplicate", json.loads(row[2])
            else:
                todo.append(res)  # claimed by an interrupted upload: finish it

        for res in results:
            txn = res.txn
            if txn is None:
                continue
            row = tx.one("SELECT hash, state, outcome FROM till_seqs WHERE till = ? AND "
                         "txn_id = ?", (till.till, txn.txn_id))
            if row is not None:
                settle(res, row)
                continue
            claimed = tx.execute(
                "INSERT INTO till_seqs (till, seq, txn_id, hash, state, received_at) "
                "VALUES (?, ?, ?, ?, 'claimed', ?) ON CONFLICT DO NOTHING",
                (till.till, txn.seq, txn.txn_id, txn.hash, now))
            if claimed == 1:
                todo.append(res)
                continue
            # Refused: by another txn_id on this seq, or by a concurrent upload
            # of this very txn that committed its claim after our look-up.
            row = tx.one("SELECT hash, state, outcome FROM till_seqs WHERE till = ? AND "
                         "txn_id = ?", (till.till, txn.txn_id))
            if row is None:
                res.reject("seq_conflict", f"seq {txn.seq} of till {till.till} "
                           "already belongs to another txn_id")
            else:
                settle(res, row)
        return todo

    # -- step 2 ---------------------------------------------------------
    def _apply(self, todo: list[Result], now: str) -> None:
        """Step 2 in its own transaction(s): one per sale with ``per_sale_commit``."""
        if self.per_sale_commit:
            # enrolments first: a card's enrol TXN precedes its sales (docs/enrolment.md)
            self._apply_each(self.storage.transaction, _enrols_first(todo), now)
            return
        with self.storage.transaction() as tx:
            self._apply_in(tx, todo, now)

    def _apply_in(self, tx: Tx, todo: list[Result], now: str) -> None:
        @contextlib.contextmanager
        def scope() -> Iterator[Tx]:
            with tx.savepoint():
                yield tx
        if self.storage.for_update:  # PostgreSQL: one lock order for the whole transaction
            _lock_accounts(tx, todo, self.storage.for_update)
        # Enrolments first: a card's enrol TXN precedes its sales (docs/enrolment.md).
        enrols = [r for r in todo if r.txn is not None and r.txn.kind == "enrol"]
        if enrols:
            self._apply_each(scope, enrols, now)
            todo = [r for r in todo if r.txn is None or r.txn.kind != "enrol"]
        sales = [r for r in todo if r.txn is not None and r.txn.kind == "sale"]
        if sales:
            done = self._apply_sales_bulk(tx, sales, now)
            todo = [r for r in todo if id(r) not in done]
        if todo:
            self._apply_each(scope, todo, now)

    def _needs_rules(self, tx: Tx, plans: list[_bulk.SalePlan]) -> set[str]:
        """Accounts whose sales in this batch go one by one through the full rules.

        The set-based path accrues (and applies the welcome/birthday rule from
        one locked read per batch). A sale that redeems, names a hold or has a
        hold carrying its ``txn_id`` needs the balance and holds read under
        the account's lock (``_apply_sale``); so do the other sales of that
        account in the batch, to keep their order.
        """
        accounts = {p.account for p in plans if p.member and (
            p.res.txn.redeemed_points or p.res.txn.hold_id)}
        accounts |= _certificates.accounts_of(plans)  # gift certificates: one by one
        members = sorted({p.account for p in plans if p.member} - accounts)
        # first the few accounts with an open hold at all, then their sales' txn_ids
        holding = {str(r[0]) for r in _bulk.select_in(
            tx, "SELECT DISTINCT account FROM holds WHERE state = 'active' AND account IN ({})",
            (), members)}
        if holding:
            ids = sorted({p.res.txn.txn_id for p in plans if p.account in holding})
            held = {(str(r[0]), str(r[1])) for r in _bulk.select_in(
                tx, "SELECT account, txn_id FROM holds WHERE state = 'active' AND "
                "txn_id IN ({})", (), ids)}
            accounts |= {p.account for p in plans if (p.account, p.res.txn.txn_id) in held}
        return accounts

    def _apply_sales_bulk(self, tx: Tx, sales: list[Result], now: str) -> set[int]:
        """A batch's plain accruals in one transaction, set-based; the ids of those done.

        Nothing is done (an empty set) on a race or on any failure: every
        sale then goes through ``_apply_each``, one savepoint each, where a
        poison sale is refused alone.
        """
        try:
            with tx.savepoint():
                plans = []
                for res in sales:
                    txn = res.txn
                    assert txn is not None
                    member = (_enrol.member_of(tx, txn, now, self.storage.for_update)
                              or (self._card_account(tx, txn.card) if txn.card else None))
                    account = member or f"anon:{txn.till}"
                    outcome = _sales.outcome(txn, account, bool(member), now)
                    plans.append(_bulk.SalePlan(res, account, bool(member), outcome))
                slow = self._needs_rules(tx, plans)
                plans = [p for p in plans if p.account not in slow]
                written = _bulk.write_sales(tx, plans, now, _bulk.existing_sales(tx),
                                            self.storage.for_update)
        except Conflict:
            log.info("apply race; applying this batch's sales one by one")
            return set()
        except Exception as exc:  # noqa: BLE001 - sorted out one by one below
            if transient(exc):
                raise
            log.warning("bulk apply failed (%s); applying this batch's sales one by one", exc)
            return set()
        for plan, prior in written:
            res = plan.res
            if prior is None:
                res.status, res.outcome, res.account = "accepted", plan.outcome, plan.account
                res.applied_now, res.audit = True, AUDIT_QUEUED
                res.outcome_text = plan.outcome_text
            elif prior[0] != res.txn.hash or prior[2] != res.txn.till:
                res.reject("txn_id_conflict", "this txn_id was uploaded before with another body"
                           if prior[2] == res.txn.till else
                           "this txn_id belongs to another till's transaction")
            else:
                res.status, res.original = "duplicate", json.loads(prior[1])
                res.outcome, res.account = res.original, plan.account
        return {id(p.res) for p, _ in written}

    def _apply_each(self, scope: Callable[[], contextlib.AbstractContextManager[Tx]],
                    todo: list[Result], now: str) -> None:
        for res in todo:
            try:
                with scope() as tx:
                    if res.txn is not None and res.txn.kind == "sale":
                        self._apply_sale(tx, res, now)
                    elif res.txn is not None and res.txn.kind == "enrol":
                        self._apply_enrol(tx, res, now)
                    else:
                        self._apply_return(tx, res, now)
            except TxnRefused as exc:
                res.reject(exc.reason, exc.message, exc.field or None)
            except BalanceOutOfBounds as exc:
                kind = res.txn.kind if res.txn else "sale"
                res.reject("invalid", exc.message,
                           "result.totals.points" if kind == "sale" else "returned")
            except Exception as exc:  # noqa: BLE001 - see below
                # A failure a retry cannot fix (a value the database refuses, a
                # shape no rule foresaw) must not stall the till's queue behind
                # this one TXN: its savepoint is undone and it is refused alone.
                if transient(exc):
                    raise
                log.warning("TXN %s of till %s cannot be applied: %r", res.txn_id,
                            res.txn.till if res.txn else "?", exc)
                res.reject("invalid", f"cannot be applied: {type(exc).__name__}: "
                           f"{str(exc)[:200]}")

    def _existing(self, tx: Tx, res: Result, account: str) -> bool:
        txn = res.txn
        assert txn is not None
        row = tx.one("SELECT hash, outcome, till FROM sales WHERE account = ? AND txn_id = ?",
                     (account, txn.txn_id))
        if row is None:
            return False
        if row[2] != txn.till:
            raise TxnRefused("txn_id_conflict", "this txn_id belongs to another till's transaction")
        if row[0] != txn.hash:
            raise TxnRefused("txn_id_conflict", "this txn_id was uploaded before with another body")
        res.status, res.original = "duplicate", json.loads(row[1])
        res.outcome, res.account = res.original, account
        return True

    def _insert_sale(self, tx: Tx, res: Result, account: str, outcome: dict[str, Any],
                     now: str) -> bool:
        txn = res.txn
        assert txn is not None
        inserted = tx.execute(
            f"INSERT INTO sales ({', '.join(_sales.SALE_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_sales.SALE_COLUMNS))}) ON CONFLICT DO NOTHING",
            _sales.sale_row(txn, account, _sales.outcome_text(outcome), now))
        if inserted != 1:  # a concurrent upload won the race: answer as it did
            if not self._existing(tx, res, account):
                raise RuntimeError("sale row vanished")
            return False
        res.status, res.outcome, res.account, res.applied_now = "accepted", outcome, account, True
        return True

    def _offline_cap(self, tx: Tx, txn: Txn, account: str, info: _returns.ProgramInfo | None
                     ) -> int:
        """What an offline sale may redeem beyond the available balance (token.md).

        A token's ``cap`` (the sale's customer ``claims``) bounded by the
        account's ``offline_cap`` and the program's ``offline_token_cap``
        when they are set (a till cannot raise a cap the ledger never
        issued); a card without a token: the program's
        ``offline_card_redeem_cap``.
        """
        program = info.program if info else _returns.DEFAULT_PROGRAM
        customer = txn.raw.get("customer") or {}
        claims = customer.get("claims")
        cap = claims.get("cap") if isinstance(claims, dict) and customer.get("jti") else None
        if not is_int(cap):
            return program.offline_card_redeem_cap
        row = tx.one("SELECT offline_cap FROM accounts WHERE account = ?", (account,))
        if row is not None and row[0] is not None:
            cap = min(cap, int(row[0]))
        if info is not None and info.token_cap is not None:
            cap = min(cap, info.token_cap)
        return int(cap)

    def _apply_sale(self, tx: Tx, res: Result, now: str) -> None:
        txn = res.txn
        assert txn is not None
        member = (_enrol.member_of(tx, txn, now, self.storage.for_update)
                  or (self._card_account(tx, txn.card) if txn.card else None))
        account = member or f"anon:{txn.till}"
        if member:
            _journal.ensure_account(tx, account, now)
            # One sale of an account at a time, across server processes: its
            # balance, holds and bonus flags are read and changed under this lock.
            row = tx.one("SELECT points, sales, birthday_bonus_year FROM accounts WHERE "
                         "account = ?" + self.storage.for_update, (account,))
            assert row is not None
            balance, sales, bonus_year = int(row[0]), int(row[1]), row[2]
        if self._existing(tx, res, account):
            return
        outcome = _sales.outcome(txn, account, bool(member), now)
        redeemed = -outcome["journal"]["redemption"]
        corrections: list[_sales.Correction] = []
        if member:
            hold = _holds.of_sale(tx, account, txn.till, txn.txn_id, txn.hold_id)
            if redeemed:
                _holds.expire(tx, account, now)
                # pending points (still in the return window) are not spendable
                available = _lots.spendable(tx, account, balance, now) - _holds.held(
                    tx, account, now, excluding=hold[0] if hold else None)
                allowed = max(hold[1] if hold else 0, available)
                if txn.raw.get("mode") == "offline":
                    info = self._program(tx, txn.bundle_version)
                    allowed = max(allowed, self._offline_cap(tx, txn, account, info))
                if redeemed > allowed:
                    raise TxnRefused("overdraft", f"{redeemed} points redeemed; the {txn.raw['mode']}"
                                   f" sale may redeem at most {max(allowed, 0)}",
                                   "result.totals.redeemed_points")
            corrections = _sales.bonus_corrections(txn, [sales, bonus_year])
            _sales.correct(outcome, corrections)
        if not self._insert_sale(tx, res, account, outcome, now):
            return
        _certificates.apply_sale(tx, txn.raw, txn, self.clock(), self.storage.for_update)
        if member:
            for entry_id, kind, points, note in _sales.journal_entries(txn, outcome, corrections):
                _journal.post(tx, account, entry_id, kind, points, now, txn.txn_id, note)
            given = txn.birthday and not _sales.birthday_taken_back(corrections)
            tx.execute("UPDATE accounts SET sales = sales + 1, birthday_bonus_year = "
                       "CASE WHEN ? > 0 THEN ? ELSE birthday_bonus_year END WHERE account = ?",
                       (1 if given else 0, int(txn.at[:4]), account))
            _holds.close_for_sale(tx, account, txn.till, txn.txn_id, txn.hold_id, now)
            _sales.after_sale(tx, txn, account, now)
        res.audit = AUDIT_QUEUED
        tx.execute("INSERT INTO audit_queue (account, txn_id, till, store, bundle_version, "
                   "queued_at) VALUES (?, ?, ?, ?, ?, ?)", _sales.audit_row(txn, account, now))

    def _apply_enrol(self, tx: Tx, res: Result, now: str) -> None:
        """An ``enrol`` TXN: the card's account created, confirmed or merged (``_enrol``)."""
        assert res.txn is not None
        info = self._program(tx, res.txn.bundle_version)
        program = info.program if info else _returns.DEFAULT_PROGRAM
        _enrol.check_prefix(res.txn, program.card_prefixes)
        outcome, account, fresh = _enrol.apply(tx, res.txn, now, self.storage.for_update)
        if fresh:
            res.status, res.outcome, res.account, res.applied_now = "accepted", outcome, account, True
        else:
            res.status, res.original, res.outcome, res.account = "duplicate", outcome, outcome, account

    def _program(self, tx: Tx, version: int) -> _returns.ProgramInfo | None:
        return self.programs.get(version, lambda: _returns.bundle_text(tx, version))

    def _ceilings(self, txn: Txn) -> None:
        """The program's ceilings (points per sale, line quantity) of the sale's bundle version.

        A version the ledger does not have gets the default ceilings (its
        audit says ``no_bundle``).
        """
        def body() -> str | None:
            with self.storage.transaction() as tx:
                return _returns.bundle_text(tx, txn.bundle_version)

        info = self.programs.get(txn.bundle_version, body)
        program = info.program if info else _returns.DEFAULT_PROGRAM
        top = program.max_points_per_sale
        for key, value in (("points", txn.points), ("redeemed_points", txn.redeemed_points)):
            if value > top:
                raise TxnInvalid("invalid", f"{value} is above the program's {top} points per sale", f"result.totals.{key}")
        ceiling = program.max_line_qty_milli["kg"]
        if txn.max_qty_milli > ceiling:
            raise TxnInvalid("invalid", f"above the program's line quantity ceiling "
                             f"({program.max_line_qty})", txn.max_qty_field)

    @staticmethod
    def _card_account(tx: Tx, card: str) -> str:
        """The account of a card-only customer; an unknown card gets ``card:<card>``."""
        row = tx.one("SELECT account FROM cards WHERE card = ?", (card,))
        return str(row[0]) if row else f"card:{card}"

    def _record_audit(self, tx: Tx, res: Result, account: str, audit: str,
                      detail: str | None, now: str) -> None:
        txn = res.txn
        assert txn is not None
        res.audit = audit
        tx.execute("INSERT INTO audits (account, txn_id, till, store, bundle_version, outcome, "
                   "detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   (account, txn.txn_id, txn.till, txn.store, txn.bundle_version, audit,
                    detail, now))
        if audit == "mismatch":
            log.warning("audit mismatch on %s (till %s): %s", txn.txn_id, txn.till, detail)

    def _return_account(self, tx: Tx, txn: Txn, now: str) -> str:
        """The account a return names: its customer's, else the original till's anonymous one."""
        if txn.account:
            return _enrol.member_of(tx, txn, now, self.storage.for_update) or txn.account
        if txn.card:
            return self._card_account(tx, txn.card)
        return f"anon:{txn.original_till}"

    def _apply_return(self, tx: Tx, res: Result, now: str) -> None:
        txn = res.txn
        assert txn is not None and txn.original_txn_id is not None
        account = self._return_account(tx, txn, now)
        # The sale row is the lock that serialises the returns of one sale, across
        # server processes (SQLite's write lock does it there); what earlier returns
        # took is read only once it is held.
        row = tx.one("SELECT till, body, bundle_version FROM sales WHERE account = ? AND "
                     "txn_id = ? AND kind = 'sale'" + self.storage.for_update,
                     (account, txn.original_txn_id))
        if row is None or row[0] != txn.original_till:
            raise TxnRefused("unknown_original",
                           f"no sale {txn.original_txn_id} of till {txn.original_till} "
                           f"for this customer is known to the ledger")
        if self._existing(tx, res, account):
            return
        sale = json.loads(row[1])
        version = int(row[2]) if row[2] is not None else -1
        before = {int(r[0]): int(r[1]) for r in tx.all(
            "SELECT line, qty_milli FROM return_lines WHERE account = ? AND original_txn_id = ?",
            (account, txn.original_txn_id))}
        try:
            units = _returns.units_of(sale.get("result"), self._program(tx, version), version)
            lines = _returns.compute(sale.get("result"), units,
                                     [(int(i["line"]), i["qty"]) for i in txn.raw["returned"]],
                                     before)
        except ReturnRefused as exc:
            raise TxnRefused("invalid", exc.message, exc.field) from exc
        member = not account.startswith("anon:")
        reversed_ = sum(x.points_reversed for x in lines) if member else 0
        refunded = sum(x.points_refunded for x in lines) if member else 0
        ours = [{"line": x.line, "refund": x.refund, "redeemed_refund": x.redeemed_refund,
                 "points_reversed": x.points_reversed if member else 0,
                 "points_refunded": x.points_refunded if member else 0} for x in lines]
        theirs = [{k: line.get(k) if isinstance(line, dict) else None
                   for k in ("line", "refund", "redeemed_refund", "points_reversed",
                             "points_refunded")}
                  for line in txn.raw["result"].get("lines") or []]
        paths = _audit.diff(ours, theirs)
        audit, detail = ("ok", None) if not paths else ("mismatch", "; ".join(paths[:10]))
        outcome = {"status": "accepted", "accepted_at": now, "account": account,
                   "journal": {"return_reversal": refunded - reversed_,
                               "points_reversed": reversed_, "points_refunded": refunded},
                   "lines": ours, "audit": audit}
        if member:
            _journal.ensure_account(tx, account, now)
        if not self._insert_sale(tx, res, account, outcome, now):
            return
        for x in lines:
            tx.execute(
                "INSERT INTO return_lines (account, original_txn_id, line, qty_milli, "
                "points_reversed, points_refunded, refund, redeemed_refund) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, original_txn_id, line) "
                "DO UPDATE SET qty_milli = return_lines.qty_milli + excluded.qty_milli, "
                "points_reversed = return_lines.points_reversed + excluded.points_reversed, "
                "points_refunded = return_lines.points_refunded + excluded.points_refunded, "
                "refund = return_lines.refund + excluded.refund, "
                "redeemed_refund = return_lines.redeemed_refund + excluded.redeemed_refund",
                (account, txn.original_txn_id, x.line, x.qty_milli, x.points_reversed,
                 x.points_refunded, x.refund, x.redeemed_refund))
        if member and reversed_:
            _journal.post(tx, account, f"{txn.txn_id}:return_reversal:accrual",
                          "return_reversal", -reversed_, now, txn.txn_id, "accrued points reversed")
        if member and refunded:
            _journal.post(tx, account, f"{txn.txn_id}:return_reversal:redemption",
                          "return_reversal", refunded, now, txn.txn_id, "redeemed points refunded")
        if member:
            _sales.after_return(tx, account, txn.txn_id, sum(x.refund for x in lines), now)
        self._record_audit(tx, res, account, audit, detail, now)

    # -- step 3 ---------------------------------------------------------
    def _finish(self, till: TillRecord, results: list[Result], claimed: list[Result],
                now: str) -> int:
        """Step 3 in its own transaction (the ``per_sale_commit`` path)."""
        with self.storage.transaction() as tx:
            return self._finish_in(tx, till, results, claimed, now)

    def _finish_in(self, tx: Tx, till: TillRecord, results: list[Result],
                   claimed: list[Result], now: str) -> int:
        return self._finish_many(tx, [(till, results, claimed)], now)[0]

    def _finish_many(self, tx: Tx, items: list[tuple[TillRecord, list[Result], list[Result]]],
                     now: str) -> list[int]:
        """Step 3 for the batches of several tills (one till once), set-based."""
        drop, done, counts = [], [], []
        for till, results, claimed in items:
            claimed_ids = {id(r) for r in claimed}
            for res in results:
                if id(res) not in claimed_ids or res.txn is None:
                    continue
                if res.status == "rejected":
                    drop.append((till.till, res.txn.txn_id))
                else:
                    outcome = res.outcome if res.status == "accepted" else res.original
                    text = (res.outcome_text if res.status == "accepted" and res.outcome_text
                            else json.dumps(outcome, separators=(",", ":")))
                    done.append((res.account, text, till.till, res.txn.txn_id))
            rejected = [r for r in results if r.status == "rejected"]
            for res in rejected:
                tx.execute(
                    "INSERT INTO rejects (till, reject_id, txn_id, seq, reason, detail, "
                    "first_at, last_at, times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT (till, reject_id) DO UPDATE SET last_at = excluded.last_at, "
                    "times = rejects.times + 1",
                    (till.till, _reject_id(res), res.txn_id if isinstance(res.txn_id, str)
                     else None, res.seq if isinstance(res.seq, int) else None, res.reason,
                     res.detail, now, now))
            top = max((r.txn.seq for r in results if r.txn and r.status != "rejected"),
                      default=0)
            counts.append((sum(1 for r in results if r.status == "accepted"),
                           sum(1 for r in results if r.status == "duplicate"), len(rejected),
                           sum(1 for r in results if r.applied_now and r.audit == "mismatch"),
                           now, top, till.till))
        tx.executemany("DELETE FROM till_seqs WHERE till = ? AND txn_id = ? AND "
                       "state = 'claimed'", drop)
        _values_update(tx, "till_seqs", "state = 'applied', account = v.column1, "
                       "outcome = v.column2", "till_seqs.till = v.column3 AND "
                       "till_seqs.txn_id = v.column4", done)
        _values_update(tx, "till_state", "accepted = accepted + v.column1, "
                       "duplicates = duplicates + v.column2, rejected = rejected + v.column3, "
                       "audit_mismatches = audit_mismatches + v.column4, "
                       "last_contact = v.column5, max_seq = CASE WHEN max_seq > v.column6 "
                       "THEN max_seq ELSE v.column6 END", "till_state.till = v.column7", counts)
        highs = advance_high_waters(tx, [till.till for till, _, _ in items])
        return [highs[till.till] for till, _, _ in items]

    def upload(self, till: TillRecord, body: Any, epoch: str | None = None) -> BatchAnswer:
        """Apply one batch for ``till``; the answer is built after the last commit.

        ``epoch``: the restore epoch to answer with (default: read in the
        upload's own transaction).
        """
        with self.activity.busy():
            answer = self._upload(till, body, epoch)
        if self.on_queued is not None and any(r.audit == AUDIT_QUEUED for r in answer.results):
            self.on_queued()
        return answer

    def _upload(self, till: TillRecord, body: Any, epoch: str | None) -> BatchAnswer:
        txns = check_envelope(body, till)
        now = utc_text(self.clock())
        results = []
        for raw in txns:
            txn_id = raw.get("txn_id") if isinstance(raw, dict) else None
            seq = raw.get("seq") if isinstance(raw, dict) else None
            # echoed as sent when it can be: text made storable, a bounded integer
            res = Result(safe_text(txn_id, 100) if isinstance(txn_id, str) else None,
                         seq if is_int(seq) and 0 <= seq <= MAX_INT else None)
            try:
                res.txn = validate(raw)
                if res.txn.kind == "sale":
                    self._ceilings(res.txn)
            except TxnInvalid as exc:
                res.reject("invalid", f"{exc.field}: {exc.message}" if exc.field else exc.message,
                           exc.field or None)
                res.txn = None
            else:
                if res.txn.store != till.store:
                    res.reject("bad_store", f"till {till.till} belongs to store {till.store}")
                    res.txn = None
            results.append(res)
        if self.per_sale_commit:  # three steps, each on one distribution key (Citus)
            claimed = self._claim(till, results, now)
            self._apply(claimed, now)
            high_water = self._finish(till, results, claimed, now)
            if epoch is None:
                with self.storage.transaction() as tx:
                    epoch = read_epoch(tx)
            return BatchAnswer(results, high_water, epoch)

        item = (till, results, now, epoch)
        return self.group.run(lambda tx: self._upload_many(tx, [item])[0],
                              combine=self._upload_many, item=item, key=till.till)

    def _upload_many(self, tx: Tx, items: list[tuple[TillRecord, list[Result], str, str | None]]
                     ) -> list[BatchAnswer]:
        """The uploads of different tills as one: claim and finish per till, one apply.

        A run may be undone and done again (alone after a failed combined
        run, or after a deadlock): each run starts from copies of the
        validated results, never from those a rolled-back run changed.
        """
        mine = [[replace(r) for r in results] for _, results, _, _ in items]
        now = max(i[2] for i in items)
        tills = [i[0] for i in items]
        claimed = self._claim_many(tx, list(zip(tills, mine, strict=True)), now)
        self._apply_in(tx, [r for c in claimed for r in c], now)
        highs = self._finish_many(tx, list(zip(tills, mine, claimed, strict=True)), now)
        stored = read_epoch(tx) if any(i[3] is None for i in items) else ""
        return [BatchAnswer(rs, high, stored if epoch is None else epoch)
                for (_, _, _, epoch), rs, high in zip(items, mine, highs, strict=True)]


def read_epoch(tx: Tx) -> str:
    """The restore epoch (``meta``)."""
    row = tx.one("SELECT value FROM meta WHERE key = 'epoch'")
    return str(row[0]) if row else ""



def _values_update(tx: Tx, table: str, sets: str, where: str,
                   rows: list[tuple[Any, ...]]) -> None:
    """``UPDATE table SET sets FROM (VALUES rows) AS v WHERE where``, 300 rows a statement."""
    if not rows:
        return
    mark = "(" + ", ".join("?" * len(rows[0])) + ")"
    for i in range(0, len(rows), 300):
        part = rows[i:i + 300]
        tx.execute(f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([mark] * len(part))}) "
                   f"AS v WHERE {where}", [x for r in part for x in r])


def advance_high_waters(tx: Tx, tills: list[str]) -> dict[str, int]:
    """``advance_high_water`` for several tills: two reads and one write for them all.

    Each till's applied seqs are read at most ``HWM_CHUNK`` above its mark;
    a till whose chunk was all contiguous goes on alone.
    """
    highs = {str(r[0]): int(r[1]) for r in _bulk.select_in(
        tx, "SELECT till, high_water FROM till_state WHERE till IN ({})", (), sorted(tills))}
    start = dict(highs)
    seqs: dict[str, list[int]] = {}
    order = sorted(highs)
    for i in range(0, len(order), 100):
        part = order[i:i + 100]
        terms = " OR ".join(["(till = ? AND seq > ? AND seq <= ?)"] * len(part))
        for row in tx.all(f"SELECT till, seq FROM till_seqs WHERE state = 'applied' AND "
                          f"({terms})", [x for t in part
                                         for x in (t, highs[t], highs[t] + HWM_CHUNK)]):
            seqs.setdefault(str(row[0]), []).append(int(row[1]))
    longer = []
    for till, found in seqs.items():
        for seq in sorted(found):
            if seq != highs[till] + 1:
                break
            highs[till] = seq
        if highs[till] == start[till] + HWM_CHUNK:
            longer.append(till)
    _values_update(tx, "till_state", "high_water = v.column1", "till_state.till = v.column2",
                   [(highs[t], t) for t in order if highs[t] != start[t]])
    for till in longer:
        highs[till] = advance_high_water(tx, till)
    return {t: highs.get(t, 0) for t in tills}


def advance_high_water(tx: Tx, till: str) -> int:
    """Move the till's contiguous high-water mark over every applied seq; return it."""
    row = tx.one("SELECT high_water FROM till_state WHERE till = ?", (till,))
    high = int(row[0]) if row else 0
    start = high
    while True:
        seqs = [int(r[0]) for r in tx.all(
            "SELECT seq FROM till_seqs WHERE till = ? AND seq > ? AND state = 'applied' "
            "ORDER BY seq LIMIT ?", (till, high, HWM_CHUNK))]
        for seq in seqs:
            if seq != high + 1:
                break
            high = seq
        else:
            if len(seqs) == HWM_CHUNK:
                continue
        break
    if high != start:
        tx.execute("UPDATE till_state SET high_water = ? WHERE till = ?", (high, till))
    return high


def gaps(tx: Tx, till: str) -> list[tuple[int, int]]:
    """Missing seq ranges ``(first, last)`` between the high-water mark and the top seq."""
    row = tx.one("SELECT high_water FROM till_state WHERE till = ?", (till,))
    high = int(row[0]) if row else 0
    seqs = [int(r[0]) for r in tx.all("SELECT seq FROM till_seqs WHERE till = ? AND seq > ? "
                                      "AND state = 'applied' ORDER BY seq", (till, high))]
    out = []
    expect = high + 1
    for seq in seqs:
        if seq > expect:
            out.append((expect, seq - 1))
        expect = seq + 1
    return out


def _enrols_first(todo: list[Result]) -> list[Result]:
    """``todo`` with its enrol TXNs first (a card's enrolment precedes its sales)."""
    return sorted(todo, key=lambda r: r.txn is None or r.txn.kind != "enrol")


def _lock_accounts(tx: Tx, todo: list[Result], for_update: str) -> None:
    """Lock the accounts ``todo`` names, in account order, before touching any.

    Two server processes applying groups that share accounts otherwise take
    their row locks in different orders (the set-based update sorted, the
    one-by-one sales and returns and the lots and tiers in batch order), and
    PostgreSQL ends one of them as a deadlock: a 503 and a resend for tills
    that did nothing wrong (measured: 1–2 per 8,000-TXN backlog drained
    through ``ledger serve --workers 2``).
    """
    names = sorted({t.account for r in todo if (t := r.txn) is not None and t.account})
    if names:
        _bulk.select_in(tx, "SELECT account FROM accounts WHERE account IN ({}) ORDER BY account"
                        + for_update, (), names)
