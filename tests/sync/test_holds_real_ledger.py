"""The hold client against the real ledger on 127.0.0.1 (SQLite backend)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync import HoldClient

from .ledger_server import LedgerServer, ledger_available

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")

CARD, ACCOUNT = "2900000123458", "A-77"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LedgerServer]:
    srv = LedgerServer("sqlite", tmp_path, members=[{"card": CARD, "account": ACCOUNT, "tier": "silver",
                                                     "opening_balance": 300}])
    yield srv
    srv.close()


def test_holds_and_card_lookups_against_the_real_ledger(server: LedgerServer) -> None:
    with HoldClient(base_url=server.base_url, key=server.key, till=server.till, budget_s=2.0) as hc:
        held = hc.place(ACCOUNT, 200, str(uuid.uuid4()))
        assert held.kind == "held" and held.hold_id and held.points == 200
        found = hc.lookup_card(CARD)
        assert found.kind == "found" and found.customer["account"] == ACCOUNT
        assert found.customer["balance"] == 100  # the hold is counted
        short = hc.place(ACCOUNT, 200, str(uuid.uuid4()))
        assert (short.kind, short.available) == ("insufficient", 100)
        assert hc.release(held.hold_id)
        assert hc.lookup_card(CARD).customer["balance"] == 300
        assert hc.lookup_card("4600000000008").kind == "unknown"
        unknown = hc.place("NO-SUCH", 1, str(uuid.uuid4()))
        assert (unknown.kind, unknown.reason) == ("offline", "unknown_account")
