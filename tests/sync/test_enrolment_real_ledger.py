"""Enrolment at real tills against a real ledger server, SQLite and PostgreSQL
(docs/enrolment.md): offline enrolment synced and confirmed, the same card at
two offline tills, a card head office knows, and online enrolment."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent._catalog import Catalog
from agent._ledger import HoldClientLedger
from agent._till import Till
from sync import BundlePuller, HoldClient, PromoCache, TillDb, Uploader, provisional_account

from .ledger_server import ROOT, LedgerServer

BUNDLE = json.loads((ROOT / "examples" / "bundle.json").read_text("utf-8"))
WELCOME = int(BUNDLE["program"]["welcome_points"])
NEW = "2900000777774"
KNOWN = "2900000123472"   # imported by head office, home store elsewhere
APPLES = "4601234567893"


def _till(db: TillDb, server: LedgerServer, *, till: str = "KY-001-01", online: bool = False) -> Till:
    ledger = None
    if online:
        ledger = HoldClientLedger(HoldClient(base_url=server.base_url, key=server.key, till=till,
                                             budget_s=2.0))
    return Till(db, Catalog(BUNDLE), till=till, store="KY-001", program="kopilka", ledger=ledger)


def _sell(till: Till, card: str) -> dict[str, Any]:
    s = till.open_session()
    till.add_line(s.id, APPLES, 2)
    s = till.enrol(s.id, card)
    s = till.pay(s.id)
    assert s.result is not None
    return s.result


def _sync(till: Till, key: str, server: LedgerServer) -> None:
    with Uploader(till.outbox, base_url=server.base_url, key=key, heartbeat_every_s=0) as up:
        report = up.sync_now(wait=lambda s: None)
    assert (report.rejected, report.remaining, report.error) == (0, 0, None), report


def test_an_offline_enrolment_syncs_and_the_ledger_confirms_it_balance_equals_journal(
        server: LedgerServer, tmp_path: Path) -> None:
    with TillDb(tmp_path / "till.db") as db:
        till = _till(db, server)
        result = _sell(till, NEW)
        assert result["bonus"]["welcome"] == WELCOME
        _sync(till, server.key, server)
        assert [r.status for r in till.outbox.rows()] == ["acked", "acked"]
    with server.ledger() as led:
        account = provisional_account(NEW)
        assert led.customer(NEW)["account"] == account
        assert led.balance(account) == result["totals"]["points"]
        assert led.check() == []


def test_the_same_card_enrolled_at_two_offline_tills_is_one_account_with_one_welcome(
        server: LedgerServer, tmp_path: Path) -> None:
    with server.ledger() as led:
        other_key = led.add_till("KY-001", "KY-001-02")
    with TillDb(tmp_path / "a.db") as a_db, TillDb(tmp_path / "b.db") as b_db:
        a, b = _till(a_db, server), _till(b_db, server, till="KY-001-02")
        first, second = _sell(a, NEW), _sell(b, NEW)
        _sync(a, server.key, server)
        _sync(b, other_key, server)
    with server.ledger() as led:
        account = provisional_account(NEW)
        earned = first["totals"]["points"] + second["totals"]["points"]
        assert led.balance(account) == earned - WELCOME  # one welcome per card
        with led.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*) FROM sales WHERE account = ?", (account,)) == (2,)
            assert tx.one("SELECT COUNT(*) FROM enrolments WHERE card = ?", (NEW,)) == (2,)
        assert led.check() == []


def test_a_card_head_office_knows_is_merged_and_the_sale_lands_on_its_account(
        server: LedgerServer, tmp_path: Path) -> None:
    with server.ledger() as led:
        led.import_members(json.dumps({"card": KNOWN, "account": "B-01", "opening_balance": 40,
                                       "home_store": "KY-002"}))
    with TillDb(tmp_path / "till.db") as db:
        till = _till(db, server)  # offline, and the card is not in its store's cache
        result = _sell(till, KNOWN)
        assert till.sale(till.outbox.rows()[1].txn_id)["txn"]["customer"]["account"] == \
            provisional_account(KNOWN)
        _sync(till, server.key, server)
        # the till learns the real account from the enrol TXN's answer ...
        assert [e["account"] for e in till.enrolments.rows()] == ["B-01"]
        s = till.open_session()
        till.add_line(s.id, APPLES, 1)
        s = till.identify(s.id, KNOWN)
        assert s.customer is not None and s.customer["account"] == "B-01"
        assert s.result is not None and s.result["bonus"]["welcome"] == 0  # given once
        till.cancel(s.id)
        # ... and its store's next customer-cache delta carries the card too
        with BundlePuller(PromoCache(db), base_url=server.base_url, key=server.key) as puller:
            puller.pull_once()
        cached = PromoCache(db).customer(KNOWN)
        assert cached is not None and cached["account"] == "B-01"
    with server.ledger() as led:
        assert led.balance("B-01") == 40 + result["totals"]["points"]
        assert led.balance(provisional_account(KNOWN)) in (None, 0)
        with led.storage.transaction() as tx:
            assert tx.one("SELECT kind, points FROM journal WHERE account = 'B-01' AND "
                          "kind = 'merge'") == ("merge", 0)
        assert led.check() == []


def test_online_the_till_enrols_on_the_ledger_and_sells_on_the_real_account(
        server: LedgerServer, tmp_path: Path) -> None:
    with TillDb(tmp_path / "till.db") as db:
        till = _till(db, server, online=True)
        s = till.open_session()
        till.add_line(s.id, APPLES, 1)
        s = till.enrol(s.id, NEW)
        assert s.customer is not None and s.customer["mode"] == "online"
        assert s.customer["account"] == provisional_account(NEW)  # the ledger's, created now
        s = till.pay(s.id)
        assert [r.txn["kind"] for r in till.outbox.rows()] == ["sale"]
        _sync(till, server.key, server)
        till.ledger.close()  # type: ignore[attr-defined]
    with server.ledger() as led:
        assert led.customer(NEW)["account"] == provisional_account(NEW)
        assert led.check() == []


def _keyed_till(db: TillDb, server: LedgerServer, till: str, key: str) -> Till:
    """An online till whose bundle carries the ledger's token keys (as a pulled bundle does)."""
    import httpx

    doc = json.loads(json.dumps(BUNDLE))
    doc["keys"] = httpx.get(server.base_url + "/v1/keys", timeout=5).json()
    client = HoldClient(base_url=server.base_url, key=key, till=till, budget_s=2.0)
    return Till(db, Catalog(doc), till=till, store="KY-001", program="kopilka",
                ledger=HoldClientLedger(client))


def test_an_app_registration_links_the_card_online_and_is_refused_for_a_second_card(
        server: LedgerServer, tmp_path: Path) -> None:
    import pytest

    from agent._errors import SessionError
    from sync.ledger._enrol import register

    with server.ledger() as led:
        other_key = led.add_till("KY-001", "KY-001-02")
        code = register(led, "ef" * 32)["code"]
    with TillDb(tmp_path / "a.db") as a_db, TillDb(tmp_path / "b.db") as b_db:
        a = _keyed_till(a_db, server, "KY-001-01", server.key)
        s = a.open_session()
        a.registration(s.id, code)
        s = a.enrol(s.id, NEW)
        assert s.customer is not None and s.customer["mode"] == "online"
        # the same code shown at another till with another new card: the ledger refuses
        b = _keyed_till(b_db, server, "KY-001-02", other_key)
        s2 = b.open_session()
        b.registration(s2.id, code)
        with pytest.raises(SessionError) as err:
            b.enrol(s2.id, "2900000888883")
        assert err.value.reason == "registration_used"
        assert b.enrolments.rows() == [] and b.outbox.rows() == []
        a.ledger.close()  # type: ignore[attr-defined]
        b.ledger.close()  # type: ignore[attr-defined]
    with server.ledger() as led, led.storage.transaction() as tx:
        assert tx.one("SELECT card, account FROM registrations") == (NEW, provisional_account(NEW))
        assert tx.one("SELECT COUNT(*) FROM cards WHERE card = '2900000888883'") == (0,)
