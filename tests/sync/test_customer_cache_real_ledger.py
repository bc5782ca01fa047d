"""The store customer cache end to end (spec/till.md §2a): real ledger server on both
backends, the till's puller and SQLite cache, then the till identifying cards offline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent._catalog import Catalog
from agent._errors import SessionError
from agent._ledger import HoldClientLedger
from agent._till import Till
from sync import BundlePuller, BundleRefused, HoldClient, PromoCache, TillDb
from sync._customercache import FIELDS

from .ledger_server import ROOT, LedgerServer, ledger_available

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")

HOME = "2900000123458"      # home store KY-001
FAMILY = "2900000123465"    # same account, no home store
AWAY = "2900000123472"      # home store KY-002
BUNDLE = json.loads((ROOT / "examples" / "bundle.json").read_text("utf-8"))


def _import(server: LedgerServer, *rows: dict[str, Any]) -> None:
    with server.ledger() as led:
        led.import_members("\n".join(json.dumps(r) for r in rows))


def _bundle(server: LedgerServer, **program: Any) -> None:
    doc = json.loads(json.dumps(BUNDLE))
    doc["program"].update(program)
    with server.ledger() as led:
        led.import_bundle(json.dumps(doc))


def _till(db: TillDb, cache: PromoCache, server: LedgerServer) -> Till:
    client = HoldClient(base_url=server.base_url, key=server.key, till=server.till, budget_s=0.3)
    return Till(db, Catalog(cache.meta or {}, engine=cache.engine), till=server.till, store=server.store,
                program="kopilka", ledger=HoldClientLedger(client))


def test_a_member_imported_with_home_store_is_identified_offline_with_the_card_cap(
        server: LedgerServer, tmp_path: Path) -> None:
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        with BundlePuller(cache, base_url=server.base_url, key=server.key) as puller:
            first = puller.pull_once()
            assert (first.kind, first.customers) == ("full", "full")
            assert cache.customer(HOME) is None
            _import(server, {"card": HOME, "account": "A-77", "tier": "silver", "opening_balance": 500,
                             "home_store": "KY-001"},
                    {"card": AWAY, "account": "B-01", "opening_balance": 40, "home_store": "KY-002"})
            _bundle(server, offline_card_redeem_cap=50)
            out = puller.pull_once()
            assert (out.kind, out.customers) == ("delta", "delta")
            entry = cache.customer(HOME)
            assert entry is not None and entry["account"] == "A-77" and entry["balance"] == 500
            assert entry["tier"] == "silver" and entry["first_purchase"] is True
            assert cache.customer(AWAY) is None  # not of this store, never bought here
        server.kill()  # the ledger is gone: everything below is offline
        till = _till(db, cache, server)
        s = till.open_session()
        till.add_line(s.id, "4601234567893", 2)
        s = till.identify(s.id, HOME)
        assert s.customer is not None
        assert (s.customer["account"], s.customer["mode"], s.customer["available_points"]) == ("A-77", "offline", 50)
        till.cancel(s.id)
        s2 = till.open_session()
        with pytest.raises(SessionError) as err:
            till.identify(s2.id, AWAY)
        assert err.value.reason == "unknown_card"


def test_balance_changes_and_a_negative_balance_reach_the_cache(server: LedgerServer, tmp_path: Path) -> None:
    _import(server, {"card": HOME, "account": "A-77", "opening_balance": 30, "home_store": "KY-001"})
    _bundle(server, offline_card_redeem_cap=50)
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        with BundlePuller(cache, base_url=server.base_url, key=server.key) as puller:
            puller.pull_once()
            assert cache.customer(HOME)["balance"] == 30  # type: ignore[index]
            with server.ledger() as led:
                led.adjust("A-77", -80, note="offline overdraft elsewhere")
            out = puller.pull_once()
            assert (out.kind, out.customers) == ("none", "delta")
            assert cache.customer(HOME)["balance"] == -50  # type: ignore[index]
        server.kill()
        till = _till(db, cache, server)
        s = till.open_session()
        s = till.identify(s.id, HOME)
        assert s.customer is not None and s.customer["available_points"] == 0  # max(0, balance)


def test_customer_cache_all_delivers_members_of_other_stores(server: LedgerServer, tmp_path: Path) -> None:
    _import(server, {"card": AWAY, "account": "B-01", "home_store": "KY-002"},
            {"card": FAMILY, "account": "A-77"})
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        with BundlePuller(cache, base_url=server.base_url, key=server.key) as puller:
            puller.pull_once()
            assert cache.customer(AWAY) is None
            _bundle(server, customer_cache="all")
            out = puller.pull_once()
            assert (out.kind, out.customers) == ("delta", "full")
            assert cache.customer(AWAY) is not None and cache.customer(FAMILY) is not None


def test_removing_a_member_deletes_it_from_the_tills_cache(server: LedgerServer, tmp_path: Path) -> None:
    _import(server, {"card": HOME, "account": "A-77", "home_store": "KY-001"},
            {"card": FAMILY, "account": "A-77", "home_store": "KY-001"})
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        with BundlePuller(cache, base_url=server.base_url, key=server.key) as puller:
            puller.pull_once()
            assert cache.customer(FAMILY) is not None
            with server.ledger() as led:
                led.remove_members([FAMILY])
            assert puller.pull_once().customers == "delta"
            assert cache.customer(FAMILY) is None and cache.customer(HOME) is not None
    with TillDb(tmp_path / "till.db") as db:  # kept across a restart, with its cursor
        cache = PromoCache(db)
        assert cache.customer(HOME) is not None and cache.customers_cursor


def test_a_bad_customers_member_refuses_the_whole_answer(tmp_path: Path) -> None:
    import httpx

    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        good = {"kind": "full", "version": 1, "bundle": BUNDLE,
                "customers": {"cursor": "1:e:KY-001", "full": True, "fields": ["card", "account"],
                              "upsert": [[HOME, "A-77"]], "delete": []}}
        bad = json.loads(json.dumps(good))
        bad["customers"]["upsert"] = [["12345", "A-77"]]
        answers = [bad, good]
        transport = httpx.MockTransport(lambda req: httpx.Response(200, json=answers.pop(0)))
        with BundlePuller(cache, base_url="http://ledger", key="k", transport=transport) as puller:
            out = puller.pull_once()
            assert (out.kind, out.reason) == ("refused", "invalid")
            assert cache.version is None and cache.customer(HOME) is None
            assert cache.refusals()[0]["field"] == "customers.upsert[0].card"
            assert puller.pull_once().kind == "full"
            assert cache.customer(HOME) == {"card": HOME, "account": "A-77", "tier": None, "segments": [],
                                            "offers": [], "birthday": None, "birthday_bonus_available": None,
                                            "favorite_category": None, "favorite_until": None,
                                            "first_purchase": None, "balance": 0}


@pytest.mark.parametrize("part, field", [
    ("nope", "customers"),
    ({"cursor": "", "full": True, "fields": ["card", "account"], "upsert": [], "delete": []}, "customers.cursor"),
    ({"cursor": "c", "full": 1, "fields": ["card", "account"], "upsert": [], "delete": []}, "customers.full"),
    ({"cursor": "c", "full": True, "fields": ["card"], "upsert": [], "delete": []}, "customers.fields"),
    ({"cursor": "c", "full": True, "fields": ["card", "account"], "upsert": [["2900000123458"]],
      "delete": []}, "customers.upsert[0]"),
    ({"cursor": "c", "full": True, "fields": ["card", "account", "balance"],
      "upsert": [["2900000123458", "A", 1.5]], "delete": []}, "customers.upsert[0].balance"),
    ({"cursor": "c", "full": True, "fields": ["card", "account", "segments"],
      "upsert": [["2900000123458", "A", "x"]], "delete": []}, "customers.upsert[0].segments"),
    ({"cursor": "c", "full": False, "fields": ["card", "account"], "upsert": [], "delete": [1]},
     "customers.delete"),
    ({"cursor": "c", "full": True, "fields": list(FIELDS),
      "upsert": [["2900000123458", "A", None, [], [], None, True, None, None, False, True]],
      "delete": []}, "customers.upsert[0].balance"),
    ({"cursor": "c", "full": True, "fields": list(FIELDS),
      "upsert": [["2900000123458", "A", None, [], [], None, "yes", None, None, False, 5]],
      "delete": []}, "customers.upsert[0].birthday_bonus_available"),
])
def test_customer_changes_are_checked_field_by_field(part: Any, field: str) -> None:
    from sync._customercache import parse_changes

    with pytest.raises(BundleRefused) as err:
        parse_changes(part)
    assert err.value.field == field
