"""The sale session: scan, identify, redeem, pay, crash restore, reprint."""
from __future__ import annotations

import json

import pytest
from agent_kit import CACHED_CARD, CARD, NOW

from agent import SessionError, TokenError
from agent._receipt import parse_printed
from agent._session import Session, SessionState
from sync import OutboxError

MILK, CHEESE, APPLES = "4607000000014", "4607000000038", "2000000000053"


def test_a_sale_with_a_token_redeems_offline_within_the_cap_and_prints(make_till, signer, printer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.add_line(s.id, MILK)
    till.add_line(s.id, CHEESE)
    till.add_line(s.id, APPLES, "0.455")
    till.identify(s.id, signer.token(bal=1500, cap=40))
    s = till.redeem(s.id, "max")
    assert s.result["redeem"]["points"] == 40 and s.mode == "offline"
    s = till.pay(s.id, "card")
    assert s.state is SessionState.CLOSED and s.receipt_id == "KY-001-01/1"
    [row] = till.outbox.rows()
    txn = row.txn
    assert txn["customer"]["jti"] == "jti-1" and txn["mode"] == "offline"
    assert txn["result"]["totals"]["redeemed_points"] == 40
    receipt = parse_printed(printer.receipts[0])
    assert receipt["receipt_id"] == "KY-001-01/1"
    assert [ln["qty"] for ln in receipt["lines"]] == ["2", "1", "0.455"]
    assert [ln["amount"] for ln in receipt["lines"]] == [ln["amount"] for ln in txn["result"]["lines"]]
    assert receipt["totals"]["total"] == txn["result"]["totals"]["paid"]
    assert receipt["totals"]["card"] == "****" + CARD[-4:]
    assert CARD not in printer.receipts[0]


def test_the_same_token_cannot_close_a_second_sale(make_till, signer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.identify(s.id, signer.token())
    till.pay(s.id)
    s2 = till.open_session()
    with pytest.raises(TokenError) as info:
        till.identify(s2.id, signer.token())
    assert info.value.reason == "replayed"


def test_offline_points_already_spent_since_iat_reduce_the_next_token(make_till, signer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, CHEESE)
    till.identify(s.id, signer.token(cap=100, jti="a"))
    till.redeem(s.id, 60)
    till.pay(s.id)
    s = till.open_session()
    till.add_line(s.id, CHEESE)
    s = till.identify(s.id, signer.token(cap=100, jti="b"))
    assert s.customer["available_points"] == 40


def test_a_card_from_the_store_cache_redeems_nothing_offline_by_default(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, CHEESE)
    s = till.identify(s.id, CACHED_CARD)
    assert s.customer["account"] == "A-99" and s.customer["available_points"] == 0
    s = till.redeem(s.id, "max")
    assert s.result["redeem"]["points"] == 0 and s.result["totals"]["points"] > 0


def test_an_unknown_card_is_refused_and_changes_nothing(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, CHEESE)
    with pytest.raises(SessionError) as info:
        till.identify(s.id, CARD)
    assert info.value.reason == "unknown_card" and till.get(s.id).customer is None


def test_bad_edits_are_refused_and_change_nothing(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    before = till.get(s.id).to_json()
    for call, reason in [(lambda: till.add_line(s.id, "0000000000000"), "unknown_sku"),
                         (lambda: till.add_line(s.id, MILK, "1.5"), "bad_qty"),
                         (lambda: till.add_line(s.id, MILK, "0"), "bad_qty"),
                         (lambda: till.set_qty(s.id, 5, 1), "unknown_line"),
                         (lambda: till.void_line(s.id, -1), "unknown_line"),
                         (lambda: till.redeem(s.id, 10), "no_customer"),
                         (lambda: till.redeem(s.id, -1), "bad_redeem"),
                         (lambda: till.open_session(), "session_open")]:
        with pytest.raises(SessionError) as info:
            call()
        assert info.value.reason == reason
    assert till.get(s.id).to_json() == before


def test_void_and_quantity_change_reprice(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.add_line(s.id, CHEESE)
    s = till.set_qty(s.id, 0, 3)
    assert s.result["lines"][0]["qty"] == "3"
    s = till.void_line(s.id, 0)
    assert [ln["sku"] for ln in s.result["lines"]] == [CHEESE]
    s = till.void_line(s.id, 0)
    assert s.result is None
    with pytest.raises(SessionError) as info:
        till.pay(s.id)
    assert info.value.reason == "empty"


def test_an_open_sale_survives_a_restart(make_till, signer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.identify(s.id, signer.token())
    till.db.close()
    again = make_till()
    restored = again.current()
    assert restored is not None and restored.id == s.id and restored.customer["account"] == "A-77"
    again.pay(restored.id)
    assert len(again.outbox.rows()) == 1


def test_a_committed_but_unprinted_sale_is_printed_after_restart_not_committed_again(make_till, printer) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    # Commit only, as if the process died right after the outbox transaction.
    till.get(s.id).payment = {"method": "cash", "amount": 0}
    till.commits.commit(till.get(s.id))
    till.db.close()
    again = make_till()
    assert again.current() is None and len(again.outbox.rows()) == 1
    assert len(printer.receipts) == 1 and "KY-001-01/1" in printer.receipts[0]


def test_a_sale_cannot_be_committed_twice(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.pay(s.id)
    with pytest.raises(SessionError):
        till.pay(s.id)
    ghost = Session.from_json(dict(s.to_json(), state="open"))
    till.sessions[ghost.id] = ghost
    with pytest.raises(OutboxError):
        till.pay(ghost.id)
    assert len(till.outbox.rows()) == 1


def test_a_printer_failure_keeps_the_sale_and_queues_a_reprint(make_till, printer) -> None:
    till = make_till()
    printer.broken = True
    s = till.open_session()
    till.add_line(s.id, MILK)
    s = till.pay(s.id)
    assert s.state is SessionState.CLOSED and len(till.outbox.rows()) == 1
    assert till.print_queue() == 1 and printer.receipts == []
    printer.broken = False
    assert till.print_pending() == 1 and till.print_queue() == 0
    assert parse_printed(printer.receipts[0])["receipt_id"] == "KY-001-01/1"


def test_cancel_closes_the_sale_without_an_outbox_row(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.cancel(s.id)
    assert till.current() is None and till.outbox.rows() == []
    with pytest.raises(SessionError):
        till.get(s.id)


def test_journal_rows_hold_the_state(make_till) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, MILK)
    till.pay(s.id)
    state, body = till.db.conn.execute("SELECT state, body FROM agent_session").fetchone()
    assert state == "closed" and json.loads(body)["receipt_id"] == "KY-001-01/1"
    assert NOW
