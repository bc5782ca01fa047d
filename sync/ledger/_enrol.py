"""Enrolment of a new card at a till: confirm or merge (docs/enrolment.md).

A till that meets a card of the programme's ranges that nobody knows
enrols it: online through ``POST /v1/enrolments``, offline with an
``enrol`` TXN that precedes the card's first sale in the till's outbox.
Either way the card's account is named by the till (``P-…``, derived from
the card: ``sync.provisional_account``), and here the ledger decides:

- the card has no account: the card is created on the account the till
  named (``created``); a later enrolment of the same card at another till
  names the same account (``confirmed``);
- the card already has another account (head office imported it, or it
  was linked meanwhile): the provisional account is **merged** into it. A
  ``merge`` journal entry on the card's account says so; if the
  provisional account already held points or sales (it was confirmed
  before the card moved), its balance moves with a pair of ``merge``
  entries, so balance = journal on both.

Every sale or return naming a provisional account is applied to the
account its card has now (``member_of``), enrolling the card first if its
``enrol`` TXN never arrived (it was refused, say). The welcome bonus stays
the engine's ``welcome_points`` on a first purchase, and the ledger's rule
"welcome once per account" (``_sales.bonus_corrections``) makes it once
per card: two tills' offline first sales of one card end with one bonus.
"""
from __future__ import annotations

import logging
from typing import Any

from fastcore import mask_card

from sync import is_provisional, provisional_account

from . import _customers, _journal
from ._storage import Tx
from ._txn import Txn

log = logging.getLogger(__name__)


def enrol_card(tx: Tx, card: str, *, till: str, store: str, txn_id: str, at: str, now: str,
               for_update: str, registration: str | None = None, record: bool = True
               ) -> tuple[str, str]:
    """The card's account after enrolling it, and ``created``/``confirmed``/``merged``.

    Safe to run again and at the same moment in two server processes: the
    card row is inserted once (``ON CONFLICT DO NOTHING`` waits for the
    other insert and then reads its account), merge entries have fixed ids.
    """
    provisional = provisional_account(card)
    inserted = tx.execute(
        "INSERT INTO cards (card, account, tier, segments, offers, home_store, updated_at) "
        "VALUES (?, ?, NULL, '[]', '[]', ?, ?) ON CONFLICT DO NOTHING",
        (card, provisional, store, now)) == 1
    row = tx.one("SELECT account FROM cards WHERE card = ?", (card,))
    assert row is not None
    account = str(row[0])
    _journal.ensure_account(tx, account, now)
    if inserted:
        outcome = "created"
        log.info("card %s enrolled at till %s: account %s", mask_card(card), till, account)
    elif account == provisional:
        outcome = "confirmed"
    else:
        outcome = "merged"
        _merge(tx, card, provisional, account, till, txn_id, now, for_update)
    if registration is not None:
        tx.execute("UPDATE registrations SET card = ?, account = ?, linked_at = ? "
                   "WHERE registration = ? AND card IS NULL", (card, account, now, registration))
    if record or inserted:
        tx.execute("INSERT INTO enrolments (card, till, txn_id, provisional, account, outcome, "
                   "store, registration, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING",
                   (card, till, txn_id, provisional, account, outcome, store, registration,
                    at, now))
    if inserted:  # the enrolling store's tills learn the card with their next delta
        _customers.ensure_built(tx, now)
        _customers.sync_cards(tx, [card], now)
    return account, outcome


def _merge(tx: Tx, card: str, provisional: str, account: str, till: str, txn_id: str,
           now: str, for_update: str) -> None:
    """Say in the journal that ``provisional`` is ``account``; move what it held."""
    note = (f"card {mask_card(card)} enrolled at till {till} as {provisional}: "
            f"merged into {account}")
    row = tx.one("SELECT points, sales FROM accounts WHERE account = ?" + for_update,
                 (provisional,))
    points, sales = (int(row[0]), int(row[1])) if row is not None else (0, 0)
    _journal.post(tx, account, f"merge:{provisional}", "merge", 0, now, txn_id, note)
    if not points and not sales:
        return
    # The provisional account was confirmed before the card moved to another
    # account: its balance and its count of sales (the welcome rule) follow.
    if _journal.post(tx, provisional, f"merge:{account}:{txn_id}", "merge", -points, now,
                     txn_id, note):
        _journal.post(tx, account, f"merge:{provisional}:{txn_id}", "merge", points, now,
                      txn_id, note)
        tx.execute("UPDATE accounts SET sales = sales + ? WHERE account = ?", (sales, account))
        tx.execute("UPDATE accounts SET sales = 0 WHERE account = ?", (provisional,))
        log.warning("provisional account %s (%d points, %d sales) merged into %s",
                    provisional, points, sales, account)


def member_of(tx: Tx, txn: Txn, now: str, for_update: str) -> str | None:
    """The member account a sale or return names: a provisional one resolved by its card."""
    if txn.account is not None and is_provisional(txn.account) and txn.card is not None:
        account, _ = enrol_card(tx, txn.card, till=txn.till, store=txn.store,
                                txn_id=txn.txn_id, at=txn.at, now=now, for_update=for_update,
                                record=False)
        return account
    if txn.account:
        return txn.account
    return None


def outcome(txn: Txn, account: str, how: str, now: str) -> dict[str, Any]:
    """An accepted ``enrol`` TXN's answer: the account the till should use from now on."""
    return {"status": "accepted", "accepted_at": now, "account": account, "enrolment": how,
            "provisional": txn.account}


def apply(tx: Tx, txn: Txn, now: str, for_update: str) -> tuple[dict[str, Any], str]:
    """Apply one ``enrol`` TXN (validated by ``_txn``); its answer and the account."""
    assert txn.card is not None
    registration = txn.raw.get("registration")
    account, how = enrol_card(tx, txn.card, till=txn.till, store=txn.store, txn_id=txn.txn_id,
                              at=txn.at, now=now, for_update=for_update,
                              registration=registration if isinstance(registration, str) else None)
    return outcome(txn, account, how, now), account
