"""Online identification and holds, and every fallback, through the ledger port.

The port here is a small in-test ledger with real state (balances, holds);
the real HTTP ledger runs in test_agent_e2e.py and test_agent_demo.py."""
from __future__ import annotations

from typing import Any

from agent import InsufficientBalance, LedgerUnavailable

CHEESE, COFFEE = "4607000000038", "4607000000090"


class TinyLedger:
    def __init__(self, balance: int = 1000) -> None:
        self.balance = balance
        self.holds: dict[str, int] = {}
        self.down = False
        self.released: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise LedgerUnavailable("offline", "timeout")

    def customer(self, card: str, timeout: float) -> dict[str, Any] | None:
        self._check()
        return {"card": card, "account": "A-77", "tier": "silver", "balance": self.balance - sum(self.holds.values())}

    def hold(self, account: str, points: int, txn_id: str, timeout: float) -> dict[str, Any]:
        self._check()
        available = self.balance - sum(self.holds.values())
        if points > available:
            raise InsufficientBalance(available=available)
        hold_id = f"h{len(self.holds) + len(self.released) + 1}"
        self.holds[hold_id] = points
        return {"hold_id": hold_id, "points": points}

    def release(self, hold_id: str, timeout: float) -> None:
        self._check()
        self.holds.pop(hold_id, None)
        self.released.append(hold_id)


def sale(till, signer, **claims):  # type: ignore[no-untyped-def]
    s = till.open_session()
    till.add_line(s.id, COFFEE)
    till.add_line(s.id, CHEESE)
    return till.identify(s.id, signer.token(**claims))


def test_online_identification_uses_the_ledger_balance_and_holds_the_points(make_till, signer) -> None:
    ledger = TinyLedger(balance=2000)
    till = make_till(ledger=ledger)
    s = sale(till, signer, bal=100, cap=50)
    assert s.mode == "online" and s.customer["available_points"] == 2000
    s = till.redeem(s.id, "max")
    points = s.result["totals"]["redeemed_points"]
    assert points > 100 and s.hold == {"hold_id": "h1", "points": points}
    s = till.pay(s.id)
    txn = till.outbox.rows()[0].txn
    assert txn["mode"] == "online" and txn["hold_id"] == "h1"


def test_a_hold_refused_for_balance_reprices_with_what_the_ledger_has(make_till, signer) -> None:
    ledger = TinyLedger(balance=2000)
    till = make_till(ledger=ledger)
    s = sale(till, signer)
    ledger.balance = 120  # spent elsewhere since the look-up
    s = till.redeem(s.id, "max")
    assert s.result["totals"]["redeemed_points"] == 120 and s.hold["points"] == 120


def test_a_dead_ledger_at_hold_time_falls_back_to_the_token_cap(make_till, signer) -> None:
    ledger = TinyLedger(balance=2000)
    till = make_till(ledger=ledger)
    s = sale(till, signer, bal=1500, cap=70)
    ledger.down = True
    s = till.redeem(s.id, "max")
    assert s.mode == "offline" and s.hold is None and s.result["totals"]["redeemed_points"] == 70
    till.pay(s.id)
    assert till.outbox.rows()[0].txn["mode"] == "offline"


def test_a_dead_ledger_at_identification_is_offline_from_the_start(make_till, signer) -> None:
    ledger = TinyLedger()
    ledger.down = True
    till = make_till(ledger=ledger)
    s = sale(till, signer, cap=30)
    assert s.mode == "offline" and s.customer["available_points"] == 30


def test_cancel_and_re_identification_release_the_hold(make_till, signer) -> None:
    ledger = TinyLedger(balance=2000)
    till = make_till(ledger=ledger)
    s = sale(till, signer)
    till.redeem(s.id, 100)
    till.identify(s.id, signer.token(jti="other"))
    assert ledger.released == ["h1"] and ledger.holds == {}
    till.redeem(s.id, 100)
    till.cancel(s.id)
    assert ledger.released == ["h1", "h2"] and ledger.holds == {}


def test_a_basket_that_grew_after_the_hold_is_held_again_at_payment(make_till, signer) -> None:
    ledger = TinyLedger(balance=5000)
    till = make_till(ledger=ledger)
    s = sale(till, signer)
    s = till.redeem(s.id, "max")
    first = s.hold["points"]
    till.add_line(s.id, COFFEE)
    s = till.pay(s.id)
    txn = till.outbox.rows()[0].txn
    assert txn["result"]["totals"]["redeemed_points"] > first
    assert ledger.released == ["h1"] and list(ledger.holds.values()) == [txn["result"]["totals"]["redeemed_points"]]


def test_a_release_that_fails_does_not_block_the_cancel(make_till, signer) -> None:
    ledger = TinyLedger(balance=2000)
    till = make_till(ledger=ledger)
    s = sale(till, signer)
    till.redeem(s.id, 100)
    ledger.down = True
    till.cancel(s.id)
    assert till.current() is None
