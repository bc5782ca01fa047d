"""One lightweight till of the fleet: the real outbox and uploader, no devices.

It sells what the plan says with the real ``fastcore.Engine`` and commits
each sale or return to its own SQLite outbox (``sync.Outbox``), exactly the
TXN shape the agent writes. Customers are identified by the app's QR code
(a token the ledger signs through ``POST /v1/tokens``, verified offline
with the bundle's keys, redeemed by the token rule) or by card (looked up
and held online through ``sync.HoldClient`` when the till is online, else
the store's customer list with the programme's offline card cap). While
offline the uploader is paused by the fleet; the queue waits in the outbox.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import fastcore
from sync import HoldClient, Outbox, TillDb, Uploader

from ._fleet_plan import Member, Plan, Return, Sale, TillSpec


@dataclass
class TillCounters:
    """What one till did (added up by the fleet's summary)."""

    sales: int = 0
    returns: int = 0
    member_sales: int = 0
    qr_sales: int = 0
    card_sales: int = 0
    redemptions: int = 0
    holds: int = 0
    tokens: int = 0
    token_refused: int = 0
    offline_sales: int = 0
    offline_periods: int = 0
    caught_up: int = 0
    catch_up_s: list[float] = field(default_factory=list)
    #: real-time (``time.time``) windows the till spent offline
    offline_windows: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Shared:
    """What every till of a fleet shares: the plan, the engine, the ledger's keys."""

    plan: Plan
    engine: Any
    bundle_version: int
    keys: Any  # agent.KeySet of the ledger's published JWKS
    program: str
    offline_card_cap: int
    units: dict[str, str]
    ledger_url: str
    transport: httpx.BaseTransport
    app: httpx.Client  # the app back end (an app key): issues the QR tokens


class SimTill:
    """A till's database, outbox and uploader, and the sale it makes from a plan entry."""

    def __init__(self, spec: TillSpec, key: str, work: Path, shared: Shared, *,
                 batch_size: int = 500) -> None:
        self.spec = spec
        self.key = key
        self.shared = shared
        self.db = TillDb(work / f"{spec.id}.db")
        self.outbox = Outbox(self.db, till=spec.id, store=spec.store)
        self.uploader = Uploader(self.outbox, base_url=shared.ledger_url, key=key,
                                 transport=shared.transport, batch_size=batch_size,
                                 timeout=60.0, heartbeat_every_s=0)
        self.online = True
        self.offline_since: float | None = None
        self.catch_up_from: float | None = None
        self.counters = TillCounters()
        self.lock = threading.Lock()  # one sale at a time, as at a real till
        self._holds: HoldClient | None = None
        self._sold: dict[str, tuple[dict[str, Any], dict[str, Any] | None, int]] = {}
        self._returned: dict[str, dict[int, int]] = {}
        self._used_jti: set[str] = set()
        self._qr_redeemed: dict[str, list[tuple[int, int]]] = {}

    # -- connectivity ------------------------------------------------------
    def go_offline(self) -> None:
        self.online = False
        self.offline_since = time.time()
        self.counters.offline_periods += 1

    def go_online(self) -> None:
        now = time.time()
        if self.offline_since is not None:
            self.counters.offline_windows.append((self.offline_since, now))
        self.offline_since = None
        self.online = True
        self.catch_up_from = now

    def caught_up(self) -> None:
        """The queue is empty again after an offline period."""
        if self.catch_up_from is not None:
            self.counters.caught_up += 1
            self.counters.catch_up_s.append(time.time() - self.catch_up_from)
            self.catch_up_from = None

    # -- selling -------------------------------------------------------------
    def _holds_client(self) -> HoldClient:
        if self._holds is None:
            self._holds = HoldClient(base_url=self.shared.ledger_url, key=self.key,
                                     till=self.spec.id, transport=self.shared.transport,
                                     budget_s=2.0)
        return self._holds

    def _customer(self, m: Member, available: int) -> dict[str, Any]:
        return {"card": m.card, "account": m.account, "tier": m.tier, "segments": [],
                "offers": [], "birthday": None, "birthday_bonus_available": False,
                "favorite_category": None, "favorite_until": None,
                # the fleet's members are past their first purchase: a one-off
                # welcome bonus would depend on which till's upload lands first
                "first_purchase": False, "available_points": max(0, available)}

    def _price(self, basket: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.shared.engine.price(basket).to_json()
        return result

    def _unacked_redeemed(self, account: str) -> int:
        """Points this till redeemed offline for ``account`` the ledger has not acknowledged."""
        spent = self._qr_redeemed.get(account)
        if not spent:
            return 0
        with self.db.reader() as conn:
            row = conn.execute("SELECT MIN(seq) FROM outbox WHERE status = 'pending'").fetchone()
        if row[0] is None:
            spent.clear()
            return 0
        spent[:] = [(seq, pts) for seq, pts in spent if seq >= int(row[0])]
        return sum(p for _, p in spent)

    def _qr(self, m: Member) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The phone shows a fresh token; the till verifies it offline. None if refused."""
        from agent import TokenError, offline_redeemable, verify_code as verify

        try:
            resp = self.shared.app.post("/v1/tokens", json={"card": m.card})
        except httpx.HTTPError:  # the app back end cannot reach the ledger: the card, then
            self.counters.token_refused += 1
            return None
        if resp.status_code != 200:
            self.counters.token_refused += 1
            return None
        self.counters.tokens += 1
        try:
            token = verify(resp.json()["token"], self.shared.keys, now=time.time(),
                           program=self.shared.program, used_jti=self._used_jti)
        except TokenError:
            self.counters.token_refused += 1
            return None
        claims = dict(token.claims)  # type: ignore[union-attr]
        self._used_jti.add(str(claims["jti"]))
        available = offline_redeemable(token, self._unacked_redeemed(m.account))  # type: ignore[arg-type]
        basket_customer = self._customer(m, available)
        basket_customer["tier"] = claims.get("tier") or m.tier
        return basket_customer, {"card": m.card, "account": m.account,
                                 "jti": claims["jti"], "claims": claims}

    def sell(self, sale: Sale) -> None:
        """Make one sale of the plan and commit it to the outbox."""
        plan = self.shared.plan
        with self.lock:
            basket: dict[str, Any] = {
                "store": self.spec.store, "at": plan.instant(sale.t), "customer": None,
                "coupons": list(sale.coupons),
                "lines": [{"sku": sku, "qty": qty} for sku, qty in sale.lines],
                "redeem": sale.redeem}
            txn_customer: dict[str, Any] | None = None
            mode, hold_id = "offline", None
            c = self.counters
            if sale.member is not None:
                m = plan.members[sale.member]
                if sale.by_qr:
                    found = self._qr(m)
                    if found is not None:
                        basket["customer"], txn_customer = found
                        c.qr_sales += 1
                if txn_customer is None:
                    c.card_sales += 1
                    basket["customer"] = self._customer(m, 0)
                    txn_customer = {"card": m.card, "account": m.account, "jti": None,
                                    "claims": None}
                    if sale.redeem and self.online:
                        mode, hold_id = self._card_online(basket, m, sale.txn_id)
                    elif sale.redeem:
                        basket["customer"]["available_points"] = self.shared.offline_card_cap
                c.member_sales += 1
            else:
                basket["redeem"] = 0
            result = self._price(basket)
            if int(result["totals"]["redeemed_points"]):
                c.redemptions += 1
            txn = {"txn_id": sale.txn_id, "kind": "sale", "at": basket["at"],
                   "customer": txn_customer, "mode": mode, "hold_id": hold_id,
                   "basket": basket, "result": result,
                   "bundle_version": self.shared.bundle_version,
                   "engine_version": fastcore.ENGINE_VERSION,
                   "original_txn_id": None, "returned": None}
            row = self.outbox.append(txn)
            c.sales += 1
            if not self.online:
                c.offline_sales += 1
            redeemed = int(result["totals"]["redeemed_points"])
            if txn_customer is not None and txn_customer["jti"] and redeemed:
                self._qr_redeemed.setdefault(txn_customer["account"], []).append((row.seq, redeemed))
            if sale.return_at is not None:
                self._sold[sale.txn_id] = (result, txn_customer, row.seq)

    def _card_online(self, basket: dict[str, Any], m: Member, txn_id: str) -> tuple[str, str | None]:
        """Look the card up and hold the points on the ledger; offline rule on failure."""
        holds = self._holds_client()
        found = holds.lookup_card(m.card)
        if found.kind != "found":
            basket["customer"]["available_points"] = self.shared.offline_card_cap
            return "offline", None
        basket["customer"]["available_points"] = max(0, int(found.customer.get("balance") or 0))
        for _ in range(2):
            need = int(self._price(basket)["totals"]["redeemed_points"])
            if need == 0:
                return "online", None
            held = holds.place(m.account, need, txn_id)
            if held.kind == "held":
                self.counters.holds += 1
                return "online", held.hold_id
            if held.kind == "insufficient" and held.available is not None:
                basket["customer"]["available_points"] = max(0, held.available)
                continue
            basket["customer"]["available_points"] = self.shared.offline_card_cap
            return "offline", None
        basket["customer"]["available_points"] = 0
        return "online", None

    def give_back(self, ret: Return) -> None:
        """Return part of one line of an earlier sale of this till (spec/pricing.md §8)."""
        with self.lock:
            sold = self._sold.get(ret.sale_txn_id)
            if sold is None:
                return
            result, customer, _seq = sold
            line = result["lines"][ret.line]
            unit = self.shared.units.get(line["sku"], "pcs")
            qty = _share(str(line["qty"]), unit, ret.percent)
            done = self._returned.setdefault(ret.sale_txn_id, {})
            units = [self.shared.units.get(ln["sku"], "pcs") for ln in result["lines"]]
            try:
                lines = fastcore.return_lines(result, units, [(ret.line, qty)], done)
            except fastcore.ReturnError:
                return  # nothing left to give back
            totals = fastcore.return_totals(lines)
            at = self.shared.plan.instant(ret.t)
            body = [ln.to_json() for ln in lines]
            txn = {"txn_id": ret.txn_id, "kind": "return", "at": at, "customer": customer,
                   "mode": "offline", "hold_id": None,
                   "basket": {"store": self.spec.store, "at": at, "customer": None, "coupons": [],
                              "redeem": 0, "lines": [{"sku": result["lines"][ln["line"]]["sku"],
                                                      "qty": ln["qty"]} for ln in body]},
                   "result": {"lines": body, "totals": totals},
                   "bundle_version": self.shared.bundle_version,
                   "engine_version": fastcore.ENGINE_VERSION,
                   "original_txn_id": ret.sale_txn_id,
                   "returned": [{"line": ln["line"], "qty": ln["qty"]} for ln in body]}
            self.outbox.append(txn)
            for ln in lines:
                done[ln.line] = done.get(ln.line, 0) + _milli(ln.to_json()["qty"])
            self.counters.returns += 1

    def close(self) -> None:
        self.uploader.close()
        if self._holds is not None:
            self._holds.close()
        self.db.close()


def _milli(qty: str) -> int:
    whole, _, frac = qty.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def _share(qty: str, unit: str, percent: int) -> str:
    """``percent`` of a sold quantity in the line's unit (at least one unit or 1 g)."""
    milli = _milli(qty)
    if unit == "kg":
        part = max(1, milli * percent // 100)
        return f"{part // 1000}.{part % 1000:03d}"
    return str(max(1, milli // 1000 * percent // 100))
