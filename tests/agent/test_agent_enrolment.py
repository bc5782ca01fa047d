"""Enrolling a new card at the till (docs/enrolment.md), without a ledger and
with a stand-in online ledger; the real ledger end to end is
tests/sync/test_enrolment_real_ledger.py."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from agent_kit import CACHED_CARD, NOW, PROGRAM, Signer, ean13, served_api

from agent._catalog import Catalog
from agent._errors import CodeRefused, LedgerUnavailable, SessionError, TokenError
from agent._till import Till
from sync import TillDb, provisional_account

NEW = ean13("290000077777")
FOREIGN = ean13("471234567890")  # neither an item nor a programme card
APPLES = "4601234567893"


def reg_code(signer: Signer, header: dict[str, Any] | None = None, **over: Any) -> str:
    claims: dict[str, Any] = {"iss": PROGRAM, "reg": "reg-0001-abcdef", "iat": NOW,
                              "exp": NOW + 900, "jti": "reg-jti-1"}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not ...}
    hdr = header or {"alg": "EdDSA", "kid": signer.kid, "typ": "kopilka-reg+jwt"}
    return signer.raw(json.dumps(hdr), json.dumps(claims))


def outbox_kinds(till: Till) -> list[tuple[int, str]]:
    return [(r.seq, r.txn["kind"]) for r in till.outbox.rows()]


def test_an_unknown_programme_card_offers_enrolment_and_the_sale_earns_the_welcome_bonus(
        make_till: Any, catalog: Catalog) -> None:
    till = make_till()
    s = till.open_session()
    till.add_line(s.id, APPLES, 2)
    with pytest.raises(CodeRefused) as refused:
        till.scan(s.id, NEW)
    assert refused.value.reason == "unknown_card" and refused.value.extra.get("enrol") is True
    s = till.enrol(s.id, NEW)
    assert s.customer is not None
    assert (s.customer["account"], s.customer["mode"]) == (provisional_account(NEW), "offline")
    assert s.result is not None and s.result["bonus"]["welcome"] == catalog.program["welcome_points"]
    till.pay(s.id)
    assert outbox_kinds(till) == [(1, "enrol"), (2, "sale")]  # the enrolment precedes the sale
    enrol, sale = (r.txn for r in till.outbox.rows())
    assert enrol["customer"] == {"card": NEW, "account": provisional_account(NEW), "jti": None,
                                 "claims": None}
    assert sale["customer"]["account"] == provisional_account(NEW)
    # the next visit (still offline) is the same member, without a second welcome
    s2 = till.open_session()
    till.add_line(s2.id, APPLES, 1)
    s2 = till.identify(s2.id, NEW)
    assert s2.customer is not None and s2.customer["account"] == provisional_account(NEW)
    assert s2.result is not None and s2.result["bonus"]["welcome"] == 0
    assert len(till.enrolments.rows()) == 1 and till.enrolments.rows()[0]["card"].endswith(NEW[-4:])


def test_enrolling_a_card_the_store_knows_identifies_it_and_enrols_nothing(make_till: Any) -> None:
    till = make_till()
    s = till.open_session()
    s = till.enrol(s.id, CACHED_CARD)
    assert s.customer is not None and s.customer["account"] == "A-99"
    assert outbox_kinds(till) == []


@pytest.mark.parametrize(("card", "reason"), [
    (FOREIGN, "wrong_card_prefix"),
    (NEW[:12] + str((int(NEW[12]) + 1) % 10), "bad_check_digit"),
    ("29000007777", "not_a_card"),
    ("2900000777\x0077", "not_a_card"),
    ("", "not_a_card"),
    ("２９００００７７７７７" + NEW[-2:], "not_a_card"),  # full-width digits
])
def test_a_card_the_programme_cannot_enrol_is_refused_with_its_reason(
        make_till: Any, card: str, reason: str) -> None:
    till = make_till()
    s = till.open_session()
    with pytest.raises(CodeRefused) as refused:
        till.enrol(s.id, card)
    assert refused.value.reason == reason
    assert outbox_kinds(till) == [] and till.enrolments.rows() == []


def test_an_item_prefix_scanned_as_unknown_is_never_offered_enrolment(make_till: Any) -> None:
    till = make_till()
    s = till.open_session()
    with pytest.raises(CodeRefused) as refused:
        till.scan(s.id, FOREIGN)
    assert refused.value.reason == "unknown_code" and "enrol" not in refused.value.extra


def _till_with(tmp_path: Path, bundle_doc: dict[str, Any], clock: Any, ledger: Any = None,
               **program: Any) -> Till:
    doc = copy.deepcopy(bundle_doc)
    doc["program"].update(program)
    db = TillDb(tmp_path / f"till-{len(list(tmp_path.iterdir()))}.sqlite3", clock=clock)
    return Till(db, Catalog(doc), till="KY-001-01", store="KY-001", program=PROGRAM, clock=clock,
                ledger=ledger)


def test_a_programme_without_till_enrolment_refuses_it(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
    till = _till_with(tmp_path, bundle_doc, clock, enrolment="off")
    s = till.open_session()
    with pytest.raises(CodeRefused) as refused:
        till.scan(s.id, NEW)
    assert refused.value.reason == "unknown_card" and "enrol" not in refused.value.extra
    with pytest.raises(SessionError) as err:
        till.enrol(s.id, NEW)
    assert err.value.reason == "enrolment_off"
    till.db.close()


class EnrollingLedger:
    """An online ledger that knows no card until it enrols one."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.members: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str | None]] = []

    def customer(self, card: str, timeout: float) -> dict[str, Any] | None:
        if self.down:
            raise LedgerUnavailable("offline", "down")
        return self.members.get(card)

    def hold(self, account: str, points: int, txn_id: str, timeout: float) -> dict[str, Any]:
        raise LedgerUnavailable("offline", "no holds here")

    def release(self, hold_id: str, timeout: float) -> None:
        raise LedgerUnavailable("offline", "no holds here")

    def enrol(self, card: str, registration: str | None, timeout: float) -> dict[str, Any]:
        if self.down:
            raise LedgerUnavailable("offline", "down")
        self.calls.append((card, registration))
        self.members[card] = {"card": card, "account": "L-1", "tier": "base", "balance": 0,
                              "first_purchase": True}
        return dict(self.members[card], enrolment="created")


def test_online_the_ledger_enrols_at_once_and_no_enrol_txn_is_queued(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
    ledger = EnrollingLedger()
    till = _till_with(tmp_path, bundle_doc, clock, ledger=ledger)
    s = till.open_session()
    till.add_line(s.id, APPLES, 1)
    s = till.enrol(s.id, NEW)
    assert s.customer is not None and (s.customer["account"], s.customer["mode"]) == ("L-1", "online")
    till.pay(s.id)
    assert outbox_kinds(till) == [(1, "sale")] and ledger.calls == [(NEW, None)]
    till.db.close()


def test_an_online_only_programme_refuses_to_enrol_while_the_ledger_is_down(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
    till = _till_with(tmp_path, bundle_doc, clock, ledger=EnrollingLedger(down=True),
                      enrolment="online")
    s = till.open_session()
    with pytest.raises(SessionError) as err:
        till.enrol(s.id, NEW)
    assert err.value.reason == "ledger_unavailable" and outbox_kinds(till) == []
    till.db.close()


def test_a_registration_qr_links_the_card_enrolled_next(make_till: Any, signer: Signer) -> None:
    till = make_till()
    s = till.open_session()
    routed, s = till.scan(s.id, reg_code(signer))
    assert s is not None and s.registration is not None
    s = till.enrol(s.id, NEW)
    assert s.registration is None
    enrol = till.outbox.rows()[0].txn
    assert enrol["registration"] == "reg-0001-abcdef" and "ph" not in json.dumps(enrol)
    s2 = till.open_session() if till.current() is None else till.current()
    assert s2 is not None
    with pytest.raises(CodeRefused) as refused:  # used up with that enrolment
        till.scan(s2.id, reg_code(signer))
    assert refused.value.reason == "replayed"


@pytest.mark.parametrize(("make", "reason"), [
    (lambda sg: reg_code(Signer()), "bad_signature"),  # another key with the same kid
    (lambda sg: reg_code(sg, exp=NOW - 31), "expired"),
    (lambda sg: reg_code(sg, iat=NOW + 121), "not_yet_valid"),
    (lambda sg: reg_code(sg, iss="other"), "wrong_program"),
    (lambda sg: reg_code(sg, header={"alg": "EdDSA", "kid": "nokey", "typ": "kopilka-reg+jwt"}),
     "unknown_key"),
    (lambda sg: reg_code(sg, header={"alg": "HS256", "kid": sg.kid, "typ": "kopilka-reg+jwt"}),
     "malformed"),
    (lambda sg: reg_code(sg, header={"alg": "EdDSA", "kid": sg.kid, "typ": "JWT"}), "malformed"),
    (lambda sg: reg_code(sg, sub=NEW), "malformed"),  # never a card number in clear
    (lambda sg: reg_code(sg, reg="x"), "malformed"),
    (lambda sg: reg_code(sg, reg=2**63), "malformed"),
    (lambda sg: reg_code(sg, iat=1e308), "malformed"),
    (lambda sg: reg_code(sg, reg="reg\x00-0001-abc"), "malformed"),
    (lambda sg: sg.token(), "not_a_registration"),  # a customer's loyalty token
])
def test_a_forged_or_wrong_registration_code_is_refused_with_its_reason(
        make_till: Any, signer: Signer, make: Any, reason: str) -> None:
    till = make_till()
    s = till.open_session()
    with pytest.raises(TokenError) as err:
        till.registration(s.id, make(signer))
    assert err.value.reason == reason
    assert till.get(s.id).registration is None


def test_a_registration_code_scanned_as_a_customer_is_not_a_customer(
        make_till: Any, signer: Signer) -> None:
    till = make_till()
    s = till.open_session()
    with pytest.raises(TokenError) as err:
        till.identify(s.id, reg_code(signer))
    assert err.value.reason == "malformed"  # token.md: only typ kop+jwt identifies


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"card": 2**63}, 400, "bad_request"),
    ({"card": 1e308}, 400, "bad_request"),
    ({"card": -1}, 400, "bad_request"),
    ({"card": 0}, 400, "bad_request"),
    ({"card": None}, 400, "bad_request"),
    ({}, 400, "bad_request"),
    ({"card": json.loads("[" * 70 + "]" * 70)}, 400, "bad_request"),
    ({"card": "2900000777\x0077"}, 422, "not_a_card"),
    ({"card": "x" * 100_000}, 422, "not_a_card"),
    ({"card": FOREIGN}, 422, "wrong_card_prefix"),
])
def test_hostile_enrol_requests_on_the_local_api_are_refused_and_change_nothing(
        make_till: Any, body: dict[str, Any], status: int, error: str) -> None:
    till = make_till()
    s = till.open_session()
    with served_api(till) as api:
        resp = api.post(f"/v1/sessions/{s.id}/enrol", json=body)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == error
        ok = api.post(f"/v1/sessions/{s.id}/enrol", json={"card": NEW})
        assert ok.status_code == 200 and ok.json()["customer"]["account"] == provisional_account(NEW)
        assert NEW not in ok.text  # the card is masked on the screen
        refused = api.post(f"/v1/sessions/{s.id}/registration", json={"code": "a.b.c"})
        assert (refused.status_code, refused.json()["error"]) == (422, "malformed")
        gone = api.post("/v1/sessions/nosuch/enrol", json={"card": NEW})
        assert gone.status_code == 404
    assert outbox_kinds(till) == [(1, "enrol")]


def test_the_local_api_tells_the_cashier_a_new_card_may_be_enrolled(make_till: Any) -> None:
    till = make_till()
    s = till.open_session()
    with served_api(till) as api:
        resp = api.post(f"/v1/sessions/{s.id}/scan", json={"code": NEW})
        assert resp.status_code == 422
        doc = resp.json()
        assert doc["error"] == "unknown_card" and doc["enrol"] is True and "enrol" in doc["message"]
        assert NEW not in doc["code_shown"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"code": 2**63}, 400, "bad_request"),
    ({"code": 1e308}, 400, "bad_request"),
    ({"code": -1}, 400, "bad_request"),
    ({"code": 0}, 400, "bad_request"),
    ({}, 400, "bad_request"),
    ({"code": json.loads("[" * 70 + "]" * 70)}, 400, "bad_request"),
    ({"code": "a\x00.b.c"}, 422, "malformed"),
    ({"code": "a.b." + "c" * 100_000}, 422, "malformed"),
])
def test_hostile_registration_requests_on_the_local_api_are_refused(
        make_till: Any, body: dict[str, Any], status: int, error: str) -> None:
    till = make_till()
    s = till.open_session()
    with served_api(till) as api:
        resp = api.post(f"/v1/sessions/{s.id}/registration", json=body)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == error
    assert till.get(s.id).registration is None


def test_a_registration_survives_a_restart_of_the_till(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any, signer: Signer) -> None:
    till = _till_with(tmp_path, bundle_doc, clock)
    s = till.open_session()
    till.registration(s.id, reg_code(signer))
    path = till.db.path
    till.db.close()
    db = TillDb(path, clock=clock)
    again = Till(db, Catalog(copy.deepcopy(bundle_doc)), till="KY-001-01", store="KY-001",
                 program=PROGRAM, clock=clock)
    restored = again.get(s.id)
    assert restored.registration is not None and restored.registration["id"] == "reg-0001-abcdef"
    again.enrol(s.id, NEW)
    assert again.outbox.rows()[0].txn["registration"] == "reg-0001-abcdef"
    db.close()


def test_a_ledger_that_does_not_answer_means_an_offline_enrolment(
        tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
    import socket

    from agent._ledger import HoldClientLedger
    from sync import HoldClient

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    ledger = HoldClientLedger(HoldClient(base_url=dead, key="k", till="KY-001-01", budget_s=0.5))
    till = _till_with(tmp_path, bundle_doc, clock, ledger=ledger)
    s = till.open_session()
    s = till.enrol(s.id, NEW)
    assert s.customer is not None and s.customer["account"] == provisional_account(NEW)
    assert outbox_kinds(till) == [(1, "enrol")]
    ledger.close()
    till.db.close()


def test_a_card_or_code_that_is_not_text_is_a_bad_request(make_till: Any) -> None:
    from agent._errors import RequestRefused

    till = make_till()
    s = till.open_session()
    with pytest.raises(RequestRefused):
        till.enrol(s.id, 2900000777774)
    with pytest.raises(RequestRefused):
        till.registration(s.id, None)
    closed = till.open_session() if till.current() is None else till.current()
    assert closed is not None
    till.cancel(closed.id)
    with pytest.raises(SessionError) as err:  # a cancelled sale takes no enrolment
        till.enrol(closed.id, NEW)
    assert err.value.reason in ("not_open", "unknown_session")
