"""Batch upload: exactly-once application of till transactions.

Three steps, each one transaction on one distribution key (see
docs/ledger-distribution.md):

1. **claim** (the till's shard): each TXN's ``(till, seq)`` and
   ``(till, txn_id)`` are claimed in ``till_seqs``. A known ``txn_id`` with
   another hash is ``txn_id_conflict``; an applied one is ``duplicate``
   (answered with its original outcome); a seq held by another ``txn_id``
   is ``seq_conflict``.
2. **apply** (the account's shard, per sale): the ``sales`` row — primary
   key ``(account, txn_id)``, kept forever — journal entries, balance,
   hold and the sale's ``audit_queue`` row (re-priced after the answer by
   ``_auditor``), in one savepoint per TXN. By default the whole batch's
   applies share one database transaction (one durable commit per batch);
   ``per_sale_commit`` makes each sale its own single-shard transaction, as
   on Citus.
3. **finish** (the till's shard): claims become ``applied`` (with the
   outcome a resend will be answered with) or are dropped when the apply
   refused them; rejects, counters, last contact and the contiguous
   high-water mark are updated.

The answer is sent only after step 3 commits. A crash between steps leaves
``claimed`` rows; a resend finds them and completes the work, and the
``sales`` primary key stops a second apply: at-least-once delivery becomes
exactly-once effect.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _audit, _bulk, _holds, _journal, _returns
from ._auditor import Activity
from ._clock import utc_text
from ._errors import Conflict, RequestError
from ._storage import Storage, Tx
from ._tills import Till
from ._txn import Txn, TxnInvalid, validate

log = logging.getLogger(__name__)

MAX_BATCH = 5000
#: a sale's ``audit`` in the answer: re-priced after the acknowledgement (see ``_auditor``)
AUDIT_QUEUED = "queued"
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

    def reject(self, reason: str, detail: str) -> None:
        self.status, self.reason, self.detail = "rejected", reason, detail

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"txn_id": self.txn_id, "seq": self.seq, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
            out["detail"] = self.detail
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


def check_envelope(body: Any, till: Till) -> list[Any]:
    """Validate the batch envelope; 4xx (nothing changed) when it is wrong."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid", "the body must be a JSON object", "")
    for key, own in (("till", till.till), ("store", till.store)):
        value = body.get(key)
        if not isinstance(value, str):
            raise RequestError(400, "invalid", f"{key} must be a string", key)
        if value != own:
            raise RequestError(403, "forbidden", f"this key belongs to {key} {own}", key)
    txns = body.get("transactions")
    if not isinstance(txns, list):
        raise RequestError(400, "invalid", "transactions must be a list", "transactions")
    if not txns:
        raise RequestError(400, "invalid", "transactions must not be empty", "transactions")
    if len(txns) > MAX_BATCH:
        raise RequestError(413, "batch_too_large", f"at most {MAX_BATCH} transactions a batch",
                           "transactions")
    for i, txn in enumerate(txns):
        if isinstance(txn, dict) and isinstance(txn.get("till"), str) and txn["till"] != till.till:
            raise RequestError(403, "forbidden", f"transactions[{i}] names till {txn['till']}",
                               f"transactions[{i}].till")
    return txns


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

    # -- step 1 ---------------------------------------------------------
    def _claim(self, till: Till, results: list[Result], now: str) -> list[Result]:
        try:
            with self.storage.transaction() as tx:
                plan = _bulk.plan_claims(tx, till.till, results, now)
        except Conflict:  # a concurrent upload of the same till: decide one by one
            log.info("claim race on till %s; claiming one by one", till.till)
            return self._claim_each(till, results, now)
        for res, original in plan.duplicates:
            res.status, res.original = "duplicate", original
        for res, reason, detail in plan.conflicts:
            res.reject(reason, detail)
        return plan.todo

    def _claim_each(self, till: Till, results: list[Result], now: str) -> list[Result]:
        todo = []
        with self.storage.transaction() as tx:
            for res in results:
                txn = res.txn
                if txn is None:
                    continue
                row = tx.one("SELECT hash, state, outcome FROM till_seqs WHERE till = ? AND "
                             "txn_id = ?", (till.till, txn.txn_id))
                if row is not None:
                    if row[0] != txn.hash:
                        res.reject("txn_id_conflict",
                                   "this txn_id was uploaded before with another body")
                    elif row[1] == "applied":
                        res.status, res.original = "duplicate", json.loads(row[2])
                    else:
                        todo.append(res)  # claimed by an interrupted upload: finish it
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
                elif row[0] != txn.hash:
                    res.reject("txn_id_conflict",
                               "this txn_id was uploaded before with another body")
                elif row[1] == "applied":
                    res.status, res.original = "duplicate", json.loads(row[2])
                else:
                    todo.append(res)
        return todo

    # -- step 2 ---------------------------------------------------------
    @contextlib.contextmanager
    def _apply_scope(self) -> Iterator[Callable[[], contextlib.AbstractContextManager[Tx]]]:
        if self.per_sale_commit:
            yield self.storage.transaction
            return
        with self.storage.transaction() as tx:
            @contextlib.contextmanager
            def scope() -> Iterator[Tx]:
                with tx.savepoint():
                    yield tx
            yield scope

    def _apply(self, todo: list[Result], now: str) -> None:
        if not self.per_sale_commit:
            sales = [r for r in todo if r.txn is not None and r.txn.kind == "sale"]
            if sales and self._apply_sales_bulk(sales, now):
                todo = [r for r in todo if r.txn is None or r.txn.kind != "sale"]
        if todo:
            self._apply_each(todo, now)

    def _apply_sales_bulk(self, sales: list[Result], now: str) -> bool:
        """All of a batch's sales in one transaction, set-based; False on a race."""
        try:
            with self.storage.transaction() as tx:
                plans = []
                for res in sales:
                    txn = res.txn
                    assert txn is not None
                    member = txn.account or (self._card_account(tx, txn.card)
                                             if txn.card else None)
                    account = member or f"anon:{txn.till}"
                    totals = txn.raw["result"].get("totals") or {}
                    accrued = int(totals.get("points", 0)) if member else 0
                    redeemed = int(totals.get("redeemed_points", 0)) if member else 0
                    outcome = {"status": "accepted", "accepted_at": now, "account": account,
                               "journal": {"accrual": accrued, "redemption": -redeemed},
                               "audit": AUDIT_QUEUED}
                    plans.append(_bulk.SalePlan(res, account, bool(member), outcome))
                written = _bulk.write_sales(tx, plans, now, _bulk.existing_sales(tx))
        except Conflict:
            log.info("apply race; applying this batch's sales one by one")
            return False
        for plan, prior in written:
            res = plan.res
            if prior is None:
                res.status, res.outcome, res.account = "accepted", plan.outcome, plan.account
                res.applied_now, res.audit = True, AUDIT_QUEUED
                res.outcome_text = plan.outcome_text
            elif prior[0] != res.txn.hash:
                res.reject("txn_id_conflict", "this txn_id was uploaded before with another body")
            else:
                res.status, res.original = "duplicate", json.loads(prior[1])
                res.outcome, res.account = res.original, plan.account
        return True

    def _apply_each(self, todo: list[Result], now: str) -> None:
        with self._apply_scope() as scope:
            for res in todo:
                try:
                    with scope() as tx:
                        if res.txn is not None and res.txn.kind == "sale":
                            self._apply_sale(tx, res, now)
                        else:
                            self._apply_return(tx, res, now)
                except _Refused as exc:
                    res.reject(exc.reason, exc.detail)

    def _existing(self, tx: Tx, res: Result, account: str) -> bool:
        txn = res.txn
        assert txn is not None
        row = tx.one("SELECT hash, outcome FROM sales WHERE account = ? AND txn_id = ?",
                     (account, txn.txn_id))
        if row is None:
            return False
        if row[0] != txn.hash:
            raise _Refused("txn_id_conflict", "this txn_id was uploaded before with another body")
        res.status, res.original = "duplicate", json.loads(row[1])
        res.outcome, res.account = res.original, account
        return True

    def _insert_sale(self, tx: Tx, res: Result, account: str, outcome: dict[str, Any],
                     now: str) -> bool:
        txn = res.txn
        assert txn is not None
        raw = txn.raw
        inserted = tx.execute(
            "INSERT INTO sales (account, txn_id, till, store, seq, kind, at, mode, hold_id, "
            "bundle_version, original_txn_id, hash, body, outcome, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (account, txn.txn_id, txn.till, txn.store, txn.seq, txn.kind, txn.at,
             raw.get("mode"), txn.hold_id, txn.bundle_version, txn.original_txn_id, txn.hash,
             txn.canonical,
             json.dumps(outcome, separators=(",", ":")), now))
        if inserted != 1:  # a concurrent upload won the race: answer as it did
            if not self._existing(tx, res, account):
                raise RuntimeError("sale row vanished")
            return False
        res.status, res.outcome, res.account, res.applied_now = "accepted", outcome, account, True
        return True

    def _apply_sale(self, tx: Tx, res: Result, now: str) -> None:
        txn = res.txn
        assert txn is not None
        member = txn.account or (self._card_account(tx, txn.card) if txn.card else None)
        account = member or f"anon:{txn.till}"
        if self._existing(tx, res, account):
            return
        result = txn.raw["result"]
        totals = result.get("totals") or {}
        accrued = int(totals.get("points", 0)) if member else 0
        redeemed = int(totals.get("redeemed_points", 0)) if member else 0
        outcome = {"status": "accepted", "accepted_at": now, "account": account,
                   "journal": {"accrual": accrued, "redemption": -redeemed},
                   "audit": AUDIT_QUEUED}
        if member:
            _journal.ensure_account(tx, account, now)
        if not self._insert_sale(tx, res, account, outcome, now):
            return
        if member:
            if accrued:
                _journal.post(tx, account, f"{txn.txn_id}:accrual", "accrual", accrued, now,
                              txn.txn_id)
            if redeemed:
                _journal.post(tx, account, f"{txn.txn_id}:redemption", "redemption", -redeemed,
                              now, txn.txn_id)
            birthday = int((result.get("bonus") or {}).get("birthday", 0) or 0)
            tx.execute("UPDATE accounts SET sales = sales + 1, birthday_bonus_year = "
                       "CASE WHEN ? > 0 THEN ? ELSE birthday_bonus_year END WHERE account = ?",
                       (birthday, int(txn.at[:4]), account))
            if txn.hold_id:
                _holds.consume(tx, account, txn.hold_id, now)
        res.audit = AUDIT_QUEUED
        tx.execute("INSERT INTO audit_queue (account, txn_id, till, store, bundle_version, "
                   "queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (account, txn.txn_id, txn.till, txn.store, txn.bundle_version, now))

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

    def _apply_return(self, tx: Tx, res: Result, now: str) -> None:
        txn = res.txn
        assert txn is not None and txn.original_txn_id is not None
        row = tx.one("SELECT account, body FROM sales WHERE txn_id = ? AND kind = 'sale'",
                     (txn.original_txn_id,))
        if row is None:
            raise _Refused("unknown_original",
                           f"no sale {txn.original_txn_id} is known to the ledger")
        account, sale = str(row[0]), json.loads(row[1])
        if self._existing(tx, res, account):
            return
        already = {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))
                   for r in tx.all("SELECT line, qty_milli, points_reversed, points_refunded, "
                                   "refund, redeemed_refund FROM return_lines WHERE account = ? "
                                   "AND original_txn_id = ?", (account, txn.original_txn_id))}
        try:
            lines = _returns.compute(sale["result"], txn.returned, already)
        except _returns.ReturnRefused as exc:
            raise _Refused("invalid", exc.detail) from exc
        member = not account.startswith("anon:")
        reversed_ = sum(x.points_reversed for x in lines) if member else 0
        refunded = sum(x.points_refunded for x in lines) if member else 0
        ours = [{"line": x.line, "refund": x.refund, "redeemed_refund": x.redeemed_refund,
                 "points_reversed": x.points_reversed if member else 0,
                 "points_refunded": x.points_refunded if member else 0} for x in lines]
        theirs = [{k: line.get(k) for k in ("line", "refund", "redeemed_refund",
                                            "points_reversed", "points_refunded")}
                  for line in txn.raw["result"].get("lines") or []]
        paths = _audit.diff(ours, theirs)
        audit, detail = ("ok", None) if not paths else ("mismatch", "; ".join(paths[:10]))
        outcome = {"status": "accepted", "accepted_at": now, "account": account,
                   "journal": {"return_reversal": refunded - reversed_,
                               "points_reversed": reversed_, "points_refunded": refunded},
                   "lines": ours, "audit": audit}
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
        self._record_audit(tx, res, account, audit, detail, now)

    # -- step 3 ---------------------------------------------------------
    def _finish(self, till: Till, results: list[Result], claimed: list[Result],
                now: str) -> int:
        claimed_ids = {id(r) for r in claimed}
        with self.storage.transaction() as tx:
            drop, done = [], []
            for res in results:
                if id(res) not in claimed_ids or res.txn is None:
                    continue
                if res.status == "rejected":
                    drop.append((till.till, res.txn.txn_id))
                else:
                    outcome = res.outcome if res.status == "accepted" else res.original
                    text = (res.outcome_text if res.status == "accepted" and res.outcome_text
                            else json.dumps(outcome, separators=(",", ":")))
                    done.append((res.account, text,
                                 till.till, res.txn.txn_id))
            tx.executemany("DELETE FROM till_seqs WHERE till = ? AND txn_id = ? AND "
                           "state = 'claimed'", drop)
            tx.update_rows("till_seqs", "state = 'applied'", ("account", "outcome"), "txn_id",
                           "till_seqs.till = ?", (till.till,),
                           [(a, o, t) for a, o, _, t in done])
            rejected = [r for r in results if r.status == "rejected"]
            for res in rejected:
                tx.execute(
                    "INSERT INTO rejects (till, reject_id, txn_id, seq, reason, detail, first_at, "
                    "last_at, times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT (till, reject_id) DO UPDATE SET last_at = excluded.last_at, "
                    "times = rejects.times + 1",
                    (till.till, _reject_id(res), res.txn_id if isinstance(res.txn_id, str)
                     else None, res.seq if isinstance(res.seq, int) else None, res.reason,
                     res.detail, now, now))
            accepted = sum(1 for r in results if r.status == "accepted")
            dups = sum(1 for r in results if r.status == "duplicate")
            mism = sum(1 for r in results if r.applied_now and r.audit == "mismatch")
            top = max((r.txn.seq for r in results if r.txn and r.status != "rejected"), default=0)
            tx.execute(
                "UPDATE till_state SET accepted = accepted + ?, duplicates = duplicates + ?, "
                "rejected = rejected + ?, audit_mismatches = audit_mismatches + ?, "
                "last_contact = ?, max_seq = CASE WHEN max_seq > ? THEN max_seq ELSE ? END "
                "WHERE till = ?",
                (accepted, dups, len(rejected), mism, now, top, top, till.till))
            return advance_high_water(tx, till.till)

    def upload(self, till: Till, body: Any, epoch: str) -> BatchAnswer:
        """Apply one batch for ``till``; the answer is built after the last commit."""
        with self.activity.busy():
            answer = self._upload(till, body, epoch)
        if self.on_queued is not None and any(r.audit == AUDIT_QUEUED for r in answer.results):
            self.on_queued()
        return answer

    def _upload(self, till: Till, body: Any, epoch: str) -> BatchAnswer:
        txns = check_envelope(body, till)
        now = utc_text(self.clock())
        results = []
        for raw in txns:
            res = Result(raw.get("txn_id") if isinstance(raw, dict) else None,
                         raw.get("seq") if isinstance(raw, dict) else None)
            try:
                res.txn = validate(raw)
            except TxnInvalid as exc:
                res.reject("invalid", f"{exc.field}: {exc.detail}" if exc.field else exc.detail)
            else:
                if res.txn.store != till.store:
                    res.reject("bad_store", f"till {till.till} belongs to store {till.store}")
                    res.txn = None
            results.append(res)
        claimed = self._claim(till, results, now)
        self._apply(claimed, now)
        high_water = self._finish(till, results, claimed, now)
        return BatchAnswer(results, high_water, epoch)


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


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
