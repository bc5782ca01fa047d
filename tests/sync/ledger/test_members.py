"""Members: family accounts, idempotent re-import, journal = balance."""
from __future__ import annotations

import json

import pytest

from sync.ledger import Ledger, MemberImportError

from .helpers import CARD_A, CARD_B, CARD_C, MEMBERS_CSV


def counts(ledger: Ledger) -> tuple[int, int, int]:
    with ledger.storage.transaction() as tx:
        return tuple(tx.one(f"SELECT COUNT(*) FROM {t}")[0]  # type: ignore[return-value]
                     for t in ("cards", "accounts", "journal"))


def test_two_cards_of_one_account_share_one_balance_opened_once(ledger: Ledger) -> None:
    stats = ledger.import_members(MEMBERS_CSV)
    assert (stats.cards_added, stats.accounts_added, stats.opening_applied) == (3, 2, 2)
    assert ledger.balance("A-77") == 500 and ledger.balance("B-01") == 40
    assert ledger.customer(CARD_A)["balance"] == ledger.customer(CARD_B)["balance"] == 500


def test_reimporting_the_same_file_changes_nothing(ledger: Ledger) -> None:
    ledger.import_members(MEMBERS_CSV)
    before = counts(ledger)
    stats = ledger.import_members(MEMBERS_CSV)
    assert (stats.cards_added, stats.cards_updated, stats.cards_unchanged) == (0, 0, 3)
    assert stats.opening_applied == 0 and counts(ledger) == before
    assert ledger.balance("A-77") == 500


def test_json_lines_are_accepted_and_update_profiles(ledger: Ledger) -> None:
    ledger.import_members(MEMBERS_CSV)
    line = {"card": CARD_C, "account": "B-01", "tier": "gold", "segments": ["pensioners"],
            "offers": ["P-1"], "favourite_category": "bakery", "favourite_until": "2027-01-01",
            "opening_balance": 40}
    stats = ledger.import_members(json.dumps(line) + "\n\n")
    assert stats.cards_updated == 1
    found = ledger.customer(CARD_C)
    assert (found["tier"], found["segments"], found["offers"]) == ("gold", ["pensioners"], ["P-1"])
    assert found["favorite_category"] == "bakery" and ledger.balance("B-01") == 40


def test_a_different_opening_balance_later_is_reported_not_applied(ledger: Ledger) -> None:
    ledger.import_members(MEMBERS_CSV)
    stats = ledger.import_members(f"card,account,opening_balance\n{CARD_C},B-01,99\n")
    assert stats.opening_differs == ["B-01"] and ledger.balance("B-01") == 40


@pytest.mark.parametrize("text,field", [
    ("card,account\n2900000123459,A\n", "line 2.card"),
    ("card,account\n2900000123458,\n", "line 2.account"),
    ("card,account,birthday\n2900000123458,A,22.11.1990\n", "line 2.birthday"),
    ("card,account,opening_balance\n2900000123458,A,1.5\n", "line 2.opening_balance"),
    ("card,account,offline_cap\n2900000123458,A,-1\n", "line 2.offline_cap"),
    ('{"card": "2900000123458", "account": "A", "segments": "x"}\n{bad\n', "line 2"),
    ('{"card": "2900000123458", "account": "A", "segments": [1]}\n', "line 1.segments"),
    ("account\nA\n", "line 1"),
    (f"card,account\n{CARD_A},A\n{CARD_A},B\n", "card"),
    (f"card,account,opening_balance\n{CARD_A},A,1\n{CARD_B},A,2\n", "opening_balance"),
])
def test_a_bad_members_file_is_refused_whole_naming_the_line(
        ledger: Ledger, text: str, field: str) -> None:
    with pytest.raises(MemberImportError) as err:
        ledger.import_members(text)
    assert err.value.field == field
    assert counts(ledger) == (0, 0, 0)


def test_check_finds_a_balance_that_disagrees_with_its_journal(ledger: Ledger) -> None:
    ledger.import_members(MEMBERS_CSV)
    assert ledger.check() == []
    with ledger.storage.transaction() as tx:
        tx.execute("UPDATE accounts SET points = points + 7 WHERE account = 'B-01'")
    journal, lots = ledger.check()  # the points lots (40) disagree with it too
    assert (journal.account, journal.balance, journal.journal) == ("B-01", 47, 40)
    assert (lots.account, lots.balance, lots.journal, lots.source) == ("B-01", 47, 40, "lots")


def test_adjustments_and_expiries_are_journaled(ledger: Ledger) -> None:
    ledger.import_members(MEMBERS_CSV)
    ledger.adjust("B-01", 10, note="goodwill")
    ledger.adjust("B-01", -30, kind="expiry")
    assert ledger.balance("B-01") == 20 and ledger.check() == []
    with ledger.storage.transaction() as tx:
        kinds = sorted(r[0] for r in tx.all("SELECT kind FROM journal WHERE account = 'B-01'"))
    assert kinds == ["adjustment", "adjustment", "expiry"]
    from sync.ledger import LedgerError

    with pytest.raises(LedgerError):
        ledger.adjust("B-01", 5, kind="expiry")
    with pytest.raises(LedgerError):
        ledger.adjust("NOBODY", 5)
