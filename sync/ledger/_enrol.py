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

import json
import logging
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from fastcore import b64url_encode, mask_card

from sync import is_provisional, provisional_account

from . import _bundles, _customers, _journal
from ._clock import utc_text
from ._errors import RequestError, TxnRefused
from ._keys import active_key
from ._storage import Tx
from ._tills import TillRecord
from ._txn import Txn

if TYPE_CHECKING:
    from ._ledger import Ledger

log = logging.getLogger(__name__)


def enrol_card(tx: Tx, card: str, *, till: str, store: str, txn_id: str, at: str, now: str,
               for_update: str, registration: str | None = None, record: bool = True
               ) -> tuple[str, str, bool]:
    """The card's account after enrolling it, ``created``/``confirmed``/``merged``, and
    whether this call recorded the enrolment (False: it was recorded before).

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
        merge(tx, card, provisional, account, f"enrolled at till {till}", txn_id, now, for_update)
    if registration is not None:
        tx.execute("UPDATE registrations SET card = ?, account = ?, linked_at = ? "
                   "WHERE registration = ? AND card IS NULL", (card, account, now, registration))
    recorded = False
    if record or inserted:
        recorded = tx.execute("INSERT INTO enrolments (card, till, txn_id, provisional, account, outcome, "
                   "store, registration, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING",
                   (card, till, txn_id, provisional, account, outcome, store, registration,
                    at, now)) == 1
    if inserted:  # the enrolling store's tills learn the card with their next delta
        _customers.ensure_built(tx, now)
        _customers.sync_cards(tx, [card], now)
    return account, outcome, recorded


def merge(tx: Tx, card: str, provisional: str, account: str, by: str, txn_id: str,
          now: str, for_update: str) -> None:
    """Say in the journal that ``provisional`` is ``account`` (``by``: who found out,
    ``txn_id``: the fact's id); move what it held."""
    note = f"card {mask_card(card)}, provisional account {provisional}: merged into {account} ({by})"
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
        account, _, _ = enrol_card(tx, txn.card, till=txn.till, store=txn.store,
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


def check_prefix(txn: Txn, prefixes: tuple[str, ...]) -> None:
    """An ``enrol`` TXN enrols only a card of its bundle version's ``card_prefixes``
    (a till's bug or a hostile till cannot enrol another programme's cards)."""
    if txn.card is None or txn.card[:2] not in prefixes:
        raise TxnRefused("invalid", f"not a card of this programme (card_prefixes "
                         f"{', '.join(prefixes)})", "customer.card")


def _recorded(tx: Tx, txn: Txn) -> dict[str, Any] | None:
    """The answer an ``enrol`` TXN got when it was applied, or None."""
    row = tx.one("SELECT account, outcome, received_at FROM enrolments WHERE card = ? AND "
                 "till = ? AND txn_id = ?", (txn.card, txn.till, txn.txn_id))
    return None if row is None else outcome(txn, str(row[0]), str(row[1]), str(row[2]))


def apply(tx: Tx, txn: Txn, now: str, for_update: str) -> tuple[dict[str, Any], str, bool]:
    """Apply one ``enrol`` TXN (validated by ``_txn``): its answer, the account, and
    whether it was applied now (False: a concurrent or earlier upload applied it;
    the answer is that upload's)."""
    assert txn.card is not None
    before = _recorded(tx, txn)
    if before is not None:
        return before, str(before["account"]), False
    registration = txn.raw.get("registration")
    account, how, fresh = enrol_card(
        tx, txn.card, till=txn.till, store=txn.store, txn_id=txn.txn_id, at=txn.at, now=now,
        for_update=for_update, registration=registration if isinstance(registration, str) else None)
    if not fresh:  # a concurrent upload of this TXN recorded it first
        before = _recorded(tx, txn)
        assert before is not None
        return before, account, False
    return outcome(txn, account, how, now), account, True


# -- online: POST /v1/enrolments (a till) and POST /v1/registrations (the app) --

#: the registration code's JWS type (docs/enrolment.md; token.md's is ``kop+jwt``)
REG_TYP = "kopilka-reg+jwt"
#: how long a registration code shown by the app stays valid
REG_LIFETIME_S = 900
#: the program id of a bundle without one (as ``Ledger.issue_token``)
_DEFAULT_PROGRAM_ID = "kopilka"


def _program(tx: Tx) -> dict[str, Any]:
    newest = _bundles.latest_version(tx)
    prog = ((_bundles.load(tx, newest) or {}).get("program") if newest else None) or {}
    return prog if isinstance(prog, dict) else {}


def _check_registration(tx: Tx, registration: str, card: str) -> None:
    row = tx.one("SELECT card FROM registrations WHERE registration = ?", (registration,))
    if row is None:
        raise RequestError("unknown_registration", "no such registration", "registration")
    if row[0] is not None and row[0] != card:
        raise RequestError("registration_used", "this registration is linked to another card",
                           "registration")


def online(led: Ledger, till: TillRecord, card: str, registration: str | None
           ) -> dict[str, Any]:
    """``POST /v1/enrolments``: enrol ``card`` now; answer its profile (as
    ``GET /v1/customers/{card}``) with ``enrolment`` and ``provisional``."""
    now = led.now_text()
    with led.storage.transaction() as tx:
        prefixes = _program(tx).get("card_prefixes") or ["29"]
        if card[:2] not in prefixes:
            raise RequestError("wrong_card_prefix", "not one of this programme's cards", "card")
        if registration is not None:
            _check_registration(tx, registration, card)
        _, how, _ = enrol_card(tx, card, till=till.till, store=till.store,
                               txn_id=f"online:{uuid.uuid4()}", at=now, now=now,
                               for_update=led.storage.for_update, registration=registration)
    found = led.customer(card)
    assert found is not None
    return {**found, "enrolment": how, "provisional": provisional_account(card)}


def _sign(claims: dict[str, Any], kid: str, key: Any) -> str:
    header = {"alg": "EdDSA", "kid": kid, "typ": REG_TYP}
    signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url_encode(json.dumps(claims, separators=(",", ":")).encode()))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def register(led: Ledger, phone_hash: str | None) -> dict[str, Any]:
    """``POST /v1/registrations``: a pending sign-up of the app and its signed QR code.

    The code carries the registration id (and the phone's hash if given),
    never a card number; a till that scans it with a new card enrols the
    card linked to this registration."""
    now = led.clock()
    at = utc_text(now)
    registration = secrets.token_urlsafe(16)
    with led.storage.transaction() as tx:
        program = str(_program(tx).get("id") or _DEFAULT_PROGRAM_ID)
        kid, key = active_key(tx, at)
        tx.execute("INSERT INTO registrations (registration, phone_hash, issued_at) "
                   "VALUES (?, ?, ?)", (registration, phone_hash, at))
    iat = int(now.timestamp())
    claims: dict[str, Any] = {"iss": program, "reg": registration, "iat": iat,
                              "exp": iat + REG_LIFETIME_S, "jti": uuid.uuid4().hex}
    if phone_hash is not None:
        claims["ph"] = phone_hash
    return {"registration": registration, "code": _sign(claims, kid, key),
            "expires_in_s": REG_LIFETIME_S}
