"""token.md's corrected offline rule and negative balances.

Offline a token may redeem ``max(0, min(cap, bal) - R)``, ``R`` = every point
this till redeemed for the account in sales the ledger had not acknowledged
before ``iat - 120 s``. A phone refreshing its code at an offline till gets
a new ``jti`` and the same ``bal``: the rule must not let it spend the
balance again. Accounts below zero are identified (card and token, online
and offline) with nothing to spend.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from agent_kit import NOW, ean13
from shop_kit import wait

from agent._catalog import Catalog
from agent._till import Till
from sync import TillDb

MILK, CHEESE, COFFEE = "4607000000014", "4607000000038", "4607000000090"
PHONE_CARD, PHONE_ACC = ean13("290000055555"), "A-PHONE"
OWING_CARD, OWING_ACC = ean13("290000066666"), "A-OWING"


def sell(till: Till, code: str, redeem: Any = "max") -> dict[str, Any]:
    s = till.open_session()
    till.add_line(s.id, COFFEE)
    till.add_line(s.id, CHEESE)
    till.identify(s.id, code)
    till.redeem(s.id, redeem)
    s = till.pay(s.id)
    return till.sale(s.receipt_id)["txn"]


def ack(till: Till, clock: Any, at: float) -> None:
    """The ledger answers every queued row ``accepted`` at till time ``at``."""
    rows = till.outbox.pending()
    clock.t = at
    till.outbox.record_results([{"txn_id": r.txn_id, "status": "accepted"} for r in rows],
                               epoch="e1", high_water=rows[-1].seq, sent=rows)


def test_a_queued_sale_counts_against_every_later_token_of_the_account(make_till, signer, clock) -> None:
    till = make_till()
    first = sell(till, signer.token(jti="a", bal=500, cap=500))
    spent = first["result"]["totals"]["redeemed_points"]
    assert spent > 0
    clock.t = NOW + 600  # a fresh code, issued long after the sale: still not acknowledged
    tok = signer.token(jti="b", bal=500, cap=500, iat=NOW + 600, exp=NOW + 900)
    s = till.open_session()
    till.add_line(s.id, COFFEE)
    s = till.identify(s.id, tok)
    assert till.redeemed_unacknowledged("A-77", NOW + 600) == spent
    assert s.customer["offline_points"] == 500 - spent


def test_a_sale_acknowledged_before_iat_minus_120s_is_in_bal_and_not_counted(make_till, signer, clock) -> None:
    till = make_till()
    spent = sell(till, signer.token(jti="a", bal=500, cap=500))["result"]["totals"]["redeemed_points"]
    ack(till, clock, NOW + 10)
    # acknowledged at NOW+10: a token issued at NOW+131 (iat-120 = NOW+11) already has it in bal
    assert till.redeemed_unacknowledged("A-77", NOW + 131) == 0
    # a token issued at NOW+130 (iat-120 = NOW+10, the acknowledgement instant) may not: counted
    assert till.redeemed_unacknowledged("A-77", NOW + 130) == spent
    assert till.redeemed_unacknowledged("A-77", NOW) == spent
    # another account's sales never count
    assert till.redeemed_unacknowledged("A-99", NOW) == 0


def test_a_rejected_sale_still_counts(make_till, signer, clock) -> None:
    till = make_till()
    spent = sell(till, signer.token(jti="a", bal=500, cap=500))["result"]["totals"]["redeemed_points"]
    till.outbox.quarantine(1, "invalid")
    assert till.redeemed_unacknowledged("A-77", NOW + 10_000) == spent


def test_ten_refreshes_at_an_offline_till_never_spend_more_than_min_cap_bal(make_till, signer, clock) -> None:
    till = make_till()
    total = welcome = 0
    for i in range(10):
        clock.t = NOW + 30 * i
        tok = signer.token(jti=f"r{i}", bal=500, cap=500, iat=NOW + 30 * i, exp=NOW + 30 * i + 300, new=True)
        res = sell(till, tok)["result"]
        total += res["totals"]["redeemed_points"]
        welcome += res["bonus"]["welcome"]
    assert total == 500
    # the phone's code still says "first purchase": the welcome bonus is given once, not ten times
    assert welcome == till.catalog.program["welcome_points"] > 0


def test_a_card_below_zero_in_the_store_cache_is_identified_offline_with_nothing_to_spend(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
    doc = copy.deepcopy(bundle_doc)
    doc["customers"] = [{"card": OWING_CARD, "account": OWING_ACC, "tier": "base", "balance": -120}]
    db = TillDb(tmp_path / "till.sqlite3", clock=clock)
    try:
        till = Till(db, Catalog(doc), till="KY-001-01", store="KY-001", program="kopilka", clock=clock)
        s = till.open_session()
        till.add_line(s.id, COFFEE)
        s = till.identify(s.id, OWING_CARD)
        assert s.customer["account"] == OWING_ACC and s.customer["available_points"] == 0
        assert s.customer["balance"] == -120 and s.mode == "offline"
        s = till.redeem(s.id, "max")
        assert s.result["totals"]["redeemed_points"] == 0 and s.result["totals"]["points"] > 0
    finally:
        db.close()


# ---------------------------------------------------------------- the real ledger


def _members(shop: dict[str, Any], *rows: dict[str, Any]) -> None:
    shop["ledger"].import_members("\n".join(json.dumps(r) for r in rows))


def _token(shop: dict[str, Any], card: str) -> str:
    r = shop["phone"].post("/v1/tokens", json={"card": card})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["token"])


def _ring(shop: dict[str, Any], code: str) -> dict[str, Any]:
    """Goods through the pty scanner, the customer's code, max points, pay."""
    agent, till = shop["agent"], shop["agent"].till
    for sku in (COFFEE, CHEESE):
        shop["scanner"].scan(sku)
    wait(lambda: till.current() is not None and len(till.current().lines) == 2, "two scans", agent)
    agent.inbox.put(("camera", code))
    wait(lambda: till.current().customer is not None, "identification", agent)
    s = till.redeem(till.current().id, "max")
    s = till.pay(s.id, "cash")
    return till.sale(s.receipt_id)["txn"]


def test_a_phone_refreshing_its_code_ten_times_at_an_offline_till_overspends_at_most_cap(shop) -> None:
    agent, till, ledger = shop["agent"], shop["agent"].till, shop["ledger"]
    _members(shop, {"card": PHONE_CARD, "account": PHONE_ACC, "tier": "base", "opening_balance": 500,
                    "offline_cap": 500})
    wait(lambda: agent.uploader.counters.heartbeats > 0, "first contact", agent)
    shop["proxy"].set_mode("blackhole")
    sales = []
    for _ in range(10):
        tok = _token(shop, PHONE_CARD)  # the ledger has not seen the till's sales: same bal, same cap
        sales.append(_ring(shop, tok))
    assert {json.dumps(t["customer"]["claims"]["bal"]) for t in sales} == {"500"}
    assert len({t["customer"]["jti"] for t in sales}) == 10 and {t["mode"] for t in sales} == {"offline"}
    redeemed = sum(t["result"]["totals"]["redeemed_points"] for t in sales)
    earned = sum(t["result"]["totals"]["points"] for t in sales)
    shop["proxy"].set_mode("pass")
    wait(lambda: till.outbox.status().queue_depth == 0, "the queue to drain", agent, timeout=30)
    balance = ledger.available(PHONE_ACC)
    overspend = max(0, redeemed - 500)
    print(f"\nten refreshes offline: redeemed {redeemed} of bal 500 (cap 500), overspend {overspend}, "
          f"ledger balance after sync {balance} (earned {earned})")
    assert overspend <= 500 and redeemed <= 500
    assert balance == 500 - redeemed + earned and balance >= 0
    assert sum(t["result"]["bonus"]["welcome"] for t in sales) == sales[0]["result"]["bonus"]["welcome"]
    assert not ledger.check()


def test_an_account_below_zero_is_identified_by_card_and_token_online_and_offline(shop) -> None:
    agent, till = shop["agent"], shop["agent"].till
    _members(shop, {"card": OWING_CARD, "account": OWING_ACC, "tier": "base", "opening_balance": -5000})
    wait(lambda: agent.uploader.counters.heartbeats > 0, "first contact", agent)
    online_card = _ring(shop, OWING_CARD)
    online_token = _ring(shop, _token(shop, OWING_CARD))
    shop["proxy"].set_mode("blackhole")
    offline_token = _ring(shop, _token(shop, OWING_CARD))
    assert [t["mode"] for t in (online_card, online_token, offline_token)] == ["online", "online", "offline"]
    for t in (online_card, online_token, offline_token):
        assert t["customer"]["account"] == OWING_ACC
        assert t["result"]["totals"]["redeemed_points"] == 0, (t["mode"], t["basket"]["customer"])
        assert t["result"]["totals"]["points"] > 0
    shop["proxy"].set_mode("pass")
    wait(lambda: till.outbox.status().queue_depth == 0, "the queue to drain", agent, timeout=30)
    earned = sum(t["result"]["totals"]["points"] for t in (online_card, online_token, offline_token))
    assert shop["ledger"].available(OWING_ACC) == -5000 + earned


def test_the_negative_balance_reaches_the_screen_as_zero_to_spend(shop) -> None:
    agent, till = shop["agent"], shop["agent"].till
    _members(shop, {"card": OWING_CARD, "account": OWING_ACC, "tier": "base", "opening_balance": -50})
    wait(lambda: agent.uploader.counters.heartbeats > 0, "first contact", agent)
    shop["scanner"].scan(MILK)
    wait(lambda: till.current() is not None and till.current().lines, "a scan", agent)
    agent.inbox.put(("scan", OWING_CARD))
    wait(lambda: till.current().customer is not None, "identification", agent)
    view = till.view(till.current())
    assert view["customer"]["balance"] == -50 and view["customer"]["available_points"] == 0
    assert view["spendable_points"] == 0 and view["customer"]["card"] == "****" + OWING_CARD[-4:]
